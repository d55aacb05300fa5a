"""What ops see: ``/metrics`` on the worker's web server (Faust's sensors and the product's)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from faust.sensors.prometheus import setup_prometheus_sensors

if TYPE_CHECKING:
    from streams.app import PartdApp


def install(partd: "PartdApp") -> None:
    """Serve Faust's own sensors and the product metrics from one registry at ``/metrics``."""
    setup_prometheus_sensors(partd.app, registry=partd.metrics.registry, name_prefix="faust")
