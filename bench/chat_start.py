# ruff: noqa: S603 - the bench starts herald and python
"""How fast `herald chat` answers and exits: a piped `help`, N runs, `python -c pass` beside it.

For each run it stamps, from outside the process, when the first line of the answer arrives
on the pipe and when the process exits; "exit after work" is the time from the last line of
output to the exit (for `help` the work is over once the answer is printed). Two cases: a
fresh data folder (the first run migrates the SQLite file, so Alembic loads) and an existing
one (the usual case). Bytecode is written and reused, as on a user's machine (the environment's
PYTHONDONTWRITEBYTECODE is dropped for the runs; the warm-up run writes it). `python -c pass` on
the same interpreter, in the same command and interleaved with the chat runs, is the baseline;
ratios are medians over medians.
Targets (issue 11): first answer under 0.5 s, exit within 0.3 s of the end of the work.

    .venv/bin/python bench/chat_start.py [--runs 10] [--command help]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERALD = str(Path(sys.executable).with_name("herald"))


@dataclass
class Run:
    first: float  # seconds from start to the first line of output
    last: float  # ... to the last line
    total: float  # ... to the exit

    @property
    def exit_after_work(self) -> float:
        return self.total - self.last


def _env(data_dir: Path) -> dict[str, str]:
    # Bytecode is written and reused, as on a user's machine: with PYTHONDONTWRITEBYTECODE set
    # (some sandboxes and CI images set it) every run compiles Herald's sources again.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HERALD_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["HERALD_DATA_DIR"] = str(data_dir)
    return env


def time_chat(data_dir: Path, command: str) -> Run:
    started = time.monotonic()
    proc = subprocess.Popen(
        [HERALD, "chat", "--user", "bench"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(data_dir),
        cwd=data_dir,
    )
    stamps: list[float] = []

    def read() -> None:
        assert proc.stdout is not None
        for _line in proc.stdout:
            stamps.append(time.monotonic() - started)

    reader = threading.Thread(target=read)
    reader.start()
    assert proc.stdin is not None
    proc.stdin.write(f"{command}\n".encode())
    proc.stdin.close()
    code = proc.wait(120)
    total = time.monotonic() - started
    reader.join()
    if code != 0 or not stamps:
        raise SystemExit(f"herald chat failed (exit {code}, {len(stamps)} lines)")
    return Run(first=stamps[0], last=stamps[-1], total=total)


def time_baseline() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - started


def _median(values: list[float]) -> float:
    return statistics.median(values)


def report(name: str, runs: list[Run], baseline: float) -> None:
    first = _median([r.first for r in runs])
    total = _median([r.total for r in runs])
    after = _median([r.exit_after_work for r in runs])
    print(
        f"{name:<22} first answer {first * 1000:6.0f} ms ({first / baseline:4.1f}x)   "
        f"exit after work {after * 1000:5.0f} ms   total {total * 1000:6.0f} ms "
        f"({total / baseline:4.1f}x)   [n={len(runs)}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--command", default="help")
    args = parser.parse_args()
    fresh: list[Run] = []
    existing: list[Run] = []
    baselines: list[float] = []
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        kept = Path(tmp) / "kept"
        kept.mkdir()
        time_chat(kept, args.command)  # the existing data folder: migrated once, up front
        for n in range(args.runs):
            baselines.append(time_baseline())
            new = Path(tmp) / f"fresh-{n}"
            new.mkdir()
            fresh.append(time_chat(new, args.command))
            existing.append(time_chat(kept, args.command))
    baseline = _median(baselines)
    print(f"herald chat <<< {args.command!r}, {args.runs} runs each, medians")
    print(f"{'python -c pass':<22} {baseline * 1000:6.0f} ms (the baseline)")
    report("existing data folder", existing, baseline)
    report("fresh data folder", fresh, baseline)


if __name__ == "__main__":
    main()
