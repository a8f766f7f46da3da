"""A real HTTP server on 127.0.0.1, in a thread of the test process, for the download tests
(tests/data/test_faults_download.py and its end-to-end half): it cuts transfers short, ignores or honours Range
requests, answers an error status, or stalls."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator

import pytest

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.payload at any path.  server.cut: bytes sent per response before the connection is
    closed (None: all); server.ranges: honour `Range: bytes=N-`; server.status: answer this error instead;
    server.hold: an Event the response waits for after its `cut` bytes, the connection open (a stalled
    transfer)."""

    def do_GET(self):
        srv = self.server
        cut = srv.cut                                 # as it was when the request came in
        srv.log.append((self.path, self.headers.get("Range")))
        if srv.status:
            self.send_error(srv.status)
            return
        body, start = srv.payload, 0
        rng = self.headers.get("Range")
        if rng and srv.ranges:
            start = int(rng.split("=")[1].rstrip("-"))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        rest = body[start:]
        self.wfile.write(rest if cut is None else rest[:cut])
        if srv.hold is not None:
            srv.hold.wait(60)
        self.close_connection = True

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(monkeypatch: pytest.MonkeyPatch) -> Iterator[http.server.ThreadingHTTPServer]:
    """A Handler server at server.url (empty payload, no cut, ranges honoured; server.log lists each request's path
    and Range), shut down on exit.  The proxy variables are unset meanwhile (through `monkeypatch`), in this process
    and the children it starts, so that the downloads reach it."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.payload, srv.cut, srv.ranges, srv.status, srv.log, srv.hold = b"", None, True, None, [], None
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        yield srv
    finally:
        if srv.hold is not None:
            srv.hold.set()
        srv.shutdown()
        srv.server_close()
