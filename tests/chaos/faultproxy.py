"""An asyncio TCP proxy between Kafka clients and the broker, with faults switched at runtime.

Faults: ``latency(seconds)`` (every frame forwarded late), ``reset()`` (every live connection
closed with an RST, both sides), ``blackhole()`` (connections are accepted and held, nothing is
forwarded in either direction) and ``heal()``.

Why it rewrites metadata: a Kafka client only uses the bootstrap address for its first request;
afterwards it connects to the address the broker *advertises* in Metadata and FindCoordinator
responses. noida-db 0.2.3 has no advertised-listener option (``noida-db start`` knows only
``--host``/``--kafka-port``, and the binary reads no such environment variable), so it always
advertises its own ``host:port``. The proxy therefore parses the Kafka framing (4-byte size;
requests carry api key and correlation id) and, in responses to Metadata (3), FindCoordinator
(10) and DescribeCluster (60) requests only, replaces the broker's ``host`` + big-endian int32
``port`` with ``host`` + the proxy's port. Both are the same length, so no size field changes
(this holds for the classic int16-length strings and the compact varint strings of flexible
versions). With that, every connection of a client bootstrapped at the proxy stays in the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass, field

REWRITTEN_APIS = {3, 10, 60}  # Metadata, FindCoordinator, DescribeCluster


@dataclass(eq=False)  # identity-hashed: kept in a set of live connections
class _Pair:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # correlation id -> api key of requests awaiting a response on this connection
    pending: dict[int, int] = field(default_factory=dict)


class FaultProxy:
    """``async with FaultProxy(broker_host, broker_port) as proxy:`` then ``proxy.address``."""

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1") -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.host = host
        self.port = 0
        self.latency_s = 0.0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()
        self.connections_total = 0
        self.resets = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        upstream = struct.pack(">i", self.upstream_port)
        ours = struct.pack(">i", self.port)
        host = self.upstream_host.encode()
        self._needle, self._replacement = host + upstream, host + ours

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.heal()
        self.reset()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Faults -----------------------------------------------------------------------------

    def latency(self, seconds: float) -> None:
        self.latency_s = seconds

    def blackhole(self) -> None:
        self._flowing.clear()

    def heal(self) -> None:
        self.latency_s = 0.0
        self._flowing.set()

    def reset(self) -> int:
        """Close every live connection with an RST (SO_LINGER 0); returns how many."""
        pairs, self._pairs = list(self._pairs), set()
        for pair in pairs:
            for writer in (pair.client, pair.upstream):
                if writer is not None:
                    _abort(writer)
            for task in pair.tasks:
                task.cancel()
        self.resets += len(pairs)
        return len(pairs)

    @property
    def live_connections(self) -> int:
        return len(self._pairs)

    # Forwarding -------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        pair = _Pair(writer)
        self._pairs.add(pair)
        try:
            await self._flowing.wait()  # blackhole: accepted, held, nothing forwarded
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except (OSError, asyncio.CancelledError):
            self._pairs.discard(pair)
            _abort(writer)
            return
        pair.upstream = up_writer
        pair.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, pair, requests=True)),
            asyncio.create_task(self._pump(up_reader, writer, pair, requests=False)),
        ]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(pair.tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pair.tasks:
            task.cancel()
        self._pairs.discard(pair)
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        pair: _Pair,
        *,
        requests: bool,
    ) -> None:
        try:
            while True:
                size_bytes = await reader.readexactly(4)
                (size,) = struct.unpack(">i", size_bytes)
                body = await reader.readexactly(size)
                if requests and size >= 8:
                    api_key, _version, correlation = struct.unpack_from(">hhi", body)
                    pair.pending[correlation] = api_key
                elif not requests and size >= 4:
                    (correlation,) = struct.unpack_from(">i", body)
                    if pair.pending.pop(correlation, None) in REWRITTEN_APIS:
                        body = body.replace(self._needle, self._replacement)
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)  # the injected fault itself
                await self._flowing.wait()
                writer.write(size_bytes + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            return


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
