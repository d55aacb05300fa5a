"""PartdApp._delivered: a batch the client could not deliver stops the worker (the commit must not pass it)."""
from __future__ import annotations

import asyncio
import types

from streams.runtime.app import PartdApp


def test_failed_delivery_crashes_the_app_and_a_good_one_does_not() -> None:
    crashed: list[BaseException] = []

    async def crash(reason: BaseException) -> None:
        crashed.append(reason)

    partd = types.SimpleNamespace(app=types.SimpleNamespace(crash=crash))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        ok = loop.create_future()
        ok.set_result(None)
        PartdApp._delivered(partd, ok)  # type: ignore[arg-type]
        failed = loop.create_future()
        failed.set_exception(RuntimeError("MessageSizeTooLarge"))
        PartdApp._delivered(partd, failed)  # type: ignore[arg-type]
        cancelled = loop.create_future()
        cancelled.cancel()
        PartdApp._delivered(partd, cancelled)  # type: ignore[arg-type]
        await asyncio.sleep(0.01)

    asyncio.run(run())
    assert [str(r) for r in crashed] == ["MessageSizeTooLarge"]
