"""How long a publish can be in flight, from the HTTP client's own limits (no imports: the
pipeline reads it without loading httpx).

A publish makes a few requests (media, then the post). No request starts once
`PUBLISH_BUDGET_SECONDS` have passed since the publish began (`core.platforms.http` refuses
it before sending), and each request ends within its connect, write and read timeouts. So an
attempt older than `IN_FLIGHT_SECONDS` can no longer reach the network: reconciliation may ask
whether it went out without racing it.
"""

from __future__ import annotations

CONNECT_SECONDS = 5.0
READ_SECONDS = 20.0  # also the write and pool timeout
PUBLISH_BUDGET_SECONDS = 60.0
# Clock differences between workers and the database, and the network's own processing.
MARGIN_SECONDS = 15.0
IN_FLIGHT_SECONDS = (
    PUBLISH_BUDGET_SECONDS + CONNECT_SECONDS + 2 * READ_SECONDS + MARGIN_SECONDS
)  # 120 s
# A lookup reads back to the first attempt's start, less this much for the network's clock.
LOOKBACK_SKEW_SECONDS = 120.0
