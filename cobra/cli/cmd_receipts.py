"""``cobra receipts``: take delivery reports, bounces and replies."""

from __future__ import annotations

import click

from cobra.cli.app import App, pass_app


@click.group("receipts")
def receipts_group():
    """Take delivery reports, bounces and customers' replies.

    Providers push reports and incoming SMS to `cobra receipts serve`; e-mail
    replies and bounces are read from a mailbox by `cobra receipts fetch`.
    """


@receipts_group.command("serve")
@click.option("--host", help="Interface to listen on (default: receipts.host).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (default: receipts.port; 0 picks one).",
)
@pass_app
def serve_command(app: App, host: str | None, port: int | None):
    """Listen for delivery reports and incoming messages until stopped.

    Each channel NAME takes reports at /NAME/status and incoming messages at
    /NAME/inbound; set receipts.public_url to the address providers use to
    reach this listener, so `cobra send` asks for reports.

    Example: cobra receipts serve --port 8025
    """
    from cobra.receipts_server import make_server

    config = app.config()
    store_path = app.database_path()
    # The server reads the profiles' opt-out words first, so a bad profile
    # stops here before the database is created.
    server = make_server(
        config,
        store_path,
        host or str(config.get("receipts.host") or "127.0.0.1"),
        port if port is not None else int(config.get("receipts.port") or 8025),
    )
    try:
        app.store()  # create and migrate the database before the first request
        bound_host, bound_port = server.server_address[:2]
        click.echo(
            f"Listening on http://{bound_host}:{bound_port} (Ctrl-C stops).", err=True
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@receipts_group.command("fetch")
@pass_app
def fetch_command(app: App):
    """Read replies and bounces from the IMAP mailbox in [replies.email].

    Bounces fail their message and mark the address invalid; replies go on
    the customer's timeline, and a reply saying STOP (or another opt-out
    word of the customer's country) opts the customer out of e-mail. Each
    mail is moved out of the mailbox once stored, so fetching again reads
    only new mail.

    Example: cobra receipts fetch
    """
    from cobra import mailbox, receipts
    from cobra.receipts import Applied

    config = app.config()
    settings = mailbox.MailboxSettings.from_config(config)
    # Before the store opens: a bad profile stops here, having written nothing.
    words = receipts.OptOutWords.from_config(config)
    store = app.store()
    total = Applied()

    def record(fetched) -> None:
        # Mail leaves the mailbox only after this returns: a failure here
        # leaves it to be read again by the next fetch.
        for receipt in fetched.receipts:
            total.add(receipts.apply_receipt(store, receipt))
        for inbound in fetched.inbound:
            total.add(receipts.apply_inbound(store, inbound, words, kind="email"))

    fetched = mailbox.fetch(settings, record)
    for problem in total.problems:
        click.echo(f"warning: {problem}", err=True)
    for reading in fetched.skipped:
        click.echo(f"note: mail {reading.uid} skipped: {reading.note}", err=True)
    click.echo(
        f"Fetched {len(fetched.receipts)} bounces, {len(fetched.inbound)} replies and "
        f"{len(fetched.auto_replies)} automatic replies: {total.updated} messages "
        f"updated, {total.invalidated} addresses marked invalid, {total.opt_outs} "
        f"opt-outs, {total.unmatched} unmatched.",
        err=True,
    )
