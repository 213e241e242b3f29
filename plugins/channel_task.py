"""The ``task`` channel backend: work for a person instead of a message.

Strategies plan ``call`` and ``third_party`` steps; nothing automatic can
make a call. This backend turns such a contact into a task on the agenda
(``cobra agenda``), with the brief the plan rendered for it. For a
``third_party`` step it also e-mails the brief to the customer's
salesperson, or to ``company.collections_manager_email`` when the customer
has none, through whatever backend the ``email`` channel is bound to. When
nobody can be e-mailed, the task's brief starts by saying so and why, and a
warning says it too: the brief is not lost in a task nobody was given.

Tasks are keyed by the message's idempotency key, so sending twice creates
one task, and after a crash the backend can tell whether it was created
(``can_lookup``).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone

import cobra
from cobra.channels import SetupError

log = logging.getLogger(__name__)

TITLES = {
    "call": "Call {name} ({account})",
    "third_party": "Ask the salesperson to help with {name} ({account})",
}
# A third-party step whose brief goes to the manager, or to nobody.
MANAGER_TITLE = "Ask the collections manager to help with {name} ({account})"
NOBODY_TITLE = "Find someone to help with {name} ({account})"
MANAGER_KEY = "company.collections_manager_email"


def _third_party_title(message, assignee: str | None) -> str:
    """The task's title: whom to ask, the salesperson (``cc``) first."""
    if assignee is None:
        template = NOBODY_TITLE
    elif assignee == message.cc:
        template = TITLES["third_party"]
    else:
        template = MANAGER_TITLE
    return template.format(name=message.customer_name, account=message.account)


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
        brief, assignee = message.body, None
        if kind == "third_party":
            assignee, not_sent = self._brief_recipient(message)
            title = _third_party_title(message, assignee)
            if not_sent:
                log.warning("%s: %s", message.key, not_sent)
                brief = f"{not_sent}\n\n{message.body}"
            else:
                # The brief goes to a colleague, not to the customer; first,
                # so that a failure leaves no task and the whole step is
                # retried. A crash between the two repeats the e-mail to a
                # colleague, never a message to the customer.
                self.settings.relay("email").send(
                    dataclasses.replace(
                        message,
                        key=message.key + "|brief",
                        kind="email",
                        to=assignee,
                        cc=None,
                        customer_name=assignee,
                        subject=message.subject or title,
                    )
                )
        task_id, _ = outbox.add_task(
            conn,
            customer_id=customer,
            kind=kind,
            due_on=message.planned_for.isoformat(),
            title=title,
            brief=brief,
            assignee=assignee,
            source_key=message.key,
            at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        return f"task:{task_id}"

    def _brief_recipient(self, message) -> tuple[str | None, str | None]:
        """Who gets a third-party brief by e-mail, and why it cannot go, if not."""
        config = self.settings.config
        manager = config.get(MANAGER_KEY) if config is not None else None
        recipient = message.cc or manager or None
        if recipient is None:
            return None, (
                f"Not e-mailed: {message.account} has no salesperson_email in the "
                f"ledger and {MANAGER_KEY} is not set in the config; pass this "
                "brief on yourself."
            )
        if self.settings.relay is None:
            return recipient, (
                f"Not e-mailed to {recipient}: this run of the task backend has no "
                "e-mail channel to send it through; pass this brief on yourself."
            )
        return recipient, None

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
