"""A STAND-IN for Twilio's Messages API on 127.0.0.1. It is not Twilio.

Twilio is a remote service that cannot run here, so the twilio backend is
tested against this small HTTP server, which replays the wire format Twilio
publishes. The source is Twilio's OpenAPI description, twilio/twilio-oai,
``spec/json/twilio_api_v2010.json``, operation ``CreateMessage`` on
``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``:

- security ``accountSid_authToken``: HTTP basic, the account sid as user name
  and the auth token as password;
- path parameter ``AccountSid`` matching ``^AC[0-9a-fA-F]{32}$``;
- body ``application/x-www-form-urlencoded`` with the properties of
  ``CreateMessageRequest`` only (:data:`CREATE_MESSAGE_PARAMS`), ``To``
  required, and the ``x-twilio`` conditions: one of ``From`` or
  ``MessagingServiceSid``, one of ``Body``, ``MediaUrl`` or ``ContentSid``;
  ``MessagingServiceSid`` matching ``^MG[0-9a-fA-F]{32}$``; ``StatusCallback``
  a URL with a valid host name and no underscore;
- answer ``201 Created`` with an ``api.v2010.account.message`` resource
  (:meth:`TwilioStandIn._resource`, shaped as the operation's examples);
- errors as Twilio's REST error document ``{"code", "message", "more_info",
  "status"}`` with the documented codes (20003 Authenticate, 20404 not found,
  21211 invalid To, 21602/21603/21604 missing Body/From/To).

A request that departs from the description in a way Twilio would answer
with one of those codes gets that answer. One Twilio's description does not
allow but that has no documented answer (an unknown parameter, a JSON body)
is recorded in :attr:`TwilioStandIn.violations` and refused with 400, so a
test that checks ``violations == []`` catches it.

It also plays Twilio's side of the callbacks: :meth:`TwilioStandIn.report`
posts a status callback to a message's ``StatusCallback`` and
:meth:`TwilioStandIn.send_inbound` posts an incoming message, each signed
with ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and the sorted parameters,
keyed with the auth token), written here from Twilio's documented recipe.

Run as a program (``python tests/services/twilio_standin.py [PORT]``) it
serves until interrupted, for benchmarks that want it in its own process.

Faults are scripted: :meth:`fail` (a status and a Twilio error code, with
``Retry-After``), :meth:`malformed` (a body that is not Twilio's JSON) and
:meth:`hang` (answer after the client's timeout).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import requests

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "standin-auth-token-0f1e2d3c"

PATH = re.compile(r"/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json")
ACCOUNT_SID_PATTERN = re.compile(r"AC[0-9a-fA-F]{32}")
SERVICE_SID_PATTERN = re.compile(r"MG[0-9a-fA-F]{32}")
E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# The properties of CreateMessageRequest in twilio_api_v2010.json.
CREATE_MESSAGE_PARAMS = {
    "To", "StatusCallback", "ApplicationSid", "MaxPrice", "ProvideFeedback",
    "Attempt", "ValidityPeriod", "ForceDelivery", "ContentRetention",
    "AddressRetention", "SmartEncoded", "PersistentAction", "ShortenUrls",
    "ScheduleType", "SendAt", "SendAsMms", "ContentVariables", "RiskCheck",
    "From", "MessagingServiceSid", "Body", "MediaUrl", "ContentSid",
}  # fmt: skip


@dataclass
class Call:
    """One request the stand-in received."""

    path: str
    user: str | None
    password: str | None
    content_type: str
    form: dict[str, str]
    connection: int


@dataclass
class Scripted:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class TwilioStandIn:
    """Start with :meth:`start`, stop with :meth:`stop` (or use ``with``)."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.calls: list[Call] = []
        self.messages: list[dict] = []  # the resources created, in order
        self.violations: list[str] = []
        self.connections = 0
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, port: int = 0) -> TwilioStandIn:
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
        self._released.set()
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
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripted faults ------------------------------------------------------------

    def fail(
        self,
        status: int,
        code: int,
        message: str = "stand-in failure",
        *,
        retry_after: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next *times* requests with Twilio's error document."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        body = _error_body(status, code, message)
        self._push(Scripted(status, body, _json_headers(headers)), times)

    def malformed(self, status: int, body: bytes, *, times: int = 1) -> None:
        """Answer with a body that is not Twilio's JSON (a proxy's page)."""
        self._push(Scripted(status, body, {"Content-Type": "text/html"}), times)

    def hang(self, seconds: float, *, times: int = 1) -> None:
        """Accept nothing and answer only after *seconds*."""
        self._push(Scripted(503, _error_body(503, 20500, "late"), delay=seconds), times)

    def _push(self, answer: Scripted, times: int) -> None:
        with self._lock:
            self._script.extend([answer] * times)

    # -- Twilio's callbacks ---------------------------------------------------------

    def report(self, sid: str, status: str, error_code: int | None = None):
        """POST a status callback for message *sid*, as Twilio does."""
        resource = next(m for m in self.messages if m["sid"] == sid)
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "From": resource["from"] or "",
            "To": resource["to"],
            "ApiVersion": "2010-04-01",
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self.post_signed(resource["_status_callback"], params)

    def send_inbound(self, url: str, sender: str, text: str, to: str = "+15005550006"):
        """POST an incoming message from *sender* to *url*, as Twilio does."""
        sid = "SM" + uuid.uuid4().hex
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.account_sid,
            "From": sender,
            "To": to,
            "Body": text,
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }
        return self.post_signed(url, params), sid

    def post_signed(self, url: str, params: dict[str, str], token: str | None = None):
        signed = url + "".join(k + params[k] for k in sorted(params))
        mac = hmac.new(
            (token or self.auth_token).encode(), signed.encode(), hashlib.sha1
        )
        headers = {"X-Twilio-Signature": base64.b64encode(mac.digest()).decode()}
        return requests.post(url, data=params, headers=headers, timeout=5)

    # -- the API --------------------------------------------------------------------

    def _handle(self, call: Call) -> Scripted:
        with self._lock:
            self.calls.append(call)
            scripted = self._script.popleft() if self._script else None
        match = PATH.fullmatch(urlsplit(call.path).path)
        if not match or not ACCOUNT_SID_PATTERN.fullmatch(match["sid"]):
            return _error(
                404, 20404, f"The requested resource {call.path} was not found"
            )
        if call.user != match["sid"] or call.user != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if call.password != self.auth_token:
            return _error(401, 20003, "Authenticate")
        problem = self._violation(call)
        if problem:
            with self._lock:
                self.violations.append(problem)
            return _error(400, 0, f"stand-in: {problem}")
        if scripted is not None:
            return scripted
        form = call.form
        if "To" not in form:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' is required.")
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return _error(400, 21602, "Message body is required.")
        if not E164.fullmatch(form["To"].removeprefix("whatsapp:")):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {form['To']}")
        resource = self._resource(form)
        with self._lock:
            self.messages.append(resource)
        public = {k: v for k, v in resource.items() if not k.startswith("_")}
        return Scripted(201, json.dumps(public).encode(), _json_headers({}))

    def _violation(self, call: Call) -> str | None:
        if not call.content_type.startswith("application/x-www-form-urlencoded"):
            return f"body must be form-encoded, got {call.content_type!r}"
        unknown = sorted(set(call.form) - CREATE_MESSAGE_PARAMS)
        if unknown:
            return f"parameters not in CreateMessageRequest: {', '.join(unknown)}"
        service = call.form.get("MessagingServiceSid")
        if service is not None and not SERVICE_SID_PATTERN.fullmatch(service):
            return (
                f"MessagingServiceSid {service!r} does not match ^MG[0-9a-fA-F]{{32}}$"
            )
        callback = call.form.get("StatusCallback")
        if callback is not None:
            parts = urlsplit(callback)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return f"StatusCallback {callback!r} is not an absolute URL"
            if "_" in parts.hostname:
                return f"StatusCallback {callback!r}: underscores are not allowed"
        return None

    def _resource(self, form: dict[str, str]) -> dict:
        sid = "SM" + uuid.uuid4().hex
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": None,
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "tags": None,
            "to": form["To"],
            "uri": f"{uri}.json",
            "_status_callback": form.get("StatusCallback"),
        }


def _error_body(status: int, code: int, message: str) -> bytes:
    document = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return json.dumps(document).encode()


def _error(status: int, code: int, message: str) -> Scripted:
    return Scripted(status, _error_body(status, code, message), _json_headers({}))


def _json_headers(headers: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", **headers}


def _handler_for(standin: TwilioStandIn):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as real servers: no 40 ms stalls
        timeout = 30

        def setup(self):
            super().setup()
            with standin._lock:
                standin.connections += 1
                self.connection_number = standin.connections

        def log_message(self, format, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            user = password = None
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
                user, _, password = decoded.partition(":")
            content_type = self.headers.get("Content-Type", "")
            form = {}
            if content_type.startswith("application/x-www-form-urlencoded"):
                form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            call = Call(self.path, user, password, content_type, form,
                        self.connection_number)  # fmt: skip
            answer = standin._handle(call)
            if answer.delay and standin._released.wait(answer.delay):
                return
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

    return Handler


if __name__ == "__main__":
    import sys

    standin = TwilioStandIn().start(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"listening on {standin.api_url}", flush=True)
    try:
        standin._thread.join()
    except KeyboardInterrupt:
        standin.stop()
