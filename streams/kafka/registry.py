"""Schema ids and parsed schemas for every topic: embedded or a Confluent registry.

Two modes:

* **Embedded** (default): ids come from the checked-in ``schemas/registry.json``
  (current versions 1..11, previous versions 101..111). No network.
* **Confluent** (env ``SCHEMA_REGISTRY_URL`` set): on construction each topic's
  current schema is registered under subject ``{topic}-value``
  (``POST /subjects/{subject}/versions``) and the returned ids are used. An id
  seen while decoding that is not known yet is fetched with
  ``GET /schemas/ids/{id}`` and cached. The embedded ids are not used in this
  mode (a registry's ids are its own).

  An ``https://`` registry is verified against ``SCHEMA_REGISTRY_CA_FILE``
  (else the system's CAs); ``SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO``
  (``user:password``, Confluent's spelling) is sent as HTTP basic auth. Both
  are refused with an ``http://`` URL (streams/config.py). Errors name the
  registry's URL, never the credentials.

Parsed schemas (``fastavro.parse_schema``) are cached; the hot path only does
dict lookups by int id.
"""
from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import fastavro

import schemas
from streams.config import Secret

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ENV_URL = "SCHEMA_REGISTRY_URL"

ParsedSchema = Any  # what fastavro.parse_schema returns (a dict, or a list for unions)


class UnknownSchemaId(KeyError):
    """No schema with that id (embedded: not in registry.json; Confluent: 404)."""

    def __init__(self, schema_id: int, message: str = "") -> None:
        super().__init__(schema_id)
        self.schema_id = schema_id
        self.message = message or f"unknown schema id {schema_id}"

    def __str__(self) -> str:
        return self.message


class UnknownTopic(KeyError):
    """A topic with no value schema in the registry."""


