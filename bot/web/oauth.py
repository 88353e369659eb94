"""HTTP routes of this feature, mounted by bot.web.app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from bot.runtime import Runtime


def router(runtime: Runtime) -> APIRouter:
    return APIRouter()
