"""The +24 h line in a post's thread and the figures on its card: the words for each case."""

from __future__ import annotations

import pytest

from core.analytics.figures import versus_median
from core.analytics.jobs import day_line
from core.posts.card import counts_text

COUNTS = "1,204 impressions · 38 likes"


@pytest.mark.parametrize(
    ("value", "others", "said"),
    [
        (42, [10, 20, 30], "42 interactions, far above your median (2.1×)"),
        (26, [10, 20, 30], "26 interactions, 1.3× your median"),
        (8, [10, 20, 30], "8 interactions, far below your median (0.4×)"),
        (1, [40, 50, 60], "1 interaction, far below your median (0.02×)"),
        (3, [0, 0, 5], "3 interactions; your median X post had none at 24 h"),
        (3, [], "3 interactions, your first X post measured at 24 h"),
    ],
)
def test_the_day_line_compares_with_the_median_on_the_same_network(
    value: int, others: list[int], said: str
) -> None:
    line = day_line(12, "X", COUNTS, versus_median(value, others))
    assert line == f"📈 #12 after 24 h on X: {COUNTS} · {said}"


def test_counts_name_what_the_network_tells_with_thousands_separators() -> None:
    assert counts_text(impressions=None, likes=0, reposts=0, replies=0) == "0 likes"
    assert (
        counts_text(impressions=12345, likes=1, reposts=1, replies=2, quotes=0, clicks=1)
        == "12,345 impressions · 1 like · 1 repost · 2 replies · 1 click"
    )
    assert counts_text(impressions=0, likes=2, quotes=3, clicks=None) == (
        "0 impressions · 2 likes · 3 quotes"
    )
