"""The structured answer asked of the model, and its validation in code.

Servers without `json_schema` (and models that ignore it) can answer anything, so the answer is
always checked here: one JSON object, one variant per requested network, strings where strings
belong, nothing extra. Text fields are cleaned of invisible characters on the way back too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from core.sanitize import clean_input

MAX_HASHTAGS = 10
MAX_ALT_TEXT = 1000  # X's alt-text limit, the smallest of the networks
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$")


class InvalidOutput(Exception):
    """The model's answer does not match the schema. `str()` is plain words."""


@dataclass(frozen=True)
class RawVariant:
    network: str
    text: str
    hashtags: tuple[str, ...]
    thread: tuple[str, ...]
    alt_texts: tuple[str, ...]


def variants_schema(networks: tuple[str, ...]) -> dict[str, Any]:
    """A strict JSON schema: every property required, no additional properties."""
    strings = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "properties": {
            "variants": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "network": {"type": "string", "enum": list(networks)},
                        "text": {"type": "string"},
                        "hashtags": strings,
                        "thread": strings,
                        "alt_texts": strings,
                    },
                    "required": ["network", "text", "hashtags", "thread", "alt_texts"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["variants"],
        "additionalProperties": False,
    }


def parse_variants(content: str | None, networks: tuple[str, ...]) -> dict[str, RawVariant]:
    """The variants by network, or `InvalidOutput` saying what is wrong."""
    if not content or not content.strip():
        raise InvalidOutput("the model's answer was empty")
    try:
        data = json.loads(_FENCE.sub("", content))
    except ValueError:
        raise InvalidOutput("the model's answer was not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
        raise InvalidOutput('the model\'s answer had no "variants" list')
    extra = set(data) - {"variants"}
    if extra:
        raise InvalidOutput(
            f"the model's answer had unexpected fields ({', '.join(sorted(extra))})"
        )
    found: dict[str, RawVariant] = {}
    for item in data["variants"]:
        variant = _variant(item, networks)
        if variant.network in found:
            raise InvalidOutput(f"the model wrote {variant.network} twice")
        found[variant.network] = variant
    missing = [n for n in networks if n not in found]
    if missing:
        raise InvalidOutput(f"the model wrote nothing for {', '.join(missing)}")
    return found


def _variant(item: Any, networks: tuple[str, ...]) -> RawVariant:
    if not isinstance(item, dict):
        raise InvalidOutput("a variant in the model's answer was not an object")
    allowed = {"network", "text", "hashtags", "thread", "alt_texts"}
    extra = set(item) - allowed
    if extra:
        raise InvalidOutput(f"a variant had unexpected fields ({', '.join(sorted(extra))})")
    network = item.get("network")
    if not isinstance(network, str) or network.strip().lower() not in networks:
        raise InvalidOutput(f"the model wrote for a network that was not asked ({network!r:.40})")
    text = item.get("text")
    if not isinstance(text, str) or not clean_input(text).strip():
        raise InvalidOutput(f"the model's {network} text was empty")
    return RawVariant(
        network=network.strip().lower(),
        text=clean_input(text).strip(),
        hashtags=tuple(_hashtag(t) for t in _strings(item, "hashtags") if _hashtag(t))[
            :MAX_HASHTAGS
        ],
        thread=tuple(p for p in (clean_input(s).strip() for s in _strings(item, "thread")) if p),
        alt_texts=tuple(clean_input(s).strip()[:MAX_ALT_TEXT] for s in _strings(item, "alt_texts")),
    )


def _strings(item: dict[str, Any], key: str) -> list[str]:
    value = item.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidOutput(f'"{key}" in the model\'s answer was not a list of strings')
    return list(value)


def _hashtag(tag: str) -> str:
    tag = "".join(clean_input(tag).split())
    if not tag:
        return ""
    tag = tag if tag.startswith("#") else f"#{tag}"
    return tag if len(tag) > 1 and re.fullmatch(r"#\w[\w-]*", tag) else ""
