"""uvicorn factories for the gateway benchmarks (worker processes build them from AUPGATE_*).

`with_classifier` is what `aupgate serve` runs; `without_classifier` swaps in a classifier that
scores nothing, so the rest of the pipeline (auth, policy, durable audit append, proxying,
output moderation bookkeeping) is measured on its own; `passthrough` forwards with the same
server stack and upstream client and checks nothing: the floor any proxy on this stack pays.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aupgate.classify.taxonomy import CATEGORIES
from aupgate.config import load_settings
from aupgate.decision import CategoryScore, Classification, ClassifierIdentity
from aupgate.gateway.app import create_app
from aupgate.gateway.upstream import Upstream
from aupgate.runtime import Runtime


class NothingClassifier:
    identity = ClassifierIdentity("none", "bench", "-")
    _empty = Classification(tuple(CategoryScore(c, 0.0) for c in CATEGORIES), identity)

    def classify(self, text: str) -> Classification:
        return self._empty

    def classify_batch(self, texts: Sequence[str]) -> list[Classification]:
        return [self._empty for _ in texts]


def with_classifier() -> Starlette:
    return create_app(Runtime(load_settings()), owns_runtime=True)


def without_classifier() -> Starlette:
    return create_app(Runtime(load_settings()), classifier=NothingClassifier(), owns_runtime=True)


def passthrough() -> Starlette:
    """The floor: the gateway's server stack and upstream client, forwarding without checks."""
    settings = load_settings()
    assert settings.upstream_url, "AUPGATE_UPSTREAM_URL is not set"
    upstream = Upstream(
        settings.upstream_url, settings.upstream_timeout_s, settings.upstream_connect_timeout_s
    )

    async def chat(request: Request) -> Response:
        body = await request.json()
        if not body.get("stream"):
            answer = await upstream.post("/chat/completions", body)
            return Response(answer.body, answer.status, media_type="application/json")
        stack = AsyncExitStack()
        stream = await stack.enter_async_context(upstream.stream("/chat/completions", body))

        async def relay() -> AsyncIterator[bytes]:
            async with stack:
                async for chunk in stream.chunks():
                    yield chunk

        return StreamingResponse(relay(), stream.status, media_type="text/event-stream")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await upstream.aclose()

    routes = [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
