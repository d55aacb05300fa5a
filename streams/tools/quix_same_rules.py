"""Quix Streams running partd's own rules: what a user would get from the best Python alternative.

``partd bench`` runs it as a process beside the partd worker (same broker, same
input records, same partitions, same population) to put the member runtime's
speed next to another framework doing the same per-event work::

    python -m streams.tools.quix_same_rules BOOTSTRAP GROUP STATE_DIR OUT_TOPIC MEMBERS YEAR SEED

The application is the idiom of Quix Streams' documentation: one
``StreamingDataFrame`` per member input topic (``beneficiary-updates``,
``enrollment-requests``, ``lis-status-changes``), concatenated (Quix then applies
them in record-timestamp order, as partd does) into one stateful ``apply``
that runs :func:`streams.runtime.rules.process_batch` on each record with the
member's stored value from Quix's RocksDB state (raw bytes: identity
``dumps``/``loads``, the bytes partd itself stores), writes the new value back
and returns the encoded outputs, produced by Quix to ``OUT_TOPIC`` with
partd's keys. Quix's defaults otherwise: at-least-once, changelog topics,
commits every 5 s. The plan catalog is built once from the same population
(``streams.tools.generate``), the global table partd keeps. Quix Streams is in
the ``bench`` extra (``pip install -e .[bench]``), never a runtime dependency.

On Tansu, Quix derives its changelog topics' configs from the input topics'
``retention.ms``/``retention.bytes``, which Tansu only returns when the topics
were created with them: ``partd bench`` creates its topics so (docs/tansu.md, quirk 10).
"""
from __future__ import annotations

import sys
from typing import Any

MEMBER_INPUTS = ("beneficiary-updates", "enrollment-requests", "lis-status-changes")


def available() -> str | None:
    """None if Quix Streams can be imported, else why not (one line)."""
    import warnings

    try:
        with warnings.catch_warnings():  # its dependencies' deprecation notices are not the bench's business
            warnings.simplefilter("ignore")
            import quixstreams  # noqa: F401
    except ImportError as exc:
        return f"Quix Streams is not installed ({exc}); pip install -e '.[bench]'"
    return None


def build(bootstrap: str, group: str, state_dir: str, out_topic: str, members: int, year: int, seed: int) -> Any:
    from quixstreams import Application, message_context
    from quixstreams.models.serializers import Serializer
    from quixstreams.state.rocksdb import RocksDBOptions

    from processors import plans as plan_rules
    from streams.kafka.registry import SchemaRegistry
    from streams.kafka.serde import Serde
    from streams.runtime import state as st
    from streams.runtime.deadletters import Source
    from streams.runtime.rules import Reference, process_batch
    from streams.tools import generate

    serde = Serde(SchemaRegistry.embedded())
    pop = generate.generate(members, year=year, seed=seed)
    ref = Reference(dict(plan_rules.apply_plan_update(p) for p in pop.plans))

    class SecondOfPair(Serializer):
        """The value of a ``(key, value)`` output (the key goes through ``to_topic(key=...)``)."""

        def __call__(self, value: Any, ctx: Any) -> bytes:
            return value[1]

    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                      state_dir=state_dir, processing_guarantee="at-least-once", loglevel="WARNING",
                      rocksdb_options=RocksDBOptions(dumps=lambda v: v, loads=lambda v: v))
    inputs = [app.dataframe(app.topic(t, key_deserializer="bytes", value_deserializer="bytes")) for t in MEMBER_INPUTS]
    out = app.topic(out_topic, key_serializer="bytes", value_serializer=SecondOfPair())

    def rules(value: bytes, key: bytes, timestamp: int, headers: Any, state: Any) -> list[tuple[bytes, bytes]]:
        ctx = message_context()
        stored = st.decode(state.get(b"m"))
        res = process_batch([Source(ctx.topic, ctx.partition, ctx.offset, key, value, timestamp)], serde,
                            lambda k: stored, ref)
        for new in res.writes.values():
            state.set(b"m", st.encode(new))
        return [(k.encode(), v) for _, k, v, _ in res.sends]

    sdf = inputs[0]
    for other in inputs[1:]:
        sdf = sdf.concat(other)
    sdf = sdf.apply(rules, stateful=True, metadata=True, expand=True)
    sdf.to_topic(out, key=lambda pair: pair[0])
    return app


def main(argv: list[str]) -> None:
    bootstrap, group, state_dir, out_topic, members, year, seed = argv
    app = build(bootstrap, group, state_dir, out_topic, int(members), int(year), int(seed))
    app.run()


if __name__ == "__main__":
    main(sys.argv[1:])
