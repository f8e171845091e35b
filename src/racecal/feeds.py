"""Model (+ history) → iCalendar feeds. Pure: the build time and every sequence come in as arguments.

Each race is rendered once into event *bodies* (everything but UID, DTSTAMP, SEQUENCE and
LAST-MODIFIED); history.py decides those four, and the same bytes go into every feed that carries
the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from racecal import ics
from racecal.model import SLUG_RE, Plan, Race, Session, Status
from racecal.settings import Settings
from racecal.text import as_uri
from racecal.tz import SessionSpan, session_lines, session_span, vtimezone, zone_of
from racecal.words import STATUS_WORDS, day_words, span_words

FEED_TITLES = {"all": "all races", "confirmed": "confirmed races", "tentative": "tentative races"}
# What an empty feed has none of ("No races in …", never "No all races in …").
FEED_NONE = {"all": "races", "confirmed": "confirmed races", "tentative": "tentative races"}
FEED_BLURBS = {
    "all": "Every race in the plan: confirmed, tentative (marked as such) and withdrawn or cancelled.",
    "confirmed": "Races the athlete is confirmed to run.",
    "tentative": "Races reported as likely but not confirmed. Titles start with 'Tentative:'.",
}
# The same for a group's or a meet's calendar (plan.view), which holds several athletes' races.
VIEW_BLURBS = {
    "all": "Every race of these athletes: confirmed, tentative (marked as such) and withdrawn or cancelled.",
    "confirmed": "Races the athletes are confirmed to run.",
    "tentative": "Races reported as likely but not confirmed. Titles start with 'Tentative:'.",
}


def feed_blurb(plan: Plan, feed: str) -> str:
    return (VIEW_BLURBS if plan.view else FEED_BLURBS)[feed]


ICS_STATUS = {
    Status.CONFIRMED: "CONFIRMED",
    Status.TENTATIVE: "TENTATIVE",
    Status.WITHDRAWN: "CANCELLED",
    Status.CANCELLED: "CANCELLED",
}
SUMMARY_PREFIX = {
    Status.CONFIRMED: "",
    # Google shows no STATUS at all, so the title itself has to say it.
    Status.TENTATIVE: "Tentative: ",
    Status.WITHDRAWN: "Withdrawn: ",
    Status.CANCELLED: "Cancelled: ",
}


def uid_for(plan_id: str, race_id: str, key: str, feed: str) -> str:
    """Stable across builds: never derived from a date, a title or a position in the file.

    Each feed's UIDs are its own (docs/history.md, "Identity"): a race promoted from tentative to
    confirmed is a cancellation in one calendar and an addition in the other, never one UID that is
    live in one calendar and cancelled in another. ``key`` is the session id, or "" for an all-day race.
    """
    tail = f"{race_id}.{key}" if key else race_id
    return f"{tail}.{plan_id}.{feed}@racecal"


def legacy_uid(plan_id: str, race_id: str, key: str) -> str:
    """The one-UID-for-every-feed form of state format 1, recognised so it can be cancelled."""
    tail = f"{race_id}.{key}" if key else race_id
    return f"{tail}.{plan_id}@racecal"


def event_key(uid: str, plan_id: str, race_id: str, feed: str) -> str | None:
    """The session id ("" for all-day) that ``uid`` names in ``feed``, or None if it is not one of the race's UIDs."""
    for suffix in (f".{plan_id}.{feed}@racecal", f".{plan_id}@racecal"):
        if uid.endswith(suffix):
            head = uid[: -len(suffix)]
            if head == race_id:
                return ""
            if head.startswith(race_id + ".") and SLUG_RE.match(head[len(race_id) + 1 :]):
                return head[len(race_id) + 1 :]
    return None


@dataclass(frozen=True, slots=True)
class EventDraft:
    key: str  # session id, or "" for an all-day race: with the feed it makes the UID
    sort_key: tuple[str, str]
    tzid: str | None  # set for timed events; the feed then needs that VTIMEZONE
    year: int
    body: str  # CRLF-terminated content lines between the four history lines and END:VEVENT
    instants: str = ""  # a session's start and end in UTC: the body gives local times, which a new
    # tz database can move; the fingerprint must see that so SEQUENCE rises


