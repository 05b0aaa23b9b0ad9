"""OpenAI-compatible routes: chat completions, completions (streaming or not), and models.

Only a request whose decision allowed it is forwarded; the answer is moderated before it
leaves. Allowed answers and chunks are passed through byte for byte.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from aupgate.errors import AupgateError
from aupgate.gateway import sse
from aupgate.gateway.errors import GatewayError, refusal
from aupgate.gateway.logs import log_event
from aupgate.gateway.moderation import (
    HoldBack,
    OutputJudge,
    filter_response,
    filtered_chunk,
    response_text,
)
from aupgate.gateway.requests import Completion, Kind, parse_completion, read_json
from aupgate.gateway.service import Admission, Gateway
from aupgate.gateway.upstream import Stream, Upstream, UpstreamFailure

DECISION_HEADER = "X-AUP-Decision-Id"


def _upstream_status_error(status: int, body: bytes) -> Response:
    """An upstream 4xx is the caller's to see (bad parameter); a 5xx becomes a 502."""
    if status < 500:
        return Response(body, status_code=status, media_type="application/json")
    return GatewayError(
        502,
        "the model server failed to answer; retry later",
        type="upstream_error",
        code="upstream_status",
    ).response()


class OpenAIRoutes:
    def __init__(self, gateway: Gateway, upstream: Upstream) -> None:
        self.gw = gateway
        self.upstream = upstream

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
        ]

    async def models(self, request: Request) -> Response:
        caller = await self.gw.authenticate(request)
        names = caller.allowed_models or (self.gw.settings.default_model,)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "aupgate"}
                    for name in names
                ],
            }
        )

    async def chat(self, request: Request) -> Response:
        return await self._complete(request, "chat", "/chat/completions")

    async def completions(self, request: Request) -> Response:
        return await self._complete(request, "completion", "/completions")

    async def _complete(self, request: Request, kind: Kind, path: str) -> Response:
        started = time.perf_counter()
        route = f"/v1{path}"
        caller = await self.gw.authenticate(request)
        completion = parse_completion(
            kind,
            await read_json(request, self.gw.settings.max_body_bytes),
            self.gw.settings.max_messages,
        )
        self.gw.check_model(caller, completion.model)
        purpose = self.gw.purpose(caller, request, completion.declared_purpose)
        admission = await self.gw.admit(
            caller, purpose, completion.model, text=completion.text, route=route
        )
        decision = admission.decision
        self.gw.metrics.request(route, decision.outcome, decision.considered)
        log_event(
            "request.decided",
            route=route,
            subject=caller.subject,
            org=admission.org.id,
            purpose=purpose,
            model=completion.model,
            outcome=decision.outcome,
            categories=list(decision.considered),
            decision_id=decision.decision_id,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        if decision.outcome != "allow":
            raise refusal(decision, self.gw.runtime.pack)
        body = self._forwarded(completion)
        if completion.stream:
            return await self._stream(route, path, body, admission)
        return await self._answer(path, body, admission)

    def _forwarded(self, completion: Completion) -> dict[str, Any]:
        model = self.gw.settings.upstream_model
        return {**completion.body, "model": model} if model else completion.body

    async def _answer(self, path: str, body: dict[str, Any], admission: Admission) -> Response:
        headers = {DECISION_HEADER: admission.decision.decision_id}
        with self.gw.metrics.stage("upstream"):
            try:
                response = await self.upstream.post(path, body)
            except UpstreamFailure as exc:
                self.gw.metrics.upstream_error(exc.reason)
                raise
        if response.status != 200:
            self.gw.metrics.upstream_error("status")
            return _upstream_status_error(response.status, response.body)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.gw.metrics.upstream_error("protocol")
            raise GatewayError(
                502,
                "the model server sent an unreadable answer",
                type="upstream_error",
                code="upstream_protocol",
            )
        judge = self.gw.output_judge(admission)
        text = response_text(data)
        try:
            with self.gw.metrics.stage("moderate"):
                verdict = await judge.check(text, text)
        except AupgateError as exc:
            await self.gw.record_refusal(
                admission.caller, path, "output_moderation", type(exc).__name__
            )
            return JSONResponse(filter_response(data, None), headers=headers)
        if verdict is not None and verdict.outcome != "allow":
            return JSONResponse(filter_response(data, verdict), headers=headers)
        return Response(response.body, media_type="application/json", headers=headers)

    async def _stream(
        self, route: str, path: str, body: dict[str, Any], admission: Admission
    ) -> Response:
        stack = AsyncExitStack()
        try:
            with self.gw.metrics.stage("upstream"):
                response = await stack.enter_async_context(self.upstream.stream(path, body))
        except UpstreamFailure as exc:
            self.gw.metrics.upstream_error(exc.reason)
            raise
        if response.status != 200:
            self.gw.metrics.upstream_error("status")
            content = await response.read()
            await stack.aclose()
            return _upstream_status_error(response.status, content)
        judge = self.gw.output_judge(admission)
        return StreamingResponse(
            self._moderated(route, stack, response, judge, admission),
            media_type="text/event-stream",
            headers={DECISION_HEADER: admission.decision.decision_id, "Cache-Control": "no-cache"},
        )

    async def _moderated(
        self,
        route: str,
        stack: AsyncExitStack,
        response: Stream,
        judge: OutputJudge,
        admission: Admission,
    ) -> AsyncIterator[bytes]:
        hold = HoldBack(
            self.gw.settings.hold_back_tokens, self.gw.settings.moderation_context_chars
        )
        parser = sse.EventParser()
        template: dict[str, Any] | None = None
        try:
            async for chunk in response.chunks():
                for event in parser.feed(chunk):
                    if event.done:
                        continue  # our own [DONE] follows the last check
                    template = event.data or template
                    for raw in hold.add(event):
                        yield raw
                    if hold.due:
                        out, stopped = await self._release_checked(hold, judge, template)
                        for raw in out:
                            yield raw
                        if stopped:
                            return
            for event in parser.close():
                if not event.done:
                    hold.add(event)
            if hold.holding:
                out, stopped = await self._release_checked(hold, judge, template)
                for raw in out:
                    yield raw
                if stopped:
                    return
            yield sse.DONE
        except UpstreamFailure as exc:
            # Held, unchecked text is dropped; the caller learns the stream failed.
            self.gw.metrics.upstream_error(exc.reason)
            log_event("stream.upstream_failed", logging.WARNING, route=route, reason=exc.reason)
            yield sse.encode(exc.body()) + sse.DONE
        except AupgateError as exc:
            await self.gw.record_refusal(
                admission.caller, route, "output_moderation", type(exc).__name__
            )
            yield sse.encode(filtered_chunk(template, None)) + sse.DONE
        finally:
            # Shielded: when the client disconnects this task is cancelled, and the upstream
            # connection must still be closed so the model server stops generating.
            with anyio.CancelScope(shield=True):
                await stack.aclose()

    async def _release_checked(
        self, hold: HoldBack, judge: OutputJudge, template: dict[str, Any] | None
    ) -> tuple[list[bytes], bool]:
        """Check the held text: (the held events, False) if they may go out, else
        ([the closing bytes of a filtered stream], True)."""
        with self.gw.metrics.stage("moderate"):
            verdict = await judge.check(*hold.window())
        if verdict is None or verdict.outcome == "allow":
            return hold.release(), False
        self.gw.metrics.request("output", verdict.outcome, verdict.considered)
        log_event(
            "stream.filtered",
            outcome=verdict.outcome,
            categories=list(verdict.considered),
            decision_id=verdict.decision_id,
        )
        return [sse.encode(filtered_chunk(template, verdict)) + sse.DONE], True
