"""`stats`, `stats <n>` and `stats export` as people see them, on SQLite and on PostgreSQL +
Redis: figures seeded the way publishing and collection store them, read back through
`Herald.handle` and the terminal chat; the chart's lines and bars and the CSV's cells are the
stored figures; every bad input is refused with what to type and changes nothing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from matplotlib.dates import num2date
from PIL import Image
from sqlalchemy import func, select, update

from bot.runtime import Runtime
from core.analytics import charts, queries
from core.analytics import commands as analytics
from core.analytics.periods import Period, window
from core.posts.card import Attachment, Message
from storage.models import Post, SurfaceKind, Target, Workspace
from storage.models_analytics import LatestFigures, MetricsSnapshot, Milestone, SnapshotDue
from tests.support.helpers import actor, slack_actor, snapshot
from tests.support.terminal import Transcript
from tests.unit.analytics.seeding import Seeder

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # Mon 30 Nov, 13:00 in Berlin
BERLIN = ZoneInfo("Europe/Berlin")
MARIA = actor("maria")  # the terminal's workspace, "local", which the seeder fills


class Fixed:
    def now(self) -> datetime:
        return NOW


def counts(
    impressions: int | None,
    likes: int,
    reposts: int = 0,
    replies: int = 0,
    quotes: int = 0,
    clicks: int | None = None,
    gone: bool = False,
) -> dict[str, Any]:
    return {
        "impressions": impressions,
        "likes": likes,
        "reposts": reposts,
        "replies": replies,
        "quotes": quotes,
        "clicks": clicks,
        "gone": gone,
    }


@pytest.fixture
def week(idle_runtime: Runtime) -> Runtime:
    """Maria's workspace (her zone Europe/Berlin): six posts this week, one the week before,
    #8 drafted but not published; a neighbour's #42 with huge figures.

    #1 X + LinkedIn, 6 days ago; X read again yesterday (80 interactions), LinkedIn 50
    #2 Mastodon, 27 Nov 23:30 UTC (28 Nov in Berlin): 6, no impressions
    #3 Bluesky, yesterday: not read yet
    #4 X, 2 days ago: 1      #5 Facebook, 3 days ago: 15      #6 LinkedIn, 4 days ago: 2
    #7 X, 10 days ago: 20 (the week before)
    """
    rt = idle_runtime
    rt.herald.ctx.clock = Fixed()
    seed = Seeder(rt.db)
    ws = seed.workspace("local")
    first = seed.post(
        ws,
        NOW - timedelta(days=6),
        ("x", counts(1000, 30, reposts=5, replies=3, quotes=2, clicks=10)),
        ("linkedin", counts(2000, 40, reposts=4, replies=6)),
    )
    seed.snapshot(first["x"], NOW - timedelta(days=1), **counts(1000, 60, 5, 3, 2, clicks=10))
    seed.post(ws, datetime(2026, 11, 27, 23, 30, tzinfo=UTC), ("mastodon", counts(None, 5, 1)))
    seed.post(ws, NOW - timedelta(days=1), ("bluesky", None))
    seed.post(ws, NOW - timedelta(days=2), ("x", counts(500, 1, clicks=0)))
    seed.post(ws, NOW - timedelta(days=3), ("facebook", counts(800, 12, reposts=3)))
    seed.post(ws, NOW - timedelta(days=4), ("linkedin", counts(300, 2)))
    seed.post(ws, NOW - timedelta(days=10), ("x", counts(1000, 20)))
    other = seed.workspace("other")
    with rt.db.session() as s:
        s.execute(update(Workspace).where(Workspace.id == other).values(post_seq=41))
    seed.post(other, NOW - timedelta(days=2), ("x", counts(10**6, 9999)))
    assert not rt.herald.handle(MARIA, "tz Europe/Berlin").error
    assert not rt.herald.handle(MARIA, "draft Our next launch --to outbox").error  # #8
    return rt


def wall(instant: datetime) -> datetime:
    """What a clock in Berlin shows at `instant`: the time axis of `stats <n>`'s chart."""
    return instant.astimezone(BERLIN).replace(tzinfo=None)


def lines(message: Message) -> list[str]:
    assert not message.error, message.text
    return (message.text or "").splitlines()


def workspace_id(rt: Runtime, name: str = "local") -> int:
    with rt.db.session() as s:
        found = s.scalar(select(Workspace.id).where(Workspace.external_id == name))
        assert found is not None
        return found


