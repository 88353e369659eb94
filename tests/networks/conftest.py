"""The fixture every network module shares: the module's fake and Herald pointed at it.

A module names its network once, with the settings it needs beyond the fake's address:

    pytestmark = pytest.mark.network("linkedin")
    pytestmark = pytest.mark.network("x", connect=False, x_client_id="herald-client")

`rt` then has the fake's account connected (unless `connect=False`) and no worker unless
`worker=True`; `live` is the same runtime with a worker started."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.runtime import Runtime
from core.settings import Settings
from tests.fakes.server import FakeServer
from tests.support.platforms import runtime_with, start_worker


def _network(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    marker = request.node.get_closest_marker("network")
    assert marker is not None, "a tests/networks module names its network: pytest.mark.network"
    return marker.args[0], dict(marker.kwargs)


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> FakeServer:
    """The local fake of the module's network, running for this test."""
    network, _ = _network(request)
    server: FakeServer = request.getfixturevalue(f"fake_{network}")
    return server


@pytest.fixture
def rt(request: pytest.FixtureRequest, settings: Settings, fake: FakeServer) -> Iterator[Runtime]:
    """Herald pointed at `fake`, its account there connected."""
    _, options = _network(request)
    connect, worker = options.pop("connect", True), options.pop("worker", False)
    runtime = runtime_with(settings, worker=worker, **fake.herald_settings(), **options)
    if connect:
        fake.connect(runtime)
    yield runtime
    runtime.close()


@pytest.fixture
def live(rt: Runtime) -> Runtime:
    """The same runtime with a real worker, for tests that go through the pipeline."""
    start_worker(rt)
    return rt
