"""The outbox's figures: predictable from the target id and the time since publication."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.platforms.outbox import OutboxPublisher
from core.ports import FiguresRequest, PublishRequest, Reading

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def published(folder: Path, clock: Clock, target_id: int) -> tuple[OutboxPublisher, str]:
    """An outbox with target `target_id` published at T0: the publisher and the post's id."""
    outbox = OutboxPublisher(folder, clock=clock)
    request = PublishRequest(
        target_id=target_id,
        network="outbox",
        text="Our new API is live",
        idempotency_key=f"herald-1-{target_id}-1",
        workspace="Test",
        post_number=1,
    )
    return outbox, outbox.publish(request).external_id


def read_at(outbox: OutboxPublisher, clock: Clock, age: timedelta, *targets: tuple[int, str]):
    clock.now = T0 + age
    asked = [FiguresRequest(t, "outbox", external, None, 1) for t, external in targets]
    return outbox.read(asked)


def counts(reading: Reading) -> tuple[int | None, int, int, int, int, int | None]:
    return (
        reading.impressions,
        reading.likes,
        reading.reposts,
        reading.replies,
        reading.quotes,
        reading.clicks,
    )


def test_figures_follow_the_documented_formula(tmp_path: Path) -> None:
    clock = Clock()
    outbox, external = published(tmp_path, clock, 12)
    # Target 12: s = 12 * 37 mod 100 = 44, so at 7 days 1000 + 40*44 = 2,760 impressions,
    # likes 2760 * 6 % = 165, reposts 41, replies 27, quotes 13, clicks 2760 * 3 % = 82.
    expected = {
        timedelta(0): (0, 0, 0, 0, 0, 0),
        timedelta(hours=1): (112, 6, 1, 1, 0, 3),  # g = 4.08 %
        timedelta(hours=24): (1746, 104, 25, 17, 8, 51),  # g = 63.27 %
        timedelta(days=7): (2760, 165, 41, 27, 13, 82),
        timedelta(days=90): (2760, 165, 41, 27, 13, 82),
    }
    for age, figures in expected.items():
        (reading,) = read_at(outbox, clock, age, (12, external)).values()
        assert counts(reading) == figures, age
        assert reading.raw == {"published_at": "2026-03-02T09:00:00+00:00"}
        assert not reading.gone


def test_figures_grow_every_hour_and_stop_at_seven_days(tmp_path: Path) -> None:
    clock = Clock()
    outbox, external = published(tmp_path, clock, 7)
    hourly = [
        counts(read_at(outbox, clock, timedelta(hours=h), (7, external))[7])
        for h in range(0, 24 * 9)
    ]
    impressions = [c[0] or 0 for c in hourly]
    assert all(impressions[1:])
    assert impressions == sorted(impressions)  # never falls
    assert impressions[1] < impressions[24] < impressions[72] < impressions[24 * 7]
    assert len(set(hourly[24 * 7 :])) == 1  # saturated from day 7 on
    assert hourly[24 * 7 - 1] != hourly[24 * 7]  # …and not before


def test_every_figure_is_there_and_targets_differ(tmp_path: Path) -> None:
    clock = Clock()
    outbox, first = published(tmp_path, clock, 1)
    _, second = published(tmp_path, clock, 2)
    got = read_at(outbox, clock, timedelta(days=2), (1, first), (2, second))
    assert got[1].impressions and got[1].clicks and got[1].likes  # the outbox shows everything
    assert counts(got[1]) != counts(got[2])
    # The same moment always gives the same figures.
    assert read_at(outbox, clock, timedelta(days=2), (1, first), (2, second)) == got


def test_a_deleted_outbox_file_is_gone(tmp_path: Path) -> None:
    clock = Clock()
    outbox, kept = published(tmp_path, clock, 3)
    _, deleted = published(tmp_path, clock, 4)
    (tmp_path / f"{deleted}.json").unlink()
    got = read_at(outbox, clock, timedelta(days=1), (3, kept), (4, deleted))
    assert got[4] == Reading(gone=True)
    assert not got[3].gone and got[3].impressions


def test_a_clock_behind_the_publication_reads_zeros(tmp_path: Path) -> None:
    clock = Clock()
    outbox, external = published(tmp_path, clock, 5)
    (reading,) = read_at(outbox, clock, -timedelta(minutes=5), (5, external)).values()
    assert counts(reading) == (0, 0, 0, 0, 0, 0)


def test_a_file_without_a_publication_time_is_not_read(tmp_path: Path) -> None:
    clock = Clock()
    outbox, external = published(tmp_path, clock, 6)
    path = tmp_path / f"{external}.json"
    body = json.loads(path.read_text())
    del body["published_at"]
    path.write_text(json.dumps(body))
    assert read_at(outbox, clock, timedelta(days=1), (6, external)) == {}
