"""Configuration: every environment variable partd reads is read here, once (README lists them).

``Settings.from_env()`` is the whole configuration of a worker or a command;
:func:`settings` is the process's own (read at first use). Nothing else in
``streams/`` reads ``os.environ``.

How to reach the cluster securely (TLS, SASL) is :class:`KafkaSecurity`
(``Settings.kafka``), with the variable names Kafka users know
(``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SSL_*``, ``KAFKA_SASL_*``); every Kafka
client is built from it in :mod:`streams.kafka.clients`. Passwords are held
as :class:`Secret`, which never shows its value in ``repr``/``str`` (so not in
a log line, an error message or a traceback's repr of the settings).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

_OFF = ("off", "0", "false", "no")
_ON = ("on", "1", "true", "yes")


class ConfigError(ValueError):
    """A variable with a value partd cannot use (the message names it and says what is expected)."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _ON:
        return True
    if raw in _OFF:
        return False
    raise ConfigError(f"{name} must be on or off, got {raw!r}")


def _bootstrap(env: Mapping[str, str]) -> str | None:
    """``KAFKA_BOOTSTRAP_SERVERS``: ``host[:port]`` entries separated by commas, or None when unset."""
    raw = env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not raw:
        return None
    for entry in raw.split(","):
        entry = entry.strip()
        host, sep, port = entry.rpartition(":")
        if not sep:  # a host alone: Kafka's default port
            host, port = entry, "9092"
        bracketed = host.startswith("[") and host.endswith("]")  # an IPv6 address
        if not host or (":" in host and not bracketed) or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"KAFKA_BOOTSTRAP_SERVERS must be host:port (several separated by commas), got {raw!r}")
    return raw


def log_level(environ: Mapping[str, str] | None = None) -> str:
    """``PARTD_LOG_LEVEL`` (default ``info``), readable even when another variable is wrong."""
    env = os.environ if environ is None else environ
    return (env.get("PARTD_LOG_LEVEL", "").strip() or "info").lower()


