"""The one composition point of the gateway: `create_app(runtime)` returns the ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aupgate.classify.backend import Classifier
from aupgate.config import load_settings
from aupgate.errors import InvalidInputError
from aupgate.gateway.decide_api import DecideRoute
from aupgate.gateway.errors import GatewayError
from aupgate.gateway.logs import configure as configure_logs
from aupgate.gateway.logs import log_event
from aupgate.gateway.metrics import CONTENT_TYPE
from aupgate.gateway.routes_openai import OpenAIRoutes
from aupgate.gateway.service import Gateway
from aupgate.gateway.upstream import Upstream
from aupgate.runtime import Runtime


class Ops:
    """/healthz (the process answers), /readyz (every part works), /metrics."""

    def __init__(self, gateway: Gateway, upstream: Upstream) -> None:
        self.gw = gateway
        self.upstream = upstream

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    def _store(self) -> None:
        with self.gw.runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _local_checks(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        rt = self.gw.runtime
        probes: dict[str, Any] = {
            "store": self._store,
            "classifier": lambda: self.gw.classifier.identity,
            "audit_log": lambda: rt.audit.size,
            "policy": lambda: rt.policy.ref,
        }
        for name, probe in probes.items():
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # readiness reports any failure instead of raising it
                checks[name] = f"failed: {type(exc).__name__}"
        return checks

    async def readyz(self, request: Request) -> Response:
        checks = await to_thread.run_sync(self._local_checks)
        checks["upstream"] = "ok" if await self.upstream.ready() else "failed: unreachable"
        checks["rate_limit_store"] = "ok" if await self.gw.limiter.ready() else "failed"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def metrics(self, request: Request) -> Response:
        return Response(self.gw.metrics.render(), media_type=CONTENT_TYPE)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    gateway: Gateway = request.app.state.gateway
    if exc.type != "policy_violation":  # policy refusals were counted by outcome already
        gateway.metrics.request(request.url.path, f"error_{exc.status}")
    return exc.response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The request is refused (fail closed); the details go to the log, not to the caller.
    log_event("request.failed", logging.ERROR, path=request.url.path, error=type(exc).__name__)
    return GatewayError(
        500,
        "the gateway failed to handle the request; retry later",
        type="server_error",
        code="internal_error",
    ).response()


def create_app(
    runtime: Runtime,
    *,
    classifier: Classifier | None = None,
    upstream_url: str | None = None,
    owns_runtime: bool = False,
) -> Starlette:
    """The gateway app for `runtime`; `classifier` replaces the runtime's (tests, benchmarks).

    With `owns_runtime` the app closes the runtime when it shuts down.
    """
    settings = runtime.settings
    base_url = upstream_url or settings.upstream_url
    if not base_url:
        raise InvalidInputError(
            "no upstream configured: set upstream_url (or let `aupgate serve` start the embedded "
            "model server)"
        )
    gateway = Gateway(runtime, classifier)
    upstream = Upstream(base_url, settings.upstream_timeout_s, settings.upstream_connect_timeout_s)

    def warm_up() -> None:
        # Load what the first request would otherwise wait for; failures show in /readyz.
        try:
            _ = gateway.classifier.identity, runtime.pipeline
        except Exception as exc:
            log_event("startup.part_unavailable", logging.ERROR, error=type(exc).__name__)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await to_thread.run_sync(warm_up)
        log_event("startup", upstream=upstream.base_url, pack=settings.pack)
        try:
            yield
        finally:
            await upstream.aclose()
            if owns_runtime:
                await to_thread.run_sync(runtime.close)
            log_event("shutdown")

    routes = [
        *OpenAIRoutes(gateway, upstream).routes(),
        *DecideRoute(gateway).routes(),
        *Ops(gateway, upstream).routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={GatewayError: _gateway_error, Exception: _internal_error},
    )
    app.state.gateway = gateway
    return app


def app_from_environment() -> Starlette:
    """The uvicorn factory for worker processes: settings from AUPGATE_* and aupgate.toml."""
    configure_logs()
    return create_app(Runtime(load_settings()), owns_runtime=True)
