"""The `herald` command: reads settings once, wires the parts and starts what was asked for."""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import OperationalError

from core.settings import Settings
from storage.db import Database, SchemaOutOfDate, private_dir, unreachable

if TYPE_CHECKING:  # the runtime imports Celery and the adapters: only when a command runs
    from bot.runtime import Runtime
    from workers.heartbeat import HeartbeatThread

log = logging.getLogger("herald.cli")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"HERALD_{'_'.join(str(p) for p in e['loc']).upper()}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise click.ClickException(f"Bad settings: {problems}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="herald")
def main() -> None:
    """Herald: draft, approve, schedule and publish social posts from chat."""


@main.command()
@click.option("--user", help="Talk as this person (default: your login name).")
def chat(user: str | None) -> None:
    """Open the terminal chat (reads a script from stdin when piped)."""
    from bot.runtime import configure_logging
    from bot.terminal.chat import local_actor, run_chat

    settings = _settings()
    private_dir(settings.data_dir)  # before the log file is made in it
    configure_logging(settings, to_file=settings.data_dir / "herald.log")
    runtime = _build(settings)
    try:
        runtime.start_embedded_worker()
        actor = local_actor(user)
        code = run_chat(
            runtime.herald,
            actor,
            wait_timeout=settings.wait_timeout_seconds,
            history=settings.data_dir / "chat_history",
        )
        left = _left_waiting(runtime, actor.workspace_id)
        if left:
            click.echo(left)
    finally:
        runtime.close()
    _exit_now(code)


def _left_waiting(runtime: Runtime, workspace: str) -> str | None:
    """Approved posts still to go out, which nothing publishes once this chat (and the
    embedded scheduler it ran) has ended."""
    from core.scheduling.stalled import left_at_terminal

    own = 1 if runtime.embedded is not None else 0
    return left_at_terminal(runtime.herald.ctx, workspace, own=own)


def _exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's last garbage collections walking every object the
    libraries loaded (~0.25 s of every chat): all work is done and the runtime is closed, and
    atexit handlers (log files) still run."""
    gc.freeze()
    sys.exit(code)


@main.command()
@click.option(
    "--concurrency", "-c", type=int, help="Worker threads (default HERALD_WORKER_CONCURRENCY)."
)
@click.option("--with-scheduler", "-B", is_flag=True, help="Also run the dispatcher tick here.")
@click.option(
    "--queues",
    "-Q",
    metavar="KINDS",
    help=(
        "Only this work, comma-separated: publish, deliver, generate, maintain, analytics "
        "(default: all)."
    ),
)
@click.option(
    "--name",
    "-n",
    metavar="NAME",
    help="This worker's name (Celery's hostname), e.g. publish1@%h; %h is this host's name "
    "(default: celery@%h).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve /metrics on this port (default HERALD_WORKER_METRICS_PORT, 9101; 0: none).",
)
def worker(
    concurrency: int | None,
    with_scheduler: bool,
    queues: str | None,
    name: str | None,
    metrics_port: int | None,
) -> None:
    """Run a Celery worker for the broker in HERALD_BROKER_URL."""
    from celery.utils.nodenames import default_nodename, host_format

    from bot.runtime import configure_logging
    from core.jobs import Lane
    from workers.app import queue_name

    if name is not None and (not name.strip() or any(c.isspace() for c in name)):
        raise click.BadParameter(
            f'"{name}" is not a worker name. Use one without spaces, e.g. --name publish1@%h.',
            param_hint="--name",
        )
    kinds = _queue_kinds(queues, tuple(Lane))
    settings = _settings()
    _need_broker(settings, "worker")
    _need_secret_key(settings, "worker")
    configure_logging(settings)
    runtime = _build(settings, pre_ping=False)  # its transactions run again on a drop
    port = settings.worker_metrics_port if metrics_port is None else metrics_port
    _serve_metrics(runtime, "worker", port, backlog=with_scheduler, asked=metrics_port is not None)
    celery_worker = runtime.celery.Worker(
        queues=[queue_name(settings, kind) for kind in kinds],
        # Two workers on one host need names of their own (Celery warns of a clash otherwise).
        hostname=host_format(default_nodename(name)) if name else None,
        concurrency=concurrency or settings.worker_concurrency,
        pool="threads",
        beat=with_scheduler,
        loglevel=settings.log_level,
        scheduler="celery.beat.Scheduler",
    )
    beats = _heartbeats(runtime, celery_worker.hostname, scheduler=with_scheduler)
    try:
        celery_worker.start()
    finally:
        for heartbeat in beats:
            heartbeat.stop()
    # Celery records why it stopped ("Unrecoverable error" is 1): pass it on, so a supervisor
    # (compose `restart: on-failure`, systemd) restarts a worker that failed, not one stopped.
    sys.exit(celery_worker.exitcode or 0)


def _queue_kinds(given: str | None, known: tuple[str, ...]) -> list[str]:
    if given is None:
        return list(known)
    kinds = [kind.strip().lower() for kind in given.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in known]
    if unknown or not kinds:
        raise click.BadParameter(
            f"{', '.join(unknown) or 'nothing'} is not a kind of work. "
            f"Use one or more of: {', '.join(known)} (e.g. --queues publish,deliver).",
            param_hint="--queues",
        )
    return kinds


@main.command()
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve /metrics on this port (default HERALD_SCHEDULER_METRICS_PORT, 9102; 0: none).",
)
def scheduler(metrics_port: int | None) -> None:
    """Run the dispatcher tick and the sweeper (Celery beat) for HERALD_BROKER_URL."""
    from bot.runtime import configure_logging

    settings = _settings()
    _need_broker(settings, "scheduler")
    _need_secret_key(settings, "scheduler")
    configure_logging(settings)
    runtime = _build(settings, pre_ping=False)
    port = settings.scheduler_metrics_port if metrics_port is None else metrics_port
    _serve_metrics(runtime, "scheduler", port, backlog=True, asked=metrics_port is not None)
    beats = _heartbeats(runtime, f"beat@{socket.gethostname()}.{os.getpid()}", worker=False)
    emf = None
    if settings.cloudwatch_namespace:
        from bot.emf import EmfReporter

        emf = EmfReporter(runtime, settings.cloudwatch_namespace).start()
    try:
        runtime.celery.Beat(scheduler="celery.beat.Scheduler", loglevel=settings.log_level).run()
    finally:
        for heartbeat in beats:
            heartbeat.stop()
        if emf is not None:
            emf.stop()


def _heartbeats(
    runtime: Runtime, name: str, *, worker: bool = True, scheduler: bool = True
) -> list[HeartbeatThread]:
    """Start this process's heartbeat rows (what /readyz and `herald status` read)."""
    from core.operations.heartbeats import Kind
    from workers.heartbeat import HeartbeatThread

    kinds = [k for k, on in ((Kind.WORKER, worker), (Kind.SCHEDULER, scheduler)) if on]
    beats = [HeartbeatThread(runtime.herald.ctx, kind, name) for kind in kinds]
    for heartbeat in beats:
        heartbeat.start()
    return beats


