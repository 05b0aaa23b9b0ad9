"""Server-sent events from an OpenAI-compatible upstream: split, parse, and write.

Events are kept as the bytes received, so an allowed chunk reaches the client unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# An event ends with a blank line; servers use LF, CRLF (sse-starlette) or CR line endings.
_END: Final = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINES: Final = re.compile(rb"\r\n|\n|\r")
DONE: Final = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Event:
    """One SSE event: its bytes (with the terminating blank line) and its JSON data, if any."""

    raw: bytes
    data: dict[str, Any] | None
    done: bool = False

    def text(self) -> str:
        """The generated text this event carries (chat `delta.content` or completion `text`)."""
        return "" if self.data is None else choices_text(self.data, "delta", "")


def choices_text(body: Mapping[str, Any], part: str, sep: str) -> str:
    """The text of every choice: `choice[part].content` (chat) or `choice.text` (completion)."""
    parts = []
    for choice in body.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        holder = choice.get(part)
        content = holder.get("content") if isinstance(holder, dict) else choice.get("text")
        if isinstance(content, str):
            parts.append(content)
    return sep.join(parts)


def _parse(raw: bytes) -> Event:
    data_lines = [
        line[5:].removeprefix(b" ") for line in _LINES.split(raw) if line.startswith(b"data:")
    ]
    if not data_lines:
        return Event(raw, None)
    payload = b"\n".join(data_lines)
    if payload.strip() == b"[DONE]":
        return Event(raw, None, done=True)
    try:
        data = json.loads(payload)
    except ValueError:
        return Event(raw, None)
    return Event(raw, data if isinstance(data, dict) else None)


class EventParser:
    """Feeds bytes in, gets whole events out."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer += chunk
        events = []
        while match := _END.search(self._buffer):
            raw, self._buffer = self._buffer[: match.end()], self._buffer[match.end() :]
            events.append(_parse(raw))
        return events

    def close(self) -> list[Event]:
        """A last event the server did not terminate with a blank line."""
        rest, self._buffer = self._buffer, b""
        return [_parse(rest + b"\n\n")] if rest.strip() else []


def encode(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"
