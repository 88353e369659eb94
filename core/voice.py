"""The workspace's brand voice: set from chat with `voice`, read by the generator and the linter.

It lives in `Workspace.settings["voice"]` as plain JSON:

    {"tone": "...", "audience": "...", "banned": ["guarantee"], "claims": ["No. 1"],
     "hashtags": ["#Acme"], "disclosure": "#ad", "emoji": "few",
     "utm": {"utm_source": "herald"}, "templates": {"linkedin": "{{ text }}\\n\\n{{ tags }}"}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import func, select

from core.audit import audit
from core.context import Context, Tx
from core.errors import BadInput
from core.generation.budget import budget_of
from core.networks import UnknownNetworkError, get_network
from core.permissions import Action, require
from core.posts.card import Message
from storage.models import Member, Workspace
from storage.models_llm import LlmUsage

EMOJI_POLICIES = ("none", "few", "any")
FEW_EMOJI = 2  # "few" means at most this many per post
MAX_TEXT = 300
MAX_ITEMS = 30
MAX_TEMPLATE = 2000
SETTINGS = (
    "tone",
    "audience",
    "banned",
    "claims",
    "hashtags",
    "disclosure",
    "emoji",
    "utm",
    "template",
)
USAGE = (
    "voice · voice <setting> <value> (tone, audience, banned, claims, hashtags, disclosure, "
    "emoji or utm) · voice template <network> <jinja> · voice usage · "
    "voice budget <USD a month> · voice clear"
)
TEMPLATE_VARIABLES = "text, tags, hashtags, disclosure, network, workspace, post_number, brief"

# What a template is tried on when it is set: a post of typical length.
TEMPLATE_SAMPLE: dict[str, Any] = {
    "text": ("Our public API is live: search is 10x faster. " * 6).strip(),
    "tags": "#ad #Acme #API",
    "hashtags": ["#ad", "#Acme", "#API"],
    "disclosure": "#ad",
    "network": "linkedin",
    "workspace": "Acme",
    "post_number": 12,
    "brief": "Our public API is live: 10x faster search",
}

_HASHTAG = re.compile(r"^#\w[\w-]*$")
_SPLIT_LIST = re.compile(r"\s*[,;\n]\s*")


@dataclass(frozen=True)
class BrandVoice:
    tone: str = ""
    audience: str = ""
    banned: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    disclosure: str = ""
    emoji: str = "any"
    utm: Mapping[str, str] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self == BrandVoice()

    def for_prompt(self) -> dict[str, Any]:
        """What the model is told about the voice (templates and UTM are applied in code)."""
        data: dict[str, Any] = {
            "tone": self.tone,
            "audience": self.audience,
            "banned_words": list(self.banned),
            "forbidden_claims": list(self.claims),
            "required_hashtags": list(self.hashtags),
            "required_disclosure": self.disclosure,
            "emoji": {
                "none": "no emoji at all",
                "few": f"at most {FEW_EMOJI} emoji",
                "any": "emoji allowed",
            }[self.emoji],
        }
        return {k: v for k, v in data.items() if v}


def load_voice(settings: Mapping[str, Any] | None) -> BrandVoice:
    """The voice from a workspace's settings JSON (unknown or broken keys are ignored)."""
    raw = (settings or {}).get("voice") or {}
    if not isinstance(raw, dict):
        return BrandVoice()

    def text(key: str) -> str:
        value = raw.get(key)
        return value.strip() if isinstance(value, str) else ""

    def items(key: str) -> tuple[str, ...]:
        value = raw.get(key)
        if isinstance(value, str):
            value = _split(value)
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    def mapping(key: str) -> dict[str, str]:
        value = raw.get(key)
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    emoji = text("emoji").lower()
    return BrandVoice(
        tone=text("tone"),
        audience=text("audience"),
        banned=items("banned"),
        claims=items("claims"),
        hashtags=items("hashtags"),
        disclosure=text("disclosure"),
        emoji=emoji if emoji in EMOJI_POLICIES else "any",
        utm=mapping("utm"),
        templates=mapping("templates"),
    )


# --- the command -------------------------------------------------------------------------------


