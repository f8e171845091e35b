"""Model + changes → the static site's HTML, Atom, JSON and host config. Pure strings.

Everything that came from YAML goes through ``esc`` (text) or ``href`` (links); only http(s) URLs
become links, so a race called ``<script>`` is shown as text and ``javascript:`` never reaches a page.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from racecal import __version__
from racecal.feeds import FEED_BLURBS, FEED_TITLES
from racecal.index import IndexEntry
from racecal.model import Plan, Race, Status
from racecal.settings import Settings
from racecal.words import day_words, span_words

GOOGLE_ADD = "https://calendar.google.com/calendar/r?cid="
# Outlook's "add from web" pages (personal and work accounts): widely used, undocumented. A link to the
# .ics itself would only import a copy that never updates.
OUTLOOK_ADD = {"outlook": "https://outlook.live.com/calendar/0/addfromweb", "office": "https://outlook.office.com/calendar/0/addfromweb"}

BADGE = {
    Status.CONFIRMED: "Confirmed",
    Status.TENTATIVE: "Tentative",
    Status.WITHDRAWN: "Withdrawn",
    Status.CANCELLED: "Cancelled",
}


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def href(url: str | None) -> str | None:
    """The URL if it is safe to link to (http or https), else None."""
    if url and url.lower().startswith(("http://", "https://")) and not any(c.isspace() or ord(c) < 32 for c in url):
        return esc(url)
    return None


def webcal(url: str) -> str:
    return "webcal://" + url.split("://", 1)[1]


def google_link(url: str) -> str:
    # Google wants the webcal:// form, URL-encoded; a raw https:// value has been seen to fail.
    return GOOGLE_ADD + quote(webcal(url), safe="")


def outlook_link(kind: str, url: str, name: str) -> str:
    # The new Outlook strips webcal:, so these take the plain https:// address.
    return f"{OUTLOOK_ADD[kind]}?url={quote(url, safe='')}&name={quote(name, safe='')}"


# --- pieces --------------------------------------------------------------------------------------

STYLE = """
:root{--ink:#1b1f24;--muted:#4d5662;--line:#d4d9df;--bg:#fff;--card:#f6f8fa;--ok:#1e6b43;--maybe:#8a4b00;--off:#6b6f75;--link:#0b57b0}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main,header,footer{max-width:60rem;margin:0 auto;padding:1rem}
a{color:var(--link)}
h1{font-size:1.8rem;margin:.5rem 0}
h2{font-size:1.3rem;margin:2rem 0 .5rem;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:.2rem 0}
.muted{color:var(--muted)}
.feeds{display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(17rem,1fr))}
.feed{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:1rem}
.feed ul{list-style:none;padding:0;margin:.5rem 0;display:flex;flex-wrap:wrap;gap:.4rem}
.button{display:inline-block;padding:.45rem .7rem;border:1px solid var(--link);border-radius:.4rem;text-decoration:none;font-weight:600;background:#fff}
.copy{display:flex;gap:.4rem;margin-top:.4rem}
.copy input{flex:1;min-width:0;font:inherit;font-size:.85rem;padding:.3rem}
.copy button{font:inherit;padding:.3rem .6rem}
.races{list-style:none;padding:0;margin:0}
.race{border-top:1px solid var(--line);padding:.8rem 0}
.when{font-weight:600}
.badge{display:inline-block;font-size:.8rem;font-weight:700;padding:.05rem .45rem;border-radius:1rem;color:#fff;vertical-align:middle}
.badge.confirmed{background:var(--ok)}.badge.tentative{background:var(--maybe)}
.badge.withdrawn,.badge.cancelled{background:var(--off)}
.race.withdrawn h3,.race.cancelled h3{text-decoration:line-through}
.sources{font-size:.9rem;color:var(--muted);margin:.3rem 0 0;padding-left:1.2rem}
.plans{list-style:none;padding:0}
.plans li{border-top:1px solid var(--line);padding:.7rem 0}
.note{background:#fff8e6;border-left:4px solid var(--maybe);padding:.5rem .8rem}
"""

# Without a configured base URL the subscribe links are completed from the page's own address.
SCRIPT = """
(function(){
  var base = new URL('.', location.href);
  document.querySelectorAll('[data-feed]').forEach(function(el){
    var url = new URL(el.getAttribute('data-feed'), base).href;
    var kind = el.getAttribute('data-kind');
    var wc = url.replace(/^https?:/, 'webcal:');
    if (kind === 'apple') el.href = wc;
    else if (kind === 'google') el.href = 'https://calendar.google.com/calendar/r?cid=' + encodeURIComponent(wc);
    else if (kind === 'outlook' || kind === 'office') el.href = el.getAttribute('data-add') + '?url=' + encodeURIComponent(url) + '&name=' + encodeURIComponent(el.getAttribute('data-name'));
    else if (kind === 'copy') el.value = url;
  });
  document.querySelectorAll('button[data-copy]').forEach(function(b){
    b.hidden = false;
    b.addEventListener('click', function(){
      var input = document.getElementById(b.getAttribute('data-copy'));
      input.select();
      if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(function(){});
      b.textContent = 'Copied';
    });
  });
  var today = new Date().toISOString().slice(0, 10);
  var past = document.getElementById('past-list');
  document.querySelectorAll('#upcoming-list > li').forEach(function(li){
    if (past && li.getAttribute('data-end') < today) past.insertBefore(li, past.firstChild);
  });
})();
"""


def page(title: str, body: str, *, depth: int) -> str:
    up = "../" * depth
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f'<link rel="stylesheet" href="{up}style.css">\n'
        "</head>\n<body>\n"
        f"{body}\n"
        f'<footer class="muted"><p>Built with racecal {esc(__version__)}. '
        "Feeds update when the plan changes; your calendar app decides when it looks.</p></footer>\n"
        f'<script src="{up}site.js"></script>\n'
        "</body>\n</html>\n"
    )


def feed_url(settings: Settings, plan_id: str, feed: str) -> str | None:
    return f"{settings.base_url}/{plan_id}/{feed}.ics" if settings.base_url else None


def subscribe_block(plan: Plan, feed: str, settings: Settings) -> str:
    name = f"{feed}.ics"
    url = feed_url(settings, plan.id, feed)
    input_id = f"url-{feed}"
    calendar_name = f"{plan.title} – {FEED_TITLES[feed]}"

    # Without a base URL, site.js completes these from the page's own address (data-feed); without
    # JavaScript either, the subscribe buttons point at the address box, never at the file (which
    # would import a copy that never updates).
    complete = "" if url else f' data-feed="{esc(name)}"'

    def link(kind: str, label: str, absolute: str | None, extra: str = "") -> str:
        target = esc(absolute) if absolute else f"#{input_id}"
        return f'<li><a class="button" data-kind="{kind}"{complete}{extra} href="{target}">{label}</a></li>'

    def outlook(kind: str, label: str) -> str:
        extra = f' data-add="{esc(OUTLOOK_ADD[kind])}" data-name="{esc(calendar_name)}"'
        return link(kind, label, outlook_link(kind, url, calendar_name) if url else None, extra)

    return f"""<section class="feed" aria-labelledby="feed-{feed}">
<h3 id="feed-{feed}">{esc(FEED_TITLES[feed].capitalize())}</h3>
<p class="muted">{esc(FEED_BLURBS[feed])}</p>
<ul>
{link("apple", "Apple Calendar", webcal(url) if url else None)}
{link("google", "Google Calendar", google_link(url) if url else None)}
{outlook("outlook", "Outlook.com")}
{outlook("office", "Outlook (work or school)")}
<li><a class="button" href="{esc(name)}" download>Download .ics</a></li>
</ul>
<div class="copy"><label class="muted" for="{input_id}">Feed address (other apps, or Outlook's "Subscribe from web")</label></div>
<div class="copy"><input id="{input_id}" data-kind="copy"{complete} readonly value="{esc(url or name)}"><button type="button" data-copy="{input_id}" hidden>Copy</button></div>
</section>"""


def race_item(race: Race) -> str:
    status = race.status.value
    parts = [
        f'<li class="race {status}" data-end="{race.end.isoformat()}">',
        f'<p class="when">{esc(span_words(race.start, race.end))}</p>',
        f'<h3>{esc(race.name)} <span class="badge {status}">{BADGE[race.status]}</span></h3>',
    ]
    if race.venue:
        parts.append(f"<p>{esc(race.venue.label())}</p>")
    for session in race.sessions:
        parts.append(
            f"<p>{esc(session.name)}: {esc(day_words(session.day))}, <time>{session.start:%H:%M}</time> local time ({esc(race.timezone)})</p>"
        )
    if race.disciplines:
        parts.append(f"<p>{esc(', '.join(race.disciplines))}</p>")
    if race.reason:
        parts.append(f"<p><strong>{BADGE[race.status]}:</strong> {esc(race.reason)}</p>")
    if race.note:
        parts.append(f"<p>{esc(race.note)}</p>")
    if race.result:
        r = race.result
        bits = [f"place {r.place}" if r.place else "", r.time or "", r.note or ""]
        parts.append(f"<p><strong>Result:</strong> {esc(', '.join(b for b in bits if b))}</p>")
    link = href(race.url)
    if link:
        parts.append(f'<p><a href="{link}">Meet page</a></p>')
    if race.sources:
        items = []
        for s in race.sources:
            label = esc(s.outlet) + (f", {esc(day_words(s.published))}" if s.published else "")
            title = esc(s.title) if s.title else ""
            source_link = href(s.url)
            if source_link and title:
                title = f'<a href="{source_link}">{title}</a>'
            elif source_link:
                label = f'<a href="{source_link}">{label}</a>'
            quote_html = f" <q>{esc(s.quote)}</q>" if s.quote else ""
            items.append(f"<li>{label}{': ' + title if title else ''}{quote_html}</li>")
        parts.append('<ul class="sources" aria-label="Sources">' + "".join(items) + "</ul>")
    parts.append("</li>")
    return "\n".join(parts)


def plan_page(plan: Plan, races: tuple[Race, ...], history: list[dict[str, Any]], settings: Settings, as_of: date, removed: bool = False) -> str:
    ordered = sorted(races, key=lambda r: (r.start, r.end, r.id))
    upcoming = [r for r in ordered if r.end >= as_of]
    past = [r for r in ordered if r.end < as_of]
    facts = [plan.athlete.country or "", ", ".join(plan.athlete.disciplines)]
    recent = list(reversed(history[-10:]))
    changes_html = (
        "<ul>" + "".join(f"<li><time>{esc(_iso_day(c.get('build', '')))}</time>: {esc(c.get('summary', ''))}</li>" for c in recent) + "</ul>"
        if recent
        else "<p>No changes yet.</p>"
    )
    base_note = (
        ""
        if settings.base_url
        else '<p class="note">This site was built without a public address; subscribe links are completed from this page\'s address.</p>'
    )
    if removed:
        base_note += (
            '<p class="note">This plan was removed. Its calendars stay valid but are no longer updated: '
            "you can unsubscribe from them.</p>"
        )
    body = f"""<header>
<p><a href="../index.html">{esc(settings.title)}</a></p>
<h1>{esc(plan.athlete.name)}: {plan.season} season</h1>
<p class="muted">{esc(" · ".join(f for f in facts if f))}</p>
</header>
<main>
<h2 id="subscribe">Subscribe</h2>
<p>Pick a calendar. It will follow every change to the plan: a race moved, confirmed, or dropped.</p>
{base_note}
<div class="feeds">
{"".join(subscribe_block(plan, feed, settings) for feed in ("confirmed", "tentative", "all"))}
</div>
<p class="muted">How fast changes arrive depends on your calendar app: Google Calendar checks subscribed
calendars only every 8 to 24 hours and cannot be refreshed by hand; Apple Calendar lets you pick the
interval when you subscribe; Outlook on the web looks about every 3 hours. Alerts are not included:
subscribed calendars drop them.</p>
<h2 id="upcoming">Upcoming races</h2>
{_race_list("upcoming-list", upcoming, "No upcoming races in this plan.")}
<h2 id="past">Past races</h2>
{_race_list("past-list", past, "")}
<h2 id="changes">Recent changes</h2>
{changes_html}
<p><a href="changes.atom">Follow changes in a feed reader (Atom)</a> · <a href="changes.json">All changes as JSON</a></p>
</main>"""
    return page(f"{plan.athlete.name} {plan.season}: race calendar", body, depth=1)


def _race_list(list_id: str, races: list[Race], empty: str) -> str:
    items = "\n".join(race_item(r) for r in races)
    note = f"<p>{esc(empty)}</p>" if empty and not races else ""
    return f'{note}<ol class="races" id="{list_id}">\n{items}\n</ol>'


def _iso_day(stamp: str) -> str:
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}" if len(stamp) >= 8 else stamp


def index_page(entries: list[IndexEntry], settings: Settings) -> str:
    items = []
    for e in entries:
        counts = e.counts
        removed = " (removed)" if e.removed else ""
        items.append(
            f'<li><h2 style="border:0;margin:0"><a href="{esc(e.plan_id)}/index.html">{esc(e.athlete)}: {esc(e.season)}{removed}</a></h2>'
            f'<p class="muted">{counts["confirmed"]} confirmed · {counts["tentative"]} tentative · {counts["off"]} withdrawn or cancelled</p></li>'
        )
    listing = "\n".join(items) if items else "<li>No plans yet.</li>"
    body = f"""<header><h1>{esc(settings.title)}</h1>
<p>Competition calendars you can subscribe to in Google Calendar, Apple Calendar or Outlook.
Each athlete has a calendar of confirmed races, one of tentative races, and one with everything.</p></header>
<main>
<ul class="plans">
{listing}
</ul>
</main>"""
    return page(settings.title, body, depth=0)


def counts(races: tuple[Race, ...]) -> dict[str, int]:
    tally = {"confirmed": 0, "tentative": 0, "off": 0}
    for r in races:
        tally[r.status.value if r.status.is_live else "off"] += 1
    return tally


def changes_json(plan_id: str, history: list[dict[str, Any]]) -> str:
    lines = ",\n".join(json.dumps(c, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for c in history)
    return f'{{"plan":{json.dumps(plan_id)},"changes":[\n{lines}\n]}}\n'



def atom(plan: Plan, history: list[dict[str, Any]], settings: Settings, updated: datetime) -> str:
    base = f"{settings.base_url}/{plan.id}/" if settings.base_url else ""
    entries = []
    for c in reversed(history[-50:]):
        stamp = _atom_time(c.get("build", ""))
        entry_id = f"urn:racecal:{plan.id}:{c.get('build', '')}:{c.get('race') or 'plan'}:{c.get('type')}:{c.get('field') or ''}"
        entries.append(
            f"<entry><id>{esc(entry_id)}</id><title>{esc(c.get('summary', ''))}</title>"
            f"<updated>{stamp}</updated><link href=\"{esc(base)}index.html\"/>"
            f"<content type=\"text\">{esc(c.get('summary', ''))}</content></entry>"
        )
    latest = _atom_time(history[-1]["build"]) if history else updated.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">\n'
        f"<id>urn:racecal:{esc(plan.id)}</id>\n"
        f"<title>{esc(plan.title)}: calendar changes</title>\n"
        f"<updated>{latest}</updated>\n"
        f'<link rel="alternate" href="{esc(base)}index.html"/>\n'
        "<author><name>racecal</name></author>\n" + "\n".join(entries) + "\n</feed>\n"
    )


def _atom_time(stamp: str) -> str:
    if len(stamp) == 16:  # 20240305T120000Z
        return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z"
    return "1970-01-01T00:00:00Z"


HEADERS = """/*.ics
  Content-Type: text/calendar; charset=utf-8
  Cache-Control: public, max-age=300
  Access-Control-Allow-Origin: *
/*.atom
  Content-Type: application/atom+xml; charset=utf-8
/*.json
  Content-Type: application/json; charset=utf-8
  Access-Control-Allow-Origin: *
"""

HTACCESS = """# Calendar clients need this exact type; some reject others.
AddType "text/calendar; charset=utf-8" .ics
AddType "application/atom+xml; charset=utf-8" .atom
AddType "application/json; charset=utf-8" .json
# Outlook has failed to subscribe to gzip-compressed feeds.
<IfModule mod_deflate.c>
  SetEnvIfNoCase Request_URI "\\.ics$" no-gzip dont-vary
</IfModule>
<IfModule mod_headers.c>
  <FilesMatch "\\.(ics|json)$">
    Header set Access-Control-Allow-Origin "*"
  </FilesMatch>
</IfModule>
"""


def static_files() -> dict[str, str]:
    return {"style.css": STYLE.lstrip(), "site.js": SCRIPT.lstrip(), "_headers": HEADERS, ".htaccess": HTACCESS, ".nojekyll": ""}
