// Parse .ics files with Mozilla's ical.js and print, per event, the UTC instants a client computes:
// {"FILE": [[SUMMARY, START, END], ...]} with START/END as POSIX seconds. Each file's own VTIMEZONEs
// are registered before its events are read (ical.js has no zone database of its own but UTC), so
// what is tested is the feed's VTIMEZONE, taken as literally as Thunderbird takes it.
// Usage: node instants.mjs FILE...
import fs from "node:fs";
import ICAL from "ical.js";

const out = {};
for (const file of process.argv.slice(2)) {
  const cal = new ICAL.Component(ICAL.parse(fs.readFileSync(file, "utf8")));
  ICAL.TimezoneService.reset();
  for (const vtz of cal.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(vtz);
  }
  out[file] = cal.getAllSubcomponents("vevent").map((ve) => {
    const ev = new ICAL.Event(ve);
    return [ev.summary, ev.startDate.toUnixTime(), ev.endDate.toUnixTime()];
  });
}
process.stdout.write(JSON.stringify(out));