def render_race(plan: Plan, race: Race, tombstone_reason: str | None = None) -> list[EventDraft]:
    """The race's events: one all-day span, or one timed event per session.

    With ``tombstone_reason`` the events are rendered as STATUS:CANCELLED: that is how a feed tells
    subscribed clients to remove an event it carried before (promoted elsewhere, withdrawn, deleted).
    """
    status = Status.CANCELLED if tombstone_reason else race.status
    prefix = "Removed: " if tombstone_reason else SUMMARY_PREFIX[race.status]
    title = f"{prefix}{race.name}" if plan.view else f"{prefix}{plan.athlete.name} – {race.name}"
    shared = [
        ics.line("STATUS", ICS_STATUS[status]),
        "TRANSP:TRANSPARENT",  # a race on a fan's calendar must not mark them busy
        "CLASS:PUBLIC",
    ]
    if tombstone_reason:
        # A cancellation carries what a client needs to match and strike the event, and the reason;
        # not the notes and sources again, so a feed full of tombstones (a plan whose sessions were
        # renamed day after day) stays small: under 1 KiB each.
        shared.append(ics.text("DESCRIPTION", tombstone_reason))
    else:
        shared += _details(plan, race)
    return _events(race, title, shared)


def _details(plan: Plan, race: Race) -> list[str]:
    shared: list[str] = []
    if race.venue:
        shared.append(ics.text("LOCATION", race.venue.label()))
        if race.venue.lat is not None and race.venue.lon is not None:
            shared.append(ics.line("GEO", f"{race.venue.lat:.6f};{race.venue.lon:.6f}"))
    if race.url:
        shared.append(ics.line("URL", as_uri(race.url)))
    categories = [*race.disciplines, *([race.series] if race.series else []), STATUS_WORDS[race.status].split(":")[0]]
    shared.append(ics.text_list("CATEGORIES", categories))
    shared.append(ics.text("DESCRIPTION", _description(plan, race)))
    return shared


def _events(race: Race, title: str, shared: list[str]) -> list[EventDraft]:
    if not race.sessions:
        body = ics.join(
            [
                ics.text("SUMMARY", title),
                ics.line("DTSTART", ics.format_date(race.start), value="DATE"),
                # DTEND of an all-day span is exclusive: 7–12 June ends on 13 June.
                ics.line("DTEND", ics.format_date(race.end + timedelta(days=1)), value="DATE"),
                *shared,
            ]
        )
        place = all_day_place(race)
        return [EventDraft("", (place.start, race.id), None, place.year, body)]

    assert race.timezone, "sessions are validated to have a timezone"
    drafts = []
    for session, span, place in _timed(race):
        # A race's only session named as the race itself (an imported one-event race) is not named twice.
        summary = title if session.name == race.name else f"{title}: {session.name}"
        body = ics.join([ics.text("SUMMARY", summary)]) + place.times.removeprefix(ics.CRLF) + ics.join(shared)
        instants = f"{ics.format_utc(span.start)}/{ics.format_utc(span.end)}"
        drafts.append(EventDraft(session.id, (place.start, f"{race.id}.{session.id}"), place.tzid, place.year, body, instants))
    return drafts


def _timed(race: Race) -> list[tuple[Session, SessionSpan, EventPlace]]:
    """Each session, its span, and the place of its event (a local start orders it)."""
    assert race.timezone, "sessions are validated to have a timezone"
    zone = zone_of(race.timezone)
    return [
        (session, *_session_place(session.day, session.start, session.duration_minutes, race.timezone, zone)) for session in race.sessions
    ]


