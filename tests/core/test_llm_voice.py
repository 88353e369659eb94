"""The brand voice: set from chat, applied in code (template, tags, UTM), checked by the linter."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.runtime import Runtime, build_runtime
from core.generation.compose import compose
from core.settings import Settings
from core.templating import TemplateTooCostly, render
from core.textlint import add_utm, lint
from core.voice import TEMPLATE_SAMPLE, BrandVoice
from storage.models import Post
from tests.fakes.openai import isolated
from tests.support.helpers import actor, messages

MARIA = actor("maria")
LEE = actor("lee")


@pytest.fixture
def idle_runtime(settings: Settings) -> Iterator[Runtime]:
    """No worker (the test runs each step), on a queue of its own."""
    rt = build_runtime(isolated(settings))
    yield rt
    rt.close()


@pytest.mark.parametrize(
    ("text", "voice", "warnings"),
    [
        ("We guaranteed it", BrandVoice(banned=("guarantee",)), ['⚠ banned word "guarantee"']),
        ("No guarantees", BrandVoice(banned=("Guarantee",)), ['⚠ banned word "Guarantee"']),
        ("A vanguard team", BrandVoice(banned=("guard",)), []),
        (
            "Clinically  proven!",
            BrandVoice(claims=("clinically proven",)),
            ['⚠ claim "clinically proven" is not allowed'],
        ),
        ("Great #adventure", BrandVoice(disclosure="#ad"), ["⚠ missing #ad"]),
        ("#Ad great stuff", BrandVoice(disclosure="#ad"), []),
        ("Hello #acme", BrandVoice(hashtags=("#Acme", "#Launch")), ["⚠ missing #Launch"]),
        ("Hi 👋", BrandVoice(emoji="none"), ["⚠ emoji used; the voice says none"]),
        ("Hi 👋🎉🚀", BrandVoice(emoji="few"), ["⚠ 3 emoji; the voice says at most 2"]),
        ("© 2026 Acme", BrandVoice(emoji="none"), []),
        # links as X finds them: a known top-level domain (.test is none, so no link there)
        ("See https://acme.com/x", BrandVoice(utm={"utm_source": "h"}), ["⚠ link without UTM"]),
        ("See https://acme.com/x?utm_source=h", BrandVoice(utm={"utm_source": "h"}), []),
    ],
)
def test_lint(text: str, voice: BrandVoice, warnings: list[str]) -> None:
    assert lint(text, voice) == warnings


def test_utm_is_added_to_every_link_keeping_query_and_fragment() -> None:
    utm = {"utm_source": "herald", "utm_medium": "social"}
    text = "A https://acme.com/p?id=1#top and acme.com/docs and https://b.org/?utm_source=x"
    assert add_utm(text, utm) == (
        "A https://acme.com/p?id=1&utm_source=herald&utm_medium=social#top and "
        "acme.com/docs?utm_source=herald&utm_medium=social and "
        "https://b.org/?utm_source=x&utm_medium=social"
    )


def test_compose_uses_the_template_and_required_tags() -> None:
    voice = BrandVoice(
        disclosure="#ad",
        hashtags=("#Acme",),
        templates={"linkedin": "{{ text }}\n\n— {{ workspace }}\n{{ tags }}"},
    )
    values = {"workspace": "Acme", "post_number": 3, "brief": "b"}
    linkedin = compose("linkedin", "Our API is live.", ("#API", "#acme"), (), voice, values)
    assert linkedin.text == "Our API is live.\n\n— Acme\n#ad #Acme #API"
    x = compose("x", "Our #API is live.", ("#API",), (), voice, values)
    assert x.text == "Our #API is live.\n\n#ad #Acme"
    broken = BrandVoice(templates={"x": "{{ text.__class__.__mro__ }}"})
    sandboxed = compose("x", "Hi", (), (), broken, values)
    assert sandboxed.text == "Hi"
    assert sandboxed.notes and "template failed" in sandboxed.notes[0]


def test_voice_from_chat(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    say = rt.herald.handle
    assert say(MARIA, "voice").text == "No brand voice is set. Try: voice tone friendly and precise"
    assert say(MARIA, "voice tone warm, precise, no hype").text == (
        "Voice tone: warm, precise, no hype"
    )
    assert say(MARIA, "voice banned guarantee, best-in-class").text == (
        "Voice banned: guarantee, best-in-class"
    )
    assert say(MARIA, "voice hashtags Acme #Launch").text == "Voice hashtags: #Acme #Launch"
    assert say(MARIA, "voice emoji few").text == "Voice emoji: few"
    assert say(MARIA, "voice utm utm_source=herald&utm_medium=social").text == (
        "Voice utm: utm_source=herald&utm_medium=social"
    )
    assert (say(MARIA, "voice template x {{ text }}\\n{{ tags }}").text or "").startswith(
        "X template set."
    )
    shown = say(MARIA, "voice").text or ""
    assert "tone: warm, precise, no hype" in shown
    assert "template X: {{ text }}\\n{{ tags }}" in shown

    refused = {
        "voice emoji lots": 'Say none, few or any, not "lots".',
        "voice utm source=x": "Give UTM parameters like a query string",
        "voice hashtags #ok #no!": '"#no!" is not a hashtag.',
        "voice template x {{ text ": "That template does not read as Jinja",
        "voice template myspace {{ text }}": 'I don\'t know the network "myspace"',
        "voice loudness 11": 'I don\'t know the voice setting "loudness".',
    }
    for line, says in refused.items():
        reply = say(MARIA, line)
        assert reply.error and says in (reply.text or ""), (line, reply.text)

    say(LEE, "queue")  # joins as an editor
    reply = say(LEE, "voice tone shouty")
    assert reply.error and "only owners and admins can configure" in (reply.text or "")
    assert "tone: warm" in (say(LEE, "voice").text or "")  # everyone may look

    assert say(MARIA, "voice tone").text == "Voice tone cleared."
    assert say(MARIA, "voice clear").text == (
        "Brand voice cleared: drafts follow no particular voice now."
    )
    assert say(MARIA, "voice").text == "No brand voice is set. Try: voice tone friendly and precise"


def test_offline_drafts_apply_the_voice_and_warn_of_the_rest(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    rt.herald.handle(MARIA, "voice disclosure #ad")
    rt.herald.handle(MARIA, "voice banned cheap")
    rt.herald.handle(MARIA, "draft Cheap flights to Lisbon --to outbox")
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id)).one()
    rt.herald.generate(post_id)
    card = messages(rt)[-1].card
    assert card is not None
    assert card.note and "Offline template" in card.note
    # The disclosure is added; a banned word of the brief is the author's to change.
    assert card.variants[0].text == (
        "📣 Quick update\n\nCheap flights to Lisbon.\n\n#ad #Flights #Lisbon"
    )
    assert card.variants[0].warnings == ['⚠ banned word "cheap"']
    usage = rt.herald.handle(MARIA, "voice usage").text or ""
    assert usage.startswith("Model drafting is off (offline templates). This month: USD 0.0000")


def test_offline_drafts_in_the_workspace_voice_from_chat(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    say = rt.herald.handle
    for line in (
        "voice hashtags #Acme #Importer",
        "voice disclosure #ad",
        "voice emoji none",
        "voice utm utm_source=herald",
        "voice template outbox {{ text }}\\n\\n— {{ workspace }} #{{ post_number }}\\n{{ tags }}",
    ):
        assert not say(MARIA, line).error, line
    brief = (
        "We rebuilt the #importer 🎉 from scratch. Large spreadsheets now load without timeouts. "
        "Read the guide at https://example.com/docs"
    )
    reply = say(MARIA, f"draft {brief} --to outbox")
    assert not reply.error, reply.text
    with rt.db.session() as s:
        post_id = s.scalars(select(Post.id)).one()
    rt.herald.generate(post_id)
    card = messages(rt)[-1].card
    assert card is not None
    (variant,) = card.variants
    assert variant.text == (
        "We rebuilt the #importer from scratch.\n\nLarge spreadsheets now load without "
        "timeouts.\n\nRead the guide at https://example.com/docs?utm_source=herald\n\n"
        "— Test #1\n#ad #Acme"
    )
    assert variant.warnings == []


COSTLY_TEMPLATES = {
    "nested loops": "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}"
    "{% endfor %}",
    "loops over text": "{% for a in text * 900 %}{% for b in text * 900 %}{% endfor %}{% endfor %}",
    "string repetition": "{{ 'x' * 10**8 }}",
    "big numbers": "{{ 9 ** 999999999 }}",
    "big products": (
        "{% set ns = namespace(n=9) %}{% for i in range(60) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}"
    ),
    "printf width": "{{ '%0999999999d' % 1 }}",
    "format width": "{{ '{:>999999999}'.format(text) }}",
    "filter width": "{{ text|center(999999999) }}",
    "replace growth": "{{ (text * 900)|replace('', text * 900) }}",
    "recursive macro": "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "doubling macro": "{% macro d(s) %}{{ d(s ~ s) }}{% endmacro %}{{ d(text) }}",
    "doubling namespace": (
        "{% set ns = namespace(s=text) %}{% for i in range(60) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"
    ),
    "huge output": "{% for i in range(99999) %}{{ text }}{{ text }}{{ text }}{% endfor %}",
    "nested loops over text": (
        "{% for a in text %}{% for b in text %}{% for c in text %}{% endfor %}{% endfor %}"
        "{% endfor %}"
    ),
    "output from loops over text": "{% for a in text %}{% for b in text %}{{ text }}{% endfor %}"
    "{% endfor %}",
    "join growth": "{{ range(999)|map('string')|join(text * 200) }}",
    "concat chain": "{% set a = text * 250 %}{{ " + " ~ ".join(["a"] * 150) + " }}",
    "huge block": (
        "{% set b %}{% for i in range(999) %}{{ text * 900 }}{% endfor %}{% endset %}{{ b|length }}"
    ),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("template", COSTLY_TEMPLATES.values(), ids=COSTLY_TEMPLATES.keys())
def test_a_costly_template_is_refused_when_set_and_nothing_is_stored(
    idle_runtime: Runtime, template: str
) -> None:
    say = idle_runtime.herald.handle
    started = time.monotonic()
    reply = say(MARIA, f"voice template linkedin {template}")
    assert time.monotonic() - started < 2
    assert reply.error, reply.text
    assert (reply.text or "").startswith("That template is too costly to run:"), reply.text
    assert "template" not in (say(MARIA, "voice").text or "")
    assert (say(MARIA, "voice template linkedin {{ text }}\\n\\n{{ tags }}").text or "").startswith(
        "LinkedIn template set."
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize("template", COSTLY_TEMPLATES.values(), ids=COSTLY_TEMPLATES.keys())
def test_a_costly_template_stops_before_it_uses_memory(template: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateTooCostly):
            render(template, TEMPLATE_SAMPLE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "template", ["{{ 'x' * 10**8 }}", "{% for i in range(99999) %}{{ text }}{% endfor %}"]
)
def test_a_costly_template_stored_earlier_falls_back_to_the_plain_text(template: str) -> None:
    values = {"workspace": "Acme", "post_number": 3, "brief": "b"}
    started = time.monotonic()
    composed = compose("x", "Hi", (), (), BrandVoice(templates={"x": template}), values)
    assert time.monotonic() - started < 2
    assert composed.text == "Hi"
    assert composed.notes and "template failed" in composed.notes[0]
