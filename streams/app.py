"""The Faust application and the binding of step processors to Faust agents.

Faust reads raw bytes (``value_serializer="raw"``): decoding happens in our processor, so a
poison message becomes a dead letter instead of crashing Faust's decoder and stalling the
partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import faust
from faust.streams import _tracks_buffer_agen
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import EventT
from mode import Seconds, want_seconds
from mode.utils.aiter import aiter
from mode.utils.futures import notify

from streams.idle_fetch import CONSUMER_TIMEOUT_MS
from streams.kafka_auth import faust_credentials
from streams.processor import StepProcessor
from streams.routing import Message
from streams.settings import Settings

log = logging.getLogger(__name__)

_original_create_worker_consumer = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


def _read_committed_consumer(self: Any, transport: Any) -> Any:
    # Faust reads uncommitted data unless processing_guarantee is exactly_once, which crashes
    # on rebalance with 2+ workers (known Faust bug). The API writes batches in Kafka
    # transactions, so every consumer must read committed data only: aborted batches must never
    # be drafted. aiokafka reads this attribute when the consumer starts.
    consumer = _original_create_worker_consumer(self, transport)
    consumer._isolation_level = "read_committed"
    # Faust passes no ``consumer_timeout_ms``; read when the consumer starts, as above.
    consumer._consumer_timeout = CONSUMER_TIMEOUT_MS / 1000
    return consumer


setattr(  # noqa: B010 - patching a method on purpose; mypy forbids plain assignment
    faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer", _read_committed_consumer
)


class HoldingStream(faust.Stream[Any]):
    """A Faust stream that never acks what its agent did not finish.

    Faust's ``take_events`` acks the events it buffered in a ``finally`` block, so a batch whose
    processing raised, or was cancelled because the worker is stopping (a render abandoned
    mid-encode), would be committed and never redelivered. The stream is *held* once its stop
    begins and once ``bind``'s agent loop ends, however it ends; from then on acks are refused,
    so the events stay uncommitted and are read again from the last commit after the restart.
    """

    held = False
    _enable_acks = True

    # Faust's ``__aiter__`` inlines its ack (it reads ``enable_acks`` per event, not ``ack``):
    # once ``take_events`` is finalised it restores ``enable_acks``, and the stream's passive
    # iteration, still running until the worker stops, would ack every event it reads next
    # without processing it. Measured by chaos scenario i (SIGTERM): 219 of 400 problems were
    # committed undrafted. A held stream reports acks disabled, so nothing more is acked.
    @property
    def enable_acks(self) -> bool:
        return self._enable_acks and not self.held

    @enable_acks.setter
    def enable_acks(self, value: bool) -> None:
        self._enable_acks = value

    async def ack(self, event: Any) -> bool:
        if self.held:
            return False
        acked: bool = await super().ack(event)
        return acked

    # Faust's ``on_stop`` closes the stream's ``take_events`` generator, whose ``finally`` acks
    # the batch it last yielded: on SIGTERM that is the batch the agent is still processing
    # (the agent's task may not be cancelled yet), so it would be committed with no outputs.
    # Measured by chaos scenario i under CPU load: 206 of 400 problems committed undrafted.
    # A stopping stream acks nothing more; a batch finished just now is redelivered (at least
    # once, collapsed by the deterministic ids downstream).
    async def on_stop(self) -> None:
        self.held = True
        await super().on_stop()

    # Faust's ``take_events`` waits for a full batch with a ``within`` timeout in a loop, even
    # when nothing arrives: each agent (one per topic and retry tier) woke 20 times a second
    # on an idle factory. This is faust-streaming 0.15.3's method (same buffering, acks and
    # cleanup; ``tests/unit/test_take_events.py`` fails if Faust's changes) with one change:
    # with an empty buffer it waits for the first event without a timeout, and ``within``
    # counts from there. A batch still closes ``within`` after its first event.
    @_tracks_buffer_agen
    async def take_events(
        self, max_: int, within: Seconds
    ) -> AsyncGenerator[Sequence[EventT[Any]], None]:
        buffer: list[Any] = []
        events: list[EventT[Any]] = []
        buffer_full = asyncio.Event()
        buffer_consumed = asyncio.Event()
        arrived = asyncio.Event()
        timeout = want_seconds(within) if within else None
        stream_enable_acks: bool = self.enable_acks
        buffer_consuming: asyncio.Future[None] | None = None
        channel_it = aiter(self.channel)

        async def add_to_buffer(value: Any) -> Any:
            try:
                nonlocal buffer_consuming
                if buffer_consuming is not None:
                    try:
                        await buffer_consuming
                    finally:
                        buffer_consuming = None
                buffer.append(value)
                event = self.current_event
                if event is None:
                    raise RuntimeError("Take buffer found current_event is None")
                events.append(event)
                arrived.set()
                if len(buffer) >= max_:
                    buffer_full.set()
                    buffer_consumed.clear()
                    await self.wait(buffer_consumed)  # type: ignore[arg-type]
            except asyncio.CancelledError:  # pragma: no cover
                raise
            except Exception as exc:
                self.log.exception("Error adding to take buffer: %r", exc)
                await self.crash(exc)
            return value

        self.enable_acks = False
        self.add_processor(add_to_buffer)
        self._enable_passive(channel_it)  # type: ignore[arg-type]
        try:
            while not self.should_stop:
                if not buffer:
                    await self.wait_for_stopped(arrived)  # type: ignore[arg-type]
                await self.wait_for_stopped(buffer_full, timeout=timeout)  # type: ignore[arg-type]
                if buffer:
                    buffer_consuming = self.loop.create_future()
                    try:
                        yield list(events)
                    finally:
                        buffer.clear()
                        for event in events:
                            await self.ack(event)
                        events.clear()
                        # No await from here until the loop waits again: add_to_buffer, held
                        # on buffer_consuming, cannot slip an event in before ``arrived`` is
                        # cleared.
                        notify(buffer_consuming)
                        buffer_full.clear()
                        buffer_consumed.set()
                        arrived.clear()
        finally:
            self.enable_acks = stream_enable_acks
            self._processors.remove(add_to_buffer)


def broker_url(bootstrap_servers: str) -> str:
    """Faust's broker URL list for comma-separated bootstrap servers."""
    return ";".join(f"kafka://{server.strip()}" for server in bootstrap_servers.split(","))


