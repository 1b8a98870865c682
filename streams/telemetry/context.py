"""Context every log record and span of a step carries: the pipeline run's correlation id and
the attribute that ties a span to its problem (``munjero.problem_id``)."""

from __future__ import annotations

from contextvars import ContextVar

# Set by the processor (the event's meta.correlation_id) and the API (the request's ids) for
# the duration of one step or request; the JSON log formatter copies it into every record.
correlation_id: ContextVar[str] = ContextVar("munjero_correlation_id", default="")

#: The span attribute that names a problem: one SQL query over the traces finds its journey.
PROBLEM_ATTRIBUTE = "munjero.problem_id"
