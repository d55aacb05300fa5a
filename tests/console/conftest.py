"""Debian's chromium, driven by Playwright (the system browser: Playwright never downloads one here).

``scripts/setup.sh`` installs the ``chromium`` package (as root, like ``prometheus``)
and the ``playwright`` Python package (the test extra). A missing browser skips
these tests on a developer's machine and fails them in CI (``CI=true``).
"""
from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

CHROMIUM = "/usr/bin/chromium"
#: What this machine's closed network and root user need (machines/python.md).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
_T = TypeVar("_T")


def _missing(msg: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium (a new empty profile: Playwright launches it with a fresh user data dir)."""
    path = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if path is None:
        _missing("chromium not found: install Debian's chromium package (scripts/setup.sh does, as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright not installed: bash scripts/setup.sh installs the test extra")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


def off_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` on a thread of its own: Playwright's sync API holds this thread's event loop, and
    partd's helpers that call ``asyncio.run`` (``ensure_topics``, ...) cannot run beside it."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def arun(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine to its end on a thread of its own (:func:`off_thread`)."""
    return off_thread(asyncio.run, coro)
