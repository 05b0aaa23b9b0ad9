"""An instant OpenAI-compatible upstream for the gateway benchmarks (raw ASGI, no framework).

    .venv/bin/python -m uvicorn benchmarks.gateway_upstream:app --port 9000

Answers chat completions with a fixed short reply, as JSON or as a short SSE stream.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

WORDS = ["Hello!", " This", " is", " an", " instant", " answer", " from", " the", " bench."]
PLAIN = json.dumps(
    {
        "id": "bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(WORDS)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
    }
).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    data = {
        "id": "bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


STREAM = [
    _chunk({"role": "assistant"}),
    *(_chunk({"content": w}) for w in WORDS),
    _chunk({}, "stop"),
    b"data: [DONE]\n\n",
]
MODELS = b'{"object":"list","data":[{"id":"bench","object":"model"}]}'


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "GET":
        await _send(send, MODELS, b"application/json")
    elif b'"stream": true' in body or b'"stream":true' in body:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        for part in STREAM:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await _send(send, PLAIN, b"application/json")


async def _send(send: Send, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
