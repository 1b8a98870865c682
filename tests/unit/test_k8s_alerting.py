"""The cluster's alerting files are accepted by the real tools: Prometheus loads the rules of
the PrometheusRule and Alertmanager its generated configuration."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_prometheusrule_spec_passes_promtool(tmp_path: Path) -> None:
    rule = yaml.safe_load((ROOT / "k8s/base/monitoring/prometheusrule.yaml").read_text())
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    assert "SUCCESS: 6 rules found" in _run("/usr/bin/promtool", "check", "rules", str(rules))


def test_alertmanager_config_passes_amtool() -> None:
    out = _run(
        "/usr/bin/amtool", "check-config", str(ROOT / "k8s/base/monitoring/alertmanager.yaml")
    )
    assert "SUCCESS" in out
    config = yaml.safe_load((ROOT / "k8s/base/monitoring/alertmanager.yaml").read_text())
    (receiver,) = config["receivers"]
    assert receiver["slack_configs"][0]["send_resolved"] is True
    assert receiver["email_configs"][0]["send_resolved"] is True
    # Secrets are mounted files, never values in the configuration.
    assert "api_url" not in receiver["slack_configs"][0]
    assert receiver["email_configs"][0]["auth_password_file"].startswith("/etc/alertmanager/")
