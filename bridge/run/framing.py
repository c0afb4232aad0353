"""Where an HTTP/1.1 request ends, found as its bytes arrive, so a request thread only ever gets whole requests.

The worker's event loop reads every connection without blocking and feeds what arrived to a
:class:`RequestFraming`; only once the request line, headers and body are all there (or the request
is malformed, so the parser refuses it from what arrived) does a thread take it; a request over a
limit (head over ``max_head``, body over ``max_body``) the loop refuses itself. A sender that trickles
or stalls then costs a buffer in the loop, never a thread: no thread ever waits for a request's bytes.
The scan follows only the framings the bridge accepts: no body, one ``Content-Length``, or
``Transfer-Encoding: chunked``; anything else is handed over to gunicorn's parser at once, with the
head whole, which refuses it. Each call resumes where the previous one stopped, so a byte-by-byte
sender costs no rescans.
"""

from __future__ import annotations

HAND_OVER = -1
"""``scan``'s answer for a request the parser must see now: malformed or framed otherwise. What arrived
is all it gets: the parser refuses it from that (its head is whole), or finds it ends early."""
HEAD_TOO_LARGE = -2
"""``scan``'s answer for a request line and headers (or trailer fields) over ``max_head``: refuse with 431."""
BODY_TOO_LARGE = -3
"""``scan``'s answer for a body announced or sent over ``max_body``: refuse with 413, before it is sent."""

_MAX_SIZE_LINE = 1024
"""A chunk-size line (hex size and extensions) longer than this is not a real client's."""


class RequestFraming:
    """The framing of the first request in a connection's buffer, learned incrementally."""

    def __init__(self, max_head: int, max_body: int) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self.expects_continue = False
        """The client waits for ``100 Continue`` before it sends the body."""
        self._searched = 0  # the head's end is not before this offset
        self._body_start: int | None = None
        self._length: int | None = None  # None: chunked
        self._chunk_at = 0  # the next chunk-size line
        self._body_seen = 0  # chunk data bytes before _chunk_at
        self._trailer_searched = 0  # the trailer's end is not before this offset

    @property
    def has_head(self) -> bool:
        return self._body_start is not None

    def scan(self, data: bytes | bytearray) -> int | None:
        """The offset just past the first request once it is whole, :data:`HAND_OVER`, or None for more bytes."""
        if self._body_start is None:
            head_end = data.find(b"\r\n\r\n", self._searched)
            if head_end < 0:
                self._searched = max(0, len(data) - 3)
                return HEAD_TOO_LARGE if len(data) > self.max_head else None
            if head_end + 4 > self.max_head:
                return HEAD_TOO_LARGE
            self._body_start = head_end + 4
            framing = self._framing(bytes(data[:head_end]))
            if framing is not None:
                return framing
        if self._length is not None:
            end = self._body_start + self._length
            return end if len(data) >= end else None
        return self._scan_chunks(data)

    def _framing(self, head: bytes) -> int | None:
        """Learn the body's framing from the head; an answer for scan() when there is nothing more to wait for."""
        lengths: list[bytes] = []
        codings: list[bytes] = []
        for line in head.split(b"\r\n")[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                return HAND_OVER
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                codings.append(value.strip().lower())
            elif name == b"expect" and value.strip().lower() == b"100-continue":
                self.expects_continue = True
        assert self._body_start is not None
        if codings:
            if codings != [b"chunked"] or lengths:
                return HAND_OVER
            self._chunk_at = self._body_start
            return None
        if not lengths:
            return self._body_start
        if len(lengths) > 1 or not lengths[0].isdigit():
            return HAND_OVER
        if int(lengths[0]) > self.max_body:
            return BODY_TOO_LARGE
        self._length = int(lengths[0])
        return None

    def _scan_chunks(self, data: bytes | bytearray) -> int | None:
        while True:
            line_end = data.find(b"\r\n", self._chunk_at)
            if line_end < 0:
                return HAND_OVER if len(data) - self._chunk_at > _MAX_SIZE_LINE else None
            size_text = bytes(data[self._chunk_at:line_end]).split(b";")[0].strip()
            if not size_text or len(size_text) > 16 or size_text.strip(b"0123456789abcdefABCDEF"):
                return HAND_OVER
            size = int(size_text, 16)
            data_start = line_end + 2
            if size == 0:  # the last chunk, then trailer fields (usually none) and an empty line
                # from the last chunk's own CRLF: an empty trailer ends at CRLF CRLF there
                trailer_end = data.find(b"\r\n\r\n", max(line_end, self._trailer_searched))
                if trailer_end < 0:
                    self._trailer_searched = max(line_end, len(data) - 3)
                    return HEAD_TOO_LARGE if len(data) - data_start > self.max_head else None
                return trailer_end + 4
            if self._body_seen + size > self.max_body:
                return BODY_TOO_LARGE
            chunk_end = data_start + size
            if len(data) < chunk_end + 2:
                return None
            if data[chunk_end:chunk_end + 2] != b"\r\n":
                return HAND_OVER
            self._body_seen += size
            self._chunk_at = chunk_end + 2


class BufferedSource:
    """What gunicorn's parser reads one request from: the bytes the loop buffered, and nothing after them.

    A thread never reads a request from the socket, so no sender can make it wait. After the bytes, a
    request handed over as malformed ends (the parser refuses it); one past its deadline raises
    TimeoutError, which the app answers 408 (bridge.web.ingest)."""

    def __init__(self, data: bytes, timed_out: bool) -> None:
        self._data = data
        self._timed_out = timed_out

    def recv(self, size: int) -> bytes:
        if self._data:
            data, self._data = self._data[:size], self._data[size:]
            return data
        if self._timed_out:
            raise TimeoutError("the request did not arrive in time")
        return b""
