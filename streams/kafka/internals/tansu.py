"""Work-arounds for bugs of the Tansu broker (the ONE place for them).

Tansu 0.6.0 is the Kafka-protocol broker we can run on these machines (see
``docs/tansu.md``, which lists them all).  Two of its bugs break
Faust silently; this module patches the Kafka client (aiokafka 0.14.0) so
that they do not.  Each patch is written so that it is a no-op against
Apache Kafka (the corrected value is exactly what Apache Kafka returns by
itself), and each can be deleted on its own once Tansu is fixed or the
project moves to Apache Kafka: delete the ``_patch_*`` function and its
line in :func:`apply`.

Patches (installed by :func:`apply`, idempotent, called by the worker at
start-up before the Faust app creates its consumers):

* **docs/tansu.md quirk 1: ListOffsets(LATEST) is wrong.**  Tansu answers with
  the base offset of the *last record batch* + 1, not the high-water mark
  (batches of 10, 20, 30 records: 31 instead of 60).  Faust takes the end
  offsets as the changelog high-water marks during table recovery
  (``faust/tables/recovery.py`` ``_build_highwaters`` ->
  ``Consumer.highwaters`` -> ``aiokafka AIOKafkaConsumer.end_offsets``), so a
  restarted worker stops recovering early and silently serves an
  incomplete table.  The same wrong value is used by aiokafka when it resets
  a position to "latest" (``seek_to_end``, ``auto_offset_reset="latest"``).

  Patch: ``aiokafka.consumer.fetcher.Fetcher._proc_offset_request`` (the one
  function that sends ListOffsets for ``end_offsets``, ``seek_to_end`` and
  offset resets) is wrapped.  For every partition asked with timestamp
  LATEST (-1) it sends one extra Fetch request, *at the offset ListOffsets
  reported*, to the same leader, with ``partition max_bytes=1`` and
  ``max_wait=1 ms`` and ``min_bytes=0``, and takes the partition's
  ``high_watermark`` from the response (``last_stable_offset`` for a
  ``read_committed`` consumer, which is what ListOffsets returns there).
  The corrected offset is ``max(listoffsets, fetch high-water mark)``.  On
  Apache Kafka the reported offset already is the high-water mark, the
  fetch returns no records and the value is unchanged (it can only move
  forward if records were produced in between, like a later ListOffsets).
  If the Fetch fails or the broker leaves the partition out of the answer,
  the ListOffsets value is kept (as without the patch) and a warning is
  logged.  (Tansu returns an empty Fetch response when ``max_wait`` is 0,
  hence 1 ms, and a retry with 100 ms.)

* **docs/tansu.md quirk 2: zombie group members.**  Tansu's first group
  generation is 0; aiokafka only sends LeaveGroup when ``generation > 0``
  (``GroupCoordinator._maybe_leave_group``), so a stopped worker stays a
  member until its session times out and the next worker waits for it.

  Patch: ``aiokafka.consumer.group_coordinator.GroupCoordinator.
  _maybe_leave_group`` is replaced by a copy whose condition is
  ``generation >= 0 and member_id`` (a real membership) instead of
  ``generation > 0``.  Apache Kafka never hands out generation 0 to a
  member (its first generation is 1), so nothing changes there.  Also
  keep ``broker_session_timeout`` small (:data:`FAUST_SETTINGS`), which
  bounds the damage if a worker dies without leaving (kill -9).

* **TLS: Tansu 0.6 cannot serve it.**  ``tansu broker --cert C --key K``
  is refused by its own argument parser (the two options are one clap
  ``group``, so they exclude each other: "the argument '--cert <CERT>' cannot
  be used with '--key <KEY>'"), and even built with both, the 0.6.0 broker
  never uses the TLS acceptor it makes (``let _acceptor = ...`` in
  ``tansu-broker/src/broker.rs``): its listener is plain TCP.  Work-around:
  the embedded broker (:mod:`streams.tools.broker`) puts Debian's ``stunnel``
  in front of it, with :func:`tls_terminator_config`; Tansu listens in
  plaintext on a loopback port and advertises the TLS port.  Delete both
  when a Tansu that serves TLS is packaged (``tests/kafka/internals/
  test_tansu.py`` says so).

* **SASL (``--authentication``) admits nobody with memory storage.**  It
  offers only SCRAM (a PLAIN handshake is dropped: ``NoSharedMechanism``),
  SCRAM users live in the broker's storage, and the only way to add one
  (AlterUserScramCredentials, ``tansu user create``) is itself refused before
  authentication.  Not worked around: partd's SASL settings are unit-tested,
  and a real broker is used only to show that they reach the wire.

* **docs/tansu.md quirk 9: a Fetch is not answered early.**  A Fetch for which
  no records are there yet is answered after a fixed share of its
  ``max_wait`` (measured: a plain aiokafka consumer with
  ``fetch_max_wait_ms=1500`` reads records produced at 100/s p50 384 ms,
  p99 750 ms after they were written; with 5 ms, 3.6 / 7.5 ms), even when
  records arrive in between, where Apache Kafka answers as soon as
  ``min_bytes`` are there.  Faust hard-codes ``fetch_max_wait_ms=1500`` for its
  consumer, so a partd worker on Tansu answered a steady trickle of
  transactions seconds late (p50 555 ms, p99 1,647 ms at 300 tx/s).

  Patch: ``aiokafka.consumer.fetcher.Fetcher.__init__`` turns Faust's
  ``fetch_max_wait_ms`` (:data:`FAUST_FETCH_MAX_WAIT_MS`) into
  :data:`FETCH_MAX_WAIT_MS`; other consumers keep theirs.  On Apache Kafka
  (where it is never installed) it would only make an idle consumer ask
  more often.

* **A leader that leaves while another member joins stays the leader**
  (docs/tansu.md quirk 6; found by partd's join/leave test): the group never forms
  again. Patch: :func:`_patch_departed_leader`, the remaining member takes
  over the departed leader's member id.

Not patched here (docs/tansu.md): quirk 3 (the first JoinGroup waits
about half the session timeout: another reason for a small session timeout),
quirk 4 (exactly-once fails: use at-least-once) and quirk 5 (no compaction,
no CreatePartitions, ...).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

__all__ = ["api_versions", "apply", "applied", "is_tansu", "tls_terminator_config"]

log = logging.getLogger(__name__)

# Marker attribute put on patched functions, so apply() is idempotent and a
# test can tell whether a function is the patched one.
_MARK = "__partd_tansu_workaround__"

_LATEST = -1  # aiokafka OffsetResetStrategy.LATEST / ListOffsets timestamp
#: The longest the worker's Faust consumer's Fetch waits on Tansu (quirk 9): the latency a record can get from an
#: idle consumer. Idle, it asks about 50 times a second instead of once in 1.5 s (each an empty answer).
FETCH_MAX_WAIT_MS = 20
#: What Faust 0.15.3 hard-codes for its consumer (faust/transport/drivers/aiokafka.py): the one capped. partd's
#: own readers keep aiokafka's default (500 ms): nothing waits on them record by record, and capping every
#: consumer made an idle worker and broker busy (2.5 and 4.5 CPU-s in 20 s, against 0.35 and 0.38).
FAUST_FETCH_MAX_WAIT_MS = 1500
_UNKNOWN_OFFSET = -1
_READ_COMMITTED = 1


def applied() -> bool:
    """True if :func:`apply` has installed the patches in this process."""
    from aiokafka.consumer.fetcher import Fetcher
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    return getattr(Fetcher._proc_offset_request, _MARK, False) and getattr(
        GroupCoordinator._maybe_leave_group, _MARK, False
    )


def apply() -> None:
    """Install every Tansu work-around into aiokafka.  Safe to call repeatedly.

    Call it before the Faust app (or any aiokafka consumer) starts; clients
    built by :mod:`streams.kafka.clients` do (:func:`streams.kafka.internals.use_broker`,
    only when the broker is Tansu and ``PARTD_TANSU_WORKAROUNDS`` is not off).
    """
    _patch_end_offsets()  # docs/tansu.md quirk 1
    _patch_leave_group()  # docs/tansu.md quirk 2
    _patch_departed_leader()  # a leader that left during a join stays leader
    _patch_fetch_wait()  # docs/tansu.md quirk 9


def is_tansu(bootstrap: str, timeout: float = 3.0, *, ssl_context: ssl.SSLContext | None = None) -> bool | None:
    """Best-effort, cheap check whether ``bootstrap`` is a Tansu broker.

    Sends one ApiVersions v0 request (over TLS with ``ssl_context``, the
    clients' own context, when the cluster is reached over TLS) and looks at
    the API keys: Tansu 0.6 lists neither CreatePartitions (37) nor
    OffsetForLeaderEpoch (23), which every Apache Kafka since 1.0 lists.
    None if the broker cannot be reached (or the TLS handshake fails).
    ApiVersions needs no SASL: Kafka and Tansu answer it before authentication.
    """
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    keys = api_versions(host.strip("[]") or "127.0.0.1", int(port), timeout=timeout, ssl_context=ssl_context)
    if keys is None:
        return None
    return 37 not in keys and 23 not in keys


def api_versions(host: str, port: int, *, timeout: float = 3.0, ssl_context: ssl.SSLContext | None = None,
                 raise_tls_errors: bool = False) -> set[int] | None:
    """The API keys a Kafka-protocol server lists in answer to a raw ApiVersions v0; None if it does not answer.

    Plain socket (or TLS with ``ssl_context``): no client library, so it also
    tells whether a port speaks Kafka at all (the embedded broker's readiness
    check, :mod:`streams.tools.broker`, and the connection diagnosis of
    :func:`streams.kafka.clients.explain_connection_error`, which wants the
    TLS error itself: ``raise_tls_errors``).
    """
    import socket

    body = (
        (18).to_bytes(2, "big")  # api_key ApiVersions
        + (0).to_bytes(2, "big")  # api_version 0
        + (99).to_bytes(4, "big")  # correlation id
        + (5).to_bytes(2, "big")
        + b"probe"
    )
    try:
        with socket.create_connection((host, port), timeout) as raw:
            raw.settimeout(timeout)
            with (ssl_context.wrap_socket(raw, server_hostname=host) if ssl_context else raw) as s:
                s.sendall(len(body).to_bytes(4, "big") + body)
                size = int.from_bytes(_recv(s, 4), "big")
                if not 10 <= size <= 1 << 20:
                    return None
                data = _recv(s, size)
    except ssl.SSLError:
        if raise_tls_errors:
            raise
        return None
    except (OSError, ValueError):
        return None
    # v0 response: correlation_id(4) error_code(2) [api_key(2) min(2) max(2)]
    if int.from_bytes(data[0:4], "big") != 99:
        return None
    count = int.from_bytes(data[6:10], "big")
    return {int.from_bytes(data[10 + 6 * i : 12 + 6 * i], "big") for i in range(count)}


def tls_terminator_config(*, accept: str, connect: str, cert: Any, client_ca: Any = None) -> str:
    """stunnel's configuration for the TLS end in front of a plaintext Tansu (see "TLS" above).

    ``cert``: one PEM file with the key and certificate chain; ``client_ca``:
    require a client certificate signed by that CA (mutual TLS). stunnel runs
    in the foreground (stopped by PID) and logs to its stderr.
    """
    lines = [
        "foreground = yes",
        "pid =",
        "debug = notice",
        "[kafka]",
        f"accept = {accept}",
        f"connect = {connect}",
        f"cert = {cert}",
        "sslVersionMin = TLSv1.2",
    ]
    if client_ca is not None:
        lines += [f"CAfile = {client_ca}", "verifyChain = yes", "requireCert = yes"]
    return "\n".join(lines) + "\n"


def _recv(sock: Any, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


# --------------------------------------------------------------------------
# docs/tansu.md quirk 1: ListOffsets(LATEST) returns last batch base offset + 1.
# --------------------------------------------------------------------------
def _patch_end_offsets() -> None:
    from aiokafka.consumer.fetcher import Fetcher

    original = Fetcher._proc_offset_request
    if getattr(original, _MARK, False):
        return

    async def _proc_offset_request(self: Fetcher, node_id: int, topic_data: Any):
        res_offsets = await original(self, node_id, topic_data)
        latest = [
            (topic, partition)
            for topic, parts in topic_data.items()
            for partition, timestamp in parts
            if timestamp == _LATEST
        ]
        if latest:
            await _correct_latest_offsets(self, node_id, latest, res_offsets)
        return res_offsets

    setattr(_proc_offset_request, _MARK, True)
    _proc_offset_request.__wrapped__ = original  # type: ignore[attr-defined]
    _proc_offset_request.__doc__ = (
        "aiokafka's ListOffsets, with LATEST offsets corrected from a Fetch's "
        "high-water mark (streams.kafka.internals.tansu, docs/tansu.md quirk 1)."
    )
    Fetcher._proc_offset_request = _proc_offset_request  # type: ignore[method-assign]


async def _correct_latest_offsets(
    fetcher: Any,
    node_id: int,
    latest: list[tuple[str, int]],
    res_offsets: dict[Any, tuple[int, int | None]],
) -> None:
    """Replace ``res_offsets[tp]`` (offset, ts) by the Fetch high-water mark."""
    from aiokafka import errors as Errors
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.structs import TopicPartition

    todo: dict[TopicPartition, int] = {}
    for topic, partition in latest:
        tp = TopicPartition(topic, partition)
        if tp in res_offsets and res_offsets[tp][0] not in (None, _UNKNOWN_OFFSET):
            todo[tp] = res_offsets[tp][0]
    isolation = fetcher._isolation_level
    for max_wait_ms in (1, 100):  # Tansu answers nothing with max_wait 0
        if not todo:
            return
        by_topic: dict[str, list[tuple[int, int, int]]] = {}
        for tp, offset in todo.items():
            # fetch AT the reported end offset, 1 byte: no records on Kafka
            by_topic.setdefault(tp.topic, []).append((tp.partition, offset, 1))
        request = FetchRequest(max_wait_ms, 0, 1, isolation, list(by_topic.items()))
        try:
            response = await fetcher._client.send(node_id, request)
        except Errors.KafkaError as exc:
            log.warning("end-offset correction fetch failed: %r", exc)
            return
        for topic, partitions in response.topics:
            for partition, error_code, highwater, *part_data in partitions:
                tp = TopicPartition(topic, partition)
                if tp not in todo or error_code != 0:
                    continue
                value = highwater
                if isolation == _READ_COMMITTED and response.API_VERSION >= 4:
                    lso = part_data[0]
                    if lso is not None and lso >= 0:
                        value = lso
                reported = todo.pop(tp)
                if value is not None and value > reported:
                    log.debug(
                        "end offset of %s corrected from %s to %s (Tansu bug)",
                        tp,
                        reported,
                        value,
                    )
                    res_offsets[tp] = (value, res_offsets[tp][1])
    if todo:
        log.warning(
            "could not verify end offsets of %s with a Fetch; using ListOffsets",
            sorted(todo),
        )


# --------------------------------------------------------------------------
# docs/tansu.md quirk 2: generation 0 members never send LeaveGroup.
# --------------------------------------------------------------------------
def _fetch_wait(fetch_max_wait_ms: int) -> int:
    """The wait a fetcher gets on Tansu: Faust's consumer's 1500 ms becomes :data:`FETCH_MAX_WAIT_MS`."""
    return FETCH_MAX_WAIT_MS if fetch_max_wait_ms == FAUST_FETCH_MAX_WAIT_MS else fetch_max_wait_ms


def _patch_fetch_wait() -> None:
    from aiokafka.consumer.fetcher import Fetcher

    original = Fetcher.__init__
    if getattr(original, _MARK, False):
        return

    def __init__(self: Fetcher, *args: Any, fetch_max_wait_ms: int = 500, **kwargs: Any) -> None:
        original(self, *args, fetch_max_wait_ms=_fetch_wait(fetch_max_wait_ms), **kwargs)

    setattr(__init__, _MARK, True)
    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    Fetcher.__init__ = __init__  # type: ignore[method-assign]


def _patch_leave_group() -> None:
    from aiokafka import errors as Errors
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from aiokafka.protocol.group import LeaveGroupRequest

    original = GroupCoordinator._maybe_leave_group
    if getattr(original, _MARK, False):
        return

    # Copy of aiokafka 0.14.0 GroupCoordinator._maybe_leave_group; only the
    # condition changed: "generation > 0" -> "generation >= 0 and member_id".
    async def _maybe_leave_group(self: GroupCoordinator) -> None:
        if (
            self.generation >= 0
            and self.member_id
            and self._group_instance_id is None
        ):
            request = LeaveGroupRequest(self.group_id, self.member_id)
            try:
                await self._send_req(request)
            except Errors.KafkaError as err:
                log.error("LeaveGroup request failed: %s", err)
            else:
                log.info("LeaveGroup request succeeded")
        self.reset_generation()

    setattr(_maybe_leave_group, _MARK, True)
    _maybe_leave_group.__wrapped__ = original  # type: ignore[attr-defined]
    GroupCoordinator._maybe_leave_group = _maybe_leave_group  # type: ignore[method-assign]


# --------------------------------------------------------------------------
# A departed leader: Tansu keeps a member that left during another member's
# JoinGroup as the group's leader, for good.
# --------------------------------------------------------------------------
def _patch_departed_leader() -> None:
    """Join under the departed leader's id when Tansu names it leader twice.

    Tansu 0.6 (``coordinator/group/administrator.rs`` in its source): a
    JoinGroup turns a formed group into a forming one that keeps its leader;
    a LeaveGroup in the forming state removes the member but not
    ``state.leader``; the leader is only cleared when a member still in the
    group misses its session. So when worker A, the leader, leaves while
    worker B's JoinGroup is pending (B starting while A stops: a rolling
    restart), Tansu answers B: generation N, leader A, no members; B's
    SyncGroup fails with REBALANCE_IN_PROGRESS after ~8 s; B joins again and
    is told the same, forever. Nobody consumes.

    Patch: ``CoordinatorGroupRebalance.perform_group_join`` remembers the
    (generation, leader) of each JoinGroup answer; when a follower's
    SyncGroup fails for the same pair twice, the member leaves under its own
    id and joins again under the departed leader's id. Tansu then names it
    leader (it *is* the leader id), sends it the member list and takes its
    assignment: the next generation forms. Measured: the group consumes again
    ~27 s after the leader left (without: never).
    ``tests/kafka/internals/test_tansu.py::test_departed_leader_is_taken_over``
    reproduces it with raw protocol requests and fails without the patch.

    On Apache Kafka a failed SyncGroup is followed by a JoinGroup that forms
    a new generation, so the same pair never fails twice and nothing changes.
    The leader id is taken over only after a departed leader has failed to
    send its assignment twice (~16 s), never while it is alive.
    """
    from aiokafka import errors as Errors
    from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance
    from aiokafka.protocol.group import LeaveGroupRequest

    original_join = CoordinatorGroupRebalance.perform_group_join
    original_sync = CoordinatorGroupRebalance._send_sync_group_request
    if getattr(original_sync, _MARK, False):
        return

    async def perform_group_join(self: Any) -> Any:
        coordinator = self._coordinator
        send = coordinator._send_req

        async def remember_leader(request: Any) -> Any:
            response = await send(request)
            if getattr(response, "leader_id", None) is not None:
                coordinator.__dict__["_partd_join"] = (response.generation_id, response.leader_id)
            return response

        coordinator._send_req = remember_leader
        try:
            return await original_join(self)
        finally:
            coordinator.__dict__.pop("_send_req", None)

    async def _send_sync_group_request(self: Any, request: Any) -> Any:
        coordinator = self._coordinator
        joined = coordinator.__dict__.get("_partd_join")
        result = await original_sync(self, request)
        if result is None and joined is not None and joined[1] != coordinator.member_id:
            if coordinator.__dict__.get("_partd_failed_sync") == joined:
                log.warning("group %s: leader %s of generation %s is gone (Tansu); joining under its id",
                            self.group_id, joined[1], joined[0])
                try:
                    await coordinator._send_req(LeaveGroupRequest(self.group_id, coordinator.member_id))
                except Errors.KafkaError as err:
                    log.warning("LeaveGroup failed: %s", err)
                coordinator.member_id = joined[1]
                coordinator.__dict__.pop("_partd_failed_sync", None)
            else:
                coordinator.__dict__["_partd_failed_sync"] = joined
        elif result is not None:
            coordinator.__dict__.pop("_partd_failed_sync", None)
        return result

    setattr(_send_sync_group_request, _MARK, True)
    _send_sync_group_request.__wrapped__ = original_sync  # type: ignore[attr-defined]
    perform_group_join.__wrapped__ = original_join  # type: ignore[attr-defined]
    CoordinatorGroupRebalance.perform_group_join = perform_group_join  # type: ignore[method-assign]
    CoordinatorGroupRebalance._send_sync_group_request = _send_sync_group_request  # type: ignore[method-assign]