def create_faust_app(settings: Settings, group: str, *, instance: str | None = None) -> faust.App:
    """A Faust app whose id (= consumer group) is ``group`` in the settings' namespace."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("kafka_bootstrap_servers must be set before creating the Faust app")
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.group(group),
        broker=broker_url(settings.kafka_bootstrap_servers),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        # Faust keeps a per-app directory; without this it lands in the working directory.
        datadir=str(settings.data_dir / "faust" / "{conf.name}-data"),
        web_enabled=False,
        # Topics come from the catalogue (streams.kafka.ensure_topics), never from Faust's
        # defaults; the leader topic is unused.
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Our stream class: a batch is acked only after its body finished (HoldingStream).
        Stream=HoldingStream,
        # On stop or rebalance, do not wait for events in flight to be acked: a stopping worker
        # abandons its render (uncommitted, redone after the restart) instead of finishing it.
        stream_wait_empty=False,
        producer_acks=-1,
        # Commit often: after a crash the replay window (and so duplicate work) stays small.
        broker_commit_every=100,
        broker_commit_interval=1.0,
        # A shorter session than Faust's default makes a restarted worker rejoin quickly.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        worker_redirect_stdouts=False,
        # Static membership (KIP-345): a worker restarted after a crash rejoins as the same
        # member and gets its partitions back without waiting for the dead one to time out.
        consumer_group_instance_id=instance,
        broker_credentials=faust_credentials(settings),
    )


def to_message(message: Any) -> Message:
    """Faust's consumed message as our neutral ``Message``."""
    headers = message.headers or ()
    if isinstance(headers, dict):
        headers = headers.items()
    return Message(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple((str(k), bytes(v) if v is not None else b"") for k, v in headers),
    )


BATCH_MAX = 500
_crashes: set[asyncio.Future[Any]] = set()  # keeps the worker's crash task alive
BATCH_WITHIN_S = 0.05


def bind(app: faust.App, processor: StepProcessor) -> list[str]:
    """Create one Faust agent for the event topic and one per retry tier. Returns topic names.

    Agents take events in small batches: ``take_events`` acks a batch only after our loop body
    returns, i.e. after every output of the batch was acknowledged by the broker. Concurrency
    stays 1 so events of a partition are processed in order.
    """
    config = processor.config
    spec = processor.spec
    processor.group = str(app.conf.id)
    batch_max = processor.batch_max or BATCH_MAX
    physical = [config.topic(spec.name), *(config.topic(t) for t in spec.retry_topics)]
    for index, name in enumerate(physical):
        channel = app.topic(
            name,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            allow_empty=True,
        )
        is_retry = index > 0

        async def agent(stream: Any, _retry: bool = is_retry) -> None:
            try:
                async for batch in stream.take_events(batch_max, within=BATCH_WITHIN_S):
                    msgs = [to_message(event.message) for event in batch]
                    await processor.process_batch(msgs, hold_until_due=_retry)
            except BaseException as exc:
                if not isinstance(exc, asyncio.CancelledError | GeneratorExit):
                    # The processor handles every failure of an event itself; reaching here is
                    # a bug or a lost infrastructure. Stop the whole worker so it restarts and
                    # re-reads, rather than keep running with a dead agent.
                    log.critical("agent %s crashed; stopping the worker", processor.agent)
                    _crashes.add(asyncio.ensure_future(stream.app.crash(exc)))
                raise
            finally:
                # However the loop ended (failed, cancelled, or ended because the stream
                # stops), every finished batch was acked on the way: what take_events still
                # buffers was never processed. Without this, ``take_events`` restores acks as
                # it ends and the stream's passive iteration acks the buffered events it
                # reads next (see HoldingStream); they are redelivered from the last commit.
                if isinstance(stream, HoldingStream):
                    stream.held = True

        app.agent(channel, name=f"{processor.agent}.{name}")(agent)
    return physical