def one_file(message: Message, mime: str) -> Attachment:
    (attached,) = message.files
    assert attached.mime == mime
    return attached


def analytics_rows(rt: Runtime) -> dict[str, object]:
    """What `stats` must leave as it was (asking for fresh figures aside)."""
    with rt.db.session() as s:
        return {
            "snapshots": s.scalar(select(func.count(MetricsSnapshot.id))),
            "schedule": sorted(
                (r.target_id, r.milestone.value, r.done_at is None)
                for r in s.scalars(select(SnapshotDue))
            ),
            "figures": sorted(
                (r.target_id, r.likes, r.taken_at is not None)
                for r in s.scalars(select(LatestFigures))
            ),
        }


# --- a period ---------------------------------------------------------------------------------


def test_the_week_in_the_terminal(week: Runtime) -> None:
    chat = Transcript(week)
    shown = chat.push("stats").splitlines()
    expected = [
        "📈 Your posts in the last 7 days",
        "From Mon 23 Nov, 13:00 Europe/Berlin (12:00 UTC) to Mon 30 Nov, 13:00 Europe/Berlin "
        "(12:00 UTC).",
        "6 posts · 4,600 impressions · 154 interactions · 3.2 % engagement",
        "Interactions: 120 likes · 13 reposts · 9 replies · 2 quotes · 10 clicks",
        "Against the 7 days before: posts 6 (+500 %) · impressions 4,600 (+360 %) · "
        "interactions 154 (+670 %) · engagement 3.2 % (was 2.0 %)",
        "",
        "By network:",
        "• X: 2 posts · 1,500 impressions · 81 interactions · 5.4 % engagement",
        "• LinkedIn: 2 posts · 2,300 impressions · 52 interactions · 2.3 % engagement",
        "• Facebook: 1 post · 800 impressions · 15 interactions · 1.9 % engagement",
        "• Mastodon: 1 post · 6 interactions · no impressions reported",
        "• Bluesky: 1 post · 0 interactions · no impressions reported",
        "",
        "Top posts:",
        "1. #1 · 3,000 impressions · 130 interactions · 4.3 % engagement",
        "   X: https://x.example/1 · LinkedIn: https://linkedin.example/1",
        "2. #5 · 800 impressions · 15 interactions · 1.9 % engagement",
        "   Facebook: https://facebook.example/5",
        "3. #2 · 6 interactions",
        "   Mastodon: https://mastodon.example/2",
        "",
        "Bottom posts:",
        "1. #4 · 500 impressions · 1 interaction · 0.2 % engagement",
        "   X: https://x.example/4",
        "2. #6 · 300 impressions · 2 interactions · 0.7 % engagement",
        "   LinkedIn: https://linkedin.example/6",
        "",
        "Mastodon and Bluesky report no impressions: engagement (interactions per impression) "
        "counts the other networks.",
    ]
    start = shown.index(expected[0])
    assert shown[start : start + len(expected)] == expected
    # The neighbour's post (9,999 likes) is nowhere.
    assert "42" not in chat.text and "9,999" not in chat.text


def test_the_chart_is_a_png_of_the_stored_figures(week: Runtime) -> None:
    reply = week.herald.handle(MARIA, "stats")
    png = one_file(reply, "image/png")
    assert png.name == "herald-stats-7d.png"
    with Image.open(io.BytesIO(png.data)) as image:
        image.verify()
    with Image.open(io.BytesIO(png.data)) as image:
        assert image.size == (960, 1200)

    ws = workspace_id(week)
    with week.db.session() as s:
        summary = queries.summary(s, ws, NOW - timedelta(days=7), NOW, tz=BERLIN)
    span = window(Period(days=7), BERLIN, NOW)
    figure = analytics.period_chart(summary, "Last 7 days", span, BERLIN)
    assert charts.png(figure) == png.data  # what was sent is this figure, drawn
    over_time, per_network = figure.axes
    # The axis spans the week asked about (Berlin's 23 to 30 Nov), not only its posts' days.
    low, high = (num2date(x).date() for x in over_time.get_xlim())  # type: ignore[no-untyped-call]
    assert (low, high) == (date(2026, 11, 22), date(2026, 11, 30))
    plotted = {
        line.get_label(): list(
            zip(
                np.asarray(line.get_xdata()).tolist(),
                np.asarray(line.get_ydata()).tolist(),
                strict=True,
            )
        )
        for line in over_time.get_lines()
    }
    # Interactions of the posts published each day, on Berlin's days: #2 (23:30 UTC on the
    # 27th) counts on the 28th.
    assert plotted == {
        "X": [(date(2026, 11, 24), 80.0), (date(2026, 11, 28), 1.0)],
        "LinkedIn": [(date(2026, 11, 24), 50.0), (date(2026, 11, 26), 2.0)],
        "Facebook": [(date(2026, 11, 27), 15.0)],
        "Mastodon": [(date(2026, 11, 28), 6.0)],
        "Bluesky": [(date(2026, 11, 29), 0.0)],
    }
    labels = [tick.get_text() for tick in per_network.get_yticklabels()]
    widths = [patch.get_width() for patch in per_network.containers[0]]
    assert dict(zip(labels, widths, strict=True)) == {
        "X": 81.0,
        "LinkedIn": 52.0,
        "Facebook": 15.0,
        "Mastodon": 6.0,
        "Bluesky": 0.0,
    }


