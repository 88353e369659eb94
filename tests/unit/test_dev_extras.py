"""`pip install -e '.[dev]'` gives the tests everything they import: each outside package a test
imports is declared in pyproject.toml, not merely pulled in by something else."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"bot", "core", "storage", "workers", "tests"}
# Part of a declared package that pins its version: declaring it too could only conflict.
COMES_WITH = {
    "starlette": "fastapi (its TestClient is starlette's)",
    "kombu": "celery (its messaging library, at the version celery pins)",
}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return {_norm(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0]) for line in wanted}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_by_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - OURS


def test_every_package_the_tests_import_is_declared() -> None:
    declared = _declared()
    providers = importlib.metadata.packages_distributions()
    missing = {
        module: providers[module]
        for module in sorted(_imported_by_tests())
        if module in providers  # the standard library has no distribution
        and module not in COMES_WITH
        and not {_norm(d) for d in providers[module]} & declared
    }
    assert missing == {}, f"declare these in the dev extras of pyproject.toml: {missing}"
    assert {"jsonschema", "werkzeug"} <= declared
