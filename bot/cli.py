"""The `herald` command: reads settings once, wires the parts and starts what was asked for.
The operator commands (keys, audit, db …) are in bot/cli_admin.py."""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import click

from bot.cli_admin import audit, db, keys, pause_all, resume_all, workspace
from bot.cli_common import build, load_settings, need_broker, need_secret_key
from storage.db import private_dir

if TYPE_CHECKING:  # the runtime imports Celery and the adapters: only when a command runs
    from bot.runtime import Runtime
    from workers.heartbeat import HeartbeatThread

log = logging.getLogger("herald.cli")


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

    settings = load_settings()
    private_dir(settings.data_dir)  # before the log file is made in it
    configure_logging(settings, to_file=settings.data_dir / "herald.log")
    runtime = build(settings)
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
    settings = load_settings()
    need_broker(settings, "worker")
    need_secret_key(settings, "worker")
    configure_logging(settings)
    runtime = build(settings, pre_ping=False)  # its transactions run again on a drop
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

    settings = load_settings()
    need_broker(settings, "scheduler")
    need_secret_key(settings, "scheduler")
    configure_logging(settings)
    runtime = build(settings, pre_ping=False)
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

    settings = load_settings()
    need_secret_key(settings, "up")
    configure_logging(settings)
    if warning := open_to_others(host, settings.metrics_token):
        log.warning("%s", warning)
    runtime = build(settings)
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

    settings = load_settings()
    need_secret_key(settings, kind)
    configure_logging(settings)
    runtime = build(settings)
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

    settings = load_settings()
    runtime = build(settings)
    try:
        report = read_status(runtime.herald.ctx)
    finally:
        runtime.close()
    click.echo(render_status(report, settings.timezone))
    sys.exit(0 if report.ready else 1)


for _command in (keys, pause_all, resume_all, audit, workspace, db):
    main.add_command(_command)
