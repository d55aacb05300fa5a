"""A real Prometheus (Debian's ``prometheus`` package) on 127.0.0.1 for tests, and small HTTP helpers."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.tools.runner import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def binary(name: str) -> str:
    """Path of promtool/prometheus; in CI a missing binary fails (scripts/setup.sh installs it), else skip."""
    path = shutil.which(name)
    if path:
        return path
    msg = f"{name} not found: install Debian's prometheus package (scripts/setup.sh does, as root)"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return resp.read().decode()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``/metrics`` of 127.0.0.1:port as {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(http_get(f"http://127.0.0.1:{port}/metrics")):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def sample(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: Any) -> float | None:
    want = {(k, str(v)) for k, v in labels.items()}
    for (n, ls), v in metrics.items():
        if n == name and want <= set(ls):
            return v
    return None


def rules_for_test(for_duration: str = "3s") -> str:
    """deploy/prometheus/alerts.yml with every ``for:`` shortened; the expressions are untouched."""
    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    return re.sub(r"(?m)^(\s+for:\s*)\S+\s*$", rf"\g<1>{for_duration}", text)


class Prometheus:
    def __init__(self, tmp: Path, jobs: dict[str, list[str]], rules: str, *, interval: str = "1s") -> None:
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (self.tmp / "alerts.yml").write_text(rules)
        scrape_configs = [
            {"job_name": job, "scrape_interval": interval, "static_configs": [{"targets": targets}]}
            for job, targets in jobs.items()
        ]
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": ["alerts.yml"],
            "scrape_configs": scrape_configs,
        }
        (self.tmp / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log_path = self.tmp / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Prometheus":
        exe = binary("prometheus")
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, f"--config.file={self.tmp / 'prometheus.yml'}", f"--storage.tsdb.path={self.tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
             "--storage.tsdb.retention.time=1h"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                http_get(f"{self.url}/-/ready", 1)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
                time.sleep(0.2)
        raise RuntimeError("prometheus not ready in 30 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        q = urllib.parse.urlencode(params)
        body = json.loads(http_get(f"{self.url}/api/v1/{path}" + (f"?{q}" if q else "")))
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.api("alerts")["alerts"]

    def alert_states(self, name: str) -> set[str]:
        return {a["state"] for a in self.alerts() if a["labels"].get("alertname") == name}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class LagExporter:
    """``partd lag --serve PORT`` as a subprocess (the stand-alone lag exporter)."""

    def __init__(self, bootstrap: str, tmp: Path, *, interval: float = 1.0, group: str = "partd") -> None:
        import sys

        self.port = free_port()
        self.log_path = Path(tmp) / f"lag-exporter-{self.port}.log"
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, PARTD_APP_ID=group)
        self.cmd = [sys.executable, "-m", "streams.tools.cli", "lag", "--serve", str(self.port), "--interval", str(interval)]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "LagExporter":
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                # a sample, not just the HELP/TYPE lines served before the first sample is taken
                if "partd_consumer_lag{" in http_get(f"http://127.0.0.1:{self.port}/metrics", 1):
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"lag exporter exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        raise RuntimeError(f"lag exporter has no lag after 30 s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def partd_lag_json(bootstrap: str, *args: str, group: str = "partd") -> list[dict[str, Any]]:
    """``partd lag --json`` as a subprocess."""
    import sys

    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, PARTD_APP_ID=group)
    out = subprocess.run([sys.executable, "-m", "streams.tools.cli", "lag", "--json", *args], env=env, cwd=ROOT,
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)
