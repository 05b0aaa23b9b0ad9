"""The SSE splitter and the hold-back window on their own."""

from __future__ import annotations

import json

from aupgate.gateway.moderation import HoldBack
from aupgate.gateway.sse import Event, EventParser


def _chunk(content: str | None) -> bytes:
    delta = {} if content is None else {"content": content}
    return f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta}]})}".encode()


def test_events_split_on_any_line_ending_even_across_reads() -> None:
    stream = (
        _chunk("a")
        + b"\r\n\r\n"
        + b": ping\r\n\r\n"
        + _chunk("b")
        + b"\n\n"
        + b"data: [DONE]\r\n\r\n"
    )
    parser = EventParser()
    events = [e for i in range(0, len(stream), 7) for e in parser.feed(stream[i : i + 7])]
    events += parser.close()
    assert [e.text() for e in events] == ["a", "", "b", ""]
    assert [e.done for e in events] == [False, False, False, True]
    assert b"".join(e.raw for e in events) == stream  # bytes pass through unchanged


def test_unterminated_last_event_is_kept() -> None:
    parser = EventParser()
    assert parser.feed(_chunk("tail")) == []
    (event,) = parser.close()
    assert event.text() == "tail"


def test_hold_back_releases_in_order_and_keeps_context() -> None:
    hold = HoldBack(hold_back=2, context_chars=3)
    role = Event(_chunk(None) + b"\n\n", {"choices": [{"delta": {"role": "assistant"}}]})
    assert hold.add(role) == [role.raw]  # nothing held before it: goes out at once
    first = Event(b"1", {"choices": [{"delta": {"content": "abc"}}]})
    empty = Event(b"2", {"choices": [{"delta": {}}]})
    second = Event(b"3", {"choices": [{"delta": {"content": "def"}}]})
    assert hold.add(first) == []
    assert hold.add(empty) == []  # held: it must not overtake held text
    assert not hold.due
    assert hold.add(second) == []
    assert hold.due
    assert hold.window() == ("abcdef", "abcdef")
    assert hold.release() == [b"1", b"2", b"3"]
    hold.add(Event(b"4", {"choices": [{"delta": {"content": "gh"}}]}))
    assert hold.window() == ("defgh", "gh")  # the last 3 released characters as context
