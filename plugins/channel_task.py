"""The ``task`` channel backend: work for a person instead of a message.

Strategies plan ``call`` and ``third_party`` steps; nothing automatic can
make a call. This backend turns such a contact into a task on the agenda
(``cobra agenda``), with the brief the plan rendered for it. For a
``third_party`` step it also e-mails the brief to the customer's
salesperson, through whatever backend the ``email`` channel is bound to.

Tasks are keyed by the message's idempotency key, so sending twice creates
one task, and after a crash the backend can tell whether it was created
(``can_lookup``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import cobra
from cobra.channels import SetupError

TITLES = {
    "call": "Call {name} ({account})",
    "third_party": "Ask the salesperson to help with {name} ({account})",
}


class TaskSession:
    def __init__(self, settings):
        from cobra.store import Store

        if settings.store_path is None:
            raise SetupError("the task backend needs cobra's database")
        self.settings = settings
        self.store = Store.open(settings.store_path, migrate=False)

    def send(self, message) -> str:
        from cobra.store import outbox

        conn = self.store.conn
        customer = outbox.customer_id_for(conn, message.account)
        kind = message.channel if message.channel in TITLES else "task"
        title = TITLES.get(kind, "Contact {name} ({account})").format(
            name=message.customer_name, account=message.account
        )
        existing = outbox.task_for(conn, message.key)
        if existing:
            return f"task:{existing}"
        if kind == "third_party" and message.cc and self.settings.relay:
            # The brief goes to the salesperson, not to the customer; first,
            # so that a failure leaves no task and the whole step is retried.
            # A crash between the two repeats the e-mail to a colleague,
            # never a message to the customer.
            self.settings.relay("email").send(
                dataclasses.replace(
                    message,
                    key=message.key + "|brief",
                    kind="email",
                    to=message.cc,
                    cc=None,
                    customer_name=message.cc,
                    subject=message.subject or title,
                )
            )
        task_id, _ = outbox.add_task(
            conn,
            customer_id=customer,
            kind=kind,
            due_on=message.planned_for.isoformat(),
            title=title,
            brief=message.body,
            assignee=message.cc if kind == "third_party" else None,
            source_key=message.key,
            at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        return f"task:{task_id}"

    def lookup(self, key: str) -> str | None:
        from cobra.store import outbox

        task_id = outbox.task_for(self.store.conn, key)
        return f"task:{task_id}" if task_id else None

    def close(self) -> None:
        self.store.close()


class TaskBackend:
    name = "task"
    description = (
        "Puts calls and third-party steps on the agenda as tasks, with the brief."
    )
    kinds = ("task",)
    config_keys: dict = {}
    concurrency = 1
    rate_limit = None
    can_lookup = True
    replay_safe = False

    def check(self, settings) -> str:
        TaskSession(settings).close()
        return "tasks go on the agenda (cobra agenda)"

    def connect(self, settings) -> TaskSession:
        return TaskSession(settings)


@cobra.hookimpl
def register_channels(register):
    register(TaskBackend())
