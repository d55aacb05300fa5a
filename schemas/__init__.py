"""The Avro schemas of every topic and the checked-in embedded registry.

Layout (all package data, readable by external producers too)::

    schemas/
      EnrollmentTransaction.avsc ...   current version of each record
      previous/*.avsc                  committed previous version of each record
      registry.json                    subject -> {"id", "schema", "previous": [{"id", "schema"}]}

``registry.json`` maps the Confluent subject ``{topic}-value`` of each topic
to its embedded schema id and schema file; ``previous`` lists older versions
that records may still be written with (docs/record-shapes.md, "Schema
evolution"). Ids are unique: ``state-responses`` (issue 23) has the schema of
``trr-replies`` under an id of its own, and no previous version (a new topic).
Schema file paths are relative to this directory.

Loaders return plain JSON (``dict``) schemas; parsing (fastavro) and caching
happen in :mod:`streams.kafka.registry`.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

SCHEMA_DIR: Path = Path(__file__).resolve().parent
PREVIOUS_DIR: Path = SCHEMA_DIR / "previous"
REGISTRY_FILE: Path = SCHEMA_DIR / "registry.json"
NAMESPACE = "gov.cms.partd"
VALUE_SUFFIX = "-value"


class SchemaVersion(NamedTuple):
    """One embedded schema version: its id, file (relative to SCHEMA_DIR) and whether it is current."""

    id: int
    file: str
    current: bool


def subject_for_topic(topic: str) -> str:
    """Confluent subject of a topic's values: ``{topic}-value``."""
    return f"{topic}{VALUE_SUFFIX}"


@lru_cache(maxsize=1)
def _registry() -> dict[str, Any]:
    return json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))


def load_registry() -> dict[str, Any]:
    """The parsed ``registry.json`` (a fresh deep copy; safe to mutate)."""
    return json.loads(json.dumps(_registry()))


def topics() -> tuple[str, ...]:
    """The 11 topics that have a value schema, in registry order."""
    return tuple(s[: -len(VALUE_SUFFIX)] for s in _registry() if s.endswith(VALUE_SUFFIX))


def topic_schema_file(topic: str) -> str:
    """The current schema file of a topic (relative to SCHEMA_DIR), e.g. ``EnrollmentTransaction.avsc``.

    Raises ``KeyError`` for a topic that is not in the registry.
    """
    return _registry()[subject_for_topic(topic)]["schema"]


def topic_schema_id(topic: str) -> int:
    """The embedded id of a topic's current schema."""
    return int(_registry()[subject_for_topic(topic)]["id"])


def topic_versions(topic: str) -> list[SchemaVersion]:
    """Every embedded version of a topic's schema: the current one first, then the previous ones."""
    entry = _registry()[subject_for_topic(topic)]
    out = [SchemaVersion(int(entry["id"]), entry["schema"], True)]
    out += [SchemaVersion(int(p["id"]), p["schema"], False) for p in entry.get("previous", [])]
    return out


def embedded_versions() -> dict[int, tuple[str, SchemaVersion]]:
    """Every embedded schema id -> (topic, version)."""
    return {v.id: (t, v) for t in topics() for v in topic_versions(t)}


def record_names() -> tuple[str, ...]:
    """The record names (file stems) of the current schemas, e.g. ``EnrollmentTransaction``, each once
    (``state-responses`` carries the ``TrrRecord`` of ``trr-replies``)."""
    return tuple(dict.fromkeys(Path(topic_schema_file(t)).stem for t in topics()))


def _resolve(name: str) -> Path:
    """``EnrollmentTransaction``, ``EnrollmentTransaction.avsc`` or ``previous/X.avsc`` -> a path."""
    path = name if name.endswith(".avsc") else f"{name}.avsc"
    return SCHEMA_DIR / path


@lru_cache(maxsize=None)
def _schema_text(name: str) -> str:
    return _resolve(name).read_text(encoding="utf-8")


def schema_text(name: str) -> str:
    """The raw text of a schema file (name as in :func:`schema_json`)."""
    return _schema_text(name)


def schema_json(name: str) -> dict[str, Any]:
    """A schema as a JSON dict (fresh copy).

    ``name`` is a record name (``EnrollmentTransaction``), a file name
    (``EnrollmentTransaction.avsc``) or a path relative to SCHEMA_DIR
    (``previous/EnrollmentTransaction.avsc``).
    """
    return json.loads(_schema_text(name))


def previous_schema_json(name: str) -> dict[str, Any]:
    """The committed previous version of a record's schema (``name`` as a record or file name)."""
    return schema_json(f"previous/{Path(name).name}")


def topic_schema_json(topic: str) -> dict[str, Any]:
    """The current schema of a topic as a JSON dict."""
    return schema_json(topic_schema_file(topic))
