"""The client's Server-Sent Events parser (the live stream is tested against a real
server in tests/integration)."""

from __future__ import annotations

import json

from service.client import _parse_sse


def test_events_comments_retry_and_multiline_data():
    first = {"seq": 1, "type": "created", "data": {}}
    second = {"seq": 2, "type": "status", "data": {"status": "running"}}
    text = json.dumps(second, indent=1).splitlines()
    lines = ["retry: 2000", "", ": keep-alive", "", "id: 1", "event: created", f"data: {json.dumps(first)}", "",
             "id: 2", "event: status", *[f"data: {line}" for line in text], ""]
    assert list(_parse_sse(iter(lines))) == [first, second]


def test_a_stream_cut_after_data_still_yields_the_event():
    assert list(_parse_sse(iter(['data: {"seq": 3}']))) == [{"seq": 3}]
