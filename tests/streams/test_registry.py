"""SchemaRegistry: embedded ids, and the SCHEMA_REGISTRY_URL path against a real HTTP server.

The server below is a small but real Confluent-compatible registry (the two
endpoints the worker uses) on 127.0.0.1 with a free port; nothing is mocked.
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import io
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fastavro
import pytest
import trustme

import schemas
from streams.kafka.registry import (
    CONTENT_TYPE,
    RegistryError,
    SchemaRegistry,
    UnknownSchemaId,
    UnknownTopic,
)
from streams.kafka.serde import SCHEMA_MISMATCH, UNKNOWN_SCHEMA_ID, Serde, frame, split

TOPICS = list(schemas.topics())
REGISTRY_PASSWORD = "reg-pw-Not-In-Errors-88"


class FakeConfluent:
    """State of the test registry: ids by canonical schema text, subjects, request log."""

    def __init__(self, first_id: int = 40) -> None:
        self.next_id = first_id
        self.by_text: dict[str, int] = {}
        self.by_id: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.fail_next = 0  # answer this many requests with HTTP 500
        self.user_info: str | None = None  # require this basic auth (user:password)
        self.lock = threading.Lock()

    def register(self, subject: str, schema_text: str) -> int:
        canonical = json.dumps(json.loads(schema_text), sort_keys=True, separators=(",", ":"))
        with self.lock:
            schema_id = self.by_text.get(canonical)
            if schema_id is None:
                schema_id = self.next_id
                self.next_id += 1
                self.by_text[canonical] = schema_id
                self.by_id[schema_id] = schema_text
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id


def _handler(state: FakeConfluent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def _reply(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refused(self) -> bool:
            """Answer 401 (basic auth missing or wrong) or 500 (``fail_next``) and say so."""
            with state.lock:
                state.requests.append((self.command, self.path, self.headers.get("Content-Type")))
                expected = state.user_info and "Basic " + base64.b64encode(state.user_info.encode()).decode()
                if expected and self.headers.get("Authorization") != expected:
                    code, body = 401, {"error_code": 401, "message": "Unauthorized"}
                elif state.fail_next:
                    state.fail_next -= 1
                    code, body = 500, {"error_code": 50001, "message": "try again"}
                else:
                    return False
            self._reply(code, body)
            return True

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            if self._refused():
                return
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
                self._reply(404, {"error_code": 404, "message": "no such endpoint"})
                return
            if self.headers.get("Content-Type") != CONTENT_TYPE:
                self._reply(415, {"error_code": 415, "message": "unsupported media type"})
                return
            try:
                schema_text = json.loads(body)["schema"]
                json.loads(schema_text)
            except (ValueError, KeyError):
                self._reply(422, {"error_code": 42201, "message": "Invalid schema"})
                return
            self._reply(200, {"id": state.register(parts[1], schema_text)})

        def do_GET(self) -> None:  # noqa: N802
            if self._refused():
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
                text = state.by_id.get(int(parts[2]))
                if text is None:
                    self._reply(404, {"error_code": 40403, "message": "Schema not found"})
                else:
                    self._reply(200, {"schema": text})
                return
            self._reply(404, {"error_code": 404, "message": "no such endpoint"})

    return Handler


@contextmanager
def _serving(state: FakeConfluent, tls: trustme.CA | None = None) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture()
def confluent():
    state = FakeConfluent()
    with _serving(state) as url:
        yield state, url


@pytest.fixture()
def confluent_tls(tmp_path):
    """The same registry over https (its own CA, written to ca.pem) with basic auth required."""
    state = FakeConfluent()
    state.user_info = "svc-partd:" + REGISTRY_PASSWORD
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with _serving(state, ca) as url:
        yield state, url, tmp_path / "ca.pem"


# -- embedded ----------------------------------------------------------------------------


def test_from_env_without_url_is_embedded():
    reg = SchemaRegistry.from_env({})
    assert reg.mode == "embedded" and reg.url is None
    assert SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": "  "}).mode == "embedded"
    expected = {t: schemas.load_registry()[f"{t}-value"]["id"] for t in TOPICS}
    assert {t: reg.id_for_topic(t) for t in TOPICS} == expected
    assert reg.id_for_topic("enrollment-requests") == 401
    assert reg.id_for_topic("dead-letters") == 211


def test_embedded_knows_previous_versions_and_names():
    reg = SchemaRegistry.embedded()
    for topic in TOPICS:
        for version in schemas.topic_versions(topic):
            parsed = reg.writer_schema(version.id)
            assert parsed["name"] == reg.reader_schema(topic)["name"]
    assert reg.record_name(101) == "gov.cms.partd.EnrollmentTransaction"
    assert set(reg.known_ids()) == {v.id for t in TOPICS for v in schemas.topic_versions(t)}


def test_embedded_unknown_id_and_topic():
    reg = SchemaRegistry.embedded()
    with pytest.raises(UnknownSchemaId):
        reg.writer_schema(4242)
    with pytest.raises(UnknownTopic):
        reg.id_for_topic("nope")
    with pytest.raises(UnknownTopic):
        reg.reader_schema("nope")


def test_parsed_schemas_are_cached():
    reg = SchemaRegistry.embedded()
    assert reg.reader_schema("trr-replies") is reg.reader_schema("trr-replies")
    assert reg.writer_schema(406) is reg.reader_schema("trr-replies")
    assert reg.writer_schema(106) is reg.writer_schema(106)


# -- SCHEMA_REGISTRY_URL ----------------------------------------------------------------------------


def test_url_mode_registers_every_topic_and_uses_the_returned_ids(confluent):
    state, url = confluent
    reg = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url + "/"})
    assert reg.mode == "confluent"
    posts = [(m, p, ct) for m, p, ct in state.requests if m == "POST"]
    assert sorted(p for _, p, _ in posts) == sorted(f"/subjects/{t}-value/versions" for t in TOPICS)
    assert all(ct == CONTENT_TYPE for _, _, ct in posts)
    assert set(state.subjects) == {f"{t}-value" for t in TOPICS}
    ids = {t: reg.id_for_topic(t) for t in TOPICS}
    assert ids == {t: state.subjects[f"{t}-value"][0] for t in TOPICS}
    assert min(ids.values()) >= 40  # the server's ids, not the embedded 1..11
    # the registered text is the checked-in schema
    for t in TOPICS:
        assert json.loads(state.by_id[ids[t]]) == schemas.topic_schema_json(t)


def test_url_mode_round_trip_uses_server_ids(confluent):
    state, url = confluent
    reg = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url})
    serde = Serde(reg)
    record = {
        "change_id": "c1", "mbi": "1EG4TE5MK73", "action": "UPSERT", "premium_subsidy_level": "100",
        "copay_level": "1", "subsidy_source": "D", "start_date": dt.date(2026, 1, 1),
        "end_date": None,
        "event_time": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    }
    data = serde.encode("lis-status-changes", record)
    assert split(data) == (0, reg.id_for_topic("lis-status-changes"))
    assert serde.decode("lis-status-changes", data) == record
    # a second registry (another worker) gets the same ids: registration is idempotent
    again = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url})
    assert {t: again.id_for_topic(t) for t in TOPICS} == {t: reg.id_for_topic(t) for t in TOPICS}


def _older_enrollment_schema() -> dict:
    older = copy.deepcopy(schemas.schema_json("EnrollmentTransaction"))
    older["fields"] = [f for f in older["fields"] if f["name"] != "rx_member_id"]
    return older


def _enrollment_written_with(schema: dict) -> bytes:
    rec = {
        "tracking_id": "T-1", "correlation_id": None, "transaction_code": 51, "mbi": "1EG4TE5MK73",
        "contract_id": "S1234", "pbp_id": "001", "election_type": None, "enrollment_source": "B",
        "sep_reason": None, "disenrollment_reason": "11", "application_date": dt.date(2026, 3, 1),
        "effective_date": dt.date(2026, 4, 1), "submitted_at": dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc),
        "submitter_id": "S1234",
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema, named_schemas={}), rec)
    return buf.getvalue()


def test_unknown_id_is_fetched_once_and_cached(confluent):
    state, url = confluent
    reg = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url})
    serde = Serde(reg)
    # Another producer registers an older version of the schema; we have never seen its id.
    older = _older_enrollment_schema()
    older_id = state.register("enrollment-requests-value", json.dumps(older))
    assert older_id != reg.id_for_topic("enrollment-requests")
    value = frame(older_id, _enrollment_written_with(older))
    gets_before = [r for r in state.requests if r[0] == "GET"]
    assert gets_before == []
    out = serde.decode_many("enrollment-requests", [value, value, value])
    assert [e for _, e in out] == [None, None, None]
    assert out[0][0]["rx_member_id"] is None and out[0][0]["disenrollment_reason"] == "11"
    serde.decode("enrollment-requests", value)
    gets = [r for r in state.requests if r[0] == "GET"]
    assert gets == [("GET", f"/schemas/ids/{older_id}", CONTENT_TYPE)]
    assert reg.writer_schema(older_id) is reg.writer_schema(older_id)


def test_id_unknown_to_the_server_is_unknown_schema_id(confluent):
    state, url = confluent
    reg = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url})
    serde = Serde(reg)
    out = serde.decode_many("enrollment-requests", [frame(9999, b"\x02a")])
    assert out[0][0] is None and out[0][1].error_code == UNKNOWN_SCHEMA_ID
    with pytest.raises(UnknownSchemaId):
        reg.writer_schema(9999)
    # 404s are remembered for a while: no request storm for a poison id
    n = len([r for r in state.requests if r[0] == "GET"])
    serde.decode_many("enrollment-requests", [frame(9999, b"\x02a")] * 5)
    assert len([r for r in state.requests if r[0] == "GET"]) == n


def test_fetched_schema_of_another_record_is_a_mismatch(confluent):
    state, url = confluent
    reg = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url})
    serde = Serde(reg)
    lis_id = reg.id_for_topic("lis-status-changes")
    data = serde.encode("plan-year-updates", {
        "contract_id": "S1234", "pbp_id": "001", "plan_year": 2027, "parent_org_id": "P1", "region": "03",
        "plan_type": "PDP", "benefit_type": "BASIC", "basic_premium": Decimal("30.00"),
        "waives_de_minimis": False, "renewal_status": "RENEWING", "employer_group": False,
        "event_time": dt.datetime(2026, 8, 1, tzinfo=dt.timezone.utc),
    })
    out = serde.decode_many("lis-status-changes", [data])
    assert out[0][1].error_code == SCHEMA_MISMATCH
    assert split(data)[1] != lis_id


def test_transient_server_errors_are_retried(confluent):
    state, url = confluent
    state.fail_next = 2
    reg = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url})
    assert {t: reg.id_for_topic(t) for t in TOPICS}
    assert len([r for r in state.requests if r[0] == "POST"]) == len(TOPICS) + 2


def test_unreachable_registry_fails_loudly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # nothing listens on that port any more
    with pytest.raises(RegistryError):
        SchemaRegistry(f"http://127.0.0.1:{port}", timeout=0.5, retries=2)


# -- https and basic auth -----------------------------------------------------------------------


def test_https_registry_with_its_ca_and_basic_auth(confluent_tls):
    state, url, ca = confluent_tls
    reg = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url, "SCHEMA_REGISTRY_CA_FILE": str(ca),
                                   "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": state.user_info})
    assert reg.mode == "confluent"
    assert {t: reg.id_for_topic(t) for t in TOPICS} == {t: state.subjects[f"{t}-value"][0] for t in TOPICS}
    # user info in the URL (Confluent's basic.auth.credentials.source=URL) works the same, and is not kept in it
    again = SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url.replace("https://", f"https://{state.user_info}@"),
                                     "SCHEMA_REGISTRY_CA_FILE": str(ca)})
    assert again.url == url and again.id_for_topic("trr-replies") == reg.id_for_topic("trr-replies")


def test_https_registry_not_trusted_or_refusing_us_is_one_line_without_the_password(confluent_tls, tmp_path):
    state, url, ca = confluent_tls
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(RegistryError) as info:
        SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url, "SCHEMA_REGISTRY_CA_FILE": str(other),
                                 "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": state.user_info})
    assert str(info.value).startswith(f"TLS: the certificate of the schema registry at {url} is not trusted")
    assert "SCHEMA_REGISTRY_CA_FILE" in str(info.value)
    with pytest.raises(RegistryError) as info:
        SchemaRegistry.from_env({"SCHEMA_REGISTRY_URL": url, "SCHEMA_REGISTRY_CA_FILE": str(ca),
                                 "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "svc-partd:wrong-" + REGISTRY_PASSWORD})
    assert "(HTTP 401): check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO" in str(info.value)
    assert REGISTRY_PASSWORD not in str(info.value) and "\n" not in str(info.value)
