"""The operator's `herald` commands that change or inspect the install rather than run it:
keys, pausing every workspace, the audit chain, workspace export, and the database."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli_common import build, embedded_only, load_settings, reaching
from storage.db import Database


@click.group()
def keys() -> None:
    """Secrets at rest: make a key, re-seal everything under the newest key."""


@keys.command("new")
def keys_new() -> None:
    """Print a fresh key for HERALD_SECRET_KEY."""
    from storage.vault import new_key

    click.echo(new_key())


@keys.command("kms-new")
def keys_kms_new() -> None:
    """Print a data key wrapped by HERALD_KMS_KEY_ID, for HERALD_KMS_DATA_KEY (several hosts)."""
    from storage.vault import kms_new_wrapped_key

    settings = load_settings()
    if not settings.kms_key_id:
        raise click.ClickException("Set HERALD_KMS_KEY_ID to the KMS key that wraps it first.")
    click.echo(kms_new_wrapped_key(settings.kms_key_id))


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-seal every stored secret with HERALD_SECRET_KEY (old ones in *_PREVIOUS_SECRET_KEYS)."""
    from datetime import UTC, datetime

    from core.auditlog.upkeep import record_everywhere
    from storage.rotate import rotate

    settings = load_settings()
    runtime = build(settings)
    if runtime.vault is None:
        raise click.ClickException("Set HERALD_SECRET_KEY first (herald keys new makes one).")
    try:
        changed = rotate(runtime.db, runtime.vault)
        record_everywhere(runtime.db, "keys.rotate", {"resealed": changed}, datetime.now(UTC))
    finally:
        runtime.close()
    click.echo(f"Re-sealed {changed} secret(s) with the current key.")


@click.command("pause")
@click.option("--all", "everywhere", is_flag=True, help="Every workspace of this Herald.")
@click.option("--for", "span", help="Lift it by itself after this long, e.g. 2h or 30m.")
@click.argument("reason", nargs=-1)
def pause_all(everywhere: bool, span: str | None, reason: tuple[str, ...]) -> None:
    """Stop all publishing at once, including posts already queued (herald resume --all)."""
    from core.durations import parse_span
    from core.publishing.pause import pause_install

    if not everywhere:
        raise click.UsageError(
            "Say --all: it pauses every workspace. For one workspace: pause in chat."
        )
    length = parse_span(span) if span else None
    if span and length is None:
        raise click.BadParameter(f"{span!r} is not a length; e.g. 2h or 30m.", param_hint="--for")
    runtime = build(load_settings())
    try:
        now = runtime.herald.ctx.clock.now()
        until = now + length if length else None
        click.echo(pause_install(runtime.herald.ctx, until, " ".join(reason) or None))
    finally:
        runtime.close()


@click.command("resume")
@click.option("--all", "everywhere", is_flag=True, help="Every workspace of this Herald.")
def resume_all(everywhere: bool) -> None:
    """Lift the pause of herald pause --all."""
    from core.publishing.pause import resume_install

    if not everywhere:
        raise click.UsageError(
            "Say --all: it resumes every workspace. For one workspace: resume in chat."
        )
    runtime = build(load_settings())
    try:
        click.echo(resume_install(runtime.herald.ctx))
    finally:
        runtime.close()


@click.group()
def audit() -> None:
    """The audit log: check its hash chains, prune it to the retention."""


@audit.command("verify")
@click.option("--workspace", "workspace_id", type=int, help="Check one workspace (by its id).")
def audit_verify(workspace_id: int | None) -> None:
    """Check every workspace's audit chain: a row changed, deleted, inserted or moved fails."""
    from core.auditlog import upkeep

    runtime = build(load_settings())
    try:
        verdicts = upkeep.verify(runtime.db, list(runtime.herald.ctx.audit_keys), workspace_id)
    finally:
        runtime.close()
    broken = 0
    for v in verdicts:
        if v.ok:
            redacted = f", {v.redacted} redacted by forget" if v.redacted else ""
            since = f" after checkpoint {v.checkpoint_seq}" if v.checkpoint_seq else ""
            click.echo(
                f"workspace {v.workspace_id}: ok, {v.rows} rows{since}{redacted}, "
                f"head {v.head_seq} {v.head}"
            )
            continue
        broken += 1
        click.echo(f"workspace {v.workspace_id}: BROKEN")
        for problem in v.problems:
            click.echo(f"  {problem}")
    if broken:
        raise click.ClickException(
            f"{broken} audit chain(s) do not verify: rows were changed outside Herald."
        )


