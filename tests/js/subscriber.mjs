// What a subscriber's client (Mozilla's ical.js, as in Thunderbird) reads from whole feeds, as JSON:
// every component, events with times as UTC instants (seconds) and all-day dates as YYYY-MM-DD.
// Usage: node subscriber.mjs FILE...   (parse.mjs stays as it is; other tests use its shape)
import fs from "node:fs";
import ICAL from "ical.js";

const instant = (t) => (t ? t.toUnixTime() : null);
const out = {};
for (const file of process.argv.slice(2)) {
  const cal = new ICAL.Component(ICAL.parse(fs.readFileSync(file, "utf8")));
  // Each feed's own VTIMEZONEs, taken literally: a client has nothing else.
  ICAL.TimezoneService.reset();
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
      dtstamp: instant(ve.getFirstPropertyValue("dtstamp")),
      lastModified: instant(ve.getFirstPropertyValue("last-modified")),
      isDate: start.isDate,
      start: start.isDate ? start.toString() : start.toUnixTime(),
      end: end.isDate ? end.toString() : end.toUnixTime(),
      location: ev.location,
      description: ev.description,
    };
  });
  out[file] = {
    name: cal.getFirstPropertyValue("x-wr-calname"),
    components: cal.getAllSubcomponents().filter((c) => c.name !== "vtimezone").map((c) => c.name.toUpperCase()),
    journals: cal.getAllSubcomponents("vjournal").map((j) => j.getFirstPropertyValue("uid")),
    journalStamps: cal.getAllSubcomponents("vjournal").map((j) => instant(j.getFirstPropertyValue("dtstamp"))),
    events,
  };
}
process.stdout.write(JSON.stringify(out));