@lru_cache(maxsize=8192)  # about 6 MB at most: the memory target is for 100,000 races
def _session_place(day: date, start: time, minutes: int, tzid: str, zone: ZoneInfo) -> tuple[SessionSpan, EventPlace]:
    """Remembered: a race's sessions are placed in its plan and again in every group, meet and series
    calendar that carries it, and each time its events are taken from a published feed. ``zone`` is
    part of the key so that a zone loaded again (tz.zone_of after its zones are dropped, as a test
    does to stand for a new tz database) is not answered from before."""
    span = session_span(day, start, minutes, tzid)
    times = ics.CRLF + ics.join(session_lines(span, tzid))
    return span, EventPlace(span.start.replace(tzinfo=None).isoformat(), tzid, span.end.year, times)


@dataclass(frozen=True, slots=True)
class EventPlace:
    """Where one of a race's events goes in a feed, as its draft places it: what orders it, and the
    VTIMEZONE (and its years) it needs; and for a session, its DTSTART and DTEND lines as the event
    has them (``times``: a line break, then the two lines), which the tz database decides."""

    start: str  # the draft's sort_key[0]
    tzid: str | None
    year: int
    times: str = ""


def event_places(race: Race) -> dict[str, EventPlace]:
    """The place of each of ``race``'s live events by key (session id, or "" for an all-day race),
    as ``render_race`` places them, without rendering them."""
    if not race.sessions:
        return {"": all_day_place(race)}
    return {session.id: place for session, _, place in _timed(race)}


def all_day_place(race: Race) -> EventPlace:
    """The all-day span's place: also that of a cancelled event of a session the race no longer has
    (``history._tombstone_draft`` renders it as the span)."""
    return EventPlace(race.start.isoformat(), None, race.start.year)


def _description(plan: Plan, race: Race) -> str:
    parts: list[str] = []
    parts.append(race.name + (f" ({race.series})" if race.series and race.series not in race.name else ""))
    if race.venue:
        parts.append(race.venue.label())
    parts.append(span_words(race.start, race.end))
    for session in race.sessions:
        parts.append(f"{session.name}: {day_words(session.day)}, {session.start:%H:%M} local time ({race.timezone})")
    if race.disciplines:
        parts.append("Discipline: " + ", ".join(race.disciplines))
    parts.append("Status: " + STATUS_WORDS[race.status] + (f" ({race.reason})" if race.reason else ""))
    if race.note:
        parts.append("Note: " + race.note)
    if race.result:
        r = race.result
        bits = [f"place {r.place}" if r.place else "", r.time or "", r.note or ""]
        parts.append("Result: " + ", ".join(b for b in bits if b))
    if race.sources:
        parts.append("Sources:")
        for s in race.sources:
            head = s.outlet + (f", {day_words(s.published)}" if s.published else "")
            line = f"- {head}" + (f": {s.title}" if s.title else "")
            if s.quote:
                line += f' – "{s.quote}"'
            if s.url:
                line += f" {as_uri(s.url)}"
            parts.append(line)
    if race.url:
        parts.append("More: " + as_uri(race.url))
    return "\n".join(parts)


def event_bytes(draft: EventDraft, uid: str, sequence: int, stamp: datetime) -> str:
    stamp_text = ics.format_utc(stamp)
    return (
        "BEGIN:VEVENT\r\n"
        + ics.line("UID", uid) + "\r\n"
        + f"DTSTAMP:{stamp_text}\r\n"
        + f"SEQUENCE:{sequence}\r\n"
        + f"LAST-MODIFIED:{stamp_text}\r\n"
        + draft.body
        + "END:VEVENT\r\n"
    )  # fmt: skip


def written_events(feed: bytes) -> dict[str, str]:
    """UID → the event's text in a feed ``calendar`` wrote (bytes racecal vouches for, not any
    calendar): an unchanged race's events are taken from there rather than rendered again."""
    events: dict[str, str] = {}
    # Each piece runs from an event's UID to the line break before the next event, or the end.
    for piece in feed.decode("utf-8").split("\r\nBEGIN:VEVENT\r\nUID:")[1:]:
        uid, _, _ = piece.partition("\r\nDTSTAMP:")
        end = piece.index("\r\nEND:VEVENT") + len("\r\nEND:VEVENT")
        events[uid.replace("\r\n ", "")] = "BEGIN:VEVENT\r\nUID:" + piece[:end] + "\r\n"
    return events


