"""The worker: a Faust app whose member path reads top-down.

:mod:`.app` builds the Faust app, the ``members`` table, the agents and the narrow
:mod:`.context` the runtime gets; :mod:`.worker` is the member path's loop over the
partition tasks (:mod:`.task`, one per member partition), which calls, in order:

1. :mod:`.consume`  records from the agent's channel, in bulk
2. :mod:`.order`    per partition number, in record-timestamp order (cycle commands included);
                    pause/resume/seek returned as actions, applied by :class:`.consume.FaustConsumer`
3. :mod:`.decode`   one Avro pass per topic, size limits, the key must be the MBI
4. :mod:`.rules`    each record through its processor (``processors/``), redeliveries from the outbox
5. :mod:`.state`    each key written once: its partition's database and the changelog
6. :mod:`.send`     outputs to the broker in whole batches
7. :mod:`.commit`   the delivery rule over all tasks: prepare, flush, commit, post-commit (``Checkpoint.commit``)

:mod:`.cycle` (the annual cycle as an input of every partition),
:mod:`.reference` (what every worker reads whole) and :mod:`.deadletters`
complete it. docs/architecture.md draws the path.
"""
