"""``wedcloud audit``: check the audit log's hash chain."""

from __future__ import annotations

import getpass

import typer

from control_plane.services import audit_log
from control_plane.store.db import transaction
from wedcloud.cli.context import CliContext, console

app = typer.Typer(no_args_is_help=True, help="The audit log: every change, refusal and operation, hash-chained.")


def cli_actor() -> str:
    """Who a command's audit rows name: the operating-system user who ran it."""
    try:
        return f"cli:{getpass.getuser()}"[:160]
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        return "cli:unknown"


@app.command("verify")
def verify() -> None:
    """Walk the hash chain and report every row changed, deleted or cut off since it was
    written. Exits 1 if any is found. Keep the head it prints somewhere the database's users
    cannot write: a later verify that ends elsewhere shows rows rewritten from the end."""
    context = CliContext()
    with transaction(context.sessions) as session:
        result = audit_log.verify(session)
    for problem in result.problems:
        console.print(f"[red]{problem['problem']}[/] (seq {problem['seq']}, id {problem['id']}): {problem['detail']}")
    if not result.ok:
        console.print(f"[red]the audit chain is broken: {len(result.problems)} problem(s) in {result.rows} rows[/]")
        raise typer.Exit(1)
    console.print(f"the audit chain holds: {result.rows} rows, head {result.head_seq} {result.head_hash}")