class Secret:
    """A secret value (a password, basic-auth user info) that never prints itself.

    ``repr``/``str``/f-strings show ``'***'``; :meth:`reveal` gives the value,
    for the one place that hands it to a client library.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:  # no pickling a secret into a file by accident
        raise TypeError("a Secret cannot be pickled")


PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client connects: TLS and SASL settings (``KAFKA_SECURITY_PROTOCOL`` ...).

    Read and checked by :meth:`from_env`; turned into client arguments by
    :mod:`streams.kafka.clients`. The password is a :class:`Secret`.
    """

    protocol: str = "PLAINTEXT"  # KAFKA_SECURITY_PROTOCOL
    ssl_cafile: Path | None = None  # KAFKA_SSL_CAFILE: CA bundle the brokers' certificates are checked with
    ssl_certfile: Path | None = None  # KAFKA_SSL_CERTFILE: client certificate (mutual TLS)
    ssl_keyfile: Path | None = None  # KAFKA_SSL_KEYFILE: its private key (unencrypted PEM)
    sasl_mechanism: str | None = None  # KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
    sasl_username: str | None = None  # KAFKA_SASL_USERNAME
    sasl_password: Secret | None = None  # KAFKA_SASL_PASSWORD

    @property
    def tls(self) -> bool:
        """True if connections are encrypted (``SSL`` or ``SASL_SSL``)."""
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        """True if clients authenticate with SASL (``SASL_PLAINTEXT`` or ``SASL_SSL``)."""
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "KafkaSecurity":
        """The ``KAFKA_SECURITY_PROTOCOL``/``KAFKA_SSL_*``/``KAFKA_SASL_*`` settings, checked.

        A mistake that would send data in the clear or fail at the first
        connection (a CA file with ``PLAINTEXT``, SASL without a password, a
        name Kafka does not know) is a :class:`ConfigError` naming the variable.
        """
        protocol = (env.get("KAFKA_SECURITY_PROTOCOL", "").strip() or "PLAINTEXT").upper()
        if protocol not in PROTOCOLS:
            raise ConfigError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        files = {name: _path(env, name) for name in ("KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE")}
        mechanism = env.get("KAFKA_SASL_MECHANISM", "").strip().upper() or None
        username = env.get("KAFKA_SASL_USERNAME", "").strip() or None
        password = env.get("KAFKA_SASL_PASSWORD", "") or None
        security = cls(protocol, files["KAFKA_SSL_CAFILE"], files["KAFKA_SSL_CERTFILE"], files["KAFKA_SSL_KEYFILE"],
                       mechanism, username, Secret(password) if password is not None else None)
        if not security.tls:
            given = [name for name, path in files.items() if path is not None]
            if given:
                raise ConfigError(f"{given[0]} is set but KAFKA_SECURITY_PROTOCOL is {protocol}, which sends everything "
                                  f"in the clear: set KAFKA_SECURITY_PROTOCOL={'SASL_SSL' if security.sasl else 'SSL'}")
        if security.ssl_keyfile is not None and security.ssl_certfile is None:
            raise ConfigError("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE: set both for mutual TLS")
        named = [n for n, v in (("KAFKA_SASL_MECHANISM", mechanism), ("KAFKA_SASL_USERNAME", username),
                                ("KAFKA_SASL_PASSWORD", password)) if v is not None]
        if not security.sasl:
            if named:
                raise ConfigError(f"{named[0]} is set but KAFKA_SECURITY_PROTOCOL is {protocol}: "
                                  f"set KAFKA_SECURITY_PROTOCOL={'SASL_SSL' if security.tls else 'SASL_PLAINTEXT'} "
                                  f"(SASL_SSL: encrypted and authenticated)")
            return security
        if mechanism is None:
            raise ConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_MECHANISM "
                              f"({', '.join(SASL_MECHANISMS)})")
        if mechanism not in SASL_MECHANISMS:
            raise ConfigError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}, got {mechanism!r}")
        missing = [n for n, v in (("KAFKA_SASL_USERNAME", username), ("KAFKA_SASL_PASSWORD", password)) if v is None]
        if missing:
            raise ConfigError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs {' and '.join(missing)}")
        return security


