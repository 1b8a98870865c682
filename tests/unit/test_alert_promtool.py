"""The alert rules as Prometheus evaluates them: every rule against a scenario with
``promtool test rules``, at production scale and shrunk by ``scale`` (what the local Prometheus
of the delivery test and of a scaled ``munjero up`` run), plus the configuration checks of
``promtool`` and ``amtool``.

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

from observability.alerts.rules import RULES, prometheus_rule_groups
from observability.monitoring import alertmanager_config, write_local_config
from streams.settings import Settings
from tests.unit.alert_scenarios import MIN, SCENARIOS, Input, Scenario, ramp


def binary(name: str) -> str:
    path = Path("/usr/bin") / name
    if not path.exists():
        pytest.fail(f"{path} is missing: install it with `make setup` (Debian package)")
    return str(path)


def test_every_rule_has_a_scenario() -> None:
    assert sorted(s.alertname for s in SCENARIOS) == sorted(r.name for r in RULES)


def _severity(alertname: str) -> str:
    return next(r.severity for r in RULES if r.name == alertname)


def _promtool_values(series: Input, scale: float) -> str:
    # A timestamp-valued gauge moves with the clock: its values shrink with the time axis.
    factor = scale if series.metric.endswith("_timestamp_seconds") else 1.0
    return " ".join(
        "_" if v is None else "stale" if math.isnan(v) else repr(float(v) * factor)
        for v in series.values
    )


def _seconds(value: float) -> str:
    return f"{round(value * 1000)}ms"


def run_promtool(
    tmp_path: Path,
    groups: dict[str, Any],
    *,
    interval_s: float,
    evaluation_interval_s: float,
    series: list[Input],
    alert_tests: list[dict[str, Any]],
    scale: float = 1.0,
) -> None:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump(groups))
    test_file = tmp_path / "test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rules_file)],
                "evaluation_interval": _seconds(evaluation_interval_s),
                "tests": [
                    {
                        "interval": _seconds(interval_s),
                        "input_series": [
                            {
                                "series": s.metric
                                + "{"
                                + ",".join(f'{k}="{v}"' for k, v in s.labels.items())
                                + "}",
                                "values": _promtool_values(s, scale),
                            }
                            for s in series
                        ],
                        "alert_rule_test": alert_tests,
                    }
                ],
            }
        )
    )
    result = subprocess.run(
        [binary("promtool"), "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def _without_annotations(groups: dict[str, Any]) -> dict[str, Any]:
    # promtool compares annotations too; the scenarios are about when, annotations are checked
    # on their own below.
    for group in groups["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")
    return groups


@pytest.mark.parametrize("scale", [1.0, 1 / 60], ids=["production", "scaled"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.alertname)
def test_prometheus_fires_exactly_the_expected_alerts(
    scenario: Scenario, scale: float, tmp_path: Path
) -> None:
    severity = _severity(scenario.alertname)
    run_promtool(
        tmp_path,
        _without_annotations(prometheus_rule_groups(scale=scale)),
        interval_s=scenario.interval_s * scale,
        evaluation_interval_s=scenario.evaluation_interval_s * scale,
        series=scenario.series,
        scale=scale,
        alert_tests=[
            {
                "eval_time": _seconds(t * scale),
                "alertname": scenario.alertname,
                "exp_alerts": [
                    {"exp_labels": {**labels, "severity": severity}} for labels in expected
                ],
            }
            for t, expected in scenario.expected.items()
        ],
    )


def test_annotations_render_the_value_and_the_runbook(tmp_path: Path) -> None:
    render = {"agent": "render", "topic": "scripts"}
    run_promtool(
        tmp_path,
        prometheus_rule_groups(),
        interval_s=MIN,
        evaluation_interval_s=MIN,
        series=[
            Input("munjero_events_in_total", render, ramp(0, 100, 11)),
            Input("munjero_events_failed_total", {**render, "route": "dlq"}, ramp(0, 20, 11)),
        ],
        alert_tests=[
            {
                "eval_time": "10m",
                "alertname": "HighFailureRate",
                "exp_alerts": [
                    {
                        "exp_labels": {"agent": "render", "severity": "page"},
                        "exp_annotations": {
                            "summary": "render fails 20% of its events",
                            "description": next(
                                r.description for r in RULES if r.name == "HighFailureRate"
                            ),
                            "runbook_url": "docs/runbook.md#highfailurerate",
                        },
                    }
                ],
            }
        ],
    )


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


def test_shutil_finds_the_binaries() -> None:
    for name in ("prometheus", "promtool", "prometheus-alertmanager", "amtool"):
        assert shutil.which(binary(name)), name
