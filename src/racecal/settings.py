"""Site settings (racecal.yaml): title, public base URL, refresh interval, feed colours."""

from __future__ import annotations

import string
from dataclasses import dataclass, field, replace

from racecal.errors import Problem, suggestion
from racecal.load import Reader, SourceFile, character_name, compose, forbidden_char, http_url_parts, quoted, url_detail_problem

# RFC 7986 COLOR takes a CSS3 colour *name*; Apple reads a hex value. These names are the choices.
CSS_COLOURS = {
    "seagreen": "#2E8B57", "forestgreen": "#228B22", "darkgreen": "#006400", "teal": "#008080",
    "darkorange": "#FF8C00", "orange": "#FFA500", "goldenrod": "#DAA520", "chocolate": "#D2691E",
    "steelblue": "#4682B4", "royalblue": "#4169E1", "navy": "#000080", "slateblue": "#6A5ACD",
    "crimson": "#DC143C", "firebrick": "#B22222", "purple": "#800080", "dimgray": "#696969",
}  # fmt: skip


@dataclass(frozen=True)
class Colour:
    css_name: str

    @property
    def hex(self) -> str:
        return CSS_COLOURS[self.css_name]


DEFAULT_COLOURS = {"all": Colour("steelblue"), "confirmed": Colour("seagreen"), "tentative": Colour("darkorange")}


@dataclass(frozen=True)
class Settings:
    title: str = "Race calendars"
    base_url: str | None = None  # public address of dist/, without a trailing slash
    refresh_hours: int = 6
    colours: dict[str, Colour] = field(default_factory=lambda: dict(DEFAULT_COLOURS))
    retired: frozenset[str] = frozenset()  # plan ids whose feeds are no longer published (docs/history.md)

    def retired_problem(self, path: str, plan_id: str) -> Problem | None:
        """A plan file whose id is retired: building it would publish what the editor retired."""
        if plan_id not in self.retired:
            return None
        return Problem(path, 1, 1, "athlete.slug", f"plan {plan_id!r} is listed under 'retired' in the settings; remove it there to publish it again")

    def with_base_url(self, base_url: str | None) -> Settings:
        return self if base_url is None else replace(self, base_url=base_url.rstrip("/"))

    def fingerprint(self) -> str:
        colours = ",".join(f"{k}={v.css_name}" for k, v in sorted(self.colours.items()))
        return f"{self.title}|{self.base_url}|{self.refresh_hours}|{colours}"  # retired: decided per plan, not an input


# Characters a base URL may hold: it is pasted into every feed's URL lines and every page's links, so
# anything that would need escaping in one of those places is refused rather than escaped.
_BASE_URL_CHARS = frozenset(string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@/[]")


def check_base_url(value: str) -> str | None:
    """None when ``value`` can be the public address of dist/, else what is wrong. The one check for
    both ``--base-url`` and ``base_url`` in racecal.yaml."""
    wrong = f"expected an http(s) URL without query or fragment, like https://example.org/races, got {quoted(value)}"
    bad = forbidden_char(value, allow_format=False)
    if bad is not None:
        return f"contains {character_name(bad)}"
    parts = http_url_parts(value)
    if not set(value) <= _BASE_URL_CHARS or parts is None:
        return wrong
    return url_detail_problem(value, parts)


def parse_settings(path: str, data: bytes, problems: list[Problem]) -> Settings:
    root = compose(SourceFile(path, data), problems)
    if root is None:
        return Settings()
    r = Reader(path, problems)
    fields = r.mapping(root, "", ("title", "base_url", "refresh_hours", "colours", "retired"))
    if fields is None:
        return Settings()
    settings = Settings()
    if "title" in fields and (title := r.text(fields["title"], "title")):
        settings = replace(settings, title=title)
    if "base_url" in fields and (url := r.text(fields["base_url"], "base_url", limit=500)):
        if (trouble := check_base_url(url)) is not None:
            r.error(fields["base_url"], "base_url", trouble)
        else:
            settings = settings.with_base_url(url)
    if "refresh_hours" in fields and (hours := r.integer(fields["refresh_hours"], "refresh_hours", 1, 168)):
        settings = replace(settings, refresh_hours=hours)
    if "colours" in fields:
        chosen = r.mapping(fields["colours"], "colours", ("all", "confirmed", "tentative")) or {}
        colours = dict(DEFAULT_COLOURS)
        for feed, node in chosen.items():
            name = r.text(node, f"colours.{feed}")
            if name is None:
                continue
            if name not in CSS_COLOURS:
                r.error(node, f"colours.{feed}", f"unknown colour {name!r}" + suggestion(name, CSS_COLOURS, f"; choose one of: {', '.join(sorted(CSS_COLOURS))}"))
                continue
            colours[feed] = Colour(name)
        settings = replace(settings, colours=colours)
    if "retired" in fields:
        ids = [r.slug(node, sub) for sub, node in r.items(fields["retired"], "retired", 10_000)]
        settings = replace(settings, retired=frozenset(i for i in ids if i))
    return settings
