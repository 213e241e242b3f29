"""A webhook receiver on 127.0.0.1: records requests and answers as told.

It behaves like a careful receiver of cobra's webhook documents: it checks
``X-Cobra-Signature`` over ``{X-Cobra-Timestamp}.{raw body}`` with its own
copy of the secret (written here from the documented recipe, not imported
from the backend, so a backend that signs the wrong bytes fails), refuses a
bad signature or a stale timestamp with 401, and drops a second request with
an ``Idempotency-Key`` it has already accepted, answering with the first
answer's id. Other tests use it as a plain recorder (``secret=None``), for
instance as the place Twilio's stand-in posts its callbacks to.

Tests script its answers: :meth:`HttpReceiver.answer` queues a status (with
a body and headers, such as 429 with ``Retry-After``), or a delay longer than
the client's timeout for a hung server. It speaks HTTP/1.1 with keep-alive
and counts TCP connections, so tests can see that a session reuses one.

Run as a program (``python tests/services/http_receiver.py PORT``) it serves
until interrupted, for benchmarks that want the server in its own process.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MAX_SKEW = 300  # seconds a signed timestamp may be away from the clock


@dataclass
class Received:
    """One request as it arrived."""

    method: str
    path: str
    url: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which TCP connection carried it, counted from 1
    verdict: str = "accepted"  # accepted, duplicate, refused, scripted

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class HttpReceiver:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``with``)."""

    def __init__(
        self, secret: str | None = None, path: str = "/hook", latency: float = 0.0
    ):
        self.secret = secret.encode("utf-8") if secret is not None else None
        self.path = path
        self.latency = latency  # added to every answer: a distant receiver
        self.received: list[Received] = []
        self.connections = 0
        self.accepted_keys: dict[str, str] = {}
        self._script: deque[Answer] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------

    def start(self, port: int = 0) -> HttpReceiver:
        self._released.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()  # wake handlers told to hang
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def answer(
        self,
        status: int,
        body: bytes | str | dict = b"",
        headers: dict[str, str] | None = None,
        *,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next *times* requests so, whatever they hold."""
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        elif isinstance(body, str):
            body = body.encode()
        with self._lock:
            for _ in range(times):
                self._script.append(Answer(status, body, dict(headers or {}), delay))

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.verdict == "accepted"]

    # -- what a receiver does ------------------------------------------------------

    def _respond(self, request: Received) -> Answer:
        with self._lock:
            scripted = self._script.popleft() if self._script else None
            if scripted is not None:
                request.verdict = "scripted"
                self.received.append(request)
                return scripted
            if self.secret is not None and not self._authentic(request):
                request.verdict = "refused"
                self.received.append(request)
                return Answer(401, b'{"error": "bad signature"}')
            key = request.header("Idempotency-Key")
            if key and key in self.accepted_keys:
                request.verdict = "duplicate"
                self.received.append(request)
                return _json_answer(200, {"id": self.accepted_keys[key]})
            event = f"evt-{next(self._ids)}"
            if key:
                self.accepted_keys[key] = event
            self.received.append(request)
            return _json_answer(202, {"id": event})

    def _authentic(self, request: Received) -> bool:
        timestamp = request.header("X-Cobra-Timestamp") or ""
        given = request.header("X-Cobra-Signature") or ""
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW:
            return False
        expected = hmac.new(
            self.secret, timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest("sha256=" + expected, given)


def _json_answer(status: int, data: dict) -> Answer:
    return Answer(
        status, json.dumps(data).encode(), {"Content-Type": "application/json"}
    )


def _handler_for(receiver: HttpReceiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse shows
        disable_nagle_algorithm = True  # as real servers: no 40 ms stalls
        timeout = 30  # an idle kept-alive connection is closed after this

        def setup(self):
            super().setup()
            with receiver._lock:
                receiver.connections += 1
                self.connection_number = receiver.connections

        def log_message(self, format, *args):  # quiet: pytest shows failures
            pass

        def do_POST(self):
            self._serve()

        def do_GET(self):
            self._serve()

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("Host", f"127.0.0.1:{receiver.port}")
            request = Received(
                method=self.command,
                path=self.path,
                url=f"http://{host}{self.path}",
                headers=dict(self.headers.items()),
                body=body,
                connection=self.connection_number,
            )
            answer = receiver._respond(request)
            delay = answer.delay + receiver.latency
            if delay and receiver._released.wait(delay):
                return  # stopped while hanging: drop the connection
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

    return Handler


if __name__ == "__main__":
    # python tests/services/http_receiver.py [PORT [SECRET [LATENCY_SECONDS]]]
    args = sys.argv[1:] + [None] * 3
    receiver = HttpReceiver(secret=args[1] or None, latency=float(args[2] or 0))
    receiver.start(int(args[0] or 0))
    print(f"listening on {receiver.url}", flush=True)
    try:
        receiver._thread.join()
    except KeyboardInterrupt:
        receiver.stop()
