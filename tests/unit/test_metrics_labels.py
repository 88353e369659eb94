"""The workspace label is bounded: a process names at most N workspaces, the rest are `other`."""

from __future__ import annotations

from core.metrics import WorkspaceLabels


def test_the_first_workspaces_keep_their_id_and_the_rest_share_other() -> None:
    labels = WorkspaceLabels(limit=3)
    assert [labels(i) for i in (7, 8, 7, 9)] == ["7", "8", "7", "9"]
    assert [labels(i) for i in (10, 11, 8)] == ["other", "other", "8"]


def test_a_limit_of_zero_names_none() -> None:
    assert WorkspaceLabels(limit=0)(1) == "other"
