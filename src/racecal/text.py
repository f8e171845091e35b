"""Rules for the characters and URLs racecal publishes: pure string functions, no YAML.

Every name, note and URL ends up in feeds and pages read by programs racecal does not control, so
text that renders as nothing (controls, bidi and other format characters, default-ignorables) and
URLs that clients read differently are refused where they are read, with a message naming them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from urllib.parse import SplitResult, quote, urlsplit

QUOTED_VALUE = 60  # longer values are described, not quoted, in messages


def character_name(code: int) -> str:
    """``the control character U+0000 (NUL)``-style words for a character no one can see."""
    char = chr(code)
    kind = "noncharacter" if _is_noncharacter(code) else {
        "Cc": "control character", "Cf": "invisible formatting character", "Cs": "surrogate",
        "Zl": "line separator", "Zp": "paragraph separator",
    }.get(unicodedata.category(char), "invisible character" if is_default_ignorable(code) else "character")  # fmt: skip
    name = "NUL" if code == 0 else unicodedata.name(char, "")
    return f"the {kind} U+{code:04X}" + (f" ({name})" if name else "")


def check_url(value: str, *, published: bool = False) -> str | None:
    """None when ``value`` is an http(s) URL racecal may publish, else what is wrong with it.
    A ``published`` URL is not held to the URI character, host, credential and escape rules (see
    Reader.published)."""
    bad = forbidden_char(value, allow_format=False, published=published)
    if bad is not None:
        return f"contains {character_name(bad)}"
    if not published and (trouble := uri_char_problem(value)) is not None:
        return trouble
    parts = http_url_parts(value)
    if parts is None:
        return _not_http_url(value)
    return None if published else url_detail_problem(value, parts)


def _not_http_url(value: str) -> str:
    """Why ``value`` is not an http(s) URL with a host and a port that is a number: said of the part
    that is wrong when the scheme is right (a port of 99999 is not a scheme problem)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme in ("http", "https") and value.lower().startswith(f"{parts.scheme}://"):
        if not parts.hostname:
            return f"has no host after {parts.scheme}://, got {quoted(value)}"
        try:
            parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
        except ValueError:
            return f"has a port that is not a number from 0 to 65535, got {quoted(value)}"
    return f"only http:// and https:// URLs are allowed, got {quoted(value)}"


def http_url_parts(value: str) -> SplitResult | None:
    """``value`` split, when it is an http(s) URL with a host, no spaces and a port that is a number."""
    if any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError:  # an unclosed or invalid IPv6 host, "http://[::1"
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts


# Printable ASCII that RFC 3986 allows nowhere in a URI (appendix A: a URI holds only unreserved and
# reserved characters and % escapes); nor whitespace. Calendar clients and browsers read a URL holding
# one as they please: '"' and '>' end an HTML attribute or a linkified URL, a space ends the URL in a
# description, a backslash is a '/' to a browser and not to other clients. RFC 5545's URL is a URI.
_NOWHERE_IN_URI = frozenset('"<>\\^`{|}')
_NOT_IN_URI = re.compile(r'[\s"<>\\^`{|}]')  # the same, and whitespace
_AUTHORITY_END = re.compile(r"[/?#]")