def test_one_network_over_30_days(week: Runtime) -> None:
    reply = week.herald.handle(MARIA, "stats linkedin 30d")
    shown = lines(reply)
    assert shown[0] == "📈 Your posts on LinkedIn in the last 30 days"
    assert "2 posts · 2,300 impressions · 52 interactions · 2.3 % engagement" in shown
    assert "Against the 30 days before: nothing was published then." in shown
    assert "By network:" not in shown
    # #1 is counted and linked on LinkedIn alone.
    assert "1. #1 · 2,000 impressions · 50 interactions · 2.5 % engagement" in shown
    assert "   LinkedIn: https://linkedin.example/1" in shown
    assert not any("x.example" in line for line in shown)
    assert one_file(reply, "image/png").name == "herald-stats-30d-linkedin.png"


def test_dates_are_whole_days_in_the_persons_zone(week: Runtime) -> None:
    berlin = lines(week.herald.handle(MARIA, "stats 2026-11-24 to 2026-11-27"))
    assert berlin[:3] == [
        "📈 Your posts from 24 Nov 2026 to 27 Nov 2026",
        "From Tue 24 Nov, 00:00 Europe/Berlin (Mon 23 Nov 23:00 UTC) to Sat 28 Nov, 00:00 "
        "Europe/Berlin (Fri 27 Nov 23:00 UTC).",
        "3 posts · 4,100 impressions · 147 interactions · 3.6 % engagement",
    ]  # #2 went out at 00:30 on the 28th in Berlin: not in
    assert "Against the 4 days before" in berlin[4]

    assert not week.herald.handle(MARIA, "tz UTC").error
    utc = lines(week.herald.handle(MARIA, "stats 2026-11-24 2026-11-27"))
    assert utc[1] == "From Tue 24 Nov, 00:00 UTC to Sat 28 Nov, 00:00 UTC."
    assert utc[2] == "4 posts · 4,100 impressions · 153 interactions · 3.6 % engagement"

    # A period that runs past today ends now.
    until_now = lines(week.herald.handle(MARIA, "stats 2026-11-29 2026-12-05"))
    assert until_now[1] == "From Sun 29 Nov, 00:00 UTC to Mon 30 Nov, 12:00 UTC."


def test_an_empty_period_says_so_without_a_chart(week: Runtime) -> None:
    reply = week.herald.handle(MARIA, "stats 2026-11-01 2026-11-10")
    assert lines(reply) == [
        "Nothing was published from 1 Nov 2026 to 10 Nov 2026, so there are no figures. "
        "Try a longer period, e.g. stats 90d.",
        "From Sun 1 Nov, 00:00 Europe/Berlin (Sat 31 Oct 23:00 UTC) to Wed 11 Nov, 00:00 "
        "Europe/Berlin (Tue 10 Nov 23:00 UTC).",
    ]
    assert reply.files == ()
    nothing_read = week.herald.handle(MARIA, "stats 2d bluesky")
    assert (
        "No figures yet: Herald reads them about 1 h, 24 h and 7 days after a post goes out."
        in (lines(nothing_read))
    )
    assert nothing_read.files == ()  # a chart of zeros says nothing


