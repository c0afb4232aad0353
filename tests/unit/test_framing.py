"""Where a request ends, as the worker's event loop learns it byte by byte (bridge.run.framing)."""

from __future__ import annotations

import pytest

from bridge.run.framing import HAND_OVER, RequestFraming

HEAD = b"POST /callbacks/tencent HTTP/1.1\r\nHost: x\r\n"


def fed_bytewise(request: bytes, max_body: int = 100) -> list[int | None]:
    """scan()'s answers as the request arrives one byte at a time, as a trickling sender sends it."""
    framing = RequestFraming(max_head=1024, max_body=max_body)
    return [framing.scan(request[:n]) for n in range(1, len(request) + 1)]


@pytest.mark.parametrize("request_bytes", [
    HEAD + b"\r\n",
    HEAD + b"Content-Length: 5\r\n\r\nhello",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\n",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n",
], ids=["no-body", "length", "chunked", "trailer"])
def test_a_request_is_whole_at_its_last_byte_and_not_before(request_bytes: bytes) -> None:
    answers = fed_bytewise(request_bytes + b"GET / HTTP/1.1\r\n")[:len(request_bytes)]
    assert answers == [None] * (len(request_bytes) - 1) + [len(request_bytes)]


@pytest.mark.parametrize("request_bytes", [
    HEAD + b"Content-Length: 101\r\n\r\n",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n65\r\n",  # a 101-byte chunk
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n40\r\n" + b"x" * 64 + b"\r\n40\r\n",  # 128 bytes in all
    HEAD + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n",
    HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    HEAD + b"Bad Header\r\n\r\n",
    b"GET /" + b"a" * 2000,
], ids=["length-over", "chunk-over", "chunks-over", "two-lengths", "coding", "bad-size", "bad-header", "long-head"])
def test_what_the_parser_must_refuse_or_answer_413_is_handed_over_without_waiting(request_bytes: bytes) -> None:
    """Over --max-body-bytes (however it is sent) or malformed: the app or parser answers at once."""
    assert fed_bytewise(request_bytes)[-1] == HAND_OVER
