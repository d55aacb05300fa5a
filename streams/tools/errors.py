"""Ordinary mistakes as one line: ``partd: error: <the problem>: <the fix>``.

Every ``partd`` subcommand runs inside :func:`run` (``streams/tools/cli.py``):
an exception that is an ordinary mistake (a topic name that is not partd's, a
missing file, a cluster or schema registry that does not answer, a bad
variable) becomes one line on stderr and exit code 1; anything else becomes one
line too, naming the exception. The traceback is printed only with
``PARTD_LOG_LEVEL=debug``.

Commands that need the cluster call :func:`require_broker` first, so an
unreachable cluster is reported before any work starts (and before a worker is
built).
"""
from __future__ import annotations

import argparse
import asyncio
import difflib
import errno
import os
import sys
import traceback
from collections.abc import Callable, Iterator

from streams import topics
from streams.config import ConfigError, Settings, log_level
from streams.kafka import clients

DEBUG_HINT = "set PARTD_LOG_LEVEL=debug to see the traceback"


class PartdError(Exception):
    """An ordinary mistake; the message names the problem and the fix."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _unknown_topic(exc: topics.UnknownTopic) -> str:
    close = difflib.get_close_matches(exc.name, topics.INPUTS + topics.OUTPUTS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown topic {exc.name!r}{hint}; partd's topics are: {', '.join(topics.INPUTS + topics.OUTPUTS)}"


def _one(exc: BaseException, bootstrap: str | None) -> str | None:
    from streams.kafka.registry import RegistryError
    from streams.tools.broker import BrokerError

    if isinstance(exc, (PartdError, ConfigError)):
        return str(exc)
    if isinstance(exc, topics.UnknownTopic):
        return _unknown_topic(exc)
    if isinstance(exc, RegistryError):
        return (f"no usable answer from the schema registry at {exc.url} (SCHEMA_REGISTRY_URL): {exc.reason}; "
                "start it or fix SCHEMA_REGISTRY_URL, or unset it to use the ids in schemas/registry.json")
    if isinstance(exc, BrokerError):
        return f"the embedded broker: {str(exc).splitlines()[0]}"
    if bootstrap:
        line = clients.explain_connection_error(exc, bootstrap)
        if line is not None:
            return line
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"no such file: {exc.filename} (check the path)"
    if isinstance(exc, IsADirectoryError) and exc.filename:
        return f"{exc.filename} is a directory, not a file"
    if isinstance(exc, PermissionError) and exc.filename:
        return f"permission denied: {exc.filename}"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"{exc.strerror or exc}: that port is taken (by another partd?); choose another one"
    if isinstance(exc, TimeoutError) and str(exc):
        return str(exc)
    return None


def explain(exc: BaseException, bootstrap: str | None = None) -> str:
    """The one line (without ``partd: error: ``) for ``exc``; ``bootstrap`` is the cluster the command used."""
    for link in _chain(exc):
        line = _one(link, bootstrap)
        if line:
            return line.splitlines()[0]
    first = (str(exc).splitlines() or [""])[0]
    return f"unexpected {type(exc).__name__}{': ' + first if first else ''} ({DEBUG_HINT})"


def run(command: Callable[[argparse.Namespace, Settings], None], args: argparse.Namespace) -> None:
    """Run a subcommand with the settings from the environment; every failure is one line (module doc)."""
    settings: Settings | None = None
    if log_level() != "debug":
        clients.quiet_bootstrap_failures()  # the failure is explained in one line instead
    try:
        settings = Settings.from_env()
        command(args, settings)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BrokenPipeError:  # the reader went away (`partd consume ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        raise SystemExit(0) from None
    except BaseException as exc:  # noqa: BLE001 - every failure gets its one line
        if log_level() == "debug":
            traceback.print_exc()
        line = explain(exc, settings.bootstrap_servers if settings is not None else None)
        print(f"partd: error: {line}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def require_broker(settings: Settings) -> str:
    """The cluster's address (``KAFKA_BOOTSTRAP_SERVERS``) once it has answered; a :class:`PartdError` if unset.

    An unreachable cluster raises the client's error, which :func:`explain` turns into one line.
    """
    if not settings.bootstrap_servers:
        raise PartdError("KAFKA_BOOTSTRAP_SERVERS is not set: start a broker with `partd broker` and export the "
                         "KAFKA_BOOTSTRAP_SERVERS=... line it prints (or run `partd up`, which starts everything)")
    asyncio.run(clients.probe(settings.bootstrap_servers))
    return settings.bootstrap_servers


def require_topic(bootstrap: str, name: str) -> str:
    """``name`` if it is one of partd's topics and exists on the cluster, else a one-line error."""
    from streams.kafka.admin import partition_count

    topics.check(name)
    if partition_count(bootstrap, name) is None:
        raise PartdError(f"topic {name} does not exist on the cluster at {bootstrap}: "
                         "`partd worker` (or `partd broker`) creates partd's topics")
    return name
