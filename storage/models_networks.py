"""Tables of the networks feature (their migrations are a branch of their own)."""

from __future__ import annotations
