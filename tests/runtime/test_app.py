"""streams.runtime.app: the Faust app partd builds (no broker: nothing connects until the worker starts)."""
from __future__ import annotations

from pathlib import Path

from streams.config import Settings
from streams.runtime.app import PartdApp
from streams.runtime.context import RuntimeContext


def test_the_app_hands_the_runtime_and_the_web_server_narrow_contexts(tmp_path: Path) -> None:
    partd = PartdApp(Settings(partitions=4, data_dir=tmp_path, lag_interval_s=0), "127.0.0.1:1", store="memory://")
    ctx = partd.context
    assert isinstance(ctx, RuntimeContext) and partd.runtime.ctx is ctx
    assert ctx.sender is partd.sender and ctx.plans is partd.plans and ctx.cycle_done is partd.results.done
    assert ctx.table.changelog == "partd-members-changelog" and ctx.partition_count() == 4
    assert partd.web.app is partd.app and partd.web.lag_collector is None  # PARTD_LAG_INTERVAL=0: no sampler
    # Faust calls the runtime before it gives partitions up and before it stops
    assert partd.app.before_revoke == partd.runtime.before_revoke
    assert partd.app.before_stop == partd.runtime.before_stop
    assert {a.name for a in partd.app.agents.values()} >= {
        "partd-members", "partd-plans", "partd-cycle-commands", "partd-cycle-results"}
    assert {"/healthz", "/ready"} <= set(partd.app.web.views)