def uri_char_problem(value: str) -> str | None:
    """What ``value`` holds that no URI can, with how to write it: a character RFC 3986 allows nowhere,
    a bracket outside the host (brackets are for IPv6 addresses) or a second '#' (the first starts
    the fragment). Non-ASCII letters are not among them: a URL may be an IRI (RFC 3987), which
    ``as_uri`` maps to a URI where racecal writes it into a feed."""
    found = _NOT_IN_URI.search(value)
    if found is not None:
        char = found.group()
        shown = "a space" if char == " " else character_name(ord(char)) if char.isspace() else f"'{char}'"
        return f"contains {shown}, which a URL cannot hold; write it percent-encoded, as {quote(char, safe='')}"
    scheme_end = value.find("://")
    if scheme_end >= 0:
        authority_end = _AUTHORITY_END.search(value, scheme_end + 3)
        after = authority_end.start() if authority_end else len(value)
        bracket = next((c for c in value[after:] if c in "[]"), None)
        if bracket is not None:
            return (
                f"contains '{bracket}' outside the host, which a URL cannot hold (brackets are for IPv6 addresses); "
                f"write it percent-encoded, as {quote(bracket, safe='')}"
            )
    fragment = value.find("#")
    if fragment >= 0 and value.find("#", fragment + 1) >= 0:
        return "contains a second '#', which a URL cannot hold (the first starts the fragment); write it percent-encoded, as %23"
    return None


def uri_escaped(url: str) -> str:
    """``url`` with what ``uri_char_problem`` would name percent-encoded, whitespace aside: a URL from
    another tool's calendar (racecal import), made one that racecal accepts and that means the same."""
    authority_end = _AUTHORITY_END.search(url, url.find("://") + 3) if "://" in url else None
    after = authority_end.start() if authority_end else len(url)
    fragment = url.find("#")
    return "".join(
        quote(c, safe="") if c in _NOWHERE_IN_URI or (c in "[]" and i >= after) or (c == "#" and fragment < i) else c
        for i, c in enumerate(url)
    )


def as_uri(url: str) -> str:
    """An http(s) URL that ``check_url`` accepted, as the URI that RFC 3987 (3.1) maps an IRI to: each
    label of the host written in Unicode in its IDNA form ("xn--" and punycode), every other
    non-ASCII character percent-encoded as UTF-8. An ASCII URL is a URI already and is returned as it is.

    The host is not percent-encoded, which RFC 3986 would allow: calendar clients hand a URL to a
    resolver that may not decode it (RFC 3986 3.2.2 asks producers for the IDNA form)."""
    if url.isascii():
        return url
    scheme_end = url.index("://") + 3
    authority_end = _AUTHORITY_END.search(url, scheme_end)
    after = authority_end.start() if authority_end else len(url)
    authority = url[scheme_end:after]
    if not authority.isascii():  # a host name (no user info, and an IPv6 address is ASCII) and a port
        host, colon, port = authority.partition(":")
        authority = ".".join(_ascii_label(label) for label in host.split(".")) + colon + port
    return url[:scheme_end] + authority + _NON_ASCII.sub(_percent_encoded, url[after:])


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _percent_encoded(match: re.Match[str]) -> str:
    return quote(match.group(), safe="")


def _ascii_label(label: str) -> str:
    """A host label as DNS carries it: ASCII as it is; else lowercase and NFC (as IDNA's mapping
    makes it), "xn--" and its punycode, unless that form is ASCII already (the Kelvin sign is a "k")."""
    if label.isascii():
        return label
    # IDNA lowercases a capital sigma to σ wherever it is; str.lower() writes a final one as ς.
    mapped = unicodedata.normalize("NFC", label.replace("Σ", "σ").lower())
    return mapped if mapped.isascii() else "xn--" + mapped.encode("punycode").decode("ascii")


MAX_HOST_LABEL = 63
MAX_HOST_NAME = 253
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def url_detail_problem(value: str, parts: SplitResult) -> str | None:
    """What is wrong inside an http(s) URL that ``http_url_parts`` split: credentials, which would be
    published in every feed; a host no resolver can look up (``exa$(id).org``, ``-``); a ``%`` that
    starts no escape, which clients decode differently or refuse."""
    if "@" in parts.netloc:
        return "must not contain a user name or password (they would be published in every feed)"
    host = _host_as_written(parts.netloc)
    if not _is_host(host):
        shown = quoted(host) if len(host) <= QUOTED_VALUE else f"of {len(host)} characters"
        return f"the host {shown} is not a valid host name"
    broken = _PERCENT_ESCAPE.search(value)
    if broken is not None:
        escape = value[broken.start() : broken.start() + 3]
        return f"has a broken percent escape {quoted(escape)} (% must be followed by two hex digits; write %25 for a % sign)"
    return None