def command(
    ctx: Context, tx: Tx, ws: Workspace, me: Member, setting: str | None, value: str | None
) -> Message:
    """The `voice` command: anyone may read the voice and the usage; admins change them."""
    asked = setting
    setting = (setting or "").lower()
    if not setting:
        return Message(text=describe(load_voice(ws.settings)))
    if setting == "usage":
        return Message(text=usage_text(ctx, tx, ws))
    if setting == "budget":
        return _set_budget(ctx, tx, ws, me, value)
    if setting not in (*SETTINGS, "clear", "templates"):
        raise BadInput(f'I don\'t know the voice setting "{asked}". Usage: {USAGE}')
    require(me, Action.CONFIGURE)
    current: dict[str, Any] = dict(ws.settings.get("voice") or {})
    value = (value or "").strip()
    if setting == "clear":
        current = {}
        said = "Brand voice cleared: drafts follow no particular voice now."
    elif setting in {"template", "templates"}:
        said = _set_template(current, value)
    else:
        parsed = _parse(setting, value)
        if parsed in (None, "", [], {}):
            current.pop(setting, None)
            said = f"Voice {setting} cleared."
        else:
            current[setting] = parsed
            said = f"Voice {setting}: {_show(setting, parsed)}"
    ws.settings = {**ws.settings, "voice": current}
    audit(
        tx, ws.id, "workspace.voice", actor_id=me.id, detail={"setting": setting, "voice": current}
    )
    return Message(text=said)


def _split(value: str) -> list[str]:
    return [item.strip().strip("\"'“”") for item in _SPLIT_LIST.split(value) if item.strip()]


def _parse(setting: str, value: str) -> Any:
    if not value:
        return None
    if setting in {"tone", "audience"}:
        if len(value) > MAX_TEXT:
            raise BadInput(f"Keep the {setting} under {MAX_TEXT} characters.")
        return value
    if setting in {"banned", "claims"}:
        items = _split(value)
        if len(items) > MAX_ITEMS or any(len(i) > 100 for i in items):
            raise BadInput(f"Give at most {MAX_ITEMS} {setting}, each under 100 characters.")
        return items
    if setting == "hashtags":
        tags = [t if t.startswith("#") else f"#{t}" for t in value.replace(",", " ").split()]
        bad = [t for t in tags if not _HASHTAG.match(t)]
        if bad:
            raise BadInput(f'"{bad[0]}" is not a hashtag. Example: voice hashtags #Acme #Launch')
        return tags[:MAX_ITEMS]
    if setting == "disclosure":
        if len(value) > 100:
            raise BadInput("Keep the disclosure short, e.g. voice disclosure #ad")
        return value
    if setting == "emoji":
        policy = value.lower()
        if policy not in EMOJI_POLICIES:
            raise BadInput(f'Say none, few or any, not "{value}". Example: voice emoji few')
        return policy
    if setting == "utm":
        pairs = parse_qsl(value.lstrip("?"), keep_blank_values=False)
        if not pairs or any(not k.startswith("utm_") for k, _ in pairs):
            raise BadInput(
                "Give UTM parameters like a query string, e.g. "
                "voice utm utm_source=herald&utm_medium=social"
            )
        return dict(pairs)
    raise AssertionError(setting)


def _set_template(current: dict[str, Any], value: str) -> str:
    network_name, _, body = value.partition(" ")
    if not network_name:
        raise BadInput(
            "Which network? e.g. voice template linkedin {{ text }}\\n\\n{{ tags }} "
            f"(variables: {TEMPLATE_VARIABLES})"
        )
    try:
        network = get_network(network_name)
    except UnknownNetworkError as exc:
        raise BadInput(str(exc)) from None
    templates = dict(current.get("templates") or {})
    body = body.strip().replace("\\n", "\n")
    if not body:
        templates.pop(network.name, None)
        said = f"{network.display} drafts use no template now."
    else:
        if len(body) > MAX_TEMPLATE:
            raise BadInput(f"Keep a template under {MAX_TEMPLATE:,} characters.")
        from jinja2 import TemplateSyntaxError  # Jinja2 loads only when a template is set

        from core.templating import parse

        try:
            parse(body)
        except TemplateSyntaxError as exc:
            raise BadInput(
                f"That template does not read as Jinja: {exc.message} (line {exc.lineno})."
            ) from None
        _trial_render(body, network.name)
        templates[network.name] = body
        said = f"{network.display} template set. Variables: {TEMPLATE_VARIABLES}."
    if templates:
        current["templates"] = templates
    else:
        current.pop("templates", None)
    return said