def _serve_metrics(
    runtime: Runtime, what: str, port: int, *, backlog: bool, asked: bool = False
) -> None:
    """/metrics of this worker or scheduler on its own small port, in a daemon thread.

    A default port already taken (a second worker on this host) is said in the log and the
    process runs on without metrics: publishing matters more. A port asked for with
    --metrics-port that is taken stops the start with the same advice."""
    from bot.metrics import Exported, port_taken, serve

    if port == 0:
        return
    host = runtime.settings.metrics_host
    try:
        serve(Exported(runtime if backlog else None), host, port, runtime.settings.metrics_token)
    except OSError:
        advice = port_taken(what, host, port, "--metrics-port")
        if asked:
            runtime.close()
            raise click.ClickException(advice) from None
        log.warning("%s", advice)


def _freeze_startup_heap() -> None:
    """What is loaded at start lives as long as the process: keep it out of the collector's
    full passes, which would otherwise walk it all and stall answers for tens of ms."""
    gc.collect()
    gc.freeze()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def web(host: str, port: int) -> None:
    """Serve the HTTP app: Slack endpoints, Telegram webhook, OAuth callbacks, health, metrics."""
    import uvicorn

    from bot.metrics import open_to_others
    from bot.web.app import create_app

    with _serving("web") as runtime:
        app = create_app(runtime)
        if warning := open_to_others(host, runtime.settings.metrics_token):
            log.warning("%s", warning)
        _freeze_startup_heap()
        uvicorn.run(app, host=host, port=port, log_level="warning")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Where herald web listens.")
