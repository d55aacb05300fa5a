"""fastavro's private names that the generated Avro codecs use (:mod:`streams.kafka.codegen`).

The generated writers and readers are a fast path that must return exactly what
fastavro returns, so they call fastavro's own functions where its arithmetic
decides (a missing field's default, decimals and the other logical types) and
classify schemas with its own helpers. These are not fastavro's public API:
the version they were tested with is in :data:`streams.kafka.internals.TESTED`
(``tests/kafka/test_codegen.py`` checks the generated code against the
installed fastavro, byte for byte).
"""
from __future__ import annotations

from fastavro._logical_readers import LOGICAL_READERS
from fastavro._logical_writers import LOGICAL_WRITERS
from fastavro._schema import extract_logical_type, extract_record_type
from fastavro._write import write_data

__all__ = ["LOGICAL_READERS", "LOGICAL_WRITERS", "extract_logical_type", "extract_record_type", "write_data"]
