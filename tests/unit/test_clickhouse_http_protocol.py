"""ClickHouse's HTTP protocol pieces (pure) and the analyst's password files."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import lz4.frame  # type: ignore[import-untyped]  # no stubs ship with lz4
import pytest
from backports import zstd

from connectors.warehouse.chdb_readonly import clickhouse_error, shape_of
from services.clickhouse_http import protocol
from services.clickhouse_http.users import (
    ANALYST,
    PASSWORD_FILE,
    USERS_FILE,
    analyst_password,
    ensure_analyst,
)
from streams.ports.warehouse import ClickHouseError, SqlAnswer


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_credentials_from_each_method_and_never_two_at_once() -> None:
    headers = {"x-clickhouse-user": "analyst", "x-clickhouse-key": "k"}
    assert protocol.credentials(headers, {}) == protocol.Credentials("analyst", "k")
    basic = {"authorization": _basic("analyst", "p:w")}
    assert protocol.credentials(basic, {}) == protocol.Credentials("analyst", "p:w")
    assert protocol.credentials({}, {"user": "analyst", "password": "x"}).password == "x"
    assert protocol.credentials({}, {}) == protocol.Credentials("default", "")
    with pytest.raises(ClickHouseError) as both:
        protocol.credentials(basic, {"user": "analyst"})
    assert both.value.code == 516
    with pytest.raises(ClickHouseError):
        protocol.credentials({"authorization": "Bearer abc"}, {})


def test_query_parameters_settings_and_reserved_names() -> None:
    request = protocol.sql_request(
        {
            "query": "SELECT {n:UInt8}",
            "param_n": "7",
            "database": "munjero",
            "default_format": "JSON",
            "max_threads": "1",
            "session_id": "abc",  # accepted, ignored: not a setting
            "query_id": "q1",
            "wait_end_of_query": "1",
        },
        b"",
    )
    assert request.sql == "SELECT {n:UInt8}"
    assert request.data is None
    assert request.params == {"n": "7"}
    assert request.settings == {"max_threads": "1"}
    assert (request.database, request.default_format) == ("munjero", "JSON")


def test_body_is_the_query_or_its_rest_or_insert_rows() -> None:
    assert protocol.sql_request({}, b"SELECT 1").sql == "SELECT 1"
    split = protocol.sql_request({"query": "SELECT"}, b" 1")
    assert (split.sql, split.data) == ("SELECT", b" 1")
    # clickhouse-connect's insert: statement and binary Native rows in one body.
    rows = b"\x01\x01\x08event_id\x06String\x01\xff"
    insert = protocol.sql_request({}, b"INSERT INTO t (`event_id`) FORMAT Native\n" + rows)
    assert insert.sql == "INSERT INTO t (`event_id`) FORMAT Native"
    assert insert.data == rows
    with pytest.raises(ClickHouseError) as binary:
        protocol.sql_request({}, b"\xff\xfe")
    assert binary.value.code == 62
    with pytest.raises(ClickHouseError) as native:
        protocol.sql_request({"compress": "1", "query": "SELECT 1"}, b"")
    assert native.value.code == 48


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("lz4,zstd,gzip,deflate", "lz4"),  # clickhouse-connect's order
        ("gzip, deflate, br", "gzip"),  # curl --compressed
        ("br", None),
        ("gzip;q=0.5, zstd", "zstd"),
        ("gzip;q=0", None),
        ("", None),
        ("identity", None),
    ],
)
def test_response_encoding_follows_accept_encoding(header: str, chosen: str | None) -> None:
    assert protocol.choose_encoding(header) == chosen


def test_every_encoding_round_trips_through_the_reference_decoders() -> None:
    data = b"0123456789\n" * 1000
    decoders = {
        "gzip": lambda b: zlib.decompress(b, wbits=31),
        "deflate": zlib.decompress,
        "zstd": zstd.decompress,
        "lz4": lz4.frame.decompress,
    }
    for name, encode in protocol.ENCODERS.items():
        assert decoders[name](encode(data)) == data, name
        assert protocol.decode_body(encode(data), name) == data
    with pytest.raises(ClickHouseError) as unknown:
        protocol.decode_body(b"x", "compress")
    assert unknown.value.code == 89


def test_status_codes_follow_clickhouse() -> None:
    assert [protocol.http_status(c) for c in (516, 194, 62, 60, 47, 164, 159, 202, 1002)] == [
        403, 401, 400, 404, 404, 500, 408, 500, 500,
    ]  # fmt: skip


def test_summary_is_a_json_object_of_strings() -> None:
    answer = SqlAnswer(b"", "Native", read_rows=10, result_rows=2, elapsed_ns=5)
    summary = json.loads(protocol.summary(answer))
    assert summary["read_rows"] == "10"
    assert summary["result_rows"] == "2"
    assert all(isinstance(v, str) for v in summary.values())


def test_content_types() -> None:
    assert protocol.content_type("JSONEachRow").startswith("application/x-ndjson")
    assert protocol.content_type("Parquet") == "application/octet-stream"
    assert protocol.content_type("PrettyCompact").startswith("text/plain")


def test_shape_of_canonical_text() -> None:
    assert shape_of("SELECT 1\nFORMAT JSON\nSETTINGS max_threads = 1") == ("SELECT", "JSON", False)
    assert shape_of("SELECT\n    1 AS FORMAT,\n    'a\\nFORMAT X' AS s") == ("SELECT", None, False)
    assert shape_of("SELECT 1\nINTO OUTFILE 'x' AND STDOUT").into_outfile
    assert shape_of("INSERT INTO t (a) FORMAT Native") == ("INSERT", None, False)
    assert shape_of("EXISTS TABLE db.t\nFORMAT JSON").output_format == "JSON"


def test_chdb_errors_keep_one_code_and_message() -> None:
    nested = RuntimeError(
        "Code: 164. DB::Exception: Code: 164. DB::Exception: Cannot modify 'max_threads' "
        "setting in readonly mode. (READONLY) (version 26.9.2.1). (READONLY)"
    )
    error = clickhouse_error(nested)
    assert error.code == 164
    assert error.message == (
        "Code: 164. DB::Exception: Cannot modify 'max_threads' setting in readonly mode. "
        "(READONLY) (version 26.9.2.1)"
    )
    assert clickhouse_error(RuntimeError("segfault")).code == 1002


def test_analyst_password_is_issued_once_hashed_and_private(tmp_path: Path) -> None:
    users, password = ensure_analyst(tmp_path)
    assert users.check(ANALYST, password)
    assert not users.check(ANALYST, password + "x")
    assert not users.check("default", "")
    assert (tmp_path / PASSWORD_FILE).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / USERS_FILE).stat().st_mode & 0o777 == 0o600
    assert password not in (tmp_path / USERS_FILE).read_text()  # only its hash
    again, same = ensure_analyst(tmp_path)
    assert same == password
    assert again.check(ANALYST, password)
    # Deleting the operator's copy rotates the password.
    (tmp_path / PASSWORD_FILE).unlink()
    assert analyst_password(tmp_path) is None
    rotated, new = ensure_analyst(tmp_path)
    assert new != password
    assert rotated.check(ANALYST, new)
    assert not rotated.check(ANALYST, password)
