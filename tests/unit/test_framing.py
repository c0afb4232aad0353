"""Where a request ends, as the worker's event loop learns it byte by byte (bridge.run.framing)."""

from __future__ import annotations

import pytest

from bridge.run.framing import BODY_TOO_LARGE, HAND_OVER, HEAD_TOO_LARGE, RequestFraming

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
    HEAD + b"Content-Length: 5\r\nContent-Length: 7\r\n\r\n",
    HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
    HEAD + b"Bad Header\r\n\r\n",
], ids=["two-lengths", "coding", "bad-size", "bad-header"])
def test_a_malformed_request_is_handed_to_the_parser_at_once(request_bytes: bytes) -> None:
    """Its head is whole: the parser refuses it from the bytes that arrived, without reading more."""
    assert fed_bytewise(request_bytes)[-1] == HAND_OVER


@pytest.mark.parametrize("request_bytes", [
    HEAD + b"Content-Length: 101\r\n\r\n",
    HEAD + b"Content-Length: 101\r\nExpect: 100-continue\r\n\r\n",
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n65\r\n",  # a 101-byte chunk, refused before its data
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n40\r\n" + b"x" * 64 + b"\r\n40\r\n",  # 128 bytes in all
], ids=["length-over", "length-over-expecting-continue", "chunk-over", "chunks-over"])
def test_a_body_over_the_limit_is_refused_as_soon_as_it_is_announced(request_bytes: bytes) -> None:
    answers = fed_bytewise(request_bytes)
    assert answers[-1] == BODY_TOO_LARGE and BODY_TOO_LARGE not in answers[:-1]


@pytest.mark.parametrize("request_bytes", [
    b"GET /" + b"a" * 2000,  # no end of head in sight
    HEAD + b"X-Big: " + b"a" * 1000 + b"\r\n\r\n",  # whole, but over
    HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: " + b"a" * 1100,
], ids=["long-head", "whole-long-head", "long-trailer"])
def test_a_head_or_trailer_over_the_limit_is_refused_without_waiting_for_its_end(request_bytes: bytes) -> None:
    assert fed_bytewise(request_bytes)[-1] == HEAD_TOO_LARGE


def test_a_trickled_trailer_is_searched_once() -> None:
    """Each scan resumes the trailer's search where the last one stopped (a byte-by-byte sender, no rescans)."""
    request = HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n"
    framing = RequestFraming(max_head=1024, max_body=100)
    searched_from = []
    for n in range(len(request) - 20, len(request) + 1):
        assert framing.scan(request[:n]) == (len(request) if n == len(request) else None)
        searched_from.append(framing._trailer_searched)
    assert searched_from[:-1] == sorted(searched_from[:-1]) and searched_from[-2] >= len(request) - 4
