"""Integration tests for streams.kafka.internals.tansu against the real Tansu binary.

Each test first documents the Tansu bug (docs/tansu.md quirk number in the name)
and then shows that the work-around fixes it.  If a future Tansu fixes a bug,
the "bug is there" assertion turns into an xfail with a message instead of
failing: then the work-around can be deleted.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.structs import TopicPartition

from streams.kafka.admin import ensure_topics
from streams.kafka.internals import tansu as tansu_workarounds
from streams.tools.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BATCHES = (10, 20, 30)
TOTAL = sum(BATCHES)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with EmbeddedBroker(tmp_path_factory.mktemp("tansu-logs")) as b:
        yield b


async def _produce_batches(bootstrap: str, topic: str, partition: int = 0) -> None:
    """Produce BATCHES as one record batch each, with keys k0..k59 (JSON)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    try:
        i = 0
        for n in BATCHES:
            batch = producer.create_batch()
            for _ in range(n):
                meta = batch.append(
                    key=json.dumps(f"k{i}").encode(),
                    value=json.dumps(i).encode(),
                    timestamp=None,
                )
                assert meta is not None, "record batch full"
                i += 1
            batch.close()
            await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()


async def _raw_list_offsets_latest(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
    """ListOffsets(LATEST) straight on the wire, bypassing any patch."""
    client = consumer._client
    await client.force_metadata_update()
    node = client.cluster.leader_for_partition(tp)
    response = await client.send(node, OffsetRequest(-1, 0, [(tp.topic, [(tp.partition, -1)])]))
    [(topic, [(partition, error_code, *info)])] = response.topics
    assert error_code == 0
    return info[-1] if response.API_VERSION > 0 else info[0][0]


# ---------------------------------------------------------------------------
# docs/tansu.md quirk 1: ListOffsets(LATEST) = base offset of the last batch + 1
# ---------------------------------------------------------------------------
def test_quirk1_end_offsets_corrected(broker):
    topic = "wa-end-offsets"
    ensure_topics(broker.bootstrap, [topic], partitions=2)

    async def run():
        await _produce_batches(broker.bootstrap, topic, partition=0)
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
        await consumer.start()
        try:
            tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
            raw = await _raw_list_offsets_latest(consumer, tp0)
            tansu_workarounds.apply()
            tansu_workarounds.apply()  # idempotent
            assert tansu_workarounds.applied()
            ends = await consumer.end_offsets([tp0, tp1])
            # seek_to_end goes through the same (patched) ListOffsets path
            consumer.assign([tp0, tp1])
            await consumer.seek_to_end(tp0)
            position = await consumer.position(tp0)
            begins = await consumer.beginning_offsets([tp0, tp1])
            return raw, ends, position, begins
        finally:
            await consumer.stop()

    raw, ends, position, begins = asyncio.run(run())
    print(f"raw ListOffsets(LATEST)={raw}, corrected end_offsets={ends}")
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
    assert ends[tp0] == TOTAL, ends
    assert ends[tp1] == 0, ends  # empty partition untouched
    assert position == TOTAL
    assert begins == {tp0: 0, tp1: 0}
    if raw == TOTAL:
        pytest.xfail(
            "Tansu now returns the right ListOffsets(LATEST): docs/tansu.md quirk 1 "
            "seems fixed; the end-offset work-around can be deleted"
        )
    assert raw == 1 + (TOTAL - BATCHES[-1])  # 31: base offset of last batch + 1


# ---------------------------------------------------------------------------
# docs/tansu.md quirk 1, seen from Faust: table recovery stops at the wrong offset
# ---------------------------------------------------------------------------
FAUST_APP = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    sys.path.insert(0, {repo!r})
    bootstrap, app_id, patch, datadir = sys.argv[1:5]
    from streams.kafka.internals import tansu as tansu_workarounds
    from streams.runtime.app import FAUST_SETTINGS
    if patch == "1":
        tansu_workarounds.apply()
    import faust

    settings = dict(FAUST_SETTINGS)
    settings["broker_session_timeout"] = 6.0  # first join waits half of it
    app = faust.App(
        app_id,
        broker="kafka://" + bootstrap,
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        topic_partitions=1,
        key_serializer="json",
        value_serializer="json",
        **settings,
    )
    table = app.Table(
        "counts", default=int, partitions=1,
        key_type=str, value_type=int,
    )
    events = app.topic(app_id + "-events", partitions=1, value_serializer="json")

    @app.agent(events)
    async def count(stream):
        async for key in stream:
            table[key] += 1

    @app.task
    async def report():
        await app.tables.recovery.completed.wait()
        await asyncio.sleep(0.5)
        data = {{k: v for k, v in table.items()}}
        result = json.dumps({{"n": len(data), "sum": sum(data.values())}})
        with open(datadir + ".json", "w") as f:  # Faust redirects stdout to logging
            f.write(result)
        os.kill(os.getpid(), signal.SIGTERM)

    if __name__ == "__main__":
        faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    """
)


def _restore_table(broker, tmp_path: Path, app_id: str, patch: bool) -> dict:
    """Fill the changelog of table 'counts' with batches, start a worker, read the table."""
    changelog = f"{app_id}-counts-changelog"
    ensure_topics(broker.bootstrap, [changelog, f"{app_id}-events"], partitions=1)
    asyncio.run(_produce_batches(broker.bootstrap, changelog))
    script = tmp_path / f"{app_id}.py"
    script.write_text(FAUST_APP.format(repo=str(REPO)))
    proc = subprocess.Popen(
        [sys.executable, str(script), broker.bootstrap, app_id, "1" if patch else "0",
         str(tmp_path / f"{app_id}-data"), "worker"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"faust worker did not report in 90 s:\n{out[-3000:]}")
    result = tmp_path / f"{app_id}-data.json"
    assert result.exists(), f"no result (exit {proc.returncode}):\n{out[-3000:]}"
    return json.loads(result.read_text())


def test_quirk1_faust_table_recovery(broker, tmp_path):
    # Without the patch (documents the bug): recovery stops at offset 31.
    t = time.monotonic()
    unpatched = _restore_table(broker, tmp_path, "wa-recovery-raw", patch=False)
    patched = _restore_table(broker, tmp_path, "wa-recovery-fixed", patch=True)
    print(f"restored keys: unpatched={unpatched} patched={patched} in {time.monotonic() - t:.1f}s")
    assert patched == {"n": TOTAL, "sum": sum(range(TOTAL))}
    if unpatched["n"] == TOTAL:
        pytest.xfail("unpatched Faust restored the whole table: docs/tansu.md quirk 1 seems fixed")
    assert unpatched["n"] < TOTAL


# ---------------------------------------------------------------------------
# docs/tansu.md quirk 2: a stopped member (generation 0) stays in the group
# ---------------------------------------------------------------------------
def test_quirk2_member_leaves_group_on_stop(broker):
    topic, group = "wa-zombie", "wa-zombie-group"
    ensure_topics(broker.bootstrap, [topic], partitions=2)
    tansu_workarounds.apply()
    session_ms = 10000
    kwargs = dict(
        bootstrap_servers=broker.bootstrap,
        group_id=group,
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=1000,
        rebalance_timeout_ms=session_ms,
    )

    async def members(admin) -> list[str]:
        [response] = await admin.describe_consumer_groups([group])
        [(error_code, _group, _state, _ptype, _proto, group_members)] = response.groups
        assert error_code == 0
        return [m[0] for m in group_members]

    async def join(consumer) -> float:
        t = time.monotonic()
        await consumer.start()
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        return time.monotonic() - t

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            first = AIOKafkaConsumer(topic, **kwargs)
            await join(first)
            generation = first._coordinator.generation
            assert len(await members(admin)) == 1
            await first.stop()
            after_stop = await members(admin)
            second = AIOKafkaConsumer(topic, **kwargs)
            took = await join(second)
            await second.stop()
            return generation, after_stop, took
        finally:
            await admin.close()

    generation, after_stop, took = asyncio.run(run())
    print(f"first generation={generation}, members after stop={after_stop}, second join {took:.1f}s")
    assert after_stop == [], "the stopped member is still in the group"
    # Without the fix the second member waits for the first one's session to
    # expire (measured: 18 s with a 10 s session); with it, only Tansu's
    # join delay (about half the session timeout, docs/tansu.md quirk 3).
    assert took < session_ms / 1000


# ---------------------------------------------------------------------------
# A leader that leaves while another member joins stays the leader
# ---------------------------------------------------------------------------
def test_departed_leader_is_taken_over(broker, caplog):
    """Tansu keeps a departed leader as the leader of the forming generation.

    ``first`` (raw protocol requests, so that it cannot rejoin first) leads
    the group; ``second`` sends JoinGroup (Tansu holds it for half the
    session timeout, quirk 3) and ``first`` leaves meanwhile. Tansu
    answers ``second``: leader ``first``, and fails its SyncGroup, again and
    again. With the work-around ``second`` joins under the departed leader's
    id and leads the next generation itself.
    """
    topic, group = "wa-leader", "wa-leader-group"
    ensure_topics(broker.bootstrap, [topic], partitions=2)
    tansu_workarounds.apply()
    session_ms = 10000

    async def lead_alone(client: AIOKafkaClient, node: int) -> tuple[str, int]:
        """The first member, by hand (no heartbeats): join, lead, take both partitions."""
        metadata = ConsumerProtocolMemberMetadata(0, [topic], b"").encode()
        member = ""
        for _ in range(2):  # the first answer is MEMBER_ID_REQUIRED with our id
            joined = await client.send(node, JoinGroupRequest(
                group, session_ms, session_ms, member, None, "consumer", [("roundrobin", metadata)]))
            member = joined.member_id
        assert joined.error_code == 0 and joined.leader_id == member, joined
        mine = ConsumerProtocolMemberAssignment(0, [(topic, [0, 1])], b"").encode()
        synced = await client.send(node, SyncGroupRequest(group, joined.generation_id, member, None, [(member, mine)]))
        assert synced.error_code == 0, synced
        return member, joined.generation_id

    async def run():
        client = AIOKafkaClient(bootstrap_servers=broker.bootstrap)
        await client.bootstrap()
        node = await client.coordinator_lookup(CoordinationType.GROUP, group)
        departed, _generation = await lead_alone(client, node)
        second = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                                  session_timeout_ms=session_ms, heartbeat_interval_ms=1000,
                                  rebalance_timeout_ms=session_ms)
        starting = asyncio.create_task(second.start())  # start() returns once joined
        while not second._coordinator or not second._coordinator.member_id:  # MEMBER_ID_REQUIRED answered
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # second's JoinGroup with its id: Tansu holds it for about 5 s
        left = await client.send(node, LeaveGroupRequest(group, departed))
        took = time.monotonic()
        assert left.error_code == 0, left
        await client.close()
        try:  # without the work-around second never joins: give up after 90 s
            await asyncio.wait_for(starting, 90)
            while not second.assignment() and time.monotonic() < took + 90:
                await second.getmany(timeout_ms=100)
        except asyncio.TimeoutError:
            pass
        took = time.monotonic() - took
        partitions = sorted(tp.partition for tp in second.assignment())
        member = second._coordinator.member_id
        await second.stop()
        return departed, took, partitions, member

    with caplog.at_level("WARNING", logger=tansu_workarounds.log.name):
        departed, took, partitions, member = asyncio.run(run())
    print(f"second member got partitions {partitions} {took:.1f}s after the leader left")
    taken_over = [r for r in caplog.records if "is gone (Tansu)" in r.getMessage()]
    if not taken_over:
        assert partitions == [0, 1]
        pytest.xfail("Tansu no longer keeps a departed leader: delete tansu._patch_departed_leader")
    assert departed in taken_over[0].getMessage()
    assert partitions == [0, 1], "the remaining member never got the partitions"
    assert member == departed  # it leads under the departed leader's id


def test_tls_tansu_cannot_serve_tls_itself(tmp_path):
    """Tansu 0.6 refuses --cert with --key (and never uses its TLS acceptor): the embedded broker's stunnel."""
    from streams.tools.broker import tansu_binary, write_certificates

    files = write_certificates(tmp_path)
    done = subprocess.run(
        [str(tansu_binary()), "broker", "--listener-url", "tcp://127.0.0.1:0", "--storage-engine", "memory://tansu/",
         "--cert", str(files.server), "--key", str(files.server)],
        capture_output=True, text=True, timeout=30)
    if done.returncode != 2 or "cannot be used with" not in done.stderr:
        pytest.xfail("tansu accepts --cert with --key now: try its own TLS; the stunnel in "
                     "streams/tools/broker.py (tansu.tls_terminator_config) may go")
    assert "'--cert <CERT>' cannot be used with '--key <KEY>'" in done.stderr


def test_tls_tansu_is_recognised_over_tls(tmp_path):
    """The work-arounds' probe (is_tansu) speaks TLS when the clients do, or a TLS Tansu would go unpatched."""
    from streams.kafka.clients import ssl_context

    with EmbeddedBroker(tmp_path, tls_dir=tmp_path / "tls") as b:
        assert tansu_workarounds.is_tansu(b.bootstrap, timeout=2) is None  # a plaintext probe gets nothing
        assert tansu_workarounds.is_tansu(b.bootstrap, ssl_context=ssl_context(b.security)) is True


def test_tls_clients_install_the_workarounds_on_a_tls_tansu(tmp_path):
    code = textwrap.dedent(f"""
        from streams.kafka import clients
        from streams.kafka.internals import tansu
        from streams.tools.broker import EmbeddedBroker
        with EmbeddedBroker({str(tmp_path)!r}, tls_dir={str(tmp_path / 'tls')!r}) as b:
            before = tansu.applied()
            clients.connection(b.bootstrap, b.security)
            print(before, tansu.applied())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.stdout.split() == ["False", "True"], done.stderr


# ---------------------------------------------------------------------------
# docs/tansu.md quirk 9: a Fetch waits out its max_wait though records arrived
# ---------------------------------------------------------------------------
def test_quirk9_fetch_wait_capped(broker):
    """A record written while a consumer's Fetch waits reaches it only when the wait is over (on Tansu): with
    Faust's 1500 ms, ~0.4-0.75 s late; with the patch's cap, within a few tens of ms."""
    topic = "wa-fetch-wait"
    ensure_topics(broker.bootstrap, [topic], partitions=1)
    tp = TopicPartition(topic, 0)

    async def delay(consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, max_wait_ms: int) -> float:
        consumer._fetcher._fetch_max_wait_ms = max_wait_ms  # as set at construction (the patch caps it there)
        worst = 0.0
        for _ in range(5):
            await asyncio.sleep(0.25)  # a Fetch is waiting now
            sent = time.monotonic()
            await producer.send_and_wait(topic, b"x", partition=0)
            while not (await consumer.getmany(tp, timeout_ms=3000)).get(tp):
                pass
            worst = max(worst, time.monotonic() - sent)
        return worst

    async def run() -> tuple[float, float, int]:
        tansu_workarounds.apply()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, fetch_max_wait_ms=1500, enable_auto_commit=False)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
        await consumer.start()
        await producer.start()
        try:
            capped = consumer._fetcher._fetch_max_wait_ms
            consumer.assign([tp])
            await consumer.seek_to_end(tp)
            unpatched = await delay(consumer, producer, 1500)
            patched = await delay(consumer, producer, capped)
            return unpatched, patched, capped
        finally:
            await producer.stop()
            await consumer.stop()

    unpatched, patched, capped = asyncio.run(run())
    assert capped == tansu_workarounds.FETCH_MAX_WAIT_MS  # Faust's 1500 ms; other waits are left alone:
    assert tansu_workarounds._fetch_wait(500) == 500 and tansu_workarounds._fetch_wait(5) == 5
    if unpatched < 0.2:
        pytest.xfail(f"Tansu answered a waiting Fetch {unpatched * 1000:.0f} ms after a record came: "
                     "docs/tansu.md quirk 9 seems fixed; delete tansu._patch_fetch_wait")
    assert patched < 0.2, (unpatched, patched)
