"""`/api/v1`: the REST API for the tools around Herald, mounted in `herald web`.

It only translates: a bearer token becomes its person (core/api/tokens.py), a request becomes
the chat command it stands for (core/api/rest.py), and core's typed refusals become RFC 9457
problem details (`application/problem+json`). The OpenAPI document is `/api/v1/openapi.json`.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, and
# `Who` and `Number` are local to `app`.
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from core.api import rest
from core.api.tokens import Holder, TooManyRequests, Unauthorized, authenticate
from core.errors import (
    BadInput,
    Conflict,
    Forbidden,
    HeraldError,
    NotFound,
    Unavailable,
    log_failure,
    went_wrong,
)
from core.posts.commands import MAX_BRIEF
from storage.models import PostState

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
MAX_POST_NUMBER = 2_147_483_647  # the column's range: a larger number is simply not a post
_STATUS: tuple[tuple[type[HeraldError], int, str], ...] = (
    (Unauthorized, 401, "Unauthorized"),
    (Forbidden, 403, "Forbidden"),
    (NotFound, 404, "Not Found"),
    (Conflict, 409, "Conflict"),
    (Unavailable, 503, "Service Unavailable"),
    (BadInput, 422, "Unprocessable Content"),
    (TooManyRequests, 429, "Too Many Requests"),
)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


class NewPost(BaseModel):
    """The same brief, networks and time as `draft <brief> --to … --at …`."""

    brief: str = Field(min_length=1, max_length=MAX_BRIEF, examples=["Our API is live"])
    networks: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(
        default=None, max_length=10, examples=[["x", "linkedin"]]
    )
    at: str | None = Field(
        default=None, max_length=100, examples=["tomorrow 9am", "best", "2026-12-01 09:00 UTC"]
    )


class When(BaseModel):
    at: str = Field(min_length=1, max_length=100, examples=["next monday 14:30"])


class Reason(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class Target(BaseModel):
    network: str
    state: str
    text: str
    scheduled_at: str | None
    published_at: str | None
    url: str | None
    failure_reason: str | None


class PostOut(BaseModel):
    number: int
    state: str
    brief: str
    author: str
    planned_at: str | None = Field(description="UTC, ISO 8601")
    planned_local: str | None = Field(description="in the token's person's zone, with UTC")
    problem: str | None
    created_at: str | None
    updated_at: str | None
    targets: list[Target]


class Outcome(BaseModel):
    message: str | None = Field(description="what Herald said, as in chat")
    post: PostOut


class Figures(BaseModel):
    posts: int
    targets: int
    impressions: int | None
    likes: int
    reposts: int
    replies: int
    quotes: int
    clicks: int | None
    interactions: int
    engagement_rate: float | None


class TopPost(Figures):
    number: int


class StatsOut(BaseModel):
    start: str | None
    end: str | None
    during: str
    network: str | None
    totals: Figures
    by_network: dict[str, Figures]
    top: list[TopPost]


def _problem_content() -> dict[str, Any]:
    return {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": title, "content": _problem_content(), "model": Problem}
    for _, status, title in _STATUS
}
_ERRORS[429] = {
    **_ERRORS[429],
    "description": "Too Many Requests: the token is over HERALD_API_RATE_LIMIT this minute; "
    "nothing was done",
    "headers": {
        "Retry-After": {
            "description": "Whole seconds until the token may send again",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def _extra_headers(exc: HeraldError) -> dict[str, str]:
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(exc.retry_after)}
    return {}


def problem(status: int, title: str, detail: str, request: Request, **headers: str) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, instance=request.url.path)
    return JSONResponse(
        body.model_dump(), status_code=status, media_type=PROBLEM, headers=headers or None
    )


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) + ". See /api/v1/openapi.json for what each endpoint takes."


def app(runtime: "Runtime") -> FastAPI:
    ctx = runtime.herald.ctx
    api = FastAPI(
        title="Herald API",
        version="1",
        description="Posts, approvals, schedules and stats, as the person whose token is sent.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses=_ERRORS,
    )
    bearer = HTTPBearer(auto_error=False, description="A token from `token new` in chat")

    @api.exception_handler(HeraldError)
    def refused(request: Request, exc: HeraldError) -> JSONResponse:
        for kind, status, title in _STATUS:
            if isinstance(exc, kind):
                return problem(status, title, str(exc), request, **_extra_headers(exc))
        return problem(422, "Unprocessable Content", str(exc), request)

    @api.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "Unprocessable Content", _validation_detail(exc), request)

    @api.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "Request refused."
        if exc.status_code == 404:
            detail = "There is no such endpoint. See /api/v1/openapi.json."
        return problem(exc.status_code, detail, detail, request)

    @api.exception_handler(Exception)
    def failed(request: Request, exc: Exception) -> JSONResponse:
        ref = log_failure(log, "API request failed", exc)
        return problem(500, "Internal Server Error", went_wrong(ref), request)

    @api.middleware("http")
    async def who_asks(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """The token first, before the body is parsed: without a valid token every request
        is a 401, whatever else is wrong with it; a valid one over its rate limit is a 429,
        and nothing else happens."""
        if request.url.path.endswith("/openapi.json"):
            return await call_next(request)
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        token = presented.strip() if scheme.lower() == "bearer" else None
        try:
            request.state.holder = await run_in_threadpool(authenticate, ctx, token)
        except Unauthorized as exc:
            return problem(401, "Unauthorized", str(exc), request, **_extra_headers(exc))
        except TooManyRequests as exc:
            return problem(429, "Too Many Requests", str(exc), request, **_extra_headers(exc))
        return await call_next(request)

    def holder(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Holder:
        # `credentials` only documents the scheme in the OpenAPI document; `who_asks` checked it.
        found: Holder = request.state.holder
        return found

    Who = Annotated[Holder, Depends(holder)]
    Number = Annotated[int, Path(ge=1, le=MAX_POST_NUMBER, description="the post's #number")]

    @api.get("/posts", response_model=list[PostOut], summary="Posts, newest first (scope read)")
    def list_posts(
        who: Who,
        state: PostState | None = None,
        limit: Annotated[int, Query(ge=1, le=rest.MAX_LIST)] = 50,
    ) -> list[dict[str, Any]]:
        return rest.list_posts(ctx, who, state, limit)

    @api.get("/posts/{number}", response_model=PostOut, summary="One post (scope read)")
    def get_post(who: Who, number: Number) -> dict[str, Any]:
        return rest.get_post(ctx, who, number)

    @api.post(
        "/posts",
        status_code=201,
        response_model=Outcome,
        summary="Draft a post, like `draft` (scope draft)",
        description="The same Idempotency-Key again returns the first answer and drafts "
        "nothing new; the same key with a different body is refused (422).",
    )
    def create_post(
        request: Request,
        who: Who,
        body: NewPost,
        key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255)],
    ) -> JSONResponse:
        cmd = rest.draft_of(body.brief, body.networks, body.at)
        created = rest.create_post(ctx, who, cmd, key, rest.fingerprint(body.model_dump()))
        number = created.body["post"]["number"]
        headers = {"Location": f"{request.scope.get('root_path', '')}/posts/{number}"}
        if created.replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(created.body, status_code=created.status, headers=headers)

    @api.post("/posts/{number}/approve", response_model=Outcome, summary="Approve (scope approve)")
    def approve(who: Who, number: Number) -> dict[str, Any]:
        return rest.act(ctx, who, rest.approve(number))

    @api.post("/posts/{number}/reject", response_model=Outcome, summary="Reject (scope approve)")
    def reject(who: Who, number: Number, body: Reason | None = None) -> dict[str, Any]:
        return rest.act(ctx, who, rest.reject(number, body.reason if body else None))

    @api.post("/posts/{number}/schedule", response_model=Outcome, summary="Schedule (scope draft)")
    def schedule(who: Who, number: Number, body: When) -> dict[str, Any]:
        return rest.act(ctx, who, rest.schedule(number, body.at))

    @api.post("/posts/{number}/cancel", response_model=Outcome, summary="Cancel (scope draft)")
    def cancel(who: Who, number: Number) -> dict[str, Any]:
        return rest.act(ctx, who, rest.cancel(number))

    @api.get("/stats", response_model=StatsOut, summary="Figures for a period (scope read)")
    def stats(
        who: Who,
        period: Annotated[str | None, Query(max_length=40, examples=["30d"])] = None,
        network: Annotated[str | None, Query(max_length=32, examples=["linkedin"])] = None,
    ) -> dict[str, Any]:
        return rest.stats(ctx, who, period, network)

    return api
