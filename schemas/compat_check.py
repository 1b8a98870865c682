"""Build-time schema evolution check: ``python -m schemas.compat_check [--record]``.

Every released version of every event schema is snapshotted, self-contained, under
``schemas/history/<EventType>/v<N>.avsc``. The check fails (exit 1) when a current schema could
not read data written with ANY snapshot (BACKWARD_TRANSITIVE rather than plain BACKWARD against
the latest: topics, retry tiers and the DLQ keep data from every released version, and a replay
feeds it to today's reader), or when it drops a field's default (see
``schemas.compatibility.removed_defaults``). ``--record`` snapshots a changed, compatible schema
as the next version; it writes nothing at all if any schema fails.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import schemas
from schemas.compatibility import (
    CompatibilityLevel,
    InvalidSchemaError,
    check,
    removed_defaults,
)
from schemas.contracts import AVRO_DIR, EVENT_TYPES, Schema, load_schema
from schemas.registry import canonical

HISTORY_DIR = Path(schemas.__file__).parent / "history"
_SNAPSHOT = re.compile(r"^v(\d+)\.avsc$")


@dataclass
class Verdict:
    """What the check found for one event type."""

    event_type: str
    latest: int  # 0: never released
    changed: bool  # the current schema differs from the latest snapshot
    problems: list[str] = field(default_factory=list)


def snapshots(event_type: str, history: Path = HISTORY_DIR) -> list[tuple[int, Path]]:
    """The released versions of ``event_type``: (version, file), oldest first."""
    directory = history / event_type
    if not directory.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in directory.iterdir()
        if (match := _SNAPSHOT.match(path.name))
    ]
    return sorted(found)


def _text(schema: Schema) -> str:
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


def evaluate(event_type: str, current: Schema, history: Path = HISTORY_DIR) -> Verdict:
    """Compare ``current`` with every released snapshot of ``event_type``."""
    released = [
        (version, path.read_text(encoding="utf-8"))
        for version, path in snapshots(event_type, history)
    ]
    text = _text(current)
    latest, latest_text = released[-1] if released else (0, "")
    changed = not released or canonical(text) != canonical(latest_text)
    verdict = Verdict(event_type, latest, changed)
    if not changed:
        return verdict
    try:
        # check() validates the candidate even when nothing was released yet.
        verdict.problems = check(text, released, CompatibilityLevel.BACKWARD_TRANSITIVE)
    except InvalidSchemaError as exc:
        verdict.problems = [str(exc)]
        return verdict
    if released:
        verdict.problems += [
            f"the default of field '{name}' (present in v{latest}) was removed: once a"
            " default is given it must stay"
            for name in removed_defaults(json.loads(latest_text), current)
        ]
    return verdict


def record(verdict: Verdict, current: Schema, history: Path = HISTORY_DIR) -> Path:
    """Write ``current`` as the next snapshot of ``verdict.event_type``."""
    target = history / verdict.event_type / f"v{verdict.latest + 1}.avsc"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(current, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; 0 when every schema may follow its released versions."""
    parser = argparse.ArgumentParser(
        prog="python -m schemas.compat_check",
        description="Check every event schema against its released snapshots.",
    )
    parser.add_argument(
        "--record", action="store_true", help="snapshot changed, compatible schemas"
    )
    parser.add_argument(
        "--schemas", type=Path, default=AVRO_DIR, help="directory of the .avsc files"
    )
    parser.add_argument("--history", type=Path, default=HISTORY_DIR, help="snapshot directory")
    parser.add_argument("events", nargs="*", metavar="EVENT_TYPE", help="default: every event type")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.events) - set(EVENT_TYPES))
    if unknown:
        parser.error(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")

    failed = False
    pending: list[tuple[Verdict, Schema]] = []
    for event_type in args.events or EVENT_TYPES:
        try:
            current = load_schema(event_type, args.schemas)
        except (OSError, ValueError) as exc:
            failed = True
            print(f"UNREADABLE {event_type}: {exc}", file=sys.stderr)
            continue
        verdict = evaluate(event_type, current, args.history)
        if verdict.problems:
            failed = True
            released = f"v1..v{verdict.latest}" if verdict.latest else "no released version"
            print(f"FAILED   {event_type} (released: {released}):", file=sys.stderr)
            for problem in verdict.problems:
                print(f"  - {problem}", file=sys.stderr)
        elif verdict.changed:
            pending.append((verdict, current))
            if not args.record:
                print(
                    f"changed  {event_type}: compatible with v1..v{verdict.latest};"
                    f" --record to release it as v{verdict.latest + 1}"
                    if verdict.latest
                    else f"new      {event_type}: never released; --record to release it as v1"
                )
        else:
            print(f"ok       {event_type}: v{verdict.latest}")
    if failed:
        print(
            "schema check failed: evolve events only by adding fields with defaults",
            file=sys.stderr,
        )
        return 1
    if args.record:
        for verdict, current in pending:
            print(f"recorded {verdict.event_type}: {record(verdict, current, args.history)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
