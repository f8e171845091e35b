// Parse .ics files with Mozilla's ical.js and print what a client would see, as JSON.
// Usage: node parse.mjs FILE...
import fs from "node:fs";
import ICAL from "ical.js";

const out = {};
for (const file of process.argv.slice(2)) {
  const jcal = ICAL.parse(fs.readFileSync(file, "utf8"));
  const cal = new ICAL.Component(jcal);
  for (const vtz of cal.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(vtz);
  }
  const events = cal.getAllSubcomponents("vevent").map((ve) => {
    const ev = new ICAL.Event(ve);
    const start = ev.startDate;
    const end = ev.endDate;
    return {
      uid: ev.uid,
      summary: ev.summary,
      status: ve.getFirstPropertyValue("status"),
      sequence: ev.sequence,
      isDate: start.isDate,
      start: start.isDate ? start.toString() : start.toUnixTime(),
      end: end.isDate ? end.toString() : end.toUnixTime(),
      location: ev.location,
      description: ev.description,
    };
  });
  out[file] = {
    name: cal.getFirstPropertyValue("x-wr-calname"),
    calendarUid: cal.getFirstPropertyValue("uid"),
    events,
  };
}
process.stdout.write(JSON.stringify(out));
