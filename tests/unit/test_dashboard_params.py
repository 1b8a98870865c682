"""Each dashboards/*.sql declares its parameters (name, type, default, meaning) and what of it is
simulated; values are checked against those declarations before ClickHouse sees them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from warehouse import dashboards


@pytest.mark.parametrize("name", dashboards.names())
def test_header_declares_exactly_the_placeholders(name: str) -> None:
    board = dashboards.dashboard(name)
    assert board.title
    assert board.simulated
    declared = {p.name: p.type for p in board.parameters}
    assert declared == dashboards.placeholders(board.sql)
    for param in board.parameters:
        assert param.meaning, f"{name}.{param.name} says nothing about itself"
    # Defaults are valid values of their own type: a dashboard runs with no --param at all.
    values = dashboards.resolve(name, {}, "munjero", today=date(2026, 12, 7))
    assert set(values) == set(declared)


def test_simulated_rows_are_labelled_wherever_simulated_data_can_appear() -> None:
    for name in dashboards.names():
        board = dashboards.dashboard(name)
        labels = "AS simulated" in board.sql or "simulated\nFROM" in board.sql.replace(", ", "\n")
        assert labels or board.simulated.startswith("nothing"), name


def test_values_are_checked_against_their_types() -> None:
    today = date(2026, 12, 7)
    assert dashboards.resolve("daily_output", {"since": "-7d"}, "db1", today=today) == {
        "db": "db1",
        "since": "2026-11-30",
    }
    assert dashboards.resolve("top_shorts", {"limit": "5", "db": "x"}, "db1") == {
        "db": "x",
        "limit": "5",
    }
    for given, says in (
        ({"limit": "-1"}, "limit must be UInt32"),
        ({"limit": "99999999999"}, "limit must be UInt32"),
        ({"db": "a;b"}, "db must be Identifier"),
        ({"lmit": "5"}, "unknown parameter lmit"),
    ):
        with pytest.raises(dashboards.ParameterError) as error:
            dashboards.resolve("top_shorts", given, "munjero")
        assert says in str(error.value)
        assert "parameters: db Identifier = munjero" in str(error.value)
        assert "\n" not in str(error.value)


@pytest.fixture
def board_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(dashboards, "DASHBOARDS", tmp_path)
    dashboards.query_text.cache_clear()
    dashboards.dashboard.cache_clear()
    yield tmp_path
    dashboards.query_text.cache_clear()
    dashboards.dashboard.cache_clear()


def test_a_parameter_without_default_is_required(board_dir: Path) -> None:
    (board_dir / "one.sql").write_text(
        "-- One experiment.\n"
        "-- Parameters:\n"
        "--   experiment  String  experiment id\n"
        "-- Simulated: nothing.\n"
        "SELECT {experiment:String}\n"
    )
    with pytest.raises(dashboards.ParameterError) as missing:
        dashboards.resolve("one", {}, "munjero")
    assert str(missing.value) == (
        "one: missing parameter experiment; parameters: experiment String (required): experiment id"
    )
    assert dashboards.resolve("one", {"experiment": "x"}, "munjero") == {"experiment": "x"}


def test_a_header_without_the_simulated_line_is_refused(board_dir: Path) -> None:
    (board_dir / "bare.sql").write_text("-- Bare.\nSELECT 1\n")
    with pytest.raises(ValueError, match="must say what is simulated"):
        dashboards.dashboard("bare")