def test_a_deleted_post_keeps_its_last_figures_and_is_not_asked_again(week: Runtime) -> None:
    ws = workspace_id(week)
    with week.db.session() as s:
        target = s.scalar(
            select(Target.id).join(Post).where(Post.number == 4, Post.workspace_id == ws)
        )
    assert target is not None
    assert Seeder(week.db).snapshot(
        target, NOW - timedelta(hours=1), **counts(500, 1, clicks=0, gone=True)
    )
    assert "1. #4 · 500 impressions · 1 interaction · 0.2 % engagement · deleted on X" in lines(
        week.herald.handle(MARIA, "stats")
    )
    before = analytics_rows(week)
    shown = lines(week.herald.handle(MARIA, "stats 4"))
    assert "  Deleted on X: these are the last figures it had." in shown
    assert shown[-1] == "Deleted on every network, so there is nothing new to ask for."
    assert analytics_rows(week) == before


# --- one post ---------------------------------------------------------------------------------


def test_one_post_over_time_asks_for_fresh_figures(week: Runtime) -> None:
    reply = week.herald.handle(MARIA, "stats #1")
    assert lines(reply) == [
        "📈 #1 · b",
        "",
        "X · published Tue 24 Nov, 13:00 Europe/Berlin (12:00 UTC)",
        "https://x.example/1",
        "  24 h: 1,000 impressions · 50 interactions · Wed 25 Nov, 13:00 Europe/Berlin (12:00 UTC)",
        "  on request: 1,000 impressions · 80 interactions · Sun 29 Nov, 13:00 Europe/Berlin "
        "(12:00 UTC)",
        "  Latest: 1,000 impressions · 80 interactions · 8.0 % engagement",
        "  60 likes · 5 reposts · 3 replies · 2 quotes · 10 clicks",
        "",
        "LinkedIn · published Tue 24 Nov, 13:00 Europe/Berlin (12:00 UTC)",
        "https://linkedin.example/1",
        "  24 h: 2,000 impressions · 50 interactions · Wed 25 Nov, 13:00 Europe/Berlin (12:00 UTC)",
        "  Latest: 2,000 impressions · 50 interactions · 2.5 % engagement",
        "  40 likes · 4 reposts · 6 replies · 0 quotes",
        "",
        "Asked X and LinkedIn for fresh figures just now; they usually come in within a minute. "
        "Type stats 1 again to see them.",
    ]

    ws = workspace_id(week)

    def asked() -> list[tuple[str, datetime, bool]]:
        with week.db.session() as s:
            return sorted(
                (network, due, done is None)
                for network, due, done in s.execute(
                    select(Target.network, SnapshotDue.due_at, SnapshotDue.done_at)
                    .join(Target, Target.id == SnapshotDue.target_id)
                    .join(Post)
                    .where(
                        SnapshotDue.milestone == Milestone.DEMAND,
                        Post.workspace_id == ws,
                    )
                )
            )

    assert asked() == [("linkedin", NOW, True), ("x", NOW, True)]
    week.herald.handle(MARIA, "stats 1")  # asking again before they come asks once
    assert asked() == [("linkedin", NOW, True), ("x", NOW, True)]

    png = one_file(reply, "image/png")
    assert png.name == "herald-stats-post-1.png"
    with week.db.session() as s:
        post_id = s.scalar(select(Post.id).where(Post.number == 1, Post.workspace_id == ws))
        assert post_id is not None
        points = queries.post_history(s, post_id)
    figure = analytics.post_chart(1, points, BERLIN)
    assert charts.png(figure) == png.data
    plotted = {
        line.get_label(): (
            np.asarray(line.get_xdata()).tolist(),
            np.asarray(line.get_ydata()).tolist(),
        )
        for line in figure.axes[0].get_lines()
    }
    day_after, yesterday = (
        wall(datetime(2026, 11, 25, 13, tzinfo=BERLIN)),
        wall(NOW - timedelta(days=1)),
    )
    assert yesterday == wall(datetime(2026, 11, 29, 13, tzinfo=BERLIN))
    assert plotted == {  # each reading, at the time it was taken on Berlin's clocks
        "X": ([day_after, yesterday], [50.0, 80.0]),
        "LinkedIn": ([day_after], [50.0]),
    }
    assert figure.axes[0].get_title(loc="left") == "Interactions (Europe/Berlin time)"


