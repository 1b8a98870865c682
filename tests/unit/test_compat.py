"""Schema evolution rules: the pure compatibility function and the build-time check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import schemas
from schemas.compat_check import HISTORY_DIR, evaluate, main, snapshots
from schemas.compatibility import (
    CompatibilityLevel,
    InvalidSchemaError,
    check,
    incompatibilities,
    removed_defaults,
)
from schemas.contracts import AVRO_DIR, EVENT_TYPES, load_schema, schema_text

Schema = dict[str, Any]


def fields_of(schema: Schema) -> dict[str, Schema]:
    return {field["name"]: field for field in schema["fields"]}


def problem_submitted() -> Schema:
    return load_schema("ProblemSubmitted")


def with_field(schema: Schema, field: Schema) -> Schema:
    return {**schema, "fields": [*schema["fields"], field]}


def changed_field(schema: Schema, name: str, **changes: Any) -> Schema:
    fields = [{**f, **changes} if f["name"] == name else f for f in schema["fields"]]
    return {**schema, "fields": fields}


def without_default(schema: Schema, name: str) -> Schema:
    fields = [
        {k: v for k, v in f.items() if k != "default"} if f["name"] == name else f
        for f in schema["fields"]
    ]
    return {**schema, "fields": fields}


def text(schema: Schema) -> str:
    return json.dumps(schema)


V1 = problem_submitted()
RATING = {"name": "rating", "type": "int", "default": 0}


# -- the pure function --------------------------------------------------------------------


def test_adding_a_field_with_a_default_is_backward_compatible() -> None:
    assert check(text(with_field(V1, RATING)), [(1, text(V1))]) == []


def test_adding_a_field_without_default_names_the_field() -> None:
    new = with_field(V1, {"name": "rating", "type": "int"})
    [message] = check(text(new), [(1, text(V1))])
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in message
    assert "rating" in message
    assert "version 1" in message


def test_changing_a_type_names_the_field_and_both_types() -> None:
    new = changed_field(V1, "answer_index", type="string")
    [message] = check(text(new), [(1, text(V1))])
    assert "TYPE_MISMATCH" in message
    assert "answer_index" in message
    assert "string" in message
    assert "int" in message


def test_widening_a_type_is_backward_but_not_forward_compatible() -> None:
    new = changed_field(V1, "answer_index", type="long")
    assert check(text(new), [(1, text(V1))], CompatibilityLevel.BACKWARD) == []
    assert check(text(new), [(1, text(V1))], CompatibilityLevel.FORWARD) != []


def test_nested_field_paths_are_reported() -> None:
    meta = fields_of(V1)["meta"]["type"]
    new_meta = changed_field(meta, "producer", type="int")
    new = changed_field(V1, "meta", type=new_meta)
    [message] = check(text(new), [(1, text(V1))])
    assert "meta.producer" in message


def test_removing_a_field_is_backward_but_not_forward_compatible() -> None:
    new = {**V1, "fields": [f for f in V1["fields"] if f["name"] != "submitted_by"]}
    assert check(text(new), [(1, text(V1))], CompatibilityLevel.BACKWARD) == []
    assert check(text(new), [(1, text(V1))], CompatibilityLevel.FULL) != []


def test_levels_choose_which_versions_to_compare() -> None:
    v2 = with_field(V1, RATING)
    v3 = without_default(v2, "rating")  # fine against v2, not against v1's data
    history = [(1, text(V1)), (2, text(v2))]
    assert check(text(v3), history, CompatibilityLevel.BACKWARD) == []
    transitive = check(text(v3), history, CompatibilityLevel.BACKWARD_TRANSITIVE)
    assert len(transitive) == 1
    assert "version 1" in transitive[0]
    assert check(text(v3), history, CompatibilityLevel.NONE) == []


def test_record_rename_is_incompatible() -> None:
    assert incompatibilities(reader=text({**V1, "name": "QuizSubmitted"}), writer=text(V1))


def test_invalid_schemas_are_rejected_with_42201() -> None:
    for bad in ("{", '{"type": "record", "name": "X"}', text(changed_field(V1, "tags", default=7))):
        with pytest.raises(InvalidSchemaError) as refused:
            check(bad, [(1, text(V1))])
        assert refused.value.error_code == 42201


def test_removed_defaults_are_found_at_any_depth() -> None:
    experiment = load_schema("ExperimentUpdated")
    arms = fields_of(experiment)["arms"]["type"]
    arm = without_default(arms["items"], "chance_to_win")
    new = without_default(changed_field(experiment, "arms", type={**arms, "items": arm}), "reason")
    assert sorted(removed_defaults(experiment, new)) == ["arms[].chance_to_win", "reason"]
    assert removed_defaults(experiment, experiment) == []


# -- the build-time check -----------------------------------------------------------------


@pytest.fixture
def avro_dir(tmp_path: Path) -> Path:
    target = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, target)
    return target


@pytest.fixture
def history(tmp_path: Path, avro_dir: Path) -> Path:
    target = tmp_path / "history"
    assert main(["--record", "--schemas", str(avro_dir), "--history", str(target)]) == 0
    return target


@pytest.fixture
def edit(avro_dir: Path) -> Callable[[Callable[[Schema], Schema]], None]:
    """Rewrite ProblemSubmitted.avsc (as authored: EventMeta by reference) in the temp copy."""

    def apply(change: Callable[[Schema], Schema]) -> None:
        path = avro_dir / "ProblemSubmitted.avsc"
        path.write_text(json.dumps(change(json.loads(path.read_text()))))

    return apply


def run(avro_dir: Path, history: Path, *extra: str) -> int:
    return main([*extra, "--schemas", str(avro_dir), "--history", str(history)])


def test_repository_history_is_seeded_and_current_schemas_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert Path(schemas.__file__).parent / "history" == HISTORY_DIR
    for event_type in EVENT_TYPES:
        assert [version for version, _ in snapshots(event_type)][:1] == [1]
        assert evaluate(event_type, load_schema(event_type)).problems == []
    assert main([]) == 0
    assert "FAILED" not in capsys.readouterr().err


def test_snapshots_are_self_contained() -> None:
    snapshot = json.loads((HISTORY_DIR / "StepFailed" / "v1.avsc").read_text())
    assert fields_of(snapshot)["meta"]["type"]["name"] == "EventMeta"


def test_record_seeds_v1_for_every_event(history: Path) -> None:
    for event_type in EVENT_TYPES:
        assert [(v, p.name) for v, p in snapshots(event_type, history)] == [(1, "v1.avsc")]
        assert json.loads((history / event_type / "v1.avsc").read_text()) == json.loads(
            schema_text(event_type)
        )


def test_unchanged_schemas_pass(avro_dir: Path, history: Path) -> None:
    assert run(avro_dir, history) == 0


def test_added_field_with_default_passes_and_records_v2(
    avro_dir: Path, history: Path, edit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(lambda schema: with_field(schema, RATING))
    assert run(avro_dir, history) == 0
    assert "--record" in capsys.readouterr().out
    assert len(snapshots("ProblemSubmitted", history)) == 1  # checking never writes

    assert run(avro_dir, history, "--record") == 0
    assert [v for v, _ in snapshots("ProblemSubmitted", history)] == [1, 2]
    assert fields_of(json.loads((history / "ProblemSubmitted" / "v2.avsc").read_text()))["rating"]
    assert [v for v, _ in snapshots("StepFailed", history)] == [1]  # unchanged: no new version
    assert run(avro_dir, history, "--record") == 0
    assert [v for v, _ in snapshots("ProblemSubmitted", history)] == [1, 2]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: with_field(s, {"name": "rating", "type": "int"}), "rating"),
        (lambda s: changed_field(s, "answer_index", type="string"), "answer_index"),
        (lambda s: without_default(s, "explanation"), "explanation"),
    ],
    ids=["field-without-default", "type-change", "default-removed"],
)
def test_incompatible_changes_fail_and_name_the_event_and_field(
    avro_dir: Path,
    history: Path,
    edit: Any,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[Schema], Schema],
    expected: str,
) -> None:
    edit(change)
    assert run(avro_dir, history) == 1
    err = capsys.readouterr().err
    assert "FAILED   ProblemSubmitted" in err
    assert expected in err
    assert "StepFailed" not in err

    assert run(avro_dir, history, "--record") == 1
    assert [v for v, _ in snapshots("ProblemSubmitted", history)] == [1]


def test_record_writes_nothing_when_any_schema_fails(
    avro_dir: Path, history: Path, edit: Any
) -> None:
    edit(lambda schema: changed_field(schema, "answer_index", type="string"))
    render = avro_dir / "RenderCompleted.avsc"
    render.write_text(json.dumps(with_field(json.loads(render.read_text()), RATING)))
    assert run(avro_dir, history, "--record") == 1
    assert [v for v, _ in snapshots("RenderCompleted", history)] == [1]


def test_every_released_version_is_checked(avro_dir: Path, history: Path, edit: Any) -> None:
    edit(lambda schema: with_field(schema, RATING))
    assert run(avro_dir, history, "--record") == 0
    # Against v2 alone dropping the default is fine; v1's data has no rating at all.
    edit(lambda schema: without_default(schema, "rating"))
    assert run(avro_dir, history) == 1


def test_invalid_schema_fails(
    avro_dir: Path, history: Path, edit: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(lambda schema: changed_field(schema, "tags", default="none"))
    assert run(avro_dir, history) == 1
    assert "invalid Avro schema" in capsys.readouterr().err


def test_unknown_event_type_is_a_usage_error(avro_dir: Path, history: Path) -> None:
    with pytest.raises(SystemExit) as usage:
        run(avro_dir, history, "ProblemSubmited")
    assert usage.value.code == 2


def test_runs_as_a_module(avro_dir: Path, history: Path, edit: Any) -> None:
    edit(lambda schema: changed_field(schema, "answer_index", type="string"))
    done = subprocess.run(
        [
            *(sys.executable, "-m", "schemas.compat_check"),
            *("--schemas", str(avro_dir), "--history", str(history), "ProblemSubmitted"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert "ProblemSubmitted" in done.stderr
    assert "answer_index" in done.stderr