def _host_as_written(netloc: str) -> str:
    """The host of ``netloc`` with its case kept (SplitResult.hostname lowercases it)."""
    if netloc.startswith("["):  # urlsplit has checked that the brackets close; not what follows them
        host, _, after = netloc.partition("]")
        return host + "]" + ("" if after == "" or after.startswith(":") else after)
    return netloc.partition(":")[0]


def _is_host(host: str) -> bool:
    if host.startswith("["):  # an IPv6 address; not IPvFuture ("[v1.x]"), which no browser takes
        try:
            ipaddress.IPv6Address(host.removeprefix("[").removesuffix("]"))
        except ValueError:
            return False
        return True
    name = host.removesuffix(".")  # a fully qualified name ("example.org.") is still a name
    labels = name.split(".")
    if len(name) > MAX_HOST_NAME or not all(_is_host_label(label) for label in labels):
        return False
    # A Unicode label travels as "xn--" + its punycode, which must fit the 63 octets of a DNS label.
    if any(len(_ascii_label(label)) > MAX_HOST_LABEL for label in labels):
        return False
    if labels[-1].isascii() and labels[-1].isdigit():  # a numeric last label makes it an IPv4 address
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return False
    return True


def _is_host_label(label: str) -> bool:
    """Letters and digits of any script with their combining marks (so IDN hosts written in Unicode
    pass: हिंदी.भारत), hyphens inside, and underscores (which browsers accept and some real hosts have)."""
    if not label or label[0] == "-" or label[-1] == "-" or unicodedata.category(label[0])[0] == "M":
        return False
    return all(c.isalnum() or c in "-_" or unicodedata.category(c)[0] == "M" for c in label)


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


# Unicode's Default_Ignorable_Code_Point list (DerivedCoreProperties.txt; unicodedata has no such
# property): code points that render as nothing, assigned or not. Most are format characters (Cf);
# the others are why this list exists: Hangul fillers (letters that draw nothing), the combining
# grapheme joiner, Khmer inherent vowels, variation selectors and unassigned code points reserved
# for more of them. Any of them can make a name carry text no one sees.
DEFAULT_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
# The ignorables that real text needs, each only where it does something. The zero-width joiner and
# non-joiner (emoji sequences, Persian and Indic scripts) after a visible character; variation
# selectors (emoji or text presentation, CJK and Mongolian variants) after a base character; tag
# characters only inside a subdivision flag (U+1F3F4, tags, U+E007F: England, Scotland, Wales).
JOINERS = frozenset({0x200C, 0x200D})
VARIATION_SELECTORS = frozenset({0x180B, 0x180C, 0x180D, 0x180F, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)})
BLACK_FLAG, TAG_CANCEL = 0x1F3F4, 0xE007F
# A flag's tags spell a subdivision id (UTS #51, Unicode CLDR): "gbsct" is a region of 2 letters or
# 3 digits and 1-4 letters or digits, all lowercase. No other tags, so no room for hidden sentences.
SUBDIVISION_TAGS = frozenset({*range(0xE0030, 0xE003A), *range(0xE0061, 0xE007B)})
SUBDIVISION_ID_LENGTH = range(3, 8)


def is_default_ignorable(code: int) -> bool:
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE_RANGES)


def _flag_tags_end(value: str, start: int) -> int:
    """The index after the tag characters and U+E007F that follow ``value[start]``, when they are
    there; else ``start`` (no flag tag sequence begins here)."""
    end = start
    while end < len(value) and ord(value[end]) in SUBDIVISION_TAGS:
        end += 1
    if end - start in SUBDIVISION_ID_LENGTH and end < len(value) and ord(value[end]) == TAG_CANCEL:
        return end + 1
    return start


