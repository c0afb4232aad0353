"""Load for the benchmark: an open-loop HTTP/1.1 sender at a fixed rate, and the vendors' payloads.

wrk (bench/lua/callbacks.lua) measures saturation throughput; it cannot hold a fixed rate. This
sender schedules request i at ``start + i / rate`` and measures latency from that scheduled time,
so a slow answer that delays the requests behind it shows in their latency too (no coordinated
omission). It speaks just enough HTTP/1.1 for gunicorn's keep-alive answers, which carry a
Content-Length.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PAYLOADS = Path(__file__).parent / "payloads"
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded; charset=UTF-8"}
VENDOR_FILES = (("tencent", "tencent.json"), ("kingsoft", "kingsoft.json"), ("aliyun", "aliyun.form"))


@dataclass(frozen=True)
class Callback:
    path: str
    content_type: str
    body: bytes


class Payloads:
    """The three vendors' callbacks in turn, each about the object ``{id}`` names."""

    def __init__(self, token: str | None = None) -> None:
        query = f"?token={token}" if token else ""
        self.templates = [(f"/callbacks/{vendor}{query}", CONTENT_TYPES[name.rpartition(".")[2]],
                           (PAYLOADS / name).read_text()) for vendor, name in VENDOR_FILES]

    def callback(self, index: int, object_id: str) -> Callback:
        path, content_type, template = self.templates[index % len(self.templates)]
        return Callback(path, content_type, template.replace("{id}", object_id).encode())


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds from each request's scheduled time to its answer."""
    acked_at: dict[int, float] = field(default_factory=dict)
    """Wall-clock time each request in ``track`` was acknowledged."""
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, host: str, callback: Callback) -> int:
        head = (f"POST {callback.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {callback.content_type}\r\n"
                f"Content-Length: {len(callback.body)}\r\n\r\n").encode()
        self.writer.write(head + callback.body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def _open_loop(url: str, make: Callable[[int], Callback], count: int, rate: float, connections: int,
                     track: set[int]) -> LoadResult:
    host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
    pool: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(_Connection(*await asyncio.open_connection(host, int(port))))
    result = LoadResult()
    start = time.monotonic()

    async def one(index: int, scheduled: float) -> None:
        connection = await pool.get()
        try:
            status = await connection.request(f"{host}:{port}", make(index))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            result.failed += 1
            connection = _Connection(*await asyncio.open_connection(host, int(port)))
        else:
            done = time.monotonic()
            result.latencies.append(done - scheduled)
            if 200 <= status < 300:
                result.ok += 1
                if index in track:
                    result.acked_at[index] = time.time()
            else:
                result.failed += 1
        finally:
            pool.put_nowait(connection)

    tasks = []
    for index in range(count):
        scheduled = start + index / rate if rate else start
        if (delay := scheduled - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
        result.sent += 1
    await asyncio.gather(*tasks)
    result.elapsed = time.monotonic() - start
    while not pool.empty():
        pool.get_nowait().writer.close()
    return result


def send(url: str, make: Callable[[int], Callback], count: int, rate: float = 0.0, connections: int = 16,
         track: set[int] | None = None) -> LoadResult:
    """Send ``count`` callbacks, at ``rate`` per second (0: as fast as ``connections`` allow)."""
    return asyncio.run(_open_loop(url, make, count, rate, connections, track or set()))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]
