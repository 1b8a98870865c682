"""What a step is: a callable from one decoded event to the events it wants published.

Steps (``agents/``) depend on this module only, never on the processor that runs them, so a
step knows nothing of Kafka, Faust, retries or settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]


@dataclass(frozen=True)
class Emit:
    """An event a step wants published: catalogue topic name, record key, record."""

    topic: str
    key: str
    #: The event's record: the topic's typed record (``schemas/records.py``).
    record: Mapping[str, Any]


#: A step takes the decoded record of its topic's event type (each step declares it as the
#: ``TypedDict`` of ``schemas/records.py``; the catalogue decides which type a topic carries).
Step = Callable[[Any], Awaitable[Sequence[Emit]]]
#: Publishes outputs before the step returns (a processor's ``publish_now``), for progress a
#: person should see early; the binding hands it to steps that ask for it.
EmitNow = Callable[[Sequence[Emit]], Awaitable[None]]
