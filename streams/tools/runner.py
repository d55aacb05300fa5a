"""Starting and stopping ``partd worker`` and ``partd console`` processes (for ``partd up``, benchmarks and tests)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Process:
    """A ``partd`` subprocess with a log file: stopped gracefully, its log's tail at hand."""

    proc: subprocess.Popen[bytes] | None
    log_path: Path

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM), then SIGKILL after ``timeout`` s. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class WorkerProcess(_Process):
    """A ``partd worker`` subprocess with its own data dir, web port and log file."""

    def __init__(self, bootstrap: str, data_dir: Path, *, partitions: int = 8, app_id: str = "partd",
                 web_port: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        self.data_dir = Path(data_dir)
        self.web_port = web_port or free_port()
        self.log_path = self.data_dir / f"worker-{self.web_port}.log"
        self.env = dict(os.environ)
        self.env.update({
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "PARTD_DATA_DIR": str(self.data_dir),
            "PARTD_WEB_PORT": str(self.web_port),
            "PARTD_PARTITIONS": str(partitions),
            "PARTD_APP_ID": app_id,
        })
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.tools.cli", "worker"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


    def wait_log(self, needle: str, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_path.read_text(errors="replace"):
                return True
            if not self.alive():
                return False
            time.sleep(0.2)
        return False


class ConsoleProcess(_Process):
    """A ``partd console`` subprocess on a free port (127.0.0.1), with its log file."""

    def __init__(self, bootstrap: str, log_dir: Path, *, workers: Iterable[str] = (), groups: Iterable[str] = (),
                 interval: float | None = None, port: int | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.log_path = Path(log_dir) / f"console-{self.port}.log"
        self.args = ["--port", str(self.port)]
        for url in workers:
            self.args += ["--worker", url]
        for group in groups:
            self.args += ["--group", group]
        if interval is not None:
            self.args += ["--interval", str(interval)]
        self.env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}/"  # until it prints its own (https, another host)

    def start(self, timeout: float = 60.0) -> "ConsoleProcess":
        """Start it and wait until it serves its page (its first output line is the URL); RuntimeError if it exits."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.tools.cli", "console", *self.args],
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"partd console exited ({self.proc.returncode}): {self.log_tail()}")
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith("partd console: "):
                    self.url = line.split()[2]
                    return self
            time.sleep(0.1)
        raise TimeoutError(f"partd console did not start in {timeout:.0f} s: {self.log_tail()}")


