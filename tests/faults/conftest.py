"""Fault tests reuse the integration fixtures: a real broker per test and real workers."""
from tests.integration.conftest import broker, cluster, serde  # noqa: F401