def _trial_render(body: str, network: str) -> None:
    """Run the template once on a full-length sample post, so one that would stall or flood
    the worker is refused now rather than when a draft is composed."""
    from jinja2 import TemplateError

    from core.templating import LIMITS, TemplateTooCostly, render

    try:
        render(body, {**TEMPLATE_SAMPLE, "network": network})
    except TemplateTooCostly as exc:
        raise BadInput(
            f"That template is too costly to run: {exc.message}. Keep it simpler (limits: "
            f"{LIMITS.seconds:g} s, {LIMITS.chars:,} characters, {LIMITS.loop_items:,} loop steps)."
        ) from None
    except TemplateError as exc:
        raise BadInput(f"That template fails on a sample post: {exc.message}.") from None


def _show(setting: str, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value) if setting != "hashtags" else " ".join(value)
    if isinstance(value, dict):
        return "&".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def describe(v: BrandVoice) -> str:
    if v.empty:
        return "No brand voice is set. Try: voice tone friendly and precise"
    lines = ["Brand voice:"]
    rows: list[tuple[str, str]] = [
        ("tone", v.tone),
        ("audience", v.audience),
        ("banned", ", ".join(v.banned)),
        ("claims", ", ".join(v.claims)),
        ("hashtags", " ".join(v.hashtags)),
        ("disclosure", v.disclosure),
        ("emoji", v.emoji if v.emoji != "any" else ""),
        ("utm", "&".join(f"{k}={val}" for k, val in v.utm.items())),
    ]
    lines += [f"{name}: {value}" for name, value in rows if value]
    for network, body in sorted(v.templates.items()):
        shown = body.replace("\n", "\\n")
        lines.append(f"template {get_network(network).display}: {shown}")
    return "\n".join(lines)


def usage_text(ctx: Context, tx: Tx, ws: Workspace) -> str:
    """This month's model calls and cost for the workspace, by member, against the budget."""
    month_start = tx.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = tx.session.execute(
        select(
            Member.display_name,
            func.count(LlmUsage.id),
            func.coalesce(func.sum(LlmUsage.prompt_tokens + LlmUsage.completion_tokens), 0),
            func.coalesce(func.sum(LlmUsage.cost_usd), 0.0),
        )
        .outerjoin(Member, Member.id == LlmUsage.member_id)
        .where(LlmUsage.workspace_id == ws.id, LlmUsage.created_at >= month_start)
        .group_by(Member.display_name)
        .order_by(func.sum(LlmUsage.cost_usd).desc())
    ).all()
    budget = budget_of(ctx.settings, ws)
    spent = sum(float(r[3]) for r in rows)
    limit = f" of USD {budget:,.2f}" if budget > 0 else " (no monthly budget)"
    model = "on" if ctx.settings.llm_enabled else "off (offline templates)"
    head = (
        f"Model drafting is {model}. This month: USD {spent:,.4f}{limit}, "
        f"{sum(int(r[1]) for r in rows):,} model calls."
    )
    lines = [head]
    for name, calls, tokens, cost in rows:
        who = f"@{name}" if name else "(no member)"
        lines.append(f"{who}: {int(calls):,} calls, {int(tokens):,} tokens, USD {float(cost):,.4f}")
    return "\n".join(lines)


def _set_budget(ctx: Context, tx: Tx, ws: Workspace, me: Member, value: str | None) -> Message:
    """`voice budget 50` sets this workspace's monthly model budget in USD (0: no limit)."""
    if not value:
        budget = budget_of(ctx.settings, ws)
        shown = f"USD {budget:,.2f} a month" if budget > 0 else "no limit"
        return Message(text=f"Model budget: {shown}. Change it: voice budget <USD a month>")
    require(me, Action.CONFIGURE)
    try:
        amount = float(value.strip().lstrip("$").replace(",", ""))
    except ValueError:
        raise BadInput(
            f'Give the budget in US dollars a month, e.g. voice budget 50, not "{value}".'
        ) from None
    if not 0 <= amount <= 1_000_000:
        raise BadInput("Give a budget from 0 (no limit) to 1,000,000 USD a month.")
    ws.settings = {**ws.settings, "llm_budget_usd": amount}
    audit(tx, ws.id, "workspace.budget", actor_id=me.id, detail={"usd": amount})
    if amount == 0:
        return Message(text="Model budget: no limit for this workspace.")
    return Message(text=f"Model budget: USD {amount:,.2f} a month for this workspace.")
