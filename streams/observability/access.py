"""Who may read a beneficiary's record over HTTP: the console token, HTTPS, and the MBI's hash in logs.

Shared by the worker's member query (:func:`streams.observability.web.install_member_query`)
and the console (:mod:`streams.tools.console`); docs/security.md, "The console", says why.

* The member lookup is **off** unless ``PARTD_CONSOLE_TOKEN`` is set, and then needs it:
  ``Authorization: Bearer <token>`` (compared in constant time, :func:`bearer_ok`).
* It stays off while the cluster is reached over TLS and the web server is not
  (:func:`lookup_refusal`): records read from an encrypted cluster never cross a
  network in the clear. ``PARTD_WEB_CERTFILE``/``PARTD_WEB_KEYFILE`` give the
  worker's web server and the console HTTPS (:func:`server_ssl_context`);
  the console checks workers' certificates against ``PARTD_WEB_CAFILE``
  (:func:`client_ssl_context`).
* Logs name a looked-up member by :func:`mbi_hash` (an HMAC of the MBI keyed
  with the token), never by the MBI: the same member has the same hash in the
  console's and the workers' logs, and the hash cannot be reversed without the
  token by trying every MBI.
"""
from __future__ import annotations

import hashlib
import hmac
import ssl
from pathlib import Path

from streams.config import ConfigError, Secret, Settings

#: The header a lookup carries its token in.
BEARER = "Bearer "


def lookup_refusal(settings: Settings) -> str | None:
    """Why the member lookup is off with these settings, or None when it is on."""
    if settings.console_token is None:
        return "the member lookup is off: set PARTD_CONSOLE_TOKEN (the same on the workers and the console)"
    if settings.kafka.tls and not settings.web_tls:
        return (f"the member lookup is off: the cluster is reached over TLS (KAFKA_SECURITY_PROTOCOL="
                f"{settings.kafka.protocol}) but this web server is plain HTTP: set PARTD_WEB_CERTFILE and "
                "PARTD_WEB_KEYFILE")
    return None


def bearer_ok(header: str | None, token: Secret | None) -> bool:
    """True if ``Authorization: Bearer <token>`` carries the token (constant-time comparison)."""
    if token is None or not header or not header.startswith(BEARER):
        return False
    return hmac.compare_digest(header[len(BEARER):].strip().encode(), token.reveal().encode())


def token_ok(given: str | None, token: Secret | None) -> bool:
    """True if ``given`` is the token (a login form's field; constant-time comparison)."""
    if token is None or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.reveal().encode())


def mbi_hash(mbi: str, token: Secret | None) -> str:
    """What a log line says instead of an MBI: 16 hex digits of HMAC-SHA256(token, MBI)."""
    key = token.reveal().encode() if token is not None else b"partd"
    return hmac.new(key, mbi.strip().upper().encode(), hashlib.sha256).hexdigest()[:16]


def _file(name: str, path: Path | None) -> str:
    if path is None or not path.is_file():
        raise ConfigError(f"{name}={path}: no such file")
    return str(path)


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The HTTPS context of a partd web server (``PARTD_WEB_CERTFILE``/``_KEYFILE``), None for plain HTTP."""
    if not settings.web_tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert, key = _file("PARTD_WEB_CERTFILE", settings.web_certfile), _file("PARTD_WEB_KEYFILE", settings.web_keyfile)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigError(f"PARTD_WEB_CERTFILE={cert} and PARTD_WEB_KEYFILE={key} are not a PEM certificate and "
                          f"its unencrypted key ({exc.reason})") from None
    return context


def client_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The context the console checks workers' HTTPS certificates with (``PARTD_WEB_CAFILE``, else the system's)."""
    cafile = _file("PARTD_WEB_CAFILE", settings.web_cafile) if settings.web_cafile is not None else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise ConfigError(f"PARTD_WEB_CAFILE={cafile}: not a PEM CA certificate ({exc.reason})") from None