def test_many_readings_on_request_show_the_newest_and_chart_them_all(week: Runtime) -> None:
    ws = workspace_id(week)
    with week.db.session() as s:
        target = s.scalar(
            select(Target.id).join(Post).where(Post.number == 4, Post.workspace_id == ws)
        )
    assert target is not None
    seed = Seeder(week.db)
    for hours, likes in ((20, 2), (15, 3), (10, 4)):
        seed.snapshot(target, NOW - timedelta(hours=hours), **counts(500, likes, clicks=0))
    reply = week.herald.handle(MARIA, "stats 4")
    readings = [line for line in lines(reply) if line.startswith("  ") and "·" in line]
    assert readings[:-2] == [
        "  24 h: 500 impressions · 1 interaction · Sun 29 Nov, 13:00 Europe/Berlin (12:00 UTC)",
        "  on request: 500 impressions · 4 interactions · Mon 30 Nov, 03:00 Europe/Berlin "
        "(02:00 UTC)",
    ]
    assert "  (and 2 earlier readings on request)" in lines(reply)
    with week.db.session() as s:
        post_id = s.scalar(select(Post.id).where(Post.number == 4, Post.workspace_id == ws))
        assert post_id is not None
        points = queries.post_history(s, post_id)
    figure = analytics.post_chart(4, points, BERLIN)
    assert charts.png(figure) == one_file(reply, "image/png").data
    (line,) = figure.axes[0].get_lines()
    assert np.asarray(line.get_ydata()).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_a_post_not_read_yet(week: Runtime) -> None:
    reply = week.herald.handle(MARIA, "stats 3")
    assert lines(reply)[2:5] == [
        "Bluesky · published Sun 29 Nov, 13:00 Europe/Berlin (12:00 UTC)",
        "https://bluesky.example/3",
        "No figures yet: Herald reads them about 1 h, 24 h and 7 days after a post goes out.",
    ]
    assert reply.files == ()


# --- export -----------------------------------------------------------------------------------


def test_the_export_is_the_stored_figures(week: Runtime) -> None:
    reply = week.herald.handle(MARIA, "stats export")
    assert lines(reply)[0] == (
        "📄 Your posts in the last 7 days, as CSV: 7 rows, one per network of each of 6 posts. "
        "Times in the file are UTC."
    )
    exported = one_file(reply, "text/csv")
    assert exported.name == "herald-stats-7d.csv"
    table = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8"))))

    ws = workspace_id(week)
    with week.db.session() as s:
        stored = s.execute(
            select(LatestFigures, Target.external_url)
            .join(Target, Target.id == LatestFigures.target_id)
            .where(
                LatestFigures.workspace_id == ws,
                LatestFigures.published_at >= NOW - timedelta(days=7),
            )
            .order_by(LatestFigures.published_at, LatestFigures.post_number, LatestFigures.network)
        ).all()
    assert len(table) == len(stored) == 7

    def text(value: int | None) -> str:
        return "" if value is None else str(value)

    for row, (f, url) in zip(table, stored, strict=True):
        measured = f.taken_at is not None
        assert row["post"] == str(f.post_number)
        assert row["network"] == f.network
        assert row["published_at_utc"] == f.published_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row["link"] == url
        for column in ("impressions", "likes", "reposts", "replies", "quotes", "clicks"):
            assert row[column] == (text(getattr(f, column)) if measured else ""), column
        assert row["gone"] == ("yes" if f.gone else "no")
        if measured and f.impressions:
            interactions = f.likes + f.reposts + f.replies + f.quotes + (f.clicks or 0)
            assert float(row["engagement_rate"]) == pytest.approx(
                interactions / f.impressions, abs=5e-5
            )
        else:
            assert row["engagement_rate"] == ""
        assert row["measured_at_utc"] == (
            f.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ") if f.taken_at is not None else ""
        )
    by_post = {(row["post"], row["network"]): row for row in table}
    assert by_post["1", "x"]["likes"] == "60" and by_post["1", "x"]["engagement_rate"] == "0.0800"
    assert (
        by_post["3", "bluesky"]["likes"] == "" and by_post["3", "bluesky"]["measured_at_utc"] == ""
    )
    assert by_post["2", "mastodon"]["impressions"] == ""


