"""`munjero` as a Unix tool, by running it: one-line answers to mistakes with exit code 2,
`--version`, `--json`, untruncated output in a pipe, help without markup, keys end to end, and
finding the running factory through its data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from factory.cli import cli
from factory.discovery import Endpoints, announce, read_endpoints, with_running_factory
from streams import __version__
from streams.catalogue import ALL_TOPICS
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def run(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli,
        list(args),
        env={
            "MUNJERO_DATA_DIR": str(data_dir),
            "MUNJERO_KAFKA_BOOTSTRAP_SERVERS": None,
            "MUNJERO_SCHEMA_REGISTRY_URL": None,
            "MUNJERO_API_KEYS_FILE": None,
        },
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["dlq", "list", "--topic", "nope"],
            "unknown topic 'nope'; event topics: problems.submitted",
        ),
        (
            ["dlq", "list", "--topic", "problems.submitted.dlq"],
            "is the dlq topic of problems.submitted: pass --topic problems.submitted",
        ),
        (["dlq", "replay", "--topic", "scripts.drafted.retry.2"], "pass --topic scripts.drafted"),
        (["dlq", "list"], "Missing option '--topic'"),
        (["dlq", "lst"], "No such command 'lst'"),
        (["keys", "create", "--producer", "x", "--scope", "admin"], "'dashboard:read'"),
        (["keys", "create", "--producer", "x", "--expires-in", "3x"], "use e.g. 90d"),
        (["keys", "revoke", "nokey"], "no API key 'nokey'"),
        (["keys", "rotate", "nokey"], "no API key 'nokey'"),
        (["dlq", "list", "--topic", "problems.submitted"], "no running factory in"),
        (["topics", "create"], "start munjero up, or set MUNJERO_KAFKA_BOOTSTRAP_SERVERS"),
        (["worker", "nope"], "unknown agent group 'nope'; known: content"),
    ],
)
def test_a_mistake_is_one_line_and_exit_code_2(data_dir: Path, args: list[str], says: str) -> None:
    code, out, err = run(data_dir, *args)
    assert code == 2, (out, err)
    assert err.count("\n") == 1, err  # one line
    assert says in err
    assert err.startswith("munjero ")
    assert "Traceback" not in out + err


def test_a_broken_key_file_is_named_in_one_line(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "api-keys.json").write_text("{not json")
    code, out, err = run(data_dir, "keys", "list")
    assert code == 1
    assert err.count("\n") == 1, err
    assert "api-keys.json is not a valid API key file" in err
    assert "Traceback" not in out + err


def test_version(data_dir: Path) -> None:
    assert run(data_dir, "--version") == (0, f"munjero {__version__}\n", "")


def _commands(
    group: object, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], object]]:
    yield path, group
    for name, sub in getattr(group, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_help_has_no_raw_markup_and_lists_every_scope(data_dir: Path) -> None:
    for path, _ in _commands(get_command(cli)):
        code, out, _ = run(data_dir, *path, "--help")
        assert code == 0, path
        assert "`" not in out, f"raw backticks in munjero {' '.join(path)} --help"
    _, out, _ = run(data_dir, "keys", "create", "--help")
    for scope in ("problems:write", "problems:read", "knowledge:write", "dashboard:read"):
        assert scope in out


def test_topics_list_piped_is_not_cut_and_shows_kafka_configs() -> None:
    # A narrow terminal elsewhere must not narrow a pipe.
    env = {**os.environ, "COLUMNS": "40"}
    out = subprocess.run(
        [sys.executable, "-m", "factory.cli", "topics", "list"],
        capture_output=True, text=True, check=True, env=env, cwd=ROOT, timeout=60,
    ).stdout  # fmt: skip
    assert "retention.ms" in out
    assert "cleanup.policy" in out
    for spec in ALL_TOPICS:
        assert spec.name in out
    row = next(line for line in out.splitlines() if " problems.submitted " in line)
    assert " 2592000000 " in row  # 30 days, as Kafka shows it
    assert "…" not in out


def test_topics_list_json(data_dir: Path) -> None:
    code, out, _ = run(data_dir, "topics", "list", "--json")
    assert code == 0
    rows = {r["topic"]: r for r in json.loads(out)}
    assert set(rows) == {s.name for s in ALL_TOPICS}
    assert rows["knowledge.ingested"]["retention.ms"] == "-1"
    assert rows["problems.submitted"]["cleanup.policy"] == "delete"


def test_keys_create_list_rotate_revoke(data_dir: Path) -> None:
    code, key, note = run(data_dir, "keys", "create", "--producer", "importer", "--scope",
                          "problems:write", "--scope", "dashboard:read", "--label", "nightly",
                          "--expires-in", "90d")  # fmt: skip
    assert code == 0, note
    key = key.strip()
    assert key.startswith("mj_")
    assert "only its hash is kept" in note
    key_id = key.split("_")[1]
    code, out, _ = run(data_dir, "keys", "list", "--json")
    (listed,) = json.loads(out)
    assert listed["key_id"] == key_id
    assert listed["state"] == "active"
    assert listed["scopes"] == ["dashboard:read", "problems:write"]
    assert (listed["producer"], listed["label"]) == ("importer", "nightly")
    assert listed["expires_at"] is not None
    assert listed["last_used_at"] is None
    assert "sha256" not in listed

    code, new, _ = run(data_dir, "keys", "rotate", key_id)
    assert code == 0
    new_id = new.strip().split("_")[1]
    code, out, _ = run(data_dir, "keys", "revoke", new_id)
    assert (code, out) == (0, f"revoked {new_id} (importer)\n")
    states = {
        k["key_id"]: k["state"] for k in json.loads(run(data_dir, "keys", "list", "--json")[1])
    }
    assert states == {key_id: "revoked", new_id: "revoked"}
    code, table, _ = run(data_dir, "keys", "list")
    assert code == 0
    assert key_id in table
    assert "revoked" in table


def test_demo_days_header_has_no_literal_backslash_n(data_dir: Path) -> None:
    code, out, err = run(data_dir, "demo", "--days", "1")
    assert code == 0, err
    assert "best-arm share" in out
    assert "\\n" not in out


# --- finding the running factory -------------------------------------------------------------


def test_a_running_factory_is_found_through_its_data_dir(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    assert with_running_factory(settings) is settings  # nothing runs
    withdraw = announce(data_dir, Endpoints("127.0.0.1:1", "http://127.0.0.1:2/registry",
                                            "http://127.0.0.1:3"))  # fmt: skip
    found = with_running_factory(settings)
    assert found.kafka_bootstrap_servers == "127.0.0.1:1"
    assert found.schema_registry_url == "http://127.0.0.1:2/registry"
    # The environment wins over the file.
    configured = Settings(data_dir=data_dir, kafka_bootstrap_servers="kafka:9092")
    assert with_running_factory(configured).kafka_bootstrap_servers == "kafka:9092"
    # doctor asks the discovered API (nothing answers on port 3).
    code, _, err = run(data_dir, "doctor")
    assert code == 2
    assert "http://127.0.0.1:3 does not answer" in err
    withdraw()
    assert read_endpoints(data_dir) is None


def test_a_file_left_by_a_dead_factory_is_ignored(data_dir: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    announce(data_dir, Endpoints("127.0.0.1:1", "http://r", "http://a", pid=int(dead)))
    assert read_endpoints(data_dir) is None
    code, _, err = run(data_dir, "dlq", "list", "--topic", "problems.submitted")
    assert code == 2
    assert "no running factory" in err


def test_the_readme_key_commands_run(data_dir: Path) -> None:
    """Every `munjero keys` / `--version` line of the README's operations block, run as written
    (optional parts included, placeholders filled in)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("```bash\n", text.index("## Operations")) :]
    block = block[: block.index("```", 8)]
    lines = [
        line.split("#")[0].strip()
        for line in block.splitlines()
        if line.startswith(("munjero keys", "munjero --version"))
    ]
    assert [line.split()[1:3] for line in lines] == [
        ["keys", "list"], ["keys", "create"], ["keys", "rotate"], ["keys", "revoke"],
        ["--version"],
    ]  # fmt: skip
    key_id = ""
    for line in lines:
        words = line.replace("[", "").replace("]", "").split()[1:]
        words = ["readme" if w == "NAME" else key_id if w == "KEY_ID" else w for w in words]
        code, out, err = run(data_dir, *words)
        assert code == 0, (line, err)
        if words[:2] in (["keys", "create"], ["keys", "rotate"]):
            key_id = out.strip().split("_")[1]  # the next line works on the key just printed


def test_doctor_prints_a_failing_checks_reason_whole(data_dir: Path) -> None:
    import http.server
    import threading

    reason = "render worker: chromium did not launch: " + "x" * 180 + " END-OF-REASON"

    class NotReady(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            check = {"status": "error", "error": reason, "latency_ms": 3.0}
            body = json.dumps({"status": "not ready", "checks": {"workers": check}}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotReady)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code, out, _ = run(data_dir, "doctor", "--url", url)
    finally:
        server.shutdown()
    assert code == 1
    # Folded over lines when the terminal is narrow, never cut.
    assert "chromium did not launch" in out
    assert "END-OF-REASON" in out


def test_the_cli_and_its_workers_start_without_loading_the_api_app() -> None:
    """Every ``munjero`` command and every worker process imports ``factory.cli``; loading the
    API app with it (FastAPI routes, the dashboard, scipy) cost ~4 s of CPU per start."""
    probe = (
        "import sys, factory.cli; "
        "print(sorted(m for m in ('scipy', 'services.api.app', 'services.api.dashboard') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout
