"""The generated TypedDicts (schemas/records.py) match the Avro contracts and decoded events."""

from __future__ import annotations

import ast
import datetime
import io
import json
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schemas import codegen, records
from schemas.contracts import EVENT_TYPES, SHARED_TYPES, Schema, load_schema, parsed_schema
from tests import sample_events as samples

# -- the checked-in module is the generator's output -------------------------------------------


def test_checked_in_records_are_up_to_date() -> None:
    checked_in = codegen.OUTPUT.read_text(encoding="utf-8")
    assert checked_in == codegen.render(), "stale schemas/records.py: run python -m schemas.codegen"


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "records.py"
    output.write_text(codegen.render().replace("str | None", "str"), encoding="utf-8")
    assert codegen.main(["--check", "--output", str(output)]) == 1
    diff = capsys.readouterr().out
    assert diff.startswith("---")
    assert "+    causation_id: str | None" in diff

    assert codegen.main(["--output", str(output)]) == 0  # rewrites it
    assert output.read_text(encoding="utf-8") == codegen.render()
    assert codegen.main(["--check", "--output", str(output)]) == 0


def test_codegen_imports_only_the_schemas_layer() -> None:
    tree = ast.parse(Path(codegen.__file__).read_text(encoding="utf-8"))
    modules = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names]  # fmt: skip
    modules += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    project = {"streams", "agents", "connectors", "observability", "tools", "tests", "services"}
    assert not [m for m in modules if m.split(".")[0] in project]


# -- the classes mirror the contracts ----------------------------------------------------------


def _records(node: Any) -> Iterator[Schema]:
    """Every record defined (not merely referenced) in a schema."""
    if isinstance(node, list):
        for branch in node:
            yield from _records(branch)
    elif isinstance(node, dict):
        if node.get("type") == "record":
            yield node
            for fld in node["fields"]:
                yield from _records(fld["type"])
        elif node.get("type") == "array":
            yield from _records(node["items"])
        elif node.get("type") == "map":
            yield from _records(node["values"])


def test_every_event_type_has_its_class() -> None:
    assert list(records.RECORD_TYPES) == list(EVENT_TYPES)
    for event_type, cls in records.RECORD_TYPES.items():
        assert typing.is_typeddict(cls)
        assert cls.__name__ == event_type
    assert set(records.__all__) >= {*EVENT_TYPES, *SHARED_TYPES, "RECORD_TYPES"}


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_keys_are_the_avro_fields_in_order(event_type: str) -> None:
    nested = list(_records(load_schema(event_type)))  # the event, EventMeta, array items
    assert nested[0]["name"] == event_type
    for record in nested:
        cls = getattr(records, record["name"])
        names = [fld["name"] for fld in record["fields"]]
        assert list(cls.__annotations__) == names, record["name"]
        # Defaults do not make a key optional: decoding always yields every field.
        assert cls.__required_keys__ == frozenset(names)
        assert cls.__optional_keys__ == frozenset()


# -- decoded events conform to the classes at runtime ------------------------------------------