@audit.command("prune")
def audit_prune() -> None:
    """Delete audit rows older than HERALD_AUDIT_RETENTION_DAYS, leaving a signed checkpoint."""
    from datetime import UTC, datetime

    from core.auditlog import upkeep
    from storage.auditchain import ChainBroken

    settings = load_settings()
    if settings.audit_retention_days <= 0:
        click.echo("HERALD_AUDIT_RETENTION_DAYS is 0: the audit log is kept forever.")
        return
    runtime = build(settings)
    try:
        keys = list(runtime.herald.ctx.audit_keys)
        if not keys:
            raise click.ClickException(
                "Pruning signs a checkpoint with a key derived from HERALD_SECRET_KEY. Set it "
                "first (herald keys new makes one)."
            )
        pruned = upkeep.prune(runtime.db, keys, settings.audit_retention_days, datetime.now(UTC))
    except ChainBroken as exc:
        raise click.ClickException(
            f"Not pruned: an audit chain does not verify ({exc}). Run herald audit verify."
        ) from None
    finally:
        runtime.close()
    total = sum(pruned.values())
    click.echo(
        f"Pruned {total:,} audit row(s) older than {settings.audit_retention_days} days "
        f"in {len(pruned)} workspace(s)."
    )


@click.group()
def workspace() -> None:
    """A workspace's data."""


@workspace.command("export")
@click.argument("workspace_id", type=int)
@click.option("--out", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def workspace_export(workspace_id: int, out: str | None) -> None:
    """Everything a workspace owns, as JSON (tokens and secrets left out)."""
    import json

    from core.auditlog.erasure import export_workspace
    from storage.models import Workspace as WorkspaceRow

    runtime = build(load_settings())
    try:
        with runtime.db.session() as session:
            if session.get(WorkspaceRow, workspace_id) is None:
                raise click.ClickException(
                    f"There is no workspace {workspace_id}. herald audit verify lists them."
                )
            data = export_workspace(session, workspace_id)
    finally:
        runtime.close()
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    if out is None:
        click.echo(text)
        return
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    click.echo(f"Wrote workspace {workspace_id} to {out}.")


@click.group()
def db() -> None:
    """The database: upgrade its schema, show its revision, back up and restore the embedded one."""


@db.command()
def upgrade() -> None:
    """Migrate the database to this version's schema."""
    from bot.runtime import build_vault

    settings = load_settings()
    database = Database(settings.effective_database_url)
    try:
        with reaching(database.url):
            database.upgrade(build_vault(settings, database))  # a migration may re-seal secrets
            click.echo(f"Database is at revision {database.current_revision()}.")
    finally:
        database.dispose()


@db.command()
def current() -> None:
    """Show the database's schema revision and the one this version needs."""
    settings = load_settings()
    database = Database(settings.effective_database_url)
    try:
        with reaching(database.url):
            current = database.current_revision()
        click.echo(f"current: {current or 'none'}  head: {database.head_revision()}")
    finally:
        database.dispose()


@db.command()
@click.argument("archive", type=click.Path(path_type=Path), required=False)
def backup(archive: Path | None) -> None:
    """Back up the embedded install (SQLite, media, outbox, its key) while Herald runs."""
    from datetime import UTC, datetime

    from storage.backup import BackupError, make

    settings = load_settings()
    embedded_only(settings, "backup")
    now = datetime.now(UTC)
    archive = archive or Path(f"herald-backup-{now:%Y%m%d-%H%M%S}.tar.gz")
    try:
        made = make(settings.data_dir, archive, now=now)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Backed up {made.posts} post(s), {made.files} file(s), {made.size / 1024:,.0f} KiB, "
        f"to {made.path}."
    )
    if made.has_key:
        click.echo("It holds the key that opens your connected accounts: keep it private.")


@db.command()
@click.argument("archive", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds posts.")
def restore(archive: Path, force: bool) -> None:
    """Restore a `herald db backup` archive into HERALD_DATA_DIR (stop Herald first)."""
    from bot.runtime import build_vault
    from storage.backup import BackupError
    from storage.backup import restore as restore_archive

    settings = load_settings()
    embedded_only(settings, "restore")
    try:
        posts = restore_archive(archive, settings.data_dir, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    database = Database(settings.effective_database_url)
    try:
        database.upgrade(build_vault(settings, database))  # a backup from an older Herald
        revision = database.current_revision()
    finally:
        database.dispose()
    click.echo(f"Restored {posts} post(s) into {settings.data_dir} (schema {revision}).")
