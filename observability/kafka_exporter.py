"""Finished spans to a Kafka topic, never blocking the traced code.

Spans reach ClickHouse through Kafka because on the embedded default only one process may open
chdb: every process exports here, and the process owning the warehouse ingests the topic.

``KafkaSpanExporter`` only serialises and hands messages to a ``SpanSink``. ``KafkaSpanSink``
owns an aiokafka producer on its own daemon thread and event loop: the traced services run their
own loops (Faust, uvicorn) and the SDK's ``BatchSpanProcessor`` calls ``export`` from its worker
thread, so sharing a loop would couple telemetry to the workload it observes. The queue between
them is bounded: when the broker is slow or gone, spans are dropped and counted rather than
growing memory or stalling a pipeline step. Tracing is best effort by design.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from typing import Protocol

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from prometheus_client import Counter

from observability.clickhouse_traces import span_json
from streams.kafka_auth import KafkaClientConfig
from streams.telemetry import metrics

log = logging.getLogger(__name__)

Message = tuple[bytes, bytes]  # (key, value)
DISTRIBUTION = "munjero-factory"


class SpanSink(Protocol):
    """Where ``KafkaSpanExporter`` hands serialised spans."""

    def offer(self, messages: Sequence[Message]) -> int:
        """Queue ``messages`` without blocking; return how many were accepted (the rest are
        dropped and counted)."""
        ...

    def flush(self, timeout: float) -> bool:
        """Wait until everything accepted so far is acknowledged or has failed; ``False`` on
        timeout."""
        ...

    def shutdown(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout`` seconds, then release the producer."""
        ...


class KafkaSpanExporter(SpanExporter):
    """One JSON message per span (``span_json``), keyed by the trace id in hex, so all spans of
    a trace land on one partition and a consumer sees them in production order."""

    def __init__(self, sink: SpanSink, *, shutdown_timeout: float = 5.0) -> None:
        self._sink = sink
        self._shutdown_timeout = shutdown_timeout

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        messages: list[Message] = []
        for span in spans:
            doc = span_json(span)
            messages.append((doc["trace_id"].encode(), orjson.dumps(doc)))
        accepted = self._sink.offer(messages)
        return SpanExportResult.SUCCESS if accepted == len(messages) else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._sink.shutdown(self._shutdown_timeout)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._sink.flush(timeout_millis / 1000)


class KafkaSpanSink:
    """A bounded queue drained by an aiokafka producer on a private thread.

    Counters (read them from any thread): ``dropped`` (refused because the queue was full or
    the sink closed, or still queued when shutdown ran out of time), ``failed`` (sent but not
    acknowledged), ``sent`` (acknowledged). ``lost_metric`` (a Prometheus counter) also counts
    every dropped or failed message, so a scrape sees the loss, not only this object.
    """

    def __init__(
        self,
        kafka: KafkaClientConfig,
        topic: str,
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        request_timeout_ms: int = 10_000,
        lost_metric: Counter | None = None,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be positive")
        self.kafka = kafka
        self.bootstrap = kafka.bootstrap_servers
        self.topic = topic
        self.max_queue = max_queue
        self._batch_size = batch_size
        self._request_timeout_ms = request_timeout_ms
        self._items: deque[Message] = deque()
        self._lock = threading.Lock()
        self._closing = False
        self._deadline = 0.0
        self._accepted = 0
        self._settled = 0
        self.dropped = 0
        self.failed = 0
        self.sent = 0
        self._lost_metric = lost_metric
        self._loop = asyncio.new_event_loop()
        # Created here, used only on the sink's loop (asyncio primitives bind lazily in 3.10+).
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._progress = asyncio.Event()
        self._thread = threading.Thread(target=self._thread_main, name="span-sink", daemon=True)
        self._thread.start()

    # -- any thread ---------------------------------------------------------------------------

    def offer(self, messages: Sequence[Message]) -> int:
        with self._lock:
            room = 0 if self._closing else max(self.max_queue - len(self._items), 0)
            accepted = messages[:room]
            self._items.extend(accepted)
            self._accepted += len(accepted)
            self.dropped += len(messages) - len(accepted)
        self._count_lost(len(messages) - len(accepted))
        if accepted:
            self._signal(self._wake.set)
        return len(accepted)

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._items)

    def flush(self, timeout: float) -> bool:
        with self._lock:
            target = self._accepted
        if self._settled_to(target):
            return True
        try:
            future = asyncio.run_coroutine_threadsafe(self._settle(target), self._loop)
        except RuntimeError:  # the loop is already closed: nothing will settle anymore
            return False
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return False
        return True

    def shutdown(self, timeout: float) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._deadline = time.monotonic() + timeout
        self._signal(self._begin_stop)
        self._thread.join(timeout + 1.0)
        if self._thread.is_alive():
            log.warning("span sink for %s did not stop within %.1fs", self.topic, timeout)

    # -- the sink's thread --------------------------------------------------------------------

    def _signal(self, callback: Callable[[], None]) -> None:
        # RuntimeError: the loop closed after shutdown; offer() already refuses new messages.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback)

    def _begin_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _settled_to(self, target: int) -> bool:
        with self._lock:
            return self._settled >= target

    async def _settle(self, target: int) -> None:
        while not self._settled_to(target):
            self._progress.clear()
            if self._settled_to(target):
                return
            await self._progress.wait()

    def _thread_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        holder: list[AIOKafkaProducer] = []
        pump = asyncio.create_task(self._pump(holder))
        await self._stop.wait()
        remaining = self._deadline - time.monotonic()
        try:
            await asyncio.wait_for(pump, max(remaining, 0.0))
        except TimeoutError:
            pass  # wait_for cancelled the pump; what it still held is counted below
        except Exception:
            log.exception("span sink pump failed")
        if holder:
            try:
                await asyncio.wait_for(
                    holder[0].stop(), max(self._deadline - time.monotonic(), 0.1)
                )
            except (TimeoutError, KafkaError) as exc:
                log.warning("span producer did not stop cleanly: %s", exc)
        with self._lock:
            leftover = len(self._items)
            self._items.clear()
            self.dropped += leftover
            self._settled += leftover
        self._count_lost(leftover)

    def _count_lost(self, n: int) -> None:
        if n > 0 and self._lost_metric is not None:
            self._lost_metric.inc(n)

    async def _pump(self, holder: list[AIOKafkaProducer]) -> None:
        producer = await self._connect()
        if producer is None:
            return
        holder.append(producer)
        while True:
            self._wake.clear()
            batch = self._take()
            if batch:
                await self._send(producer, batch)
            elif self._stop.is_set():
                return
            else:
                await self._wake.wait()

    async def _connect(self) -> AIOKafkaProducer | None:
        """A started producer; retried with backoff until the broker answers or the sink stops.
        Spans keep queueing (up to ``max_queue``) meanwhile."""
        delay = 0.5
        while not self._stop.is_set():
            producer = AIOKafkaProducer(
                client_id="munjero-span-exporter",
                acks=1,  # telemetry: one replica's acknowledgement is enough
                linger_ms=50,
                compression_type="gzip",
                request_timeout_ms=self._request_timeout_ms,
                **self.kafka.kwargs(),
            )
            try:
                await producer.start()
                return producer
            except (KafkaError, OSError) as exc:
                await producer.stop()
                log.warning(
                    "span exporter cannot reach %s (%s); retry in %.1fs", self.bootstrap, exc, delay
                )
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, 30.0)
        return None

    def _take(self) -> list[Message]:
        with self._lock:
            n = min(len(self._items), self._batch_size)
            return [self._items.popleft() for _ in range(n)]

    async def _send(self, producer: AIOKafkaProducer, batch: list[Message]) -> None:
        ok = failed = 0
        futures: list[asyncio.Future[object]] = []
        try:
            for key, value in batch:
                try:
                    futures.append(await producer.send(self.topic, value, key=key))
                except KafkaError as exc:  # e.g. one oversized span: lose it, keep the rest
                    failed += 1
                    log.debug("span not sent: %s", exc)
            for result in await asyncio.gather(*futures, return_exceptions=True):
                if isinstance(result, BaseException):
                    failed += 1
                else:
                    ok += 1
        finally:
            with self._lock:
                self.sent += ok
                self.failed += failed
                # Cancelled mid-batch (shutdown deadline): the unsent rest counts as dropped.
                lost = len(batch) - ok - failed
                self.dropped += max(lost, 0)
                self._settled += ok + failed + max(lost, 0)
            self._count_lost(failed + max(lost, 0))
            self._progress.set()
            if failed:
                log.warning("%d span(s) not acknowledged by %s", failed, self.bootstrap)


