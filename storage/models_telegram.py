"""Tables of the telegram feature (their migrations are a branch of their own)."""

from __future__ import annotations
