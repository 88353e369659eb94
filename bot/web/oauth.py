"""HTTP routes of the networks feature: `/oauth/<network>/start` and the OAuth callbacks.

They only translate: the query string goes to `core.workspace.oauth`, its answer becomes a
redirect or a short page. The state is checked in core (signature, expiry, one use, workspace
and person, and the browser that opened the link, which the flow's cookie stands for).
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from bot.web.guard import AddressLimit
from core.errors import HeraldError, log_failure, went_wrong
from core.workspace import oauth

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def _page(text: str, status: int = 200) -> HTMLResponse:
    body = (
        "<!doctype html><meta charset=utf-8><title>Herald</title>"
        f"<p style='font:16px system-ui;margin:3em auto;max-width:40em'>{html.escape(text)}</p>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _cookie(network: str) -> str:
    """The cookie that ties a connect flow to the browser that opened its link."""
    return f"herald_oauth_{network}"


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter()
    ctx = runtime.herald.ctx
    per_address = AddressLimit(ctx.limits, runtime.settings)

    def turned_away(request: Request, network: str) -> Response | None:
        """An address over its limit, or a network that does not connect through a page."""
        refused = per_address.refused(request, "oauth")
        if refused is not None:
            return refused
        if network not in oauth.OAUTH_NETWORKS:
            return _page("Herald does not connect this network through a web page.", 404)
        return None

    @api.get("/oauth/{network}/start")
    def start(request: Request, network: str, state: str = "") -> object:
        refused = turned_away(request, network)
        if refused is not None:
            return refused
        try:
            url, browser = oauth.start(ctx, network, state, request.cookies.get(_cookie(network)))
            redirect = RedirectResponse(url, status_code=302)
            redirect.set_cookie(
                _cookie(network),
                browser,
                max_age=int(oauth.STATE_TTL.total_seconds()),
                path=f"/oauth/{network}/",
                secure=ctx.settings.public_url.startswith("https://"),
                httponly=True,
                # Lax: sent when the network sends the browser back (a top-level GET).
                samesite="lax",
            )
            return redirect
        except HeraldError as exc:
            return _page(str(exc), 400)
        except Exception:  # noqa: BLE001 - logged with its traceback and a ref
            return _page(went_wrong(log_failure(log, "oauth start failed")), 500)

    @api.get("/oauth/{network}/callback")
    def callback(
        request: Request,
        network: str,
        state: str = "",
        code: str | None = None,
        error: str | None = None,
    ) -> object:
        refused = turned_away(request, network)
        if refused is not None:
            return refused
        try:
            browser = request.cookies.get(_cookie(network))
            text = oauth.finish(ctx, network, state, code, error, browser)
        except HeraldError as exc:
            return _page(str(exc), 400)
        except Exception:  # noqa: BLE001 - logged with its traceback and a ref
            return _page(went_wrong(log_failure(log, "oauth callback failed")), 500)
        return _page(f"{text} You can close this tab and go back to the chat.")

    return api