@dataclass(frozen=True, slots=True)
class PlacedEvent:
    """An event as it goes into one feed: its bytes, and what the feed needs to order and support it."""

    sort_key: tuple[str, str]
    tzid: str | None
    year: int
    text: str


def calendar(plan: Plan, feed: str, events: list[PlacedEvent], settings: Settings, latest: datetime, removed: bool = False) -> bytes:
    """One feed. ``latest`` is the plan's newest stamp (the empty-feed journal's DTSTAMP); ``removed``
    marks the feeds of a plan whose file was deleted, which stay valid calendars (docs/history.md)."""
    name = f"{plan.title} – {FEED_TITLES[feed]}" + (" (removed)" if removed else "")
    if removed and plan.view:  # its group left the settings, or meet or series calendars were turned off
        description = f"{plan.title} is no longer published: this calendar is no longer updated."
    elif removed:
        description = f"{plan.athlete.name}'s {plan.season} season was removed from the plans: this calendar is no longer updated."
    else:
        whose = (
            f"The {plan.season} season of {plan.athlete.name}'s athletes"
            if plan.view == "group"
            else f"Every athlete entered at {plan.athlete.name}"
            if plan.view == "meet"
            else f"The athletes' races in the {plan.season} {plan.athlete.name}"
            if plan.view == "series"
            else f"{plan.athlete.name}'s {plan.season} season"
        )
        description = f"{whose}. {feed_blurb(plan, feed)} Built by racecal."
    refresh = f"PT{settings.refresh_hours}H"
    colour = settings.colours[feed]
    head = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//racecal//racecal//EN",  # no version number: an upgrade alone must not change bytes
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        ics.text("NAME", name),
        ics.text("X-WR-CALNAME", name),
        ics.text("DESCRIPTION", description),
        ics.text("X-WR-CALDESC", description),
        ics.line("COLOR", colour.css_name),
        ics.line("X-APPLE-CALENDAR-COLOR", colour.hex),
        ics.line("REFRESH-INTERVAL", refresh, value="DURATION"),
        ics.line("X-PUBLISHED-TTL", refresh),
        ics.line("X-WR-TIMEZONE", plan.timezone),
    ]
    if settings.base_url:
        url = f"{settings.base_url}/{plan.id}/{feed}.ics"
        head += [ics.line("URL", url), ics.line("SOURCE", url, value="URI")]
    ordered = sorted(events, key=lambda e: e.sort_key)
    years: dict[str, list[int]] = {}
    for event in ordered:
        if event.tzid:
            years.setdefault(event.tzid, []).append(event.year)
    zones = [ics.join(vtimezone(tzid, min(ys), max(ys))) for tzid, ys in sorted(years.items())]
    body = "".join(e.text for e in ordered) if ordered else _empty_journal(plan, feed, latest, removed)
    text = ics.join(head) + "".join(zones) + body + "END:VCALENDAR\r\n"
    return text.encode("utf-8")


def _empty_journal(plan: Plan, feed: str, latest: datetime, removed: bool) -> str:
    """A calendar needs at least one component (sabre/vobject rejects none) and vdirsyncer refuses a
    collection that became empty; calendar apps show no journal entries, so a VJOURNAL keeps an empty
    feed valid and syncable without putting anything on anyone's calendar."""
    if removed:
        summary = f"{plan.title} is no longer published" if plan.view else f"{plan.title} was removed from the plans"
    else:
        summary = f"No {FEED_NONE[feed]} in {plan.title} at the moment"
    return ics.join(
        [
            "BEGIN:VJOURNAL",
            ics.line("UID", f"empty.{plan.id}.{feed}@racecal"),
            f"DTSTAMP:{ics.format_utc(latest)}",
            ics.text("SUMMARY", summary),
            "END:VJOURNAL",
        ]
    )
