"""Every Kafka client partd makes is built here, from one set of connection settings.

The worker's Faust app (:func:`faust_settings`), its own readers of the
reference topics, the lag sampler and every tool (``produce``, ``consume``,
``lag``, ``generate``, ``bench``, ``up``) get their aiokafka clients from
these functions, so a connection setting (security, timeouts) is added in
one place and reaches every client.

Security: every function takes the process's :class:`streams.config.KafkaSecurity`
(``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SSL_*``, ``KAFKA_SASL_*``) unless it is
given another one (``security=``: the embedded TLS broker, tests).
:func:`connection` turns it into aiokafka's arguments (one cached
``ssl.SSLContext`` per setting); :func:`faust_settings` into Faust's
``broker_credentials``. :func:`explain_connection_error` turns a failed
connection into one line that names the cause and the variable to fix.

Broker work-arounds: the first client built for a bootstrap address checks
whether the broker is Tansu (:func:`streams.kafka.internals.tansu.is_tansu`,
over TLS when the settings say so) and installs the Tansu work-arounds only
then (:func:`streams.kafka.internals.use_broker`).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError

from streams.config import ConfigError, KafkaSecurity, settings
from streams.kafka import internals

_Client = TypeVar("_Client", AIOKafkaConsumer, AIOKafkaProducer, AIOKafkaAdminClient)
_T = TypeVar("_T")


def security_settings(security: KafkaSecurity | None = None) -> KafkaSecurity:
    """``security``, or this process's (from the environment)."""
    return settings().kafka if security is None else security


@lru_cache(maxsize=8)
def ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    """The TLS context for ``security``: brokers checked against ``KAFKA_SSL_CAFILE``, our certificate if set.

    Certificates and host names are verified (the broker's certificate must
    name the address in ``KAFKA_BOOTSTRAP_SERVERS``). A file that is missing
    or not PEM is a :class:`ConfigError` naming its variable. One context per
    setting, shared by every client.
    """
    return _new_ssl_context(security)


def _new_ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    cafile = security.ssl_cafile
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except OSError as exc:
        reason = exc.strerror or str(exc) if not isinstance(exc, ssl.SSLError) else f"not a PEM CA certificate: {exc.reason}"
        raise ConfigError(f"KAFKA_SSL_CAFILE={cafile}: {reason}") from None
    if security.ssl_certfile is not None:
        for name, path in (("KAFKA_SSL_CERTFILE", security.ssl_certfile), ("KAFKA_SSL_KEYFILE", security.ssl_keyfile)):
            if path is not None and not path.is_file():
                raise ConfigError(f"{name}={path}: no such file")

        def encrypted(*_: Any) -> str:
            raise ConfigError("KAFKA_SSL_KEYFILE is an encrypted key: give partd the unencrypted PEM key "
                              "(mounted from a secret)")

        try:
            context.load_cert_chain(str(security.ssl_certfile),
                                    str(security.ssl_keyfile) if security.ssl_keyfile else None, password=encrypted)
        except ssl.SSLError as exc:
            raise ConfigError(f"KAFKA_SSL_CERTFILE={security.ssl_certfile} and KAFKA_SSL_KEYFILE="
                              f"{security.ssl_keyfile or '(in the certificate file)'} are not a PEM certificate "
                              f"and its key ({exc.reason})") from None
    return context


def _security_kwargs(security: KafkaSecurity) -> dict[str, Any]:
    """aiokafka's security arguments for ``security`` (shared by clients and the connection probe)."""
    out: dict[str, Any] = {"security_protocol": security.protocol}
    if security.tls:
        out["ssl_context"] = ssl_context(security)
    if security.sasl:
        assert security.sasl_password is not None  # KafkaSecurity.from_env checked it
        out.update(sasl_mechanism=security.sasl_mechanism, sasl_plain_username=security.sasl_username,
                   sasl_plain_password=security.sasl_password.reveal())
    return out


