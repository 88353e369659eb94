"""MkDocs hook: writes the settings reference from `core.settings.Settings` at every build.

Names, types, defaults and bounds come from the class, what each setting means from
`docs/settings.yml`; a setting without a meaning, or a meaning without a setting, stops the
build, so the page cannot drift from the code. `tests/unit/test_docs.py` renders it the same way.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

DOCS = Path(__file__).resolve().parent
MEANINGS = DOCS / "settings.yml"
PAGE = "reference/settings.md"
MARKER = "<!-- settings-reference -->"
PREFIX = "HERALD_"


class SettingsReferenceError(ValueError):
    """The settings class and docs/settings.yml disagree."""


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in get_args(annotation) if arg is not type(None))
    if origin is list:
        return f"JSON list of {_type_name(get_args(annotation)[0])}s"
    if origin is dict:
        return "JSON object"
    names = {str: "text", int: "integer", float: "number", bool: "true/false", Path: "path"}
    if annotation is SecretStr:
        return "secret"
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


_BOUNDS = (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))


def _bounds(field: FieldInfo) -> str:
    """`Field(gt=0, le=60)` as "> 0, ≤ 60" (pydantic keeps them as annotated_types metadata)."""
    words = []
    for item in field.metadata:
        for attr, sign in _BOUNDS:
            if isinstance(item, annotated_types.BaseMetadata) and hasattr(item, attr):
                words.append(f"{sign} {_plain(getattr(item, attr))}")
    return ", ".join(words)


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]  # takes no data here
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, list | dict | tuple):
        return f"`{json.dumps(value)}`" if value else "empty"
    if isinstance(value, float | int | str):
        return f"`{_plain(value)}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def load_meanings(path: Path = MEANINGS) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return groups


def render(settings_cls: type[BaseModel], groups: list[dict[str, Any]]) -> str:
    """The reference as Markdown: one table a group, every field of the class exactly once."""
    fields = settings_cls.model_fields
    placed: dict[str, str] = {}
    problems = []
    for group in groups:
        for name in group["settings"]:
            if name not in fields:
                problems.append(f"{name} is in {MEANINGS.name} but is no setting")
            elif name in placed:
                problems.append(f"{name} is in two groups ({placed[name]}, {group['title']})")
            placed[name] = group["title"]
    for name, field in fields.items():
        if name not in placed and not field.description:
            problems.append(f"{env_name(name)} has no meaning in {MEANINGS.name}")
    if problems:
        raise SettingsReferenceError("; ".join(problems))

    out = []
    for group in groups:
        out += [f"## {group['title']} {{#{group['anchor']}}}", ""]
        if group.get("intro"):
            out += [group["intro"].strip(), ""]
        out += ["| variable | type | default | meaning |", "|---|---|---|---|"]
        for name, entry in group["settings"].items():
            out.append(_row(name, fields[name], entry or {}))
        out.append("")
    # A field described in the class but not yet grouped in settings.yml still shows.
    loose = [name for name in fields if name not in placed]
    if loose:
        out += ["## Other settings {#other-settings}", ""]
        out += ["| variable | type | default | meaning |", "|---|---|---|---|"]
        out += [_row(name, fields[name], {}) for name in loose]
        out.append("")
    return "\n".join(out)


def _row(name: str, field: FieldInfo, entry: dict[str, Any]) -> str:
    kind = _type_name(field.annotation)
    bounds = _bounds(field)
    if bounds:
        kind = f"{kind}, {bounds}"
    default = entry.get("default") or _default(field)
    meaning = entry.get("meaning") or field.description or ""
    return f"| `{env_name(name)}` | {_cell(kind)} | {_cell(default)} | {_cell(meaning)} |"


def settings_class() -> type[BaseModel]:
    root = str(DOCS.parent)
    if root not in sys.path:  # a build from a checkout that is not installed
        sys.path.insert(0, root)
    from core.settings import Settings

    return Settings


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    from mkdocs.exceptions import PluginError

    if MARKER not in markdown:
        raise PluginError(f"{PAGE} lost its marker {MARKER}")
    try:
        table = render(settings_class(), load_meanings())
    except SettingsReferenceError as exc:
        raise PluginError(f"settings reference: {exc}") from exc
    return markdown.replace(MARKER, table)
