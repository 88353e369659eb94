"""The docs site stays true to the code: every setting in the generated reference, every
command in the command guide, every README link to a page and anchor that exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from markdown.extensions.toc import slugify
from pydantic import Field

from core.registry import commands
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("herald_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(reference: str, variable: str) -> str:
    rows = [line for line in reference.splitlines() if line.startswith(f"| `{variable}` |")]
    assert len(rows) == 1, f"{variable} should have exactly one row, has {len(rows)}"
    return rows[0]


def test_every_setting_has_a_row_with_its_meaning() -> None:
    hooks = _hooks()
    reference = hooks.render(Settings, hooks.load_meanings())
    for name in Settings.model_fields:
        row = _row(reference, f"HERALD_{name.upper()}")
        meaning = row.rstrip(" |").rsplit(" | ", 1)[1]
        assert meaning.strip(), f"HERALD_{name.upper()} has no meaning"


def test_defaults_and_bounds_come_from_the_class() -> None:
    hooks = _hooks()
    reference = hooks.render(Settings, hooks.load_meanings())
    assert "| `5` |" in _row(reference, "HERALD_TICK_SECONDS")
    assert "> 0" in _row(reference, "HERALD_TICK_SECONDS")
    assert "≤ 60" in _row(reference, "HERALD_LLM_TIMEOUT_SECONDS")
    assert "| secret or" not in _row(reference, "HERALD_SECRET_KEY")  # None is no type
    assert "| secret |" in _row(reference, "HERALD_SECRET_KEY")


def test_a_setting_without_a_meaning_stops_the_build() -> None:
    hooks = _hooks()

    class Grown(Settings):
        brand_new_knob: int = 3

    with pytest.raises(hooks.SettingsReferenceError, match="HERALD_BRAND_NEW_KNOB"):
        hooks.render(Grown, hooks.load_meanings())


def test_a_setting_described_in_the_class_needs_no_entry() -> None:
    hooks = _hooks()

    class Described(Settings):
        brand_new_knob: int = Field(default=3, description="How far it turns.")

    row = _row(hooks.render(Described, hooks.load_meanings()), "HERALD_BRAND_NEW_KNOB")
    assert "How far it turns." in row


def test_a_meaning_for_a_setting_that_is_gone_stops_the_build() -> None:
    hooks = _hooks()
    groups = hooks.load_meanings()
    groups[0]["settings"]["removed_long_ago"] = {"meaning": "stale"}
    with pytest.raises(hooks.SettingsReferenceError, match="removed_long_ago"):
        hooks.render(Settings, groups)


def test_the_reference_page_has_the_marker_the_hook_fills() -> None:
    hooks = _hooks()
    assert hooks.MARKER in (DOCS / hooks.PAGE).read_text(encoding="utf-8")
    assert "docs/hooks.py" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def _commands() -> dict[str, tuple[str, ...]]:
    """Each command's name and aliases, from the command registry."""
    return {spec.name: tuple(spec.aliases) for spec in commands().specs}


def test_every_command_and_alias_is_in_the_command_guide() -> None:
    guide = (DOCS / "commands.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\S+)$", guide, flags=re.MULTILINE))
    known = _commands()
    assert len(known) > 20, "the command list should not come back empty"
    missing = [name for name in known if name not in headings]
    assert not missing, f"commands missing from docs/commands.md: {missing}"
    for name, aliases in known.items():
        for alias in aliases:
            assert f"`{alias}` is `{name}`" in guide, f"alias {alias} is not in the guide"


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (.+?)(?: \{#([\w-]+)\})?\s*$", re.MULTILINE)


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    return {explicit or slugify(title, "-") for title, explicit in _HEADING.findall(text)}


def _readme_targets() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        target
        for target in _LINK.findall(readme)
        if not target.startswith(("http://", "https://", "mailto:"))
    ]


def test_readme_links_only_to_pages_and_anchors_that_exist() -> None:
    targets = _readme_targets()
    assert any(t.startswith("docs/") for t in targets), "README should link into docs/"
    broken = []
    for target in targets:
        path, _, anchor = target.partition("#")
        page = ROOT / path if path else ROOT / "README.md"
        if not page.is_file() or (anchor and anchor not in _anchors(page)):
            broken.append(target)
    assert not broken, f"README.md links to what does not exist: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {t.partition("#")[0] for t in _readme_targets()}
    pages = {p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - linked == set()


CONFLICT = re.compile(r"^(<{7} |>{7} |={7}$)", re.MULTILINE)
SKIPPED = {".git", "site", "node_modules", "__pycache__"}


def test_no_file_holds_a_merge_conflict() -> None:
    """A merge left `<<<<<<< HEAD` in two docs pages once, and nothing noticed: Markdown and
    YAML take the markers as text."""
    found = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIPPED or any(p.startswith(".venv") for p in parts) or not path.is_file():
            continue
        if path.suffix not in {".md", ".py", ".yml", ".yaml", ".toml", ".tf", ".json", ".txt"}:
            continue
        if CONFLICT.search(path.read_text(encoding="utf-8", errors="replace")):
            found.append(str(path.relative_to(ROOT)))
    assert found == []
