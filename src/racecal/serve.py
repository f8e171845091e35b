"""A local preview server for dist/ with the headers calendar clients need.

Each connection has its own thread and a socket timeout, so a slow or silent client holds only
itself, and only for ``timeout`` seconds. Only regular files inside the served directory are
served: a symlink that leads out of it is "not found", as is anything that is not a file, also when
it is a directory's index.html.
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import http.server
import io
import json
import os
import socket
import threading
import urllib.parse
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from racecal.files import NotRegularFileError, TooLargeError, read_bounded

TYPES = {
    ".ics": "text/calendar; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
CONNECTION_TIMEOUT_SECONDS = 10.0
MAX_SERVED_FILE = 256 * 1024 * 1024


VERSION_PATH = "/__racecal__/version"
# Injected into pages in a live preview only (never into a build): reload when a rebuild finished.
RELOAD_SCRIPT = (
    "<script>(function(){var seen=null;setInterval(function(){fetch('" + VERSION_PATH + "',{cache:'no-store'})"
    ".then(function(r){return r.json()}).then(function(v){if(seen!==null&&v.version!==seen)location.reload();seen=v.version})"
    ".catch(function(){})},1000)})();</script>"
).encode()


@dataclass
class Live:
    """A live preview's state: bumped after every rebuild; the problems of the last one, if it failed
    (pages then show them instead of the stale site; feeds stay as last built)."""

    version: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rebuilt(self, problems: list[str]) -> None:
        with self.lock:
            self.version += 1
            self.problems = problems

    def snapshot(self) -> tuple[int, list[str]]:
        with self.lock:
            return self.version, list(self.problems)


def problems_page(problems: list[str]) -> bytes:
    items = "".join(f"<li><code>{html.escape(p)}</code></li>" for p in problems)
    return (
        (
            "<!doctype html><html lang=en><meta charset=utf-8><title>racecal: problems</title>"
            "<body style='font-family:system-ui;margin:2rem'><h1>The plans have problems</h1>"
            f"<p>Nothing was rebuilt; fix these and save (this page reloads):</p><ul>{items}</ul>"
        ).encode()
        + RELOAD_SCRIPT
        + b"</body></html>"
    )


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with ETag/Last-Modified and 304s; never compressed (Outlook fails on gzip)."""

    timeout = CONNECTION_TIMEOUT_SECONDS  # StreamRequestHandler applies it to the socket

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return TYPES.get(Path(path).suffix, "application/octet-stream")

    def send_head(self):  # type: ignore[no-untyped-def]
        live: Live | None = self.server.live  # type: ignore[attr-defined]
        if live is not None:
            version, problems = live.snapshot()
            request = urllib.parse.urlsplit(self.path).path
            if request == VERSION_PATH:
                return self._send_bytes(json.dumps({"version": version, "ok": not problems}).encode(), ".json")
            if problems and (request.endswith("/") or request.endswith(".html")):
                return self._send_bytes(problems_page(problems), ".html")
        root = Path(self.directory).resolve()
        try:
            path = Path(self.translate_path(self.path))
            real = path.resolve()
            inside = real == root or root in real.parents
            is_dir = inside and real.is_dir()
        except (ValueError, OSError):  # a NUL byte, a name too long, a symlink loop
            self.send_error(400, "Bad request path")
            return None
        if not inside:
            self.send_error(404, "File not found")
            return None
        if not is_dir:
            return self._send_file(real, root)
        if not urllib.parse.urlsplit(self.path).path.endswith("/"):
            return super().send_head()  # the stdlib's redirect to the address with a slash
        # The stdlib would open index.html itself, following a symlink out of the directory.
        for name in ("index.html", "index.htm"):
            if os.path.lexists(real / name):
                return self._send_file(real / name, root)
        return self.list_directory(real)

    def _send_file(self, path: Path, root: Path) -> io.BytesIO | None:
        """A regular file that resolves inside ``root``; anything else is not found."""
        try:
            real = path.resolve()
            if real != root and root not in real.parents:
                raise FileNotFoundError(path)
            data = read_bounded(real, MAX_SERVED_FILE, follow_symlinks=False)
            modified = email.utils.formatdate(real.stat().st_mtime, usegmt=True)
        except (ValueError, OSError, NotRegularFileError, TooLargeError):
            self.send_error(404, "File not found")
            return None
        if self.server.live is not None and real.suffix == ".html":  # type: ignore[attr-defined]
            data = data.replace(b"</body>", RELOAD_SCRIPT + b"</body>", 1) if b"</body>" in data else data + RELOAD_SCRIPT
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(real))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        return io.BytesIO(data)

    def _send_bytes(self, data: bytes, suffix: str) -> io.BytesIO:
        self.send_response(200)
        self.send_header("Content-Type", TYPES[suffix])
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        return io.BytesIO(data)

    def list_directory(self, path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
        try:
            return super().list_directory(path)
        except ValueError:  # a name the listing cannot encode
            self.send_error(400, "Bad request path")
            return None

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        if not self.server.quiet:  # type: ignore[attr-defined]
            super().log_message(format, *args)


class _ThreadingHTTPServerV6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def make_server(
    directory: Path, host: str, port: int, quiet: bool = False, timeout: float = CONNECTION_TIMEOUT_SECONDS, live: Live | None = None
) -> http.server.ThreadingHTTPServer:
    """Raises OSError when the address cannot be used (busy port, unknown host). With ``live``, pages
    reload after each rebuild and show the problems of a failed one."""
    handler = type("BoundHandler", (Handler,), {"timeout": timeout})
    # An IPv6 address (::1) needs a server of that family; the stdlib's defaults to IPv4.
    server_class = _ThreadingHTTPServerV6 if ":" in host else http.server.ThreadingHTTPServer
    server = server_class((host.strip("[]"), port), partial(handler, directory=str(directory)))
    server.daemon_threads = True
    server.quiet = quiet  # type: ignore[attr-defined]
    server.live = live  # type: ignore[attr-defined]
    return server
