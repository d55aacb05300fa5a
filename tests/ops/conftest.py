"""Ops tests: the integration fixtures (a real Tansu per test, real workers) plus Prometheus helpers."""
from __future__ import annotations

from tests.integration.conftest import Cluster, broker, cluster, serde  # noqa: F401 - fixtures

__all__ = ["Cluster"]
