"""Prometheus and the embedded evaluator agree on every rule.

For each rule one synthetic scenario (input series + the alerts expected at chosen times) is
run twice: through ``promtool test rules`` against the rule file ``prometheus_rule_groups()``
generates, and through ``observability.alerts.evaluator`` stepped on the same evaluation grid.
Both must produce exactly the expected firing alerts; promtool also checks the rendered
annotations, which carry the alert value (``$value``), so the values must agree too.

The binaries come from Debian (``make setup``); a missing one fails the test, since skipping
would hide that the production rules were never checked.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from observability.alerts.evaluator import AlertState, Evaluator
from observability.alerts.rules import RULES, prometheus_rule_groups
from observability.alerts.store import STALE, SeriesStore
from observability.monitoring import alertmanager_config, write_local_config
from streams.settings import Settings
from tests.unit.alert_scenarios import HOUR, SCENARIOS, Scenario, python_firing


def binary(name: str) -> str:
    path = Path("/usr/bin") / name
    if not path.exists():
        pytest.fail(f"{path} is missing: install it with `make setup` (Debian package)")
    return str(path)


def test_every_rule_has_a_scenario() -> None:
    assert sorted(s.alertname for s in SCENARIOS) == sorted(r.name for r in RULES)


def _severity(alertname: str) -> str:
    return next(r.severity for r in RULES if r.name == alertname)


def _promtool_values(values: list[float | None]) -> str:
    return " ".join(
        "_" if v is None else "stale" if math.isnan(v) else repr(float(v)) for v in values
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.alertname)
def test_prometheus_and_embedded_evaluator_agree(scenario: Scenario, tmp_path: Path) -> None:
    promtool = binary("promtool")
    severity = _severity(scenario.alertname)

    # 1. The embedded evaluator fires exactly the expected alerts at the expected times.
    python = python_firing(scenario)
    for t, expected in scenario.expected.items():
        got = sorted(
            sorted((k, v) for k, v in a.labels.items() if k not in ("alertname", "severity"))
            for a in python[t]
        )
        assert got == sorted(sorted(e.items()) for e in expected), f"at t={t}s"
        assert all(a.labels["severity"] == severity for a in python[t])

    # 2. promtool fires the same alerts, with the annotations (and so the values) the
    #    embedded evaluator rendered.
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(prometheus_rule_groups()))
    tests: list[dict[str, Any]] = []
    for t, alerts in python.items():
        tests.append(
            {
                "eval_time": f"{t}s",
                "alertname": scenario.alertname,
                "exp_alerts": [
                    {
                        "exp_labels": {k: v for k, v in a.labels.items() if k != "alertname"},
                        "exp_annotations": a.annotations,
                    }
                    for a in alerts
                ],
            }
        )
    test_file = tmp_path / "test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules_file)],
                "evaluation_interval": f"{scenario.evaluation_interval_s}s",
                "tests": [
                    {
                        "interval": f"{scenario.interval_s}s",
                        "input_series": [
                            {
                                "series": s.metric
                                + "{"
                                + ",".join(f'{k}="{v}"' for k, v in s.labels.items())
                                + "}",
                                "values": _promtool_values(s.values),
                            }
                            for s in scenario.series
                        ],
                        "alert_rule_test": tests,
                    }
                ],
            }
        )
    )
    result = subprocess.run(
        [promtool, "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_checks_the_rule_file(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(prometheus_rule_groups()))
    result = subprocess.run(
        [binary("promtool"), "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULES)} rules found" in result.stdout


def _amtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("amtool"), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_amtool_accepts_the_production_alertmanager_config(tmp_path: Path) -> None:
    config = alertmanager_config(
        smtp_smarthost="smtp.example.com:587",
        email_to=["oncall@example.com"],
        smtp_auth_username="alerts",
    )
    text = yaml.safe_dump(config)
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    result = _amtool_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    # Secrets are referenced by path, never inline.
    receiver = config["receivers"][0]
    assert receiver["slack_configs"][0]["api_url_file"].startswith("/etc/alertmanager/")
    assert receiver["email_configs"][0]["auth_password_file"].startswith("/etc/alertmanager/")
    assert "api_url:" not in text
    assert "auth_password:" not in text
    assert config["route"]["group_by"] == ["alertname"]
    assert receiver["slack_configs"][0]["send_resolved"] is True
    assert receiver["email_configs"][0]["send_resolved"] is True


def test_local_config_keeps_secrets_in_data_dir_files(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        alert_slack_webhook_url=SecretStr("https://hooks.slack.test/T000/B000/xyz"),
        alert_smtp_host="127.0.0.1",
        alert_smtp_port=2525,
        alert_smtp_user="alerts",
        alert_smtp_password=SecretStr("s3cret-pw"),
        alert_email_to=("oncall@example.com",),
    )
    files = write_local_config(settings, alertmanager_address="127.0.0.1:9093")
    result = _amtool_check(files.alertmanager_yml)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in (files.alertmanager_yml, files.prometheus_yml, files.rules_yml):
        text = path.read_text()
        assert "s3cret-pw" not in text
        assert "hooks.slack.test" not in text
    secrets = files.directory / "secrets"
    assert (secrets / "smtp-password").read_text() == "s3cret-pw"
    assert (secrets / "smtp-password").stat().st_mode & 0o077 == 0
    assert (secrets / "slack-webhook-url").stat().st_mode & 0o077 == 0
    check = subprocess.run(
        [binary("promtool"), "check", "config", str(files.prometheus_yml)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_stale_marker_hides_the_last_value() -> None:
    """The store's staleness marker (what a vanished series gets) ends the series at once,
    not five minutes later: a quota gauge from a stopped worker stops counting."""
    store = SeriesStore(retention_s=HOUR)
    labels = {"job": "munjero-worker-publish", "instance": "a"}
    store.add("munjero_youtube_quota_remaining_units", labels, 0.0, 100.0)
    store.add("munjero_youtube_quota_remaining_units", labels, 60.0, STALE)
    evaluator = Evaluator()
    assert [a.alertname for a in evaluator.evaluate(store, 30.0)] == ["YouTubeQuotaExhausted"]
    assert evaluator.evaluate(store, 90.0)[0].state is AlertState.RESOLVED


def test_shutil_finds_the_binaries() -> None:
    for name in ("prometheus", "promtool", "prometheus-alertmanager", "amtool"):
        assert shutil.which(binary(name)), name