def connection(bootstrap: str, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The keyword arguments every aiokafka client gets: where the cluster is and how to connect."""
    security = security_settings(security)
    internals.use_broker(bootstrap, ssl_context(security) if security.tls else None)
    return {"bootstrap_servers": bootstrap, **_security_kwargs(security)}


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java client, aiokafka: murmur2) gives ``key``."""
    from aiokafka.partitioner import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def consumer(bootstrap: str, *topics: str, group_id: str | None = None, security: KafkaSecurity | None = None,
             **options: Any) -> AIOKafkaConsumer:
    """An aiokafka consumer (not started). ``group_id=None``: a plain reader without a group."""
    return AIOKafkaConsumer(*topics, group_id=group_id, **connection(bootstrap, security), **options)


def producer(bootstrap: str, *, security: KafkaSecurity | None = None, **options: Any) -> AIOKafkaProducer:
    """An aiokafka producer (not started)."""
    return AIOKafkaProducer(**connection(bootstrap, security), **options)


def admin(bootstrap: str, *, security: KafkaSecurity | None = None, **options: Any) -> AIOKafkaAdminClient:
    """An aiokafka admin client (not started)."""
    return AIOKafkaAdminClient(**connection(bootstrap, security), **options)


def faust_settings(bootstrap: str, security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The Faust app settings that say where the cluster is and how to connect (``faust.App(**...)``).

    TLS and SASL go in as Faust's ``broker_credentials``, which Faust hands to
    every client it makes (consumer, producer, admin).
    """
    import faust

    security = security_settings(security)
    context = ssl_context(security) if security.tls else None
    internals.use_broker(bootstrap, context)
    out: dict[str, Any] = {"broker": f"kafka://{bootstrap}"}
    if security.sasl:
        assert security.sasl_password is not None
        out["broker_credentials"] = faust.SASLCredentials(
            username=security.sasl_username, password=security.sasl_password.reveal(),
            mechanism=security.sasl_mechanism, ssl_context=context)
    elif context is not None:
        out["broker_credentials"] = faust.SSLCredentials(context)
    return out


# ---------------------------------------------------------------------------------------------
# One line for a failed connection
# ---------------------------------------------------------------------------------------------
#: How long each diagnostic connection may take (a TLS hello to a plaintext broker never ends).
PROBE_TIMEOUT_S = 5.0


def explain_connection_error(exc: BaseException, bootstrap: str, *,
                             security: KafkaSecurity | None = None) -> str | None:
    """One line saying why a client could not talk to ``bootstrap`` and what to set; None if not a known cause.

    aiokafka reports a failed bootstrap as ``Unable to bootstrap from ...``
    and only logs the cause, so for a connection failure this makes one
    diagnostic connection of its own (same settings, :data:`PROBE_TIMEOUT_S`)
    and names the cause: the broker's certificate is not trusted
    (``KAFKA_SSL_CAFILE``), the broker wants a client certificate, it speaks
    TLS to a plaintext client or plaintext to a TLS one, it does not offer the
    SASL mechanism, or SASL authentication failed. The line never holds a
    secret (the SASL password, the registry's user info). Otherwise: the
    cluster cannot be reached at all (the address, `partd broker`). Used by
    the command line (``streams/tools/errors.py``) for every command.
    """
    security = security_settings(security)
    line = _explain(exc, bootstrap, security)
    if line is None and isinstance(exc, (KafkaConnectionError, KafkaTimeoutError, ConnectionError, TimeoutError)):
        line = _diagnose(bootstrap, security)
    if line is None:
        line = _unreachable(exc, bootstrap)
    return None if line is None else _redact(line, security)


class _BootstrapFailures(logging.Filter):
    """Drops aiokafka's "Unable connect to "host:port": ..." bootstrap records (explained in one line instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unable connect to \"")


_BOOTSTRAP_FILTER = _BootstrapFailures()


def quiet_bootstrap_failures() -> None:
    """Keep aiokafka's per-address bootstrap errors out of a command's output.

    A command that cannot connect prints the one line of
    :func:`explain_connection_error` instead (the CLI calls this unless
    ``PARTD_LOG_LEVEL=debug``, where everything is logged).
    """
    logging.getLogger("aiokafka").addFilter(_BOOTSTRAP_FILTER)


def log_bootstrap_failures() -> None:
    """Undo :func:`quiet_bootstrap_failures` (a worker that is up logs every failed connection again)."""
    logging.getLogger("aiokafka").removeFilter(_BOOTSTRAP_FILTER)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in out:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


def _explain(exc: BaseException, addr: str, security: KafkaSecurity) -> str | None:
    """A line for an exception that itself says what went wrong (TLS or SASL), else None."""
    from aiokafka import errors

    for e in _chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            reason = e.verify_message or e.reason or str(e)
            if "mismatch" in reason or "hostname" in reason.lower():
                return (f"TLS: the certificate of the broker at {addr} is not for that address ({reason}): "
                        f"use the broker's address as its certificate names it in KAFKA_BOOTSTRAP_SERVERS")
            trusted = f"KAFKA_SSL_CAFILE={security.ssl_cafile}" if security.ssl_cafile else "the system's CAs"
            return (f"TLS: the certificate of the broker at {addr} is not trusted ({reason}) by {trusted}: "
                    f"set KAFKA_SSL_CAFILE to the CA certificate that signed the broker's")
        if isinstance(e, ssl.SSLError):
            reason = e.reason or str(e)
            if "CERTIFICATE_REQUIRED" in reason or (security.ssl_certfile is None and "HANDSHAKE_FAILURE" in reason):
                return (f"TLS: the broker at {addr} requires a client certificate (mutual TLS): "
                        f"set KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE")
            if security.ssl_certfile is not None and ("UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason):
                return (f"TLS: the broker at {addr} refused our client certificate KAFKA_SSL_CERTFILE="
                        f"{security.ssl_certfile} ({reason}): use one signed by a CA the broker trusts")
            return (f"TLS handshake with the broker at {addr} failed ({reason}): "
                    f"check that {addr} is the broker's TLS listener")
        if isinstance(e, errors.UnsupportedSaslMechanismError):
            return (f"SASL: the broker at {addr} does not offer KAFKA_SASL_MECHANISM={security.sasl_mechanism}: "
                    f"set the mechanism its SASL listener enables (or the address of that listener)")
        if isinstance(e, (errors.SaslAuthenticationFailed, errors.AuthenticationFailedError,
                          errors.IllegalSaslStateError)):
            return _sasl_failed(addr, security)
    return None


def _sasl_failed(addr: str, security: KafkaSecurity) -> str:
    return (f"SASL: authentication as {security.sasl_username!r} with {security.sasl_mechanism} at {addr} failed: "
            f"check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (and that the broker enables "
            f"{security.sasl_mechanism} for that user)")


def _diagnose(bootstrap: str, security: KafkaSecurity) -> str | None:
    """Connect once more the way the clients did, and explain what fails (None: nothing TLS/SASL-related)."""
    from aiokafka.errors import KafkaConnectionError

    from streams.kafka.internals import tansu

    host, port = _first_address(bootstrap)
    addr = f"{host}:{port}"
    if security.tls and tansu.api_versions(host, port, timeout=PROBE_TIMEOUT_S) is not None:
        return (f"TLS: the broker at {addr} speaks plaintext, not TLS: use the address of its TLS listener "
                f"(or KAFKA_SECURITY_PROTOCOL=PLAINTEXT for a broker that has none)")
    transport = KafkaSecurity(protocol="SSL" if security.tls else "PLAINTEXT", ssl_cafile=security.ssl_cafile,
                              ssl_certfile=security.ssl_certfile, ssl_keyfile=security.ssl_keyfile)
    failed = _run(_connect(host, port, transport))
    if isinstance(failed, (ConnectionRefusedError, socket.gaierror)):
        return None  # nothing listens there, or no such host: not a TLS/SASL matter
    if failed is not None:
        line = _explain(failed, addr, security)
        if line is None and security.tls:
            line = _tls_refusal(host, port, security)
        if line is not None:
            return line
        if not security.tls and _speaks_tls(host, port):
            return (f"the broker at {addr} requires TLS and KAFKA_SECURITY_PROTOCOL is {security.protocol}: "
                    f"set KAFKA_SECURITY_PROTOCOL={'SASL_SSL' if security.sasl else 'SSL'} and KAFKA_SSL_CAFILE "
                    f"to its CA certificate (`partd broker --tls DIR` prints both)")
        return None
    if not security.sasl:
        return None
    failed = _run(_connect(host, port, security))
    if failed is None:
        return None
    line = _explain(failed, addr, security)
    if line is not None:
        return line
    if isinstance(failed, (KafkaConnectionError, asyncio.TimeoutError, KeyError, AssertionError)):
        return _sasl_failed(addr, security)  # the broker hung up (or answered nonsense) during SASL
    return None


def _tls_refusal(host: str, port: int, security: KafkaSecurity) -> str | None:
    """Why the broker ends our TLS sessions, from one exchange on a plain TLS socket (None: no TLS error).

    asyncio reports an alert that comes after the handshake as a closed
    connection. With TLS 1.3 a missing client certificate is such an alert
    (and may even be lost to the connection's close), so TLS 1.2 is tried
    first: there the broker refuses within the handshake.
    """
    from streams.kafka.internals import tansu

    for version in (ssl.TLSVersion.TLSv1_2, None):
        context = _new_ssl_context(security)
        if version is not None:
            context.maximum_version = version
        try:
            tansu.api_versions(host, port, timeout=PROBE_TIMEOUT_S, ssl_context=context, raise_tls_errors=True)
        except ssl.SSLError as exc:
            if "UNSUPPORTED_PROTOCOL" in (exc.reason or "") or "VERSION" in (exc.reason or ""):
                continue  # a TLS 1.3-only broker: ask again with TLS 1.3
            return _explain(exc, f"{host}:{port}", security)
    return None


async def _connect(host: str, port: int, security: KafkaSecurity) -> BaseException | None:
    """None if a connection with ``security`` comes up (ApiVersions, SASL), else what went wrong."""
    from aiokafka.conn import create_conn

    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, client_id="partd-probe", request_timeout_ms=int(PROBE_TIMEOUT_S * 1000),
                        **_security_kwargs(security)),
            PROBE_TIMEOUT_S + 1)
    except Exception as exc:  # noqa: BLE001 - what failed is the answer
        return exc
    conn.close()
    return None


def _speaks_tls(host: str, port: int) -> bool:
    """True if a TLS handshake (no verification: only to see whether the port speaks TLS) completes."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), PROBE_TIMEOUT_S) as sock:
            sock.settimeout(PROBE_TIMEOUT_S)
            with context.wrap_socket(sock, server_hostname=host):
                return True
    except (OSError, ValueError):
        return False


def _first_address(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port or 9092)


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to the end, also when called from inside a running event loop (on a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _redact(line: str, security: KafkaSecurity) -> str:
    """``line`` with every secret partd holds replaced by ``***`` (they are never put in; this makes sure)."""
    config = settings()
    for secret in (security.sasl_password, config.kafka.sasl_password, config.schema_registry_user_info):
        if secret is not None and secret.reveal():
            line = line.replace(secret.reveal(), "***")
    return line


@asynccontextmanager
async def started(client: _Client) -> AsyncIterator[_Client]:
    """Start ``client``, and stop it on the way out, also when starting failed (no "Unclosed" warning)."""
    try:
        await client.start()
        yield client
    finally:
        await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())


async def probe(bootstrap: str, *, timeout_ms: int = 10000) -> None:
    """Connect to the cluster at ``bootstrap`` and read its metadata once; raise what the client raises.

    The commands call this before they do anything else, so an unreachable
    cluster is one clear error (:func:`explain_connection_error`) rather than
    a failure in the middle of the work. aiokafka's own log line about the
    failed connection is kept quiet unless ``PARTD_LOG_LEVEL=debug``.
    """
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    if not settings().debug:
        quiet.setLevel(logging.CRITICAL)
    try:
        async with started(admin(bootstrap, request_timeout_ms=timeout_ms)):
            pass
    finally:
        quiet.setLevel(level)


def _unreachable(exc: BaseException, bootstrap: str) -> str | None:
    """One line saying that the cluster at ``bootstrap`` cannot be reached and what to do; None if ``exc`` is not that."""
    where = f"the Kafka cluster at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS)"
    fix = ("start a broker with `partd broker` and export the KAFKA_BOOTSTRAP_SERVERS=... line it prints, "
           "or set KAFKA_BOOTSTRAP_SERVERS to a running cluster")
    if isinstance(exc, KafkaTimeoutError):
        return f"{where} did not answer in time: is it running and reachable from here? {fix}"
    if isinstance(exc, (KafkaConnectionError, NodeNotReadyError, ConnectionRefusedError, socket.gaierror)):
        return f"cannot connect to {where}: {fix}"
    return None


async def cluster_id(bootstrap: str, *, timeout_ms: int = 10000) -> str | None:
    """The cluster's id from its metadata (Kafka's ``cluster.id``; None if the broker does not say).

    A worker records it in its data directory (``streams/runtime/startup.py``) to tell a data
    directory written against another cluster from its own.
    """
    async with started(admin(bootstrap, request_timeout_ms=timeout_ms)) as client:
        found = (await client.describe_cluster()).get("cluster_id")
    return str(found) if found else None