@dataclass(frozen=True)
class Settings:
    """Everything a worker or a command needs to know about where and how it runs."""

    bootstrap_servers: str | None = None  # KAFKA_BOOTSTRAP_SERVERS; None: the embedded broker (partd up)
    kafka: KafkaSecurity = KafkaSecurity()  # KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_*, KAFKA_SASL_*
    schema_registry_url: str | None = None  # SCHEMA_REGISTRY_URL; None: ids from schemas/registry.json
    schema_registry_ca_file: Path | None = None  # SCHEMA_REGISTRY_CA_FILE: CA bundle for an https registry
    #: SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: ``user:password`` for HTTP basic auth (Confluent's spelling).
    schema_registry_user_info: Secret | None = None
    data_dir: Path = Path("data")  # PARTD_DATA_DIR
    web_port: int = 6066  # PARTD_WEB_PORT
    web_host: str = "127.0.0.1"  # PARTD_WEB_HOST
    partitions: int = 8  # PARTD_PARTITIONS
    app_id: str = "partd"  # PARTD_APP_ID
    batch_size: int = 500  # PARTD_BATCH_SIZE: records per processing batch
    log_level: str = "info"  # PARTD_LOG_LEVEL
    uvloop: bool = True  # PARTD_UVLOOP
    #: PARTD_MAX_IDLE_MS: how long a partition group waits for a sibling input whose lag is not
    #: known yet (nothing fetched) before it goes on without it (docs/architecture.md, "Order").
    max_idle_ms: int = 2000
    #: PARTD_BUFFERED_RECORDS: records buffered per input partition before its fetching pauses.
    buffered_records: int = 2000
    commit_interval_s: float = 2.0  # PARTD_COMMIT_INTERVAL_MS / 1000
    lag_interval_s: float = 5.0  # PARTD_LAG_INTERVAL (seconds; 0 turns the worker's lag sampler off)
    tansu_workarounds: bool = True  # PARTD_TANSU_WORKAROUNDS (off: only to show what they fix)
    allow_untested_versions: bool = False  # PARTD_ALLOW_UNTESTED_VERSIONS
    #: PARTD_ROCKSDB_CACHE_MB: the block cache all member-table partitions of a worker share
    #: (data, index and filter blocks; streams/kafka/internals/store.py).
    rocksdb_cache_mb: int = 64
    #: PARTD_ROCKSDB_WRITE_BUFFER_MB: the memtables of all member-table partitions of a worker, together.
    rocksdb_write_buffer_mb: int = 64
    #: PARTD_WEB_URL: how others (the console) reach this worker's web server; Faust's ``canonical_url``,
    #: which every worker of the group learns for every other (as Kafka Streams' ``application.server``).
    #: None: ``http(s)://PARTD_WEB_HOST:PARTD_WEB_PORT`` (:attr:`web_url_advertised`). In the console's
    #: environment: the worker it asks first (docs/operations.md, "The console").
    web_url: str | None = None
    #: PARTD_WEB_CERTFILE, PARTD_WEB_KEYFILE: certificate and unencrypted key: the worker's web server
    #: and the console serve HTTPS with them (docs/security.md, "The console").
    web_certfile: Path | None = None
    web_keyfile: Path | None = None
    #: PARTD_WEB_CAFILE: the CA the console checks workers' HTTPS certificates with (default: the system's).
    web_cafile: Path | None = None
    #: PARTD_CONSOLE_TOKEN: turns the member lookup on (console and workers) and is then required by it.
    console_token: Secret | None = None
    console_host: str = "127.0.0.1"  # PARTD_CONSOLE_HOST: the console's bind address
    console_port: int = 0  # PARTD_CONSOLE_PORT: 0 = a free port
    #: The variables that were set (not defaulted), e.g. to tell a chosen web port from the default.
    given: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        return cls(
            bootstrap_servers=_bootstrap(env),
            kafka=KafkaSecurity.from_env(env),
            **_schema_registry(env),
            data_dir=Path(env.get("PARTD_DATA_DIR", "").strip() or "data"),
            web_port=_int(env, "PARTD_WEB_PORT", 6066, minimum=0),
            web_host=env.get("PARTD_WEB_HOST", "").strip() or "127.0.0.1",
            partitions=_int(env, "PARTD_PARTITIONS", 8, minimum=1),
            app_id=env.get("PARTD_APP_ID", "").strip() or "partd",
            batch_size=_int(env, "PARTD_BATCH_SIZE", 500, minimum=1),
            log_level=log_level(env),
            uvloop=_flag(env, "PARTD_UVLOOP", True),
            max_idle_ms=_int(env, "PARTD_MAX_IDLE_MS", 2000, minimum=0),
            buffered_records=_int(env, "PARTD_BUFFERED_RECORDS", 2000, minimum=1),
            commit_interval_s=_int(env, "PARTD_COMMIT_INTERVAL_MS", 2000, minimum=10) / 1000.0,
            lag_interval_s=_float(env, "PARTD_LAG_INTERVAL", 5.0),
            tansu_workarounds=_flag(env, "PARTD_TANSU_WORKAROUNDS", True),
            allow_untested_versions=_flag(env, "PARTD_ALLOW_UNTESTED_VERSIONS", False),
            rocksdb_cache_mb=_int(env, "PARTD_ROCKSDB_CACHE_MB", 64, minimum=1),
            rocksdb_write_buffer_mb=_int(env, "PARTD_ROCKSDB_WRITE_BUFFER_MB", 64, minimum=1),
            **_web(env),
            given=frozenset(k for k, v in env.items() if (k.startswith(("PARTD_", "KAFKA_", "SCHEMA_"))) and v.strip()),
        )

    @property
    def debug(self) -> bool:
        return self.log_level == "debug"

    @property
    def web_tls(self) -> bool:
        """True if the worker's web server and the console serve HTTPS (``PARTD_WEB_CERTFILE`` is set)."""
        return self.web_certfile is not None

    @property
    def web_url_advertised(self) -> str:
        """``PARTD_WEB_URL``, else this worker's web address from its host and port (a wildcard host: the host name)."""
        if self.web_url:
            return self.web_url
        host = self.web_host
        if host in ("0.0.0.0", "::", ""):
            import socket

            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.web_tls else 'http'}://{host}:{self.web_port}"


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


