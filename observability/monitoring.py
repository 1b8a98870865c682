"""Prometheus + Alertmanager: their configuration, and the local pair ``munjero up`` runs.

Alerting is done by the real tools only: Prometheus scrapes every process and evaluates
``prometheus_rule_groups()``, Alertmanager deduplicates, groups and delivers (Slack webhook,
e-mail) with one resolved message per alert. Production runs them through the Prometheus
Operator (the PrometheusRule and Alertmanager config under k8s/base/monitoring); secrets are
referenced by file (``api_url_file``, ``auth_password_file``, mounted from a Kubernetes Secret),
never inline, so the generated config can be committed and reviewed.

Locally, ``local_monitoring(...)`` writes the same configuration into ``data_dir/monitoring``
(secrets from the settings go into ``data_dir/monitoring/secrets`` with mode 0600, never into
the repository), starts the Debian ``prometheus`` and ``prometheus-alertmanager`` (installed by
``make setup``) as child processes, waits until both answer ``/-/ready`` and stops them on exit.
Prometheus finds the processes through the ``file_sd`` files they write into
``data_dir/targets``. ``alert_window_scale`` shrinks every rule duration and
``alert_evaluate_every_s`` sets the scrape and evaluation interval (tests run in seconds).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from observability.alerts.rules import prometheus_rule_groups
from streams.settings import Settings

log = logging.getLogger(__name__)

PROMETHEUS_BIN = Path("/usr/bin/prometheus")
ALERTMANAGER_BIN = Path("/usr/bin/prometheus-alertmanager")

# Where the production manifests mount the alerting secrets.
SECRETS_DIR = "/etc/alertmanager/secrets"
# One line per notification, the same on Slack and in the e-mail subject.
TITLE = "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})"
# Slack text and the plain-text e-mail body: what each alert says and where its runbook is.
BODY = (
    "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
)


class MonitoringError(RuntimeError):
    """The local Prometheus/Alertmanager could not be configured or started."""


def _duration(seconds: float) -> str:
    # Whole seconds read best; tests run sub-second intervals, which both tools accept in ms.
    if seconds == round(seconds):
        return f"{round(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


def alertmanager_config(
    *,
    slack_api_url_file: str | None = f"{SECRETS_DIR}/slack-webhook-url",
    slack_channel: str | None = None,
    smtp_smarthost: str | None = None,
    smtp_from: str = "munjero-alerts@localhost",
    email_to: Sequence[str] = (),
    smtp_auth_username: str | None = None,
    smtp_auth_password_file: str | None = f"{SECRETS_DIR}/smtp-password",
    smtp_require_tls: bool = True,
    repeat_interval_s: float = 14_400,
    group_wait_s: float = 30,
    group_interval_s: float = 300,
) -> dict[str, Any]:
    """An Alertmanager configuration: group by alertname, Slack and/or email, resolved messages.

    Secrets are paths (``*_file``) so the document itself holds none. A firing alert is sent
    once, again only after ``repeat_interval_s`` (``alert_repeat_s``), and once when it resolves.
    A receiver with no channel is valid (alerts are then only visible in the Alertmanager UI).
    """
    receiver: dict[str, Any] = {"name": "munjero"}
    if slack_api_url_file:
        slack: dict[str, Any] = {
            "api_url_file": slack_api_url_file,
            "send_resolved": True,
            "title": TITLE,
            "text": BODY,
        }
        if slack_channel:
            slack["channel"] = slack_channel
        receiver["slack_configs"] = [slack]
    if smtp_smarthost and email_to:
        email: dict[str, Any] = {
            "to": ", ".join(email_to),
            "from": smtp_from,
            "smarthost": smtp_smarthost,
            "require_tls": smtp_require_tls,
            "send_resolved": True,
            "headers": {"Subject": TITLE},
            "text": BODY,
        }
        if smtp_auth_username:
            email["auth_username"] = smtp_auth_username
            if smtp_auth_password_file:
                email["auth_password_file"] = smtp_auth_password_file
        receiver["email_configs"] = [email]
    return {
        "route": {
            "receiver": "munjero",
            "group_by": ["alertname"],
            "group_wait": _duration(group_wait_s),
            "group_interval": _duration(group_interval_s),
            "repeat_interval": _duration(repeat_interval_s),
        },
        "receivers": [receiver],
    }


def prometheus_config(
    *,
    targets_glob: str,
    rules_file: str,
    alertmanager_address: str,
    api_target: str | None = None,
    scrape_interval_s: float = 15,
    evaluation_interval_s: float = 15,
) -> dict[str, Any]:
    """A Prometheus configuration scraping the file_sd targets the workers announce."""
    scrape_configs: list[dict[str, Any]] = [
        {
            # Each file sets the ``job`` label; this name only applies to files without one.
            "job_name": "munjero",
            "file_sd_configs": [{"files": [targets_glob], "refresh_interval": "5s"}],
        }
    ]
    if api_target:
        scrape_configs.append(
            {"job_name": "munjero-api", "static_configs": [{"targets": [api_target]}]}
        )
    return {
        "global": {
            "scrape_interval": _duration(scrape_interval_s),
            "evaluation_interval": _duration(evaluation_interval_s),
        },
        "rule_files": [rules_file],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_address]}]}]},
        "scrape_configs": scrape_configs,
    }


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    # Created with the final mode, so a secret is never readable by others even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


@dataclass(frozen=True)
class MonitoringFiles:
    directory: Path
    prometheus_yml: Path
    rules_yml: Path
    alertmanager_yml: Path


def write_local_config(
    settings: Settings,
    *,
    alertmanager_address: str,
    api_target: str | None = None,
    group_wait_s: float = 30,
    group_interval_s: float = 300,
) -> MonitoringFiles:
    """Write prometheus.yml, rules.yml and alertmanager.yml into ``data_dir/monitoring``:
    scraped and evaluated every ``alert_evaluate_every_s``, rule durations multiplied by
    ``alert_window_scale``."""
    directory = (settings.data_dir / "monitoring").resolve()
    secrets = directory / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    os.chmod(secrets, 0o700)
    slack_file: str | None = None
    if settings.alert_slack_webhook_url is not None:
        path = secrets / "slack-webhook-url"
        _write(path, settings.alert_slack_webhook_url.get_secret_value(), 0o600)
        slack_file = str(path)
    password_file: str | None = None
    if settings.alert_smtp_password is not None:
        path = secrets / "smtp-password"
        _write(path, settings.alert_smtp_password.get_secret_value(), 0o600)
        password_file = str(path)
    files = MonitoringFiles(
        directory,
        directory / "prometheus.yml",
        directory / "rules.yml",
        directory / "alertmanager.yml",
    )
    rules = prometheus_rule_groups(scale=settings.alert_window_scale)
    _write(files.rules_yml, yaml.safe_dump(rules, sort_keys=False))
    am = alertmanager_config(
        slack_api_url_file=slack_file,
        smtp_smarthost=(
            f"{settings.alert_smtp_host}:{settings.alert_smtp_port}"
            if settings.alert_smtp_host
            else None
        ),
        smtp_from=settings.alert_email_from,
        email_to=settings.alert_email_to,
        smtp_auth_username=settings.alert_smtp_user,
        smtp_auth_password_file=password_file,
        smtp_require_tls=settings.alert_smtp_starttls,
        repeat_interval_s=settings.alert_repeat_s,
        group_wait_s=group_wait_s,
        group_interval_s=group_interval_s,
    )
    _write(files.alertmanager_yml, yaml.safe_dump(am, sort_keys=False), 0o600)
    targets_glob = str((settings.data_dir / "targets").resolve() / "*.json")
    prom = prometheus_config(
        targets_glob=targets_glob,
        rules_file=str(files.rules_yml),
        alertmanager_address=alertmanager_address,
        api_target=api_target,
        scrape_interval_s=settings.alert_evaluate_every_s,
        evaluation_interval_s=settings.alert_evaluate_every_s,
    )
    _write(files.prometheus_yml, yaml.safe_dump(prom, sort_keys=False))
    return files


def monitoring_available(
    prometheus_bin: Path = PROMETHEUS_BIN, alertmanager_bin: Path = ALERTMANAGER_BIN
) -> bool:
    return prometheus_bin.exists() and alertmanager_bin.exists()


@dataclass(frozen=True)
class LocalMonitoring:
    prometheus_url: str
    alertmanager_url: str
    files: MonitoringFiles


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path, deadline: float
) -> None:
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise MonitoringError(f"{url} exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise MonitoringError(f"{url} was not ready in time")
        time.sleep(0.1)  # polling interval of a bounded wait


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def local_monitoring(
    settings: Settings,
    *,
    prometheus_port: int = 9090,
    alertmanager_port: int = 9093,
    api_target: str | None = None,
    group_wait_s: float = 30,
    group_interval_s: float = 300,
    ready_timeout_s: float = 60,
    prometheus_bin: Path = PROMETHEUS_BIN,
    alertmanager_bin: Path = ALERTMANAGER_BIN,
) -> Iterator[LocalMonitoring]:
    """Run Prometheus and Alertmanager on loopback for the life of the ``with`` block.

    Every process is found through ``data_dir/targets/*.json``; ``api_target`` adds a static
    ``host:port`` (an API not announced there). ``group_wait_s`` / ``group_interval_s`` are
    Alertmanager's: how long a new alert group waits before its first notification, and how
    often a group's changes (a resolved alert) are sent.
    """
    for binary in (prometheus_bin, alertmanager_bin):
        if not binary.exists() or shutil.which(str(binary)) is None:
            raise MonitoringError(f"{binary} is not installed (make setup installs it)")
    am_address = f"127.0.0.1:{alertmanager_port}"
    files = write_local_config(
        settings,
        alertmanager_address=am_address,
        api_target=api_target,
        group_wait_s=group_wait_s,
        group_interval_s=group_interval_s,
    )
    (files.directory / "prometheus-data").mkdir(exist_ok=True)
    (files.directory / "alertmanager-data").mkdir(exist_ok=True)
    prom_address = f"127.0.0.1:{prometheus_port}"
    commands = {
        "alertmanager": [
            str(alertmanager_bin),
            f"--config.file={files.alertmanager_yml}",
            f"--storage.path={files.directory / 'alertmanager-data'}",
            f"--web.listen-address={am_address}",
            "--cluster.listen-address=",  # no HA gossip: one local instance, no extra port
        ],
        "prometheus": [
            str(prometheus_bin),
            f"--config.file={files.prometheus_yml}",
            f"--storage.tsdb.path={files.directory / 'prometheus-data'}",
            f"--web.listen-address={prom_address}",
            "--storage.tsdb.retention.time=15d",
        ],
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + ready_timeout_s
        for name, command in commands.items():
            log_path = files.directory / f"{name}.log"
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(  # noqa: S603 - fixed binaries, our own arguments
                    command, stdout=log_file, stderr=subprocess.STDOUT, cwd=files.directory
                )
            processes.append(process)
            address = am_address if name == "alertmanager" else prom_address
            _wait_ready(f"http://{address}", process, log_path, deadline)
            log.info("%s ready on http://%s", name, address)
        yield LocalMonitoring(f"http://{prom_address}", f"http://{am_address}", files)
    finally:
        for process in reversed(processes):
            _stop(process)
