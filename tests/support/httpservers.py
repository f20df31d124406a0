"""Small real HTTP servers on loopback for the reliability tests (issue 22), each a context manager:

- ``CountingProxy(target)``: forwards every request to ``target`` (the moto S3 server) and records
  ``(method, path)``; ``after_first_get(key, fn)`` runs ``fn`` once the first GET of an object whose path ends
  with ``key`` has been answered (to change the object between two reads);
- ``SilentServer()``: accepts TCP connections and never answers (a hung endpoint);
- ``FileServer(folder)``: Python's own ``http.server`` serving ``folder`` (no Range support, as
  ``python -m http.server``), answering 403 for paths listed in ``forbidden``.

Nothing in the code under test knows it talks to a test server: it gets a URL or ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import functools
import http.client
import http.server
import socket
import threading
from typing import Callable
from urllib.parse import urlsplit

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}


class _Server:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread; ``url`` is its address."""

    def __init__(self, handler):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class CountingProxy(_Server):
    """A forwarding proxy to ``target`` (``http://host:port``) that records every request it forwards."""

    def __init__(self, target: str):
        self.requests: list[tuple[str, str]] = []
        self.hooks: dict[str, Callable[[], None]] = {}
        self.lock = threading.Lock()
        proxy = self
        netloc = urlsplit(target).netloc

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                conn = http.client.HTTPConnection(netloc, timeout=60)
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP_HEADERS and k.lower() != "content-length":
                        self.send_header(k, v)
                # a HEAD answer has no body but the object's length
                length = resp.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                self.wfile.flush()
                path = self.path.split("?", 1)[0]
                with proxy.lock:
                    proxy.requests.append((self.command, self.path))
                    hook = None
                    if self.command == "GET":
                        key = next((k for k in proxy.hooks if path.endswith(k)), None)
                        hook = proxy.hooks.pop(key) if key is not None else None
                if hook is not None:
                    hook()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        super().__init__(Handler)

    def after_first_get(self, key: str, fn: Callable[[], None]) -> None:
        with self.lock:
            self.hooks[key] = fn

    def gets(self, suffix: str) -> int:
        """How many GETs of an object whose path ends with ``suffix`` (listings not counted)."""
        with self.lock:
            return sum(1 for m, p in self.requests if m == "GET" and p.split("?", 1)[0].endswith(suffix))


class SilentServer:
    """Listens on 127.0.0.1 and accepts connections, but never sends a byte: ``url`` is ``http://...``."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.conns.append(conn)  # kept open, never answered

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()
        self.sock.close()


class FileServer(_Server):
    """``http.server.SimpleHTTPRequestHandler`` over ``folder`` (no Range support); paths in ``forbidden``
    (e.g. ``{"/secret.csv"}``) answer 403."""

    def __init__(self, folder, forbidden: set[str] = frozenset()):
        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def send_head(self):
                if self.path.split("?", 1)[0] in forbidden:
                    self.send_error(403, "Forbidden")
                    return None
                return super().send_head()

        super().__init__(functools.partial(Handler, directory=str(folder)))
