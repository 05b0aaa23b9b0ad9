"""Reading an OpenAI-style request: size limits, JSON, the fields the gateway relies on.

Only what the pipeline needs is checked (model, messages or prompt, stream, metadata); every
other field passes through to the upstream untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import ClientDisconnect, Request

from aupgate.gateway.errors import GatewayError, bad_request

Kind = Literal["chat", "completion"]
# Roles whose text is the caller's ask; assistant and tool turns are the model's or tools' words.
ASKING_ROLES = frozenset({"system", "developer", "user"})


def too_large(limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"the request body exceeds {limit:,} bytes; send a shorter conversation",
        code="request_too_large",
    )


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, refusing more than `limit` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large(limit)
    except ClientDisconnect:
        raise bad_request("the client disconnected before sending the whole body") from None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object")
    return data


@dataclass(frozen=True, slots=True)
class Completion:
    """A chat or completion request, checked, with the text to classify."""

    kind: Kind
    body: dict[str, Any]  # forwarded (minus the gateway's own metadata.aup_purpose)
    model: str
    stream: bool
    text: str
    declared_purpose: str | None


def _content_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise bad_request(f"{where} parts must be objects with a 'type'", "messages")
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise bad_request(f"{where} text parts need a string 'text'", "messages")
                parts.append(part["text"])
        return "\n".join(parts)
    raise bad_request(f"{where} content must be a string or a list of parts", "messages")


def _chat_text(messages: Any, max_messages: int) -> str:
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", "messages")
    if len(messages) > max_messages:
        raise bad_request(
            f"{len(messages)} messages exceed the limit of {max_messages}; shorten the "
            f"conversation",
            "messages",
        )
    texts = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad_request(f"{where} must be an object with a string 'role'", "messages")
        text = _content_text(message.get("content"), where)
        if message["role"] in ASKING_ROLES and text.strip():
            texts.append(text)
    return "\n\n".join(texts)


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return "\n\n".join(prompt)
    raise bad_request("'prompt' must be a string or a non-empty list of strings", "prompt")


def _purpose(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise bad_request("'metadata' must be an object", "metadata")
    purpose = metadata.get("aup_purpose")
    if purpose is None:
        return None
    if not isinstance(purpose, str):
        raise bad_request("'metadata.aup_purpose' must be a string", "metadata")
    rest = {k: v for k, v in metadata.items() if k != "aup_purpose"}
    if rest:
        body["metadata"] = rest
    else:
        del body["metadata"]
    return purpose


def parse_completion(kind: Kind, body: dict[str, Any], max_messages: int) -> Completion:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' must be a non-empty string", "model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", "stream")
    if kind == "chat":
        text = _chat_text(body.get("messages"), max_messages)
    else:
        text = _prompt_text(body.get("prompt"))
    forwarded = dict(body)
    purpose = _purpose(forwarded)
    return Completion(kind, forwarded, model, stream, text, purpose)