def configure_tracing(
    service_name: str,
    *,
    kafka: KafkaClientConfig | None = None,
    topic: str | None = None,
    otlp_endpoint: str | None = None,
    extra_exporters: Sequence[SpanExporter] = (),
    service_version: str | None = None,
    sample_ratio: float = 1.0,
    sampler: str = "parentbased_traceidratio",
    resource_attributes: Mapping[str, str] | None = None,
) -> TracerProvider:
    """A ``TracerProvider`` with one ``BatchSpanProcessor`` per exporter.

    ``kafka`` + ``topic``: spans to Kafka (then ClickHouse). ``otlp_endpoint``: spans
    over OTLP/HTTP too (a collector, Jaeger, Tempo), given as the base URL or the full
    ``.../v1/traces`` URL. ``sampler`` is an ``OTEL_TRACES_SAMPLER`` name, ``sample_ratio`` its
    argument; ``resource_attributes`` (``OTEL_RESOURCE_ATTRIBUTES``) join every span's resource,
    under the service name and version given here. The provider is returned, not installed: the
    caller decides whether it becomes the global one (``trace.set_tracer_provider``) and must
    ``shutdown()`` it on exit so queued spans are flushed.
    """
    if (kafka is None) != (topic is None):
        raise ValueError("kafka and topic go together")
    resource = Resource.create(
        {
            SERVICE_VERSION: service_version or _version(),
            **(resource_attributes or {}),
            SERVICE_NAME: service_name,
        }
    )
    provider = TracerProvider(resource=resource, sampler=make_sampler(sampler, sample_ratio))
    exporters: list[SpanExporter] = []
    if kafka is not None and topic is not None:
        sink = KafkaSpanSink(kafka, topic, lost_metric=metrics.SPANS_DROPPED)
        exporters.append(KafkaSpanExporter(sink))
    if otlp_endpoint is not None:
        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            # The exporter uses an explicit endpoint verbatim (only the env variable form gets
            # the signal path appended), so complete the base URL here.
            endpoint += "/v1/traces"
        exporters.append(OTLPSpanExporter(endpoint=endpoint))
    exporters.extend(extra_exporters)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def make_sampler(name: str, ratio: float = 1.0) -> Sampler:
    """The sampler an ``OTEL_TRACES_SAMPLER`` value names (the SDK's built-in ones). The
    default, parent-based: a sampled request keeps every hop of its journey, an unsampled one
    none."""
    base, parent_based = name.removeprefix("parentbased_"), name.startswith("parentbased_")
    roots: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
    }
    if base not in roots:
        raise ValueError(f"unknown sampler {name!r}")
    return ParentBased(roots[base]) if parent_based else roots[base]


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"