@click.option("--port", default=8000, show_default=True, type=int)
def up(host: str, port: int) -> None:
    """Run everything one machine needs: worker, scheduler, web and the configured chat
    runners (Slack Socket Mode, Telegram polling), until Ctrl-C or SIGTERM."""
    import threading

    from bot.metrics import open_to_others
    from bot.runtime import configure_logging
    from bot.up import parts_for, run_up, stop_on_signals

    settings = _settings()
    _need_secret_key(settings, "up")
    configure_logging(settings)
    if warning := open_to_others(host, settings.metrics_token):
        log.warning("%s", warning)
    runtime = _build(settings)
    stop = threading.Event()
    stop_on_signals(stop)
    click.echo(
        f"Herald is up: {', '.join(parts_for(settings))}; web on http://{host}:{port}. "
        "Stop it with Ctrl-C."
    )
    try:
        code = run_up(runtime, host=host, port=port, stop=stop)
    finally:
        runtime.close()
    click.echo("Herald stopped." if code == 0 else "Herald stopped after a failure (above).")
    _exit_now(code)


@main.group()
def service() -> None:
    """Keep `herald up` running across logout and reboot (systemd user unit, or launchd)."""


@service.command("install")
@click.option("--force", is_flag=True, help="Replace a unit or plist that is already there.")
@click.option("--print", "show", is_flag=True, help="Print it instead of writing it.")
def service_install(force: bool, show: bool) -> None:
    """Write a systemd user unit (Linux) or a launchd agent (macOS) that runs `herald up`."""
    from bot.service import install

    click.echo(install(force=force, show=show))


@contextmanager
def _serving(kind: str) -> Iterator[Runtime]:
    """A long-running process with its embedded worker (when the broker is in-process),
    closed however it ends."""
    from bot.runtime import configure_logging

    settings = _settings()
    _need_secret_key(settings, kind)
    configure_logging(settings)
    runtime = _build(settings)
    try:
        runtime.start_embedded_worker()
        yield runtime
    finally:
        runtime.close()


@main.command()
def slack() -> None:
    """Run the Slack app in Socket Mode (HERALD_SLACK_APP_TOKEN; no public URL needed)."""
    from bot.slack.socket import run_socket_mode

    with _serving("slack") as runtime:
        run_socket_mode(runtime)


@main.command()
def telegram() -> None:
    """Run the Telegram bot with long polling (HERALD_TELEGRAM_TOKEN)."""
    from bot.telegram.polling import run_polling

    with _serving("telegram") as runtime:
        run_polling(runtime)


@main.command()
def status() -> None:
    """Print whether Herald is ready, and what an operator looks at next (exit 1 when not)."""
    from bot.opsreport import render_status
    from core.operations.status import status as read_status

    settings = _settings()
    runtime = _build(settings)
    try:
        report = read_status(runtime.herald.ctx)
    finally:
        runtime.close()
    click.echo(render_status(report, settings.timezone))
    sys.exit(0 if report.ready else 1)


@main.group()
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

    settings = _settings()
    if not settings.kms_key_id:
        raise click.ClickException("Set HERALD_KMS_KEY_ID to the KMS key that wraps it first.")
    click.echo(kms_new_wrapped_key(settings.kms_key_id))


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-seal every stored secret with HERALD_SECRET_KEY (old ones in *_PREVIOUS_SECRET_KEYS)."""
    from datetime import UTC, datetime

    from core.auditlog.upkeep import record_everywhere
    from storage.rotate import rotate

    settings = _settings()
    runtime = _build(settings)
    if runtime.vault is None:
        raise click.ClickException("Set HERALD_SECRET_KEY first (herald keys new makes one).")
    try:
        changed = rotate(runtime.db, runtime.vault)
        record_everywhere(runtime.db, "keys.rotate", {"resealed": changed}, datetime.now(UTC))
    finally:
        runtime.close()
    click.echo(f"Re-sealed {changed} secret(s) with the current key.")


@main.command("pause")
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
    runtime = _build(_settings())
    try:
        now = runtime.herald.ctx.clock.now()
        until = now + length if length else None
        click.echo(pause_install(runtime.herald.ctx, until, " ".join(reason) or None))
    finally:
        runtime.close()


@main.command("resume")
@click.option("--all", "everywhere", is_flag=True, help="Every workspace of this Herald.")
def resume_all(everywhere: bool) -> None:
    """Lift the pause of herald pause --all."""
    from core.publishing.pause import resume_install

    if not everywhere:
        raise click.UsageError(
            "Say --all: it resumes every workspace. For one workspace: resume in chat."
        )
    runtime = _build(_settings())
    try:
        click.echo(resume_install(runtime.herald.ctx))
    finally:
        runtime.close()


@main.group()
def audit() -> None:
    """The audit log: check its hash chains, prune it to the retention."""


@audit.command("verify")
@click.option("--workspace", "workspace_id", type=int, help="Check one workspace (by its id).")
def audit_verify(workspace_id: int | None) -> None:
    """Check every workspace's audit chain: a row changed, deleted, inserted or moved fails."""
    from core.auditlog import upkeep

    runtime = _build(_settings())
    try:
        verdicts = upkeep.verify(runtime.db, upkeep.checkpoint_keys(runtime.vault), workspace_id)
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

    settings = _settings()
    if settings.audit_retention_days <= 0:
        click.echo("HERALD_AUDIT_RETENTION_DAYS is 0: the audit log is kept forever.")
        return
    runtime = _build(settings)
    try:
        keys = upkeep.checkpoint_keys(runtime.vault)
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