class RegistryError(RuntimeError):
    """The Confluent registry could not be reached or answered with an error.

    ``url`` is the registry's address (``SCHEMA_REGISTRY_URL``), ``reason`` what went wrong, in a few words.
    """

    def __init__(self, message: str, *, url: str | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason or message


def parse(schema: Mapping[str, Any] | str) -> ParsedSchema:
    """Parse a schema (JSON dict or JSON text) with fastavro, standalone."""
    if isinstance(schema, str):
        schema = json.loads(schema)
    return fastavro.parse_schema(dict(schema), named_schemas={})


def full_name(schema: Mapping[str, Any]) -> str:
    """The full name of a named schema (``gov.cms.partd.EnrollmentTransaction``)."""
    name = schema.get("name", "")
    if "." in name or not schema.get("namespace"):
        return name
    return f"{schema['namespace']}.{name}"


class SchemaRegistry:
    """Ids and parsed schemas per topic. Build with :meth:`from_env` or :meth:`embedded`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        ca_file: str | os.PathLike[str] | None = None,
        user_info: Secret | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        negative_ttl: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/") if url else None
        self._context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None) if self.url else None
        self._headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
        if user_info is not None:
            token = base64.b64encode(user_info.reveal().encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self.timeout = timeout
        self.retries = max(1, retries)
        self.negative_ttl = negative_ttl
        self._topic_ids: dict[str, int] = {}
        self._reader: dict[str, ParsedSchema] = {}
        self._writers: dict[int, ParsedSchema] = {}
        self._raw: dict[int, dict[str, Any]] = {}
        self._missing: dict[int, float] = {}  # id -> monotonic time of the 404
        for topic in schemas.topics():
            raw = schemas.topic_schema_json(topic)
            self._reader[topic] = parse(raw)
            if self.url is None:
                for version in schemas.topic_versions(topic):
                    vraw = raw if version.current else schemas.schema_json(version.file)
                    self._remember(version.id, vraw, self._reader[topic] if version.current else None)
                self._topic_ids[topic] = schemas.topic_schema_id(topic)
            else:
                schema_id = self._register(schemas.subject_for_topic(topic), raw)
                self._remember(schema_id, raw, self._reader[topic])
                self._topic_ids[topic] = schema_id

    # -- construction ---------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SchemaRegistry:
        """Confluent mode if ``SCHEMA_REGISTRY_URL`` is set (and not empty), else embedded."""
        from streams.config import Settings, settings

        return cls.from_settings(settings() if environ is None else Settings.from_env(environ))

    @classmethod
    def from_settings(cls, config: Any) -> SchemaRegistry:
        """The registry a :class:`streams.config.Settings` names (URL, CA file, basic auth)."""
        return cls(config.schema_registry_url, ca_file=config.schema_registry_ca_file,
                   user_info=config.schema_registry_user_info)

    @classmethod
    def embedded(cls) -> SchemaRegistry:
        """The checked-in registry (``schemas/registry.json``)."""
        return cls(None)

    @property
    def mode(self) -> str:
        """``"embedded"`` or ``"confluent"``."""
        return "embedded" if self.url is None else "confluent"

    # -- lookups ----------------------------------------------------------

    def topics(self) -> tuple[str, ...]:
        """Every topic with a value schema."""
        return tuple(self._topic_ids)

    def id_for_topic(self, topic: str) -> int:
        """The id records of ``topic`` are written with (its current schema)."""
        try:
            return self._topic_ids[topic]
        except KeyError:
            raise UnknownTopic(topic) from None

    def reader_schema(self, topic: str) -> ParsedSchema:
        """The parsed current schema of ``topic`` (the reader schema when decoding)."""
        try:
            return self._reader[topic]
        except KeyError:
            raise UnknownTopic(topic) from None

    def writer_schema(self, schema_id: int) -> ParsedSchema:
        """The parsed schema with that id; fetched from the registry once in Confluent mode.

        Raises :class:`UnknownSchemaId` if there is none, :class:`RegistryError`
        if the registry cannot be reached.
        """
        parsed = self._writers.get(schema_id)
        if parsed is not None:
            return parsed
        if self.url is None:
            raise UnknownSchemaId(schema_id)
        missed = self._missing.get(schema_id)
        if missed is not None and time.monotonic() - missed < self.negative_ttl:
            raise UnknownSchemaId(schema_id)
        raw = self._fetch(schema_id)
        return self._remember(schema_id, raw, None)

    def raw_schema(self, schema_id: int) -> dict[str, Any]:
        """The JSON schema with that id (as :meth:`writer_schema`, unparsed)."""
        self.writer_schema(schema_id)
        return self._raw[schema_id]

    def record_name(self, schema_id: int) -> str:
        """Full record name of the schema with that id."""
        return full_name(self.raw_schema(schema_id))

    def known_ids(self) -> dict[int, str]:
        """Every id known so far -> its record's full name."""
        return {i: full_name(raw) for i, raw in self._raw.items()}

    def add_writer_schema(self, schema_id: int, schema: Mapping[str, Any] | str) -> ParsedSchema:
        """Make one more writer schema known locally under ``schema_id`` (tools and tests).

        It does not change any topic's current id and is never sent to a registry.
        """
        raw = json.loads(schema) if isinstance(schema, str) else json.loads(json.dumps(schema))
        return self._remember(schema_id, raw, None)

    # -- internals --------------------------------------------------------

    def _remember(self, schema_id: int, raw: dict[str, Any], parsed: ParsedSchema | None) -> ParsedSchema:
        if parsed is None:
            parsed = parse(raw)
        self._raw[schema_id] = raw
        self._writers[schema_id] = parsed
        self._missing.pop(schema_id, None)
        return parsed

    def _register(self, subject: str, raw: dict[str, Any]) -> int:
        body = json.dumps({"schema": json.dumps(raw, separators=(",", ":"))}).encode()
        try:
            reply = self._request("POST", f"/subjects/{subject}/versions", body)
            return int(reply["id"])
        except urllib.error.HTTPError as exc:  # 4xx: not a registry, or it refuses the schema
            raise RegistryError(f"registering subject {subject} at {self.url}: HTTP {exc.code} {exc.reason}",
                                url=self.url, reason=f"HTTP {exc.code} {exc.reason} to POST /subjects/{subject}/versions") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"registering subject {subject} at {self.url}: no schema id in the reply",
                                url=self.url, reason="its reply to a schema registration has no id") from exc

    def _fetch(self, schema_id: int) -> dict[str, Any]:
        try:
            reply = self._request("GET", f"/schemas/ids/{schema_id}", None)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                self._missing[schema_id] = time.monotonic()
                raise UnknownSchemaId(schema_id, f"schema id {schema_id} not in registry {self.url}") from None
            raise RegistryError(f"GET schema {schema_id}: HTTP {exc.code}", url=self.url,
                                reason=f"HTTP {exc.code} to GET /schemas/ids/{schema_id}") from exc
        if reply.get("schemaType", "AVRO") != "AVRO":
            raise UnknownSchemaId(schema_id, f"schema id {schema_id} is {reply['schemaType']}, not AVRO")
        return json.loads(reply["schema"])

    def _request(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        """One JSON request with retries on connection errors and 5xx; 4xx raise HTTPError at once."""
        assert self.url is not None
        last: Exception | None = None
        for attempt in range(self.retries):
            req = urllib.request.Request(self.url + path, data=body, method=method, headers=self._headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout, context=self._context) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    raise RegistryError(
                        f"the schema registry at {self.url} refused {method} {path} (HTTP {exc.code}): "
                        f"check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO (user:password)") from None
                if exc.code < 500:
                    raise
                last = exc
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise RegistryError(
                        f"TLS: the certificate of the schema registry at {self.url} is not trusted "
                        f"({reason.verify_message}): set SCHEMA_REGISTRY_CA_FILE to the CA that signed it") from None
                last = exc
            time.sleep(0.05 * (2**attempt))
        if isinstance(last, urllib.error.HTTPError) and method == "GET":
            raise last
        reason = str(getattr(last, "reason", None) or last)
        raise RegistryError(f"{method} {self.url}{path} failed: {reason}", url=self.url, reason=reason) from last
