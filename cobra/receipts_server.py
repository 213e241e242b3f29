"""``cobra receipts serve``: the HTTP listener providers call back.

Routes, for every configured channel NAME:

- ``/NAME/status``: delivery reports (Kannel's dlr-url, Twilio's status
  callback), parsed by the channel's backend ``receipt(request, settings)``;
- ``/NAME/inbound``: incoming messages (an SMS reply), parsed by the
  backend's ``inbound(request, settings)``.

Each request opens the store for itself (SQLite connections belong to one
thread) and answers 200 once what it carried is stored, so a provider that
got no answer sends it again, and applying it twice is harmless. A request
the backend cannot read is answered 400 and logged; nothing is stored.
"""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from cobra.channels import Request
from cobra.errors import CobraError

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # providers send small forms; refuse anything larger


def make_server(config, store_path, host: str, port: int, bindings=None):
    """A server ready to ``serve_forever``; port 0 picks a free one."""
    from cobra import receipts, sending
    from cobra.store import Store

    if bindings is None:
        bindings, _ = sending.bindings(config)
    public_url = str(config.get("receipts.public_url") or "").rstrip("/")
    words = receipts.OptOutWords.from_config(config)

    class Handler(BaseHTTPRequestHandler):
        server_version = "cobra-receipts"

        def log_message(self, fmt, *args):  # the default writes to stderr
            log.info("%s %s", self.address_string(), fmt % args)

        def do_GET(self):
            self._handle()

        def do_POST(self):
            self._handle()

        def _answer(self, status: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            split = urlsplit(self.path)
            parts = [p for p in split.path.split("/") if p]
            if len(parts) != 2 or parts[1] not in ("status", "inbound"):
                return self._answer(
                    404, "not found: use /CHANNEL/status or /CHANNEL/inbound"
                )
            channel, route = parts
            binding = bindings.get(channel)
            parse = (
                getattr(
                    binding.backend, "receipt" if route == "status" else "inbound", None
                )
                if binding
                else None
            )
            if parse is None:
                return self._answer(404, f"channel {channel!r} takes no {route} calls")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._answer(413, "too large")
            body = self.rfile.read(length) if length else b""
            form = {}
            if "form-urlencoded" in (self.headers.get("Content-Type") or ""):
                form = dict(
                    parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                )
            base = public_url or f"http://{self.headers.get('Host', '')}"
            request = Request(
                method=self.command,
                path=split.path,
                url=base + self.path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                form=form,
                headers={k: v for k, v in self.headers.items()},
                body=body,
            )
            settings = sending.channel_settings(binding, config, store_path)
            try:
                items = parse(request, settings)
            except ValueError as exc:
                log.warning("%s %s: cannot read the request: %s", channel, route, exc)
                return self._answer(400, f"cannot read the request: {exc}")
            except CobraError as exc:
                # A secret missing in the listener's environment: the provider
                # is told to come back, and the log says what to fix.
                log.error("%s %s: %s", channel, route, exc)
                return self._answer(500, "cobra cannot check this request now")
            with Store.open(store_path, migrate=False) as store:
                for item in items or []:
                    if route == "status":
                        applied = receipts.apply_receipt(store, item)
                    else:
                        applied = receipts.apply_inbound(
                            store, item, words, kind=binding.kind
                        )
                    for problem in applied.problems:
                        log.warning("%s %s: %s", channel, route, problem)
            return self._answer(200, "OK")

    return ThreadingHTTPServer((host, port), Handler)
