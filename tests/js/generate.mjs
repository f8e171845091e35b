// A calendar written by ical-generator (the most used Node writer), for racecal import's tests:
// node generate.mjs > out.ics
import ical from "ical-generator";

const calendar = ical({ name: "Federation fixtures", timezone: "Europe/Oslo", prodId: "//fixtures//ical-generator//EN" });
calendar.createEvent({
  id: "bislett-2025@federation.example",
  start: new Date(Date.UTC(2025, 5, 12, 17, 30)),  // 19:30 in Oslo (summer time)
  end: new Date(Date.UTC(2025, 5, 12, 18, 15)),
  timezone: "Europe/Oslo",
  summary: "Bislett Games 1500m",
  location: "Bislett stadion, Oslo",
  url: "https://example.org/bislett",
});
calendar.createEvent({
  id: "euro-champs-2025@federation.example",
  start: new Date(Date.UTC(2025, 7, 11)),
  end: new Date(Date.UTC(2025, 7, 17)),  // exclusive: 11–16 August
  allDay: true,
  summary: "European Championships",
  status: "TENTATIVE",
});
process.stdout.write(calendar.toString());