#: The shortest PARTD_CONSOLE_TOKEN accepted (a guessable token would open beneficiaries' records).
MIN_TOKEN_LENGTH = 16


def _web(env: Mapping[str, str]) -> dict[str, Any]:
    """``PARTD_WEB_URL``/``_CERTFILE``/``_KEYFILE``/``_CAFILE`` and ``PARTD_CONSOLE_*``, checked together."""
    url = env.get("PARTD_WEB_URL", "").strip().rstrip("/") or None
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise ConfigError(f"PARTD_WEB_URL must start with http:// or https://, got {url!r}")
    cert, key, ca = (_path(env, n) for n in ("PARTD_WEB_CERTFILE", "PARTD_WEB_KEYFILE", "PARTD_WEB_CAFILE"))
    if (cert is None) != (key is None):
        raise ConfigError("PARTD_WEB_CERTFILE and PARTD_WEB_KEYFILE go together: set both (HTTPS) or neither")
    token = env.get("PARTD_CONSOLE_TOKEN", "").strip() or None
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"PARTD_CONSOLE_TOKEN must be at least {MIN_TOKEN_LENGTH} characters "
                          "(e.g. the output of `openssl rand -hex 32`)")
    return {"web_url": url, "web_certfile": cert, "web_keyfile": key, "web_cafile": ca,
            "console_token": Secret(token) if token is not None else None,
            "console_host": env.get("PARTD_CONSOLE_HOST", "").strip() or "127.0.0.1",
            "console_port": _int(env, "PARTD_CONSOLE_PORT", 0, minimum=0)}


def _schema_registry(env: Mapping[str, str]) -> dict[str, Any]:
    """``SCHEMA_REGISTRY_URL``, its CA file and basic-auth user info, checked together.

    User info written into the URL (``https://user:password@host``, Confluent's
    ``basic.auth.credentials.source=URL``) is taken out of it into the secret,
    so the URL itself can be printed.
    """
    url = env.get("SCHEMA_REGISTRY_URL", "").strip() or None
    ca_file = _path(env, "SCHEMA_REGISTRY_CA_FILE")
    user_info = env.get("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "").strip() or None
    if url is not None:
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            user_info = user_info or unquote(parts.netloc.rpartition("@")[0])
            url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    if user_info is not None and ":" not in user_info:
        raise ConfigError("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be user:password")
    given = [n for n, v in (("SCHEMA_REGISTRY_CA_FILE", ca_file), ("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", user_info))
             if v is not None]
    if given and url is None:
        raise ConfigError(f"{given[0]} is set without SCHEMA_REGISTRY_URL: set the registry's https:// address")
    if given and not url.lower().startswith("https://"):
        raise ConfigError(f"{given[0]} is set but SCHEMA_REGISTRY_URL is not https://: "
                          f"use the registry's https:// address (nothing secret goes over plain http)")
    return {"schema_registry_url": url, "schema_registry_ca_file": ca_file,
            "schema_registry_user_info": Secret(user_info) if user_info is not None else None}


@lru_cache(maxsize=1)
def settings() -> Settings:
    """This process's settings, read from the environment at first use."""
    return Settings.from_env()