def test_the_export_never_hands_a_spreadsheet_a_formula(week: Runtime) -> None:
    hostile = {
        1: '=HYPERLINK("http://evil.example","click")',
        4: "+cmd|' /C calc'!A0",
        5: "-2+3",
        6: "@SUM(1+1)",
    }
    ws = workspace_id(week)
    with week.db.session() as s:
        for number, url in hostile.items():
            post_id = select(Post.id).where(Post.number == number, Post.workspace_id == ws)
            s.execute(update(Target).where(Target.post_id.in_(post_id)).values(external_url=url))
    exported = one_file(week.herald.handle(MARIA, "stats export 30d"), "text/csv")
    links = {
        row["post"]: row["link"] for row in csv.DictReader(io.StringIO(exported.data.decode()))
    }
    for number, url in hostile.items():
        assert links[str(number)] == "'" + url
    assert links["7"] == "https://x.example/7"


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("stats myspace", 'I don\'t know the network "myspace". Use one of:'),
        ("stats 2w", 'I can\'t read "2w" as a period. Say 7d, 30d or 90d'),
        (
            "stats 30 linkedin",
            'stats 30 shows post #30 on all its networks; leave out "linkedin". '
            "For a period, say 30d: stats 30d linkedin",
        ),
        ("stats 7d 30", 'I can\'t read "30" as a period. Say 7d, 30d or 90d'),
        ("stats 400d", "A period is 1 to 366 days long (up to a year), not 400."),
        ("stats 0d", "A period is 1 to 366 days long (up to a year), not 0."),
        (
            "stats 2026-12-01 2026-12-05",
            "2026-12-01 is in the future (Europe/Berlin), so there are no figures yet. "
            "Pick dates up to today, 2026-11-30.",
        ),
        ("stats export 2027-01-01 2027-01-02", "2027-01-01 is in the future"),
        (
            "stats 2026-11-30 2026-11-01",
            "The period starts after it ends (2026-11-30 is after 2026-11-01). "
            "Put the earlier date first: stats 2026-11-01 2026-11-30",
        ),
        (
            "stats 2025-01-01 2026-06-01",
            "2025-01-01 to 2026-06-01 is 517 days; a period is at most 366 days (a year).",
        ),
        ("stats 2026-02-30 2026-03-01", "There is no date 2026-02-30. Write dates as YYYY-MM-DD"),
        ("stats 1999-12-01 1999-12-31", "1999-12-01 is out of range: stats covers 2000 to today."),
        ("stats 2026-11-01", "From 2026-11-01 to when? Give two dates"),
        ("stats 7d 30d", "Give one period: a number of days or two dates."),
        ("stats 30d x linkedin", "Name one network, or none for all of them."),
        ("stats 99", "There is no post #99 here."),
        ("stats 42", "There is no post #42 here."),  # the neighbour's
        (
            "stats 8",
            "#8 has not been published yet, so it has no figures. See where it is: show 8",
        ),
        ("stats 1 x", 'stats 1 shows post #1 on all its networks; leave out "x".'),
    ],
)
def test_refused_and_unchanged(week: Runtime, line: str, says: str) -> None:
    before = snapshot(week), analytics_rows(week)
    reply = week.herald.handle(MARIA, line)
    assert reply.error, reply.text
    assert says in (reply.text or "")
    assert reply.files == ()
    assert (snapshot(week), analytics_rows(week)) == before


def test_a_viewer_may_look(week: Runtime) -> None:
    week.herald.handle(actor("vic"), "queue")  # vic joins first: one person has no roles
    assert not week.herald.handle(MARIA, "role vic viewer").error
    reply = week.herald.handle(actor("vic"), "stats 30d")
    assert lines(reply)[0] == "📈 Your posts in the last 30 days"
    assert one_file(reply, "image/png").data.startswith(b"\x89PNG")


def test_charts_are_limited_per_person_on_slack(idle_runtime: Runtime) -> None:
    rt = idle_runtime
    rt.herald.ctx.clock = Fixed()
    rt.herald.ctx.settings.chart_rate_limit = 2
    seed = Seeder(rt.db)
    ws = seed.workspace("T1")  # maria's Slack workspace
    with rt.db.session() as s:
        s.execute(update(Workspace).where(Workspace.id == ws).values(kind=SurfaceKind.SLACK))
    seed.post(ws, NOW - timedelta(days=1), ("x", counts(1000, 30)))
    maria, lee = slack_actor("maria", "maria"), slack_actor("lee", "lee")

    first, second, third = (rt.herald.handle(maria, "stats") for _ in range(3))
    assert len(first.files) == len(second.files) == 1
    assert third.files == () and not third.error
    assert (third.text or "").startswith(first.text or "-")
    assert "No chart this time: 2 charts a minute at most. Ask again in " in (third.text or "")
    # Someone else's charts are their own.
    assert len(rt.herald.handle(lee, "stats").files) == 1