def _mismatch(value: Any, tp: Any, path: str) -> str | None:
    """Why ``value`` is not a ``tp`` (None if it is); TypedDicts are checked key by key."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if typing.is_typeddict(tp):
        if not isinstance(value, dict):
            return f"{path}: {type(value).__name__} is not a {tp.__name__}"
        hints = typing.get_type_hints(tp)
        if list(value) != list(hints):
            return f"{path}: keys {list(value)} are not {list(hints)}"
        for key, hint in hints.items():
            problem = _mismatch(value[key], hint, f"{path}.{key}")
            if problem:
                return problem
        return None
    if origin in (typing.Union, types.UnionType):
        problems = [_mismatch(value, arg, path) for arg in args]
        return None if None in problems else f"{path}: {value!r} matches no branch of {tp}"
    if origin is typing.Literal:
        return None if value in args else f"{path}: {value!r} is not one of {args}"
    if origin is list:
        if not isinstance(value, list):
            return f"{path}: {type(value).__name__} is not a list"
        problems = [_mismatch(item, args[0], f"{path}[{i}]") for i, item in enumerate(value)]
        return next((p for p in problems if p), None)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            return f"{path}: {value!r} is not a dict with str keys"
        problems = [_mismatch(item, args[1], f"{path}[{k!r}]") for k, item in value.items()]
        return next((p for p in problems if p), None)
    if tp is type(None):
        return None if value is None else f"{path}: {value!r} is not None"
    if tp is datetime.datetime and isinstance(value, datetime.datetime):
        return None if value.tzinfo is not None else f"{path}: naive datetime {value!r}"
    # Exact types: a bool is not an int, an int is not a float (fastavro decodes double as float).
    return None if type(value) is tp else f"{path}: {type(value).__name__} is not {tp}"


def _round_trip(event_type: str, record: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed_schema(event_type), record, strict=True)
    buf.seek(0)
    decoded = fastavro.schemaless_reader(buf, parsed_schema(event_type), parsed_schema(event_type))
    assert isinstance(decoded, dict)
    return decoded


def _pipeline() -> list[samples.Event]:
    return samples.pipeline(samples.PROBLEMS[0], 0, arms=1, windows=1)


SAMPLES: dict[str, Callable[[], samples.Event]] = {
    "ProblemSubmitted": lambda: _pipeline()[0],
    "ScriptDrafted": lambda: _pipeline()[1],
    "RenderCompleted": lambda: _pipeline()[2],
    "ShortPublished": lambda: _pipeline()[3],
    "MetricsObserved": lambda: _pipeline()[4],
    "KnowledgeDocumentIngested": lambda: samples.knowledge_ingested(1),
    "ExperimentUpdated": lambda: samples.experiment_updated(1),
    "StepFailed": lambda: samples.step_failed("renders.completed", "t.renders.completed",
                                              "k", b"\x00\x00\x00\x00\x01body", 7),
}  # fmt: skip


@pytest.mark.parametrize("event_type", list(SAMPLES))
def test_a_decoded_sample_conforms_to_its_class(event_type: str) -> None:
    _, sample_type, record = SAMPLES[event_type]()
    assert sample_type == event_type
    decoded = _round_trip(event_type, record)
    assert _mismatch(decoded, records.RECORD_TYPES[event_type], event_type) is None


def test_the_runtime_check_catches_a_wrong_type() -> None:
    _, _, record = samples.step_failed("renders.completed", "t.renders.completed", "k", b"v", 1)
    decoded = _round_trip("StepFailed", record)
    assert _mismatch(decoded, records.StepFailed, "StepFailed") is None
    decoded["meta"]["occurred_at"] = 1_762_160_400_000  # epoch millis instead of a datetime
    problem = _mismatch(decoded, records.StepFailed, "StepFailed")
    assert problem is not None
    assert "StepFailed.meta.occurred_at" in problem


# -- the generator handles Avro the contracts do not use (yet) -----------------------------


def test_generator_maps_enums_maps_unions_keywords_and_recursion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def avsc(name: str, schema: Schema) -> None:
        (tmp_path / f"{name}.avsc").write_text(json.dumps(schema), encoding="utf-8")

    avsc("Env", {"type": "record", "name": "Env", "namespace": "t", "fields": [
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    ]})  # fmt: skip
    avsc("Odd", {"type": "record", "name": "Odd", "namespace": "t", "doc": 'a "doc"', "fields": [
        {"name": "env", "type": "t.Env"},
        {"name": "class", "type": {"type": "enum", "name": "Suit", "symbols": ["S", "H"]}},
        {"name": "suit", "type": ["null", "Suit"], "doc": "by short name"},
        {"name": "m", "type": {"type": "map", "values": ["null", "long", "string"]}},
        {"name": "n", "type": ["int", "long", "double", "null"]},
        {"name": "digest", "type": {"type": "fixed", "name": "Md5", "size": 16}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "next", "type": ["null", "Odd"]},
    ]})  # fmt: skip
    text = codegen.render(tmp_path, ("Odd",), ("Env",))
    assert '"class": Suit,' in text  # a keyword field: functional syntax
    assert '"next": "Odd | None",' in text  # a recursive reference is a forward reference

    module = types.ModuleType("generated_records")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(text, "generated_records.py", "exec"), module.__dict__)
    hints = typing.get_type_hints(module.Odd)
    assert hints == {
        "env": module.Env,
        "class": typing.Literal["S", "H"],
        "suit": typing.Literal["S", "H"] | None,
        "m": dict[str, int | str | None],
        "n": int | float | None,
        "digest": bytes,
        "day": datetime.date,
        "next": module.Odd | None,
    }
    assert list(module.RECORD_TYPES) == ["Odd"]
    assert module.RECORD_TYPES["Odd"] is module.Odd


def test_generator_rejects_a_class_name_clash(tmp_path: Path) -> None:
    item = {"type": "record", "name": "Item", "fields": [{"name": "a", "type": "string"}]}
    other = {**item, "fields": [{"name": "b", "type": "long"}]}
    schema = {"type": "record", "name": "Ev", "namespace": "t", "fields": [
        {"name": "x", "type": item},
        {"name": "y", "type": {**other, "namespace": "u"}},
    ]}  # fmt: skip
    (tmp_path / "Ev.avsc").write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(codegen.CodegenError, match="both become class Item"):
        codegen.render(tmp_path, ("Ev",), ())
