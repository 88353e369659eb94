"""Tables of the slack feature (their migrations are a branch of their own)."""

from __future__ import annotations
