"""The preview server: confined to its directory, not held by slow clients, clean errors.

Real sockets on 127.0.0.1; every wait is bounded by a socket timeout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PLAN_ID, REPO, Project, serving
from racecal.serve import make_server


def raw_request(origin: str, request: bytes, timeout: float = 5) -> bytes:
    host, port = origin.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_line(response: bytes) -> str:
    return response.split(b"\r\n", 1)[0].decode()


@contextlib.contextmanager
def racecal_serve(project: Project, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``racecal serve`` as a real process on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "racecal", "serve", "--port", str(port), *args], cwd=project.root, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("target", "status"),
    [("/%00", "400 Bad request path"), ("/%00.ics", "400 Bad request path"), (f"/{PLAN_ID}/%00/all.ics", "400 Bad request path"),
     ("/" + "x" * 5000, "400 Bad request path"), ("/../../../etc/passwd", "404 File not found")],
)  # fmt: skip
def test_serve_nul_path_gets_an_error_status(built: Project, target: str, status: str) -> None:
    with serving(built.dist) as origin:
        response = raw_request(origin, f"GET {target} HTTP/1.0\r\n\r\n".encode())
        assert status_line(response) == f"HTTP/1.0 {status}"
        # and the server still answers
        assert status_line(raw_request(origin, b"GET /index.html HTTP/1.0\r\n\r\n")) == "HTTP/1.0 200 OK"


def test_serve_refuses_symlink_out_of_dir(built: Project) -> None:
    secret = built.root / "secret.env"
    secret.write_text("TOKEN=do-not-serve\n")
    (built.root / "private").mkdir()
    (built.root / "private" / "key.pem").write_text("PRIVATE KEY do-not-serve\n")
    (built.dist / "leak.txt").symlink_to(secret)
    (built.dist / "leakdir").symlink_to(built.root / "private")
    (built.dist / "feed.ics").symlink_to(Path(PLAN_ID) / "all.ics")  # inside: fine
    os.mkfifo(built.dist / "pipe.ics")
    with serving(built.dist) as origin:
        for target in ("/leak.txt", "/leakdir/key.pem", "/leakdir/", "/pipe.ics"):
            response = raw_request(origin, f"GET {target} HTTP/1.0\r\n\r\n".encode())
            assert status_line(response) == "HTTP/1.0 404 File not found", target
            assert b"do-not-serve" not in response
        with urllib.request.urlopen(f"{origin}/feed.ics", timeout=5) as answer:
            assert answer.read() == (built.dist / PLAN_ID / "all.ics").read_bytes()


def test_serve_slow_client_does_not_block_others(built: Project) -> None:
    with racecal_serve(built) as (_, origin):
        host, port = origin.removeprefix("http://").split(":")
        # A client that opens connections and sends half a request, then nothing.
        stalled = [socket.create_connection((host, int(port)), timeout=5) for _ in range(5)]
        try:
            for conn in stalled:
                conn.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            with urllib.request.urlopen(f"{origin}/{PLAN_ID}/all.ics", timeout=5) as answer:
                assert answer.status == 200
                assert answer.read() == built.feed("all")
            assert time.monotonic() - started < 2
        finally:
            for conn in stalled:
                conn.close()


def test_serve_drops_a_silent_connection_after_its_timeout(built: Project) -> None:
    server = make_server(built.dist, "127.0.0.1", 0, quiet=True, timeout=0.5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\n")
            started = time.monotonic()
            assert conn.recv(1024) == b""  # closed by the server
            assert time.monotonic() - started < 5
    finally:
        server.shutdown()
        server.server_close()


def test_serve_busy_port_is_a_clean_error(built: Project) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "racecal", "serve", "--port", str(port)], cwd=built.root, capture_output=True, text=True, timeout=20, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--host", "192.0.2.1"], "Invalid value for '--host': cannot listen on '192.0.2.1': Cannot assign requested address"),
     (["--port", "70000"], "Invalid value for '--port': 70000 is not in the range 0<=x<=65535."),
     (["--port", "-1"], "Invalid value for '--port': -1 is not in the range 0<=x<=65535.")],
)  # fmt: skip
def test_serve_invalid_host_or_port_is_a_usage_error(built: Project, args: list[str], message: str) -> None:
    result = built.run("serve", *args)
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: {message}\n"), result.stderr
    assert "Traceback" not in result.output


def test_serve_leaked_a_symlinked_index_html(built: Project) -> None:
    secret = built.root / "secret.env"
    secret.write_text("TOKEN=do-not-serve\n")
    for name, index in (("leak", "index.html"), ("leak-htm", "index.htm")):
        (built.dist / name).mkdir()
        (built.dist / name / index).symlink_to(secret)
    (built.dist / "fifo").mkdir()
    os.mkfifo(built.dist / "fifo" / "index.html")
    (built.dist / "alias").mkdir()
    (built.dist / "alias" / "index.html").symlink_to(Path("..") / PLAN_ID / "index.html")  # inside: fine
    with serving(built.dist) as origin:
        for target in ("/leak/", "/leak-htm/", "/leak/?x", "/fifo/"):
            for method in ("GET", "HEAD"):
                response = raw_request(origin, f"{method} {target} HTTP/1.0\r\n\r\n".encode())
                assert status_line(response) == "HTTP/1.0 404 File not found", (method, target)
                assert b"do-not-serve" not in response
        moved = raw_request(origin, b"GET /leak HTTP/1.0\r\n\r\n")
        assert status_line(moved) == "HTTP/1.0 301 Moved Permanently"
        assert b"\r\nLocation: /leak/\r\n" in moved and b"do-not-serve" not in moved
        for target in ("/alias/", f"/{PLAN_ID}/"):
            with urllib.request.urlopen(f"{origin}{target}", timeout=5) as answer:
                assert answer.read() == (built.dist / PLAN_ID / "index.html").read_bytes()
                assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        with urllib.request.urlopen(f"{origin}/", timeout=5) as answer:
            assert answer.read() == (built.dist / "index.html").read_bytes()