@main.group()
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

    runtime = _build(_settings())
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


@main.group()
def db() -> None:
    """Database schema: upgrade, current."""


@db.command()
def upgrade() -> None:
    """Migrate the database to this version's schema."""
    from bot.runtime import build_vault

    settings = _settings()
    database = Database(settings.effective_database_url)
    try:
        with _reaching(database.url):
            database.upgrade(build_vault(settings, database))  # a migration may re-seal secrets
            click.echo(f"Database is at revision {database.current_revision()}.")
    finally:
        database.dispose()


@db.command()
def current() -> None:
    """Show the database's schema revision and the one this version needs."""
    settings = _settings()
    database = Database(settings.effective_database_url)
    try:
        with _reaching(database.url):
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

    settings = _settings()
    _embedded_only(settings, "backup")
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

    settings = _settings()
    _embedded_only(settings, "restore")
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


def _embedded_only(settings: Settings, what: str) -> None:
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        raise click.ClickException(
            f"herald db {what} is for the embedded SQLite install. For PostgreSQL use pg_dump "
            "and pg_restore, or on AWS RDS point-in-time recovery (docs/deployment.md#backups)."
        )
    if settings.database_url and settings.database_url != (
        f"sqlite:///{settings.data_dir / 'herald.sqlite3'}"
    ):
        raise click.ClickException(
            f"herald db {what} covers the database in HERALD_DATA_DIR ({settings.data_dir}); "
            "unset HERALD_DATABASE_URL, or copy that SQLite file with its own tools."
        )


@contextmanager
def _reaching(url: str) -> Iterator[None]:
    """A database that cannot be reached is one line saying where and what to check."""
    try:
        yield
    except OperationalError as exc:
        raise click.ClickException(unreachable(url, exc)) from None


def _need_broker(settings: Settings, what: str) -> None:
    if settings.embedded:
        raise click.ClickException(
            f"herald {what} serves a broker, and HERALD_BROKER_URL is not set. Set it to a "
            "redis:// URL, or run herald chat alone: the embedded mode has its own worker."
        )


def _need_secret_key(settings: Settings, what: str) -> None:
    """A server database keeps Slack installations and network credentials sealed: refuse to
    start a server process without a real key (the embedded mode makes its own)."""
    if not settings.effective_database_url.startswith("postgresql") or settings.kms_key_id:
        return
    problem = secret_key_problem(settings.secret_key)
    if problem is not None:
        raise click.ClickException(
            f"herald {what} needs HERALD_SECRET_KEY on PostgreSQL: it seals Slack "
            f"installations and network credentials, and {problem}. Make one with "
            "`herald keys new` and set HERALD_SECRET_KEY to it (or set HERALD_KMS_KEY_ID)."
        )


def secret_key_problem(key: SecretStr | None) -> str | None:
    """What is wrong with HERALD_SECRET_KEY, or None when it is a real key."""
    from storage.vault import VaultError, decode_key

    if key is None or not key.get_secret_value().strip():
        return "it is not set"
    try:
        raw = decode_key(key.get_secret_value())
    except VaultError as exc:
        return f"the one given is not a key ({exc})"
    if len(set(raw)) < 8:  # all zeros, a repeated pattern: a placeholder, not a random key
        return "the one given is a placeholder"
    return None


def _build(settings: Settings, *, pre_ping: bool = True) -> Runtime:
    from bot.runtime import build_runtime
    from storage.vault import VaultError

    try:
        with _reaching(settings.effective_database_url):
            return build_runtime(settings, pre_ping=pre_ping)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    except VaultError as exc:
        raise click.ClickException(
            f"HERALD_SECRET_KEY or HERALD_PREVIOUS_SECRET_KEYS is not usable: {exc}. "
            "Make a key with `herald keys new`."
        ) from None
