"""``erp personal-data``: export or anonymise what is held about one consumer's e-mail."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.group("personal-data")
def personal_data_group():
    """Export or anonymise the personal data held about one consumer (GDPR)."""


@personal_data_group.command("export")
@click.argument("email")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The file to write: .json or .xlsx (by its extension).")
@with_appcontext
def export_cmd(email: str, out: str):
    """Write everything held about EMAIL to --out (.json or .xlsx); exit 2 on bad arguments."""
    from erp.core.errors import ValidationError
    from erp.extensions import db
    from erp.privacy import services

    fmt = out.rsplit(".", 1)[-1].lower() if "." in out else ""
    if fmt not in ("json", "xlsx"):
        raise click.UsageError(f"--out must end in .json or .xlsx, not {out!r}.")
    try:
        summary = services.find_subject(email)
    except ValidationError as err:
        raise click.UsageError(str(err)) from None
    if not summary.found:
        click.secho(f"{summary.message} No file written.", fg="yellow")
        return
    data = (services.export_subject_json(summary.email) if fmt == "json"
            else services.export_subject_xlsx(summary.email))
    with open(out, "wb") as fh:
        fh.write(data)
    services.log_export(summary.email, actor=None, fmt=f"{fmt} (CLI)", counts=summary.counts)
    db.session.commit()
    click.secho(f"{summary.message} Written to {out} ({len(data):,} bytes).", fg="green")


@personal_data_group.command("anonymise")
@click.argument("email")
@click.option("--reason", required=True, help="Why (e.g. the erasure request and its date).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def anonymise_cmd(email: str, reason: str, yes: bool):
    """Anonymise everything held about EMAIL; exit 1 if refused (an order or case is open)."""
    from erp.core.errors import DomainError, ValidationError
    from erp.extensions import db
    from erp.privacy import services

    try:
        summary = services.find_subject(email)
    except ValidationError as err:
        raise click.UsageError(str(err)) from None
    click.echo(summary.message)
    if not summary.found:
        return
    if not yes and not click.confirm("Anonymise it? This cannot be undone", default=False):
        click.secho("Nothing changed.", fg="yellow")
        sys.exit(1)
    try:
        result = services.anonymise_subject(summary.email, actor=None, reason=reason)
    except DomainError as err:
        db.session.rollback()
        click.secho(str(err), fg="red", err=True)
        sys.exit(1)
    db.session.commit()
    click.secho(result.message, fg="green")
