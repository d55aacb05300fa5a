"""Product metrics from real processor outputs: rules fired, enrollments, letters; no person in a label."""
from __future__ import annotations

import datetime as dt

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from processors.model import Output
from streams.observability.metrics import Metrics


def _value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


MBI = "1EG4TE5MK73"


def test_rules_fired_and_no_identifiers_in_labels() -> None:
    m = Metrics()
    outs = [
        Output("trr-replies", "S7101", {"mbi": MBI, "transaction_reply_code": "117", "trc_type": "ACCEPTED"}),
        Output("trr-replies", "S7101", {"mbi": MBI, "transaction_reply_code": "118", "trc_type": "ACCEPTED"}),
        Output("trr-replies", "S7101", {"mbi": MBI, "transaction_reply_code": "011", "trc_type": "ACCEPTED"}),
        Output("beneficiary-notices", MBI, {"mbi": MBI, "notice_type": "REASSIGNMENT_PREMIUM", "publication": "11209",
                                             "first_name": "Jane", "birth_date": dt.date(1950, 1, 2)}),
        Output("beneficiary-notices", MBI, {"mbi": MBI, "notice_type": "CHOOSER", "publication": "11267"}),
        Output("beneficiary-notices", MBI, {"mbi": MBI, "notice_type": "REASSIGNMENT_NOT_POSSIBLE", "publication": None}),
        Output("plan-notices", "S7101", {"mbi": MBI, "notice_type": "GAIN_FILE_RECORD"}),
        Output("dead-letters", MBI, {"error_code": "WRONG_MAGIC_BYTE", "error_message": f"bad record for {MBI}"}),
        Output("state-reassignment-lists", "FL", {"mbi": MBI, "ssn": "123456789", "first_name": "Jane"}),
    ]
    for o in outs:
        m.output(o)
    assert _value(m, "partd_enrollments_total", kind="auto") == 1
    assert _value(m, "partd_enrollments_total", kind="facilitated") == 1
    assert _value(m, "partd_trr_replies_total", trc="011", trc_type="ACCEPTED") == 1
    assert _value(m, "partd_reassignments_total", case="PREMIUM") == 1
    assert _value(m, "partd_reassignments_total", case="CHOOSER_TAN") == 1
    assert _value(m, "partd_reassignments_total", case="NOT_POSSIBLE") == 1
    assert _value(m, "partd_letters_total", publication="11209", notice_type="REASSIGNMENT_PREMIUM") == 1
    assert _value(m, "partd_letters_total", publication="none", notice_type="REASSIGNMENT_NOT_POSSIBLE") == 1
    assert _value(m, "partd_plan_notices_total", notice_type="GAIN_FILE_RECORD") == 1
    assert _value(m, "partd_dead_letters_total", error_code="WRONG_MAGIC_BYTE") == 1
    assert _value(m, "partd_records_out_total", topic="state-reassignment-lists") == 1
    text = generate_latest(m.registry).decode()
    # No person in a label: every label value of every sample (a sample's value is a number, and a creation
    # timestamp such as 1.7966749103195012e+09 may well contain "1950"); nor anywhere in the text as written.
    labels = [v for family in text_string_to_metric_families(text) for sample in family.samples
              for v in sample.labels.values()]
    assert labels and "11209" in labels  # the labels were read
    for secret in (MBI, "123456789", "Jane", "1950", "1950-01-02"):
        assert not [v for v in labels if secret in v], secret
    for secret in (MBI, "123456789", "Jane", "1950-01-02"):
        assert secret not in text


def test_processing_latency() -> None:
    m = Metrics()
    m.processed("members", 0.2, [("enrollment-requests", 100.0), ("enrollment-requests", 99.0)], now=101.0)
    assert _value(m, "partd_batch_duration_seconds_count", agent="members") == 1
    assert _value(m, "partd_batch_duration_seconds_sum", agent="members") == 0.2
    assert _value(m, "partd_event_latency_seconds_count", topic="enrollment-requests") == 2
    assert _value(m, "partd_event_latency_seconds_sum", topic="enrollment-requests") == 3.0
    # series exist at 0 before anything happens (rates and the dead-letter alert see the first one)
    fresh = Metrics()
    assert _value(fresh, "partd_dead_letters_total", error_code="UNDECODABLE") == 0
    assert _value(fresh, "partd_events_in_total", topic="cycle-commands") == 0
