"""An instant OpenAI-compatible model server for tests and benchmarks, and a server thread.

The answer, per-chunk delay, hanging and status are set on `FakeUpstream`; every request body it
receives is kept, and a stream that was cut off before its end is counted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_ANSWER = "Hello! Here is a short and friendly answer to your question."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """Runs an ASGI app with uvicorn on a free loopback port in a daemon thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


class FakeUpstream:
    def __init__(self) -> None:
        self.url = ""  # the base URL (…/v1) once served
        self.answer = DEFAULT_ANSWER
        self.delay_s = 0.0
        self.hang = False
        self.status = 200
        self.bodies: list[dict[str, Any]] = []
        self.streams_started = 0
        self.streams_cut = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def chat(self, request: Request) -> Response:
        return await self._answer(request, chat=True)

    async def completions(self, request: Request) -> Response:
        return await self._answer(request, chat=False)

    async def _answer(self, request: Request, *, chat: bool) -> Response:
        body = await request.json()
        self.bodies.append(body)
        while self.hang and not await request.is_disconnected():
            await asyncio.sleep(0.05)  # until the gateway gives up and hangs up
        if self.status != 200:
            return JSONResponse({"error": {"message": "upstream says no"}}, self.status)
        model = body.get("model", "fake")
        if body.get("stream"):
            return StreamingResponse(self._chunks(model, chat), media_type="text/event-stream")
        choice: dict[str, Any] = (
            {"index": 0, "message": {"role": "assistant", "content": self.answer}}
            if chat
            else {"index": 0, "text": self.answer}
        )
        return JSONResponse(
            {
                "id": "cmpl-fake",
                "object": "chat.completion" if chat else "text_completion",
                "created": 1700000000,
                "model": model,
                "choices": [{**choice, "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
            }
        )

    async def _chunks(self, model: str, chat: bool) -> AsyncIterator[bytes]:
        self.streams_started += 1
        finished = False
        base = {
            "id": "chunk-fake",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": 1700000000,
            "model": model,
        }

        def event(piece: str | None, finish: str | None = None, role: bool = False) -> bytes:
            if chat:
                delta: dict[str, Any] = {"role": "assistant"} if role else {}
                if piece is not None:
                    delta["content"] = piece
                choice: dict[str, Any] = {"index": 0, "delta": delta}
            else:
                choice = {"index": 0, "text": piece or ""}
            choice["finish_reason"] = finish
            return f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode()

        try:
            if chat:
                yield event(None, role=True)
            words = self.answer.split(" ")
            for i, word in enumerate(words):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                yield event(word if i == 0 else " " + word)
            yield event(None if chat else "", finish="stop")
            yield b"data: [DONE]\n\n"
            finished = True
        finally:
            if not finished:
                self.streams_cut += 1


class StreamReader:
    """Reads one streamed chat completion in a background thread, once the upstream streams."""

    def __init__(self, base_url: str, key: str, upstream: FakeUpstream) -> None:
        self.received: list[bytes] = []
        self._args = (base_url, key)
        self._upstream = upstream
        self._thread = threading.Thread(target=self._consume)

    def _consume(self) -> None:
        base_url, key = self._args
        body = {"model": "llama", "stream": True, "messages": [{"role": "user", "content": "go"}]}
        with httpx.stream(
            "POST",
            f"{base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as r:
            self.received.extend(r.iter_bytes())

    def start_and_wait_for_upstream(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while self._upstream.streams_started == 0 and time.monotonic() < deadline:
            time.sleep(0.01)

    def join(self) -> bytes:
        self._thread.join(timeout=30)
        return b"".join(self.received)