# What racecal accepted before the default-ignorables were checked (see Reader.published).
_PUBLISHED_FORMAT_CHARS = frozenset({*JOINERS, *range(0xE0020, 0xE0080)})


def forbidden_char(value: str, *, allow_format: bool = True, published: bool = False) -> int | None:
    """The first character that must not appear in a name, note or URL: controls (including the
    ones XML 1.0 forbids), surrogates, noncharacters such as U+FFFE, line and paragraph separators,
    every other invisible formatting character (Cf) and every default-ignorable code point, except
    the joiners, variation selectors and flag tags where real text needs them (none at all in URLs).
    ``published`` text is held only to the Cf rule (see Reader.published)."""
    if value.isascii():  # most text: only the C0 controls and DEL are forbidden there, found in C
        control = _ASCII_CONTROL.search(value)
        return None if control is None else ord(control.group())
    index = 0
    previous = ""  # the general category of the last character, "" at the start of the text
    while index < len(value):
        ch = value[index]
        code = ord(ch)
        index += 1
        if 0x20 <= code < 0x7F:
            previous = "Zs" if code == 0x20 else "L"  # all that matters below: visible or not
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Zl", "Zp") or _is_noncharacter(code):
            return code
        if code == BLACK_FLAG and allow_format and not published:
            index = _flag_tags_end(value, index)
        elif published:
            if category == "Cf" and not (allow_format and code in _PUBLISHED_FORMAT_CHARS):
                return code
        elif category == "Cf" or is_default_ignorable(code):
            if not allow_format:
                return code
            if code in JOINERS and previous[:1] in ("L", "M", "N", "P", "S", "V"):
                category = "J"  # a joiner does not let another joiner follow
            elif code in VARIATION_SELECTORS and previous[:1] in ("L", "N", "P", "S"):
                category = "V"  # a variation selector may be followed by a joiner (❤️‍🔥)
            else:
                return code
        previous = category
    return None


def quoted(value: str) -> str:
    """A value the user wrote, quoted for a message when it is short and on one line; otherwise only
    described, so that a file that was never meant to be a plan is not copied into a log."""
    if len(value) <= QUOTED_VALUE and "\n" not in value:
        return repr(value)
    return f"text of {len(value)} characters"


# Letters that Unicode decomposition leaves alone but that have a usual ASCII spelling ("Økt" → "okt").
_ASCII_LETTERS = str.maketrans(
    {
        "ø": "o",
        "Ø": "O",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ł": "l",
        "Ł": "L",
        "ı": "i",
    }
)


def slugify(text: str, what: str = "session") -> str:
    """An id from a name (a session's, an imported race's or athlete's): stable across builds, since
    a session id is part of its events' UIDs.

    Accents and Nordic letters keep their ASCII spelling; a name with letters or symbols that have
    none (CJK, emoji) gets a short digest of the exact name, so different names get different ids
    and the same name always gets the same one.
    """
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower())[:64].strip("-")
    lossy = any(not c.isascii() and unicodedata.category(c)[0] in "LNS" for c in plain)
    if slug and not lossy:
        return slug
    digest = hashlib.sha256(unicodedata.normalize("NFC", text).encode("utf-8")).hexdigest()[:8]
    return f"{slug[:55].strip('-')}-{digest}" if slug else f"{what}-{digest}"


def folded(name: str) -> str:
    """A name as an index sorts and files it: without accents, Nordic letters in ASCII, any case."""
    if name.isascii():  # nothing to decompose or translate (the landing page files 1,000 names twice)
        return name.strip().casefold()
    decomposed = unicodedata.normalize("NFKD", name.strip().translate(_ASCII_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def initial(name: str) -> str:
    """The letter a name is filed under in an A–Z index ("Øystein" under O, "Łukasz" under L), or "#"."""
    first = folded(name)[:1]
    return first if "a" <= first <= "z" else "#"
