"""The one package that uses private names of Faust, aiokafka and fastavro, and the versions it was tested on.

Everything partd needs from Faust, aiokafka and fastavro beyond their public API lives in
this package, so an upgrade has one place to check:

* :mod:`.faust_private`: Faust's table store per partition (reads and writes
  of a raw-bytes table for a given partition, the persisted changelog
  offset), its consumer's commit of explicit offsets, the app's rebalance and
  stop hooks (:class:`.faust_private.HookedApp`).
* :mod:`.tansu`: the Tansu broker's bugs, worked around inside aiokafka; applied
  only when the broker is Tansu (:func:`use_broker`).
* :mod:`.fastavro_private`: fastavro's conversion and schema helpers the
  generated Avro codecs call (:mod:`streams.kafka.codegen`).
* Here: an aiokafka consumer's metadata refresh (:func:`refresh_metadata`) and
  its coordinator's one-request OffsetFetch (:func:`fetch_committed`).

:func:`check_versions` runs when a worker starts: on versions other than
:data:`TESTED` it refuses to run unless ``PARTD_ALLOW_UNTESTED_VERSIONS=1``.
"""
from __future__ import annotations

import logging
import ssl
from importlib import metadata
from typing import Any

from streams.config import settings

log = logging.getLogger(__name__)

#: The distributions whose private names this package uses, at the versions tested.
TESTED: dict[str, str] = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "fastavro": "1.13.1"}


class UntestedVersions(RuntimeError):
    """faust-streaming, aiokafka or fastavro is installed at a version this package was not tested with."""


def installed_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in TESTED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def check_versions(*, allow_untested: bool | None = None) -> dict[str, str | None]:
    """The installed versions; raises :class:`UntestedVersions` if one differs from :data:`TESTED`.

    ``allow_untested`` (default: ``PARTD_ALLOW_UNTESTED_VERSIONS``) turns the
    refusal into a warning.
    """
    found = installed_versions()
    wrong = {d: v for d, v in found.items() if v != TESTED[d]}
    if wrong:
        listing = ", ".join(f"{d} {v or 'missing'} (tested: {TESTED[d]})" for d, v in wrong.items())
        allow = settings().allow_untested_versions if allow_untested is None else allow_untested
        if not allow:
            raise UntestedVersions(
                f"untested versions installed: {listing}. partd uses private names of these libraries "
                f"(streams/kafka/internals); install the tested versions (pip install -e .) or set "
                f"PARTD_ALLOW_UNTESTED_VERSIONS=1 to run anyway")
        log.warning("running on untested versions (PARTD_ALLOW_UNTESTED_VERSIONS=1): %s", listing)
    return found


_brokers: dict[str, bool] = {}


def use_broker(bootstrap: str, ssl_context: ssl.SSLContext | None = None) -> bool:
    """Install the broker work-arounds ``bootstrap`` needs (once per address); True if it is Tansu.

    Tansu's work-arounds (:mod:`.tansu`) are installed only when the broker
    answers like Tansu; on Apache Kafka nothing is patched. ``ssl_context``:
    the broker is reached over TLS (the clients' own context), so the probe is
    too. ``PARTD_TANSU_WORKAROUNDS=off`` skips them (to show what they fix).
    """
    known = _brokers.get(bootstrap)
    if known is not None:
        return known
    from streams.kafka.internals import tansu

    found = tansu.is_tansu(bootstrap, ssl_context=ssl_context)
    if found is None:  # not reachable now: decide at the next client
        return False
    _brokers[bootstrap] = found
    if found and settings().tansu_workarounds:
        tansu.apply()
        log.debug("broker at %s is Tansu: work-arounds installed", bootstrap)
    return found


async def refresh_metadata(consumer: Any) -> None:
    """Make an aiokafka consumer learn new topics and partitions now (aiokafka has no public call for it)."""
    await consumer._client.force_metadata_update()


async def fetch_committed(consumer: Any, tps: list[Any]) -> dict[Any, int]:
    """A group's committed offsets of ``tps`` in one OffsetFetch (the consumer has the group id)."""
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is not None and hasattr(coordinator, "fetch_committed_offsets"):
        found = await coordinator.fetch_committed_offsets(tps)
        return {tp: om.offset for tp, om in found.items() if om.offset is not None and om.offset >= 0}
    out = {}
    for tp in tps:  # the public API: one request per partition
        offset = await consumer.committed(tp)
        if offset is not None:
            out[tp] = offset
    return out
