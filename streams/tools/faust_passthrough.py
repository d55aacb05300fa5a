"""A plain Faust agent on raw bytes that forwards every record to one topic: Faust's own per-event cost.

``partd bench`` runs it as a process beside the partd worker (same broker,
same records, same partitions) to put the member runtime's speed next to what
Faust itself costs per event, with no rules, no state and no ordering::

    python -m streams.tools.faust_passthrough BOOTSTRAP GROUP DATA_DIR OUT_TOPIC IN_TOPIC [IN_TOPIC ...]

The agent is the idiom of Faust's documentation: ``async for event in
stream.events(): await out.send(key=..., value=...)``, acks and commits by
Faust, the same worker settings as partd's (uvloop, session timeouts).
"""
from __future__ import annotations

import sys
from typing import Any


def build(bootstrap: str, group: str, data_dir: str, out_topic: str, in_topics: list[str], web_port: int) -> Any:
    import faust

    from streams.kafka import clients
    from streams.runtime.app import FAUST_SETTINGS

    app = faust.App(group, **clients.faust_settings(bootstrap), store="memory://", datadir=data_dir,
                    key_serializer="raw", value_serializer="raw", web_host="127.0.0.1", web_port=web_port,
                    consumer_auto_offset_reset="earliest", **FAUST_SETTINGS)
    source = app.topic(*in_topics, key_type=bytes, value_type=bytes)
    out = app.topic(out_topic, key_type=bytes, value_type=bytes)

    @app.agent(source, name="passthrough")
    async def passthrough(stream: Any) -> None:
        async for event in stream.events():
            await out.send(key=event.key, value=event.value, partition=event.message.partition)

    return app


def main(argv: list[str]) -> None:
    from faust.worker import Worker

    from streams.tools.cli import use_uvloop
    from streams.tools.runner import free_port

    bootstrap, group, data_dir, out_topic, *in_topics = argv
    use_uvloop()
    app = build(bootstrap, group, data_dir, out_topic, in_topics, free_port())
    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
