"""Fetching one file of a live site over http(s), within a size limit and a deadline.

Used by a build or diff against ``--previous URL`` and by ``racecal import``; imported only then, so
other commands do not load HTTP, TLS and e-mail parsing at start-up.
"""

from __future__ import annotations

import http.client
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib
from typing import IO

from racecal.errors import PreviousBuildError
from racecal.previous import MAX_PREVIOUS_FILE

URL_TIMEOUT_SECONDS = 20  # per socket operation
URL_DEADLINE_SECONDS = 120.0  # per file, from connecting to the last byte


def fetch_url(url: str) -> bytes:
    """One file of a live site, within a total deadline.

    urllib's timeout applies to each socket operation, so a server dripping a byte every few
    seconds (or a DNS lookup that hangs, which no timeout covers) could hold a build for ever. The
    fetch runs in a daemon thread and is abandoned at the deadline; the process does not wait for it.
    """
    outcome: list[bytes | BaseException] = []

    def fetch() -> None:
        try:
            outcome.append(_fetch_unbounded(url))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=fetch, name="racecal-fetch", daemon=True)
    worker.start()
    worker.join(URL_DEADLINE_SECONDS)
    if not outcome:
        raise PreviousBuildError(f"{url}: no complete answer within {URL_DEADLINE_SECONDS:g} s; giving up")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


class _RedirectRefusedError(Exception):
    def __init__(self, target: str) -> None:
        self.target = target
        super().__init__(target)


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to http(s): urllib's own handler also follows one to ftp://.

    Checked before urllib's own check, so every refused scheme (ftp:, file:, data:) gets one message.
    """

    def http_error_302(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: http.client.HTTPMessage) -> object:
        location = headers.get("location") or headers.get("uri")
        if location is not None:
            target = urllib.parse.urljoin(req.full_url, location)
            if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
                fp.close()
                raise _RedirectRefusedError(target)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects)


def _fetch_unbounded(url: str) -> bytes:
    # Only http(s) URLs reach here (read_previous checks the scheme; redirects are checked above).
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "racecal", "Accept-Encoding": "identity"})  # noqa: S310
    except ValueError as exc:  # an unclosed IPv6 host, say
        raise PreviousBuildError(f"{_shown_url(url)}: not a valid URL ({str(exc)[:80]})") from None
    try:
        with _OPENER.open(request, timeout=URL_TIMEOUT_SECONDS) as response:
            data: bytes = response.read(MAX_PREVIOUS_FILE + 1)
            encoding = str(response.headers.get("Content-Encoding", "")).strip().lower()
    except _RedirectRefusedError as exc:
        raise PreviousBuildError(
            f"{url}: redirected to {_shown_url(exc.target)}, which is not an http(s) address; racecal follows redirects only to http(s)"
        ) from None
    except urllib.error.HTTPError as exc:
        raise PreviousBuildError(f"{url}: HTTP {exc.code} {' '.join(str(exc.reason).split())}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PreviousBuildError(f"{url}: cannot be reached ({reason})") from None
    except (http.client.InvalidURL, ValueError) as exc:  # a URL urllib cannot even send
        raise PreviousBuildError(f"{_shown_url(url)}: not a valid URL ({str(exc)[:80]})") from None
    if encoding in ("gzip", "x-gzip"):  # sent although racecal asked for none (some servers do)
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflate.decompress(data, MAX_PREVIOUS_FILE + 1)
        except zlib.error:
            raise PreviousBuildError(f"{url}: says it is gzip-compressed, but is not") from None
    if len(data) > MAX_PREVIOUS_FILE:
        raise PreviousBuildError(f"{url}: larger than {MAX_PREVIOUS_FILE // 2**20} MiB")
    return data


def _shown_url(url: str, limit: int = 200) -> str:
    """A URL the server chose, quoted for a message: escapes for anything unprintable, cut short."""
    return repr(url[:limit]) + ("…" if len(url) > limit else "")
