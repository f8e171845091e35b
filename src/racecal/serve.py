"""A local preview server for dist/ with the headers calendar clients need."""

from __future__ import annotations

import email.utils
import hashlib
import http.server
import os
from functools import partial
from pathlib import Path

TYPES = {
    ".ics": "text/calendar; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with ETag/Last-Modified and 304s; never compressed (Outlook fails on gzip)."""

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return TYPES.get(Path(path).suffix, "application/octet-stream")

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            return super().send_head()
        try:
            data = path.read_bytes()
        except OSError:
            self.send_error(404, "File not found")
            return None
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        modified = email.utils.formatdate(path.stat().st_mtime, usegmt=True)
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        import io

        return io.BytesIO(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        if not self.server.quiet:  # type: ignore[attr-defined]
            super().log_message(format, *args)


def make_server(directory: Path, host: str, port: int, quiet: bool = False) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((host, port), partial(Handler, directory=str(directory)))
    server.quiet = quiet  # type: ignore[attr-defined]
    return server
