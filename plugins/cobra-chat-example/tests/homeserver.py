"""A stand-in for a Matrix homeserver, on 127.0.0.1, for the backend's tests.

No homeserver runs here, so this replays the part of the Matrix
client-server API the backend uses, as the specification
(https://spec.matrix.org/v1.11/client-server-api/) writes it:

- ``PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}``, the
  room id percent-encoded, answers ``200 {"event_id": "$..."}``;
- the access token comes as ``Authorization: Bearer ...`` (or the older
  ``access_token`` query parameter); none is ``401 M_MISSING_TOKEN``, an
  unknown one ``401 M_UNKNOWN_TOKEN`` with ``soft_logout``;
- a sender who has not joined the room gets ``403 M_FORBIDDEN``;
- a body that is not a JSON object is ``400 M_NOT_JSON`` / ``M_BAD_JSON``;
  an event over 65536 bytes is ``413 M_TOO_LARGE``;
- "Transaction identifiers": a request repeating a transaction id of the
  same device on the same endpoint is not posted again, and gets the first
  request's answer;
- errors are ``{"errcode": "M_...", "error": "..."}``; rate limiting is
  ``429 M_LIMIT_EXCEEDED`` with ``retry_after_ms``;
- ``GET /_matrix/client/v3/account/whoami`` answers the token's
  ``user_id`` and ``device_id``; ``GET .../rooms/{roomId}/joined_members``
  the room's members, or ``403 M_FORBIDDEN`` to someone not in it;
- any other path is ``404 M_UNRECOGNIZED``, another method on a known one
  ``405 M_UNRECOGNIZED``.

Tests script the rest: :meth:`Homeserver.fail_next` answers the next send
with an error, :meth:`hang_next` never answers it (nothing posted), and
:meth:`lose_next_answer` posts the event but never answers, as when the
connection drops on the way back.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

SEND = re.compile(r"/_matrix/client/v3/rooms/([^/]+)/send/([^/]+)/([^/]+)")
WHOAMI = "/_matrix/client/v3/account/whoami"
MEMBERS = re.compile(r"/_matrix/client/v3/rooms/([^/]+)/joined_members")
MAX_EVENT_BYTES = 65536
# What the spec's federation format adds around the content (ids, hashes,
# signatures), roughly: an event is too large well before its content is.
EVENT_OVERHEAD = 1024


@dataclass
class Event:
    room_id: str
    sender: str
    type: str
    content: dict
    event_id: str
    txn_id: str


@dataclass
class Request:
    method: str
    path: str  # as sent, still percent-encoded
    headers: dict
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class _Scripted:
    status: int = 200
    body: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    hang: float = 0.0
    post: bool = False  # post the event before hanging: the answer is lost


class Homeserver:
    """Start with ``with Homeserver() as server:``; add users and rooms."""

    def __init__(self, server_name: str = "example.org"):
        self.server_name = server_name
        self.tokens: dict[str, tuple[str, str]] = {}  # token: (user id, device)
        self.members: dict[str, set[str]] = {}  # room id: joined user ids
        self.events: list[Event] = []
        self.requests: list[Request] = []
        self.connections = 0
        self._transactions: dict[tuple[str, str], dict] = {}  # first answers
        self._script: deque[_Scripted] = deque()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # -- setting up

    def add_user(self, user_id: str, token: str, device: str = "COBRABOT") -> None:
        self.tokens[token] = (user_id, device)

    def add_room(self, room_id: str, *members: str) -> None:
        self.members[room_id] = set(members)

    def fail_next(
        self,
        status: int,
        errcode: str,
        error: str,
        *,
        retry_after_ms: int | None = None,
        headers: dict | None = None,
    ) -> None:
        body = {"errcode": errcode, "error": error}
        if retry_after_ms is not None:
            body["retry_after_ms"] = retry_after_ms
        self._script.append(_Scripted(status, body, dict(headers or {})))

    def hang_next(self, seconds: float = 30.0) -> None:
        self._script.append(_Scripted(hang=seconds))

    def lose_next_answer(self, seconds: float = 30.0) -> None:
        self._script.append(_Scripted(hang=seconds, post=True))

    # -- running

    def start(self) -> Homeserver:
        self._released.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        thread.daemon = True
        thread.start()
        self._thread = thread
        return self

    def stop(self) -> None:
        self._released.set()  # wake the requests told to hang
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
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def keys(self) -> list[str]:
        """The ``cobra.key`` of every event posted, one per event."""
        with self._lock:
            return [event.content.get("cobra.key") for event in self.events]

    # -- what a homeserver does

    def _caller(self, request: Request) -> tuple[str, str] | Answer:
        """(user id, device) of the token, or the 401 for a missing or
        unknown one."""
        query = parse_qs(urlsplit(request.path).query)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        token = token or (query.get("access_token") or [None])[0]
        if not token:
            return _error(401, "M_MISSING_TOKEN", "Missing access token")
        if token not in self.tokens:
            answer = _error(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.")
            answer.body["soft_logout"] = False
            return answer
        return self.tokens[token]

    def _whoami(self, request: Request) -> Answer:
        caller = self._caller(request)
        if isinstance(caller, Answer):
            return caller
        user, device = caller
        return Answer(200, {"user_id": user, "device_id": device, "is_guest": False})

    def _members(self, request: Request, room: str) -> Answer:
        caller = self._caller(request)
        if isinstance(caller, Answer):
            return caller
        members = self.members.get(room, set())
        if caller[0] not in members:
            return _error(403, "M_FORBIDDEN", f"User {caller[0]} not in room {room}")
        return Answer(200, {"joined": {user: {} for user in sorted(members)}})

    def _send(self, request: Request, room: str, kind: str, txn: str) -> Answer:
        caller = self._caller(request)
        if isinstance(caller, Answer):
            return caller
        sender, device = caller
        scripted = self._script.popleft() if self._script else None
        if scripted is not None and not scripted.post:
            return Answer(
                scripted.status, scripted.body, scripted.headers, scripted.hang
            )
        try:
            data = json.loads(request.body)
        except ValueError:
            return _error(400, "M_NOT_JSON", "Content not JSON.")
        if not isinstance(data, dict):
            return _error(400, "M_BAD_JSON", "Content must be a JSON object.")
        if sender not in self.members.get(room, ()):
            return _error(403, "M_FORBIDDEN", f"User {sender} not in room {room}")
        size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        if size + EVENT_OVERHEAD > MAX_EVENT_BYTES:
            return _error(413, "M_TOO_LARGE", "event too large")
        endpoint = urlsplit(request.path).path
        answer = self._transactions.get((device, endpoint))
        if answer is None:
            digest = hashlib.sha256(f"{room}|{txn}|{next(self._counter)}".encode())
            event_id = "$" + base64.urlsafe_b64encode(digest.digest()).decode()
            event_id = event_id.rstrip("=")
            self.events.append(Event(room, sender, kind, data, event_id, txn))
            answer = {"event_id": event_id}
            self._transactions[(device, endpoint)] = answer
        return Answer(200, answer, hang=scripted.hang if scripted else 0.0)

    def _route(self, method: str, request: Request) -> Answer:
        path = urlsplit(request.path).path
        send, members = SEND.fullmatch(path), MEMBERS.fullmatch(path)
        if not (send or members or path == WHOAMI):
            return _error(404, "M_UNRECOGNIZED", "Unrecognized request")
        if method != ("PUT" if send else "GET"):
            return _error(405, "M_UNRECOGNIZED", "Unrecognized request")
        if send:
            room, kind, txn = (unquote(part) for part in send.groups())
            return self._send(request, room, kind, txn)
        if members:
            return self._members(request, unquote(members.group(1)))
        return self._whoami(request)


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict = field(default_factory=dict)
    hang: float = 0.0  # seconds to hold the request without answering


def _error(status: int, errcode: str, error: str) -> Answer:
    return Answer(status, {"errcode": errcode, "error": error})


def _handler(server: Homeserver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self):
            super().setup()
            with server._lock:
                server.connections += 1

        def log_message(self, format, *args):
            pass

        def do_PUT(self):
            self._serve()

        def do_POST(self):
            self._serve()

        def do_GET(self):
            self._serve()

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                self.path,
                dict(self.headers.items()),
                self.rfile.read(length) if length else b"",
            )
            with server._lock:
                server.requests.append(request)
                answer = server._route(self.command, request)
            if answer.hang:
                # No answer: the client gives up first, or the server stops.
                server._released.wait(answer.hang)
                return
            data = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
