"""streams/tools/errors.py: which line an exception becomes (the command-line cases are in tests/integration/test_cli_errors.py)."""
from __future__ import annotations

from aiokafka.errors import KafkaConnectionError

from streams.kafka.clients import explain_connection_error
from streams.tools.errors import PartdError, explain

UNREACHABLE = ("cannot connect to the Kafka cluster at h:9092 (KAFKA_BOOTSTRAP_SERVERS): start a broker with "
               "`partd broker` and export the KAFKA_BOOTSTRAP_SERVERS=... line it prints, or set "
               "KAFKA_BOOTSTRAP_SERVERS to a running cluster")


def test_a_connection_failure_behind_another_exception_is_still_explained() -> None:
    # what `partd worker` showed with the broker down: a RuntimeError raised while handling the connection error
    try:
        try:
            raise KafkaConnectionError("Unable to bootstrap from [('h', 9092)]")
        except KafkaConnectionError:
            raise RuntimeError("no running event loop")  # noqa: B904 - the implicit chain is the point
    except RuntimeError as exc:
        assert explain(exc, "h:9092") == UNREACHABLE


def test_a_suppressed_context_is_not_followed() -> None:
    try:
        try:
            raise FileNotFoundError(2, "No such file or directory", "/tmp/x")
        except FileNotFoundError:
            raise ValueError("bad value") from None
    except ValueError as exc:
        assert explain(exc) == "unexpected ValueError: bad value (set PARTD_LOG_LEVEL=debug to see the traceback)"


def test_an_unexpected_exception_is_one_line_naming_its_type() -> None:
    assert explain(ValueError("first line\nsecond line")) == (
        "unexpected ValueError: first line (set PARTD_LOG_LEVEL=debug to see the traceback)")
    assert explain(KeyError()) == "unexpected KeyError (set PARTD_LOG_LEVEL=debug to see the traceback)"


def test_a_multi_line_message_keeps_its_first_line() -> None:
    assert explain(PartdError("the problem: the fix\ndetails")) == "the problem: the fix"


def test_only_connection_failures_are_taken_for_an_unreachable_cluster() -> None:
    assert explain_connection_error(KafkaConnectionError("x"), "h:9092") == UNREACHABLE
    assert explain_connection_error(ConnectionRefusedError(111, "refused"), "h:9092") == UNREACHABLE
    for other in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset"), TimeoutError("slow worker"),
                  ValueError("x")):
        assert explain_connection_error(other, "h:9092") is None, other
