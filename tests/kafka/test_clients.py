"""Connection security: the settings (streams/config.py), every client built from them (streams/kafka/clients.py),
and the one-line explanations of refused connections. No broker here (tests/integration/test_tls.py has one)."""
from __future__ import annotations

import asyncio
import pickle
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme
from aiokafka import errors as kafka_errors
from aiokafka.errors import KafkaConnectionError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.config import ConfigError, KafkaSecurity, Secret, Settings
from streams.kafka import clients

PASSWORD = "s3cret-Do-Not-Print-41"
NOWHERE = "127.0.0.1:1"  # nothing listens: the Tansu probe of clients.connection() gives up at once


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a client certificate and its key (PEM files), as an operator would mount them."""
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    leaf = ca.issue_cert("partd-worker")
    files = {"ca": root / "ca.pem", "cert": root / "client.pem", "key": root / "client-key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    files["cert"].write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(files["key"]))
    return files


def _sasl_ssl(pki: dict[str, Path], mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
    return {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SSL_CAFILE": str(pki["ca"]),
            "KAFKA_SASL_MECHANISM": mechanism, "KAFKA_SASL_USERNAME": "partd-worker", "KAFKA_SASL_PASSWORD": PASSWORD}


# -- settings ---------------------------------------------------------------------------------


def test_plaintext_by_default() -> None:
    sec = Settings.from_env({}).kafka
    assert sec == KafkaSecurity() and sec.protocol == "PLAINTEXT" and not sec.tls and not sec.sasl


def test_every_setting_read_with_the_names_kafka_users_know(pki: dict[str, Path]) -> None:
    env = {**_sasl_ssl(pki, "scram-sha-256"), "KAFKA_SSL_CERTFILE": str(pki["cert"]), "KAFKA_SSL_KEYFILE": str(pki["key"]),
           "KAFKA_SECURITY_PROTOCOL": "sasl_ssl"}
    sec = Settings.from_env(env).kafka
    assert (sec.protocol, sec.ssl_cafile, sec.ssl_certfile, sec.ssl_keyfile) == (
        "SASL_SSL", pki["ca"], pki["cert"], pki["key"])
    assert (sec.sasl_mechanism, sec.sasl_username, sec.sasl_password) == ("SCRAM-SHA-256", "partd-worker", Secret(PASSWORD))
    assert sec.tls and sec.sasl


@pytest.mark.parametrize(("env", "message"), [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ({"KAFKA_SSL_CAFILE": "/ca.pem"}, "KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SSL_CAFILE": "/ca.pem", "KAFKA_SASL_MECHANISM": "PLAIN",
      "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "set KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": "/k.pem"}, "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_USERNAME is set but "
                                                                     "KAFKA_SECURITY_PROTOCOL is SSL: set KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
     "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u",
      "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN"},
     "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
    ({"SCHEMA_REGISTRY_CA_FILE": "/ca.pem"}, "SCHEMA_REGISTRY_CA_FILE is set without SCHEMA_REGISTRY_URL"),
    ({"SCHEMA_REGISTRY_URL": "http://reg:8081", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "u:p"},
     "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO is set but SCHEMA_REGISTRY_URL is not https://"),
    ({"SCHEMA_REGISTRY_URL": "https://reg:8081", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "no-colon"},
     "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be user:password"),
])
def test_a_mistake_is_one_line_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "p\"" not in str(info.value) and "'p'" not in str(info.value)


def test_registry_user_info_written_into_the_url_is_taken_out_of_it() -> None:
    s = Settings.from_env({"SCHEMA_REGISTRY_URL": f"https://svc-partd:{PASSWORD}@registry.example:8081/"})
    assert s.schema_registry_url == "https://registry.example:8081/"
    assert s.schema_registry_user_info == Secret(f"svc-partd:{PASSWORD}")


def test_secrets_never_show_in_repr_str_or_pickle(pki: dict[str, Path]) -> None:
    env = {**_sasl_ssl(pki), "SCHEMA_REGISTRY_URL": "https://reg:8081",
           "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": f"svc:{PASSWORD}-registry"}
    s = Settings.from_env(env)
    for text in (repr(s), str(s), repr(s.kafka), f"{s.kafka.sasl_password}", str(s.schema_registry_user_info),
                 repr(clients.faust_settings(NOWHERE, s.kafka)["broker_credentials"])):
        assert PASSWORD not in text
    assert "Secret('***')" in repr(s) and s.kafka.sasl_password is not None
    assert s.kafka.sasl_password.reveal() == PASSWORD
    with pytest.raises(TypeError):
        pickle.dumps(s)


# -- every client gets them -------------------------------------------------------------------


def test_plaintext_connection_arguments() -> None:
    assert clients.connection(NOWHERE, KafkaSecurity()) == {"bootstrap_servers": NOWHERE, "security_protocol": "PLAINTEXT"}


def test_tls_context_verifies_the_broker_with_the_ca_file(pki: dict[str, Path]) -> None:
    sec = KafkaSecurity("SSL", pki["ca"], pki["cert"], pki["key"])
    args = clients.connection(NOWHERE, sec)
    context = args["ssl_context"]
    assert args["security_protocol"] == "SSL" and "sasl_mechanism" not in args
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    serial = format(x509.load_pem_x509_certificate(pki["ca"].read_bytes()).serial_number, "X")
    assert [c["serialNumber"].lstrip("0") for c in context.get_ca_certs()] == [serial.lstrip("0")]
    assert clients.ssl_context(sec) is context  # one context per setting, shared


def test_sasl_settings_reach_every_aiokafka_client(pki: dict[str, Path]) -> None:
    sec = Settings.from_env(_sasl_ssl(pki)).kafka

    async def build() -> list[object]:
        consumer = clients.consumer(NOWHERE, "trr-replies", group_id="g", security=sec)
        producer = clients.producer(NOWHERE, security=sec)
        admin = clients.admin(NOWHERE, security=sec)
        inner = [consumer._client, producer.client, admin._client]
        await consumer.stop()
        await producer.stop()
        await admin.close()
        return inner

    for client in asyncio.run(build()):
        assert client._security_protocol == "SASL_SSL"
        assert client._sasl_mechanism == "SCRAM-SHA-512"
        assert client._sasl_plain_username == "partd-worker" and client._sasl_plain_password == PASSWORD
        assert client._ssl_context is clients.ssl_context(sec)


@pytest.mark.parametrize("protocol", ["SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_faust_gets_the_same_settings_as_broker_credentials(pki: dict[str, Path], protocol: str) -> None:
    env = {**_sasl_ssl(pki), "KAFKA_SECURITY_PROTOCOL": protocol}
    if protocol == "SSL":
        env = {k: v for k, v in env.items() if not k.startswith("KAFKA_SASL_")}
    if protocol == "SASL_PLAINTEXT":
        env.pop("KAFKA_SSL_CAFILE")
    sec = Settings.from_env(env).kafka
    faust_args = clients.faust_settings(NOWHERE, sec)
    assert faust_args["broker"] == f"kafka://{NOWHERE}"
    # What Faust's own consumer, producer and admin are built with (faust/transport/drivers/aiokafka.py):
    auth = credentials_to_aiokafka_auth(faust_args["broker_credentials"])
    ours = clients.connection(NOWHERE, sec)
    ours.pop("bootstrap_servers")
    assert {k: v for k, v in auth.items() if v is not None} == ours


def test_a_missing_or_broken_file_is_one_line_naming_it(pki: dict[str, Path], tmp_path: Path) -> None:
    cases = [
        (KafkaSecurity("SSL", tmp_path / "none.pem"), f"KAFKA_SSL_CAFILE={tmp_path / 'none.pem'}: No such file"),
        (KafkaSecurity("SSL", pki["key"]), "KAFKA_SSL_CAFILE="),
        (KafkaSecurity("SSL", pki["ca"], tmp_path / "none.pem"), f"KAFKA_SSL_CERTFILE={tmp_path / 'none.pem'}: no such file"),
        (KafkaSecurity("SSL", pki["ca"], pki["ca"], pki["key"]), "are not a PEM certificate and its key"),
    ]
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    cases.append((KafkaSecurity("SSL", tmp_path / "junk.pem"), "not a PEM CA certificate"))
    for sec, message in cases:
        with pytest.raises(ConfigError) as info:
            clients.ssl_context(sec)
        assert message in str(info.value), str(info.value)


def test_an_encrypted_key_is_refused_without_a_prompt(pki: dict[str, Path], tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(pki["key"].read_bytes(), None)
    locked = tmp_path / "locked-key.pem"
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"passphrase")))
    code = ("import sys; from pathlib import Path; from streams.kafka.clients import ssl_context; "
            "from streams.config import KafkaSecurity, ConfigError\n"
            f"try: ssl_context(KafkaSecurity('SSL', Path({str(pki['ca'])!r}), Path({str(pki['cert'])!r}), Path({str(locked)!r})))\n"
            "except ConfigError as e: print(e)")
    # stdin is a terminal-less pipe: OpenSSL's own prompt would block or fail; ours answers at once
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "KAFKA_SSL_KEYFILE is an encrypted key" in done.stdout, done.stdout + done.stderr


# -- one line for a refused connection ---------------------------------------------------------


def _cert_error(message: str) -> KafkaConnectionError:
    cause = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    cause.verify_message = message
    cause.reason = "CERTIFICATE_VERIFY_FAILED"
    exc = KafkaConnectionError("Unable to bootstrap")
    exc.__cause__ = cause
    return exc


def test_an_untrusted_broker_certificate_names_the_ca_variable(pki: dict[str, Path]) -> None:
    line = clients.explain_connection_error(_cert_error("self-signed certificate in certificate chain"), "kafka-1:9093",
                                            security=KafkaSecurity("SSL", pki["ca"]))
    assert line == (f"TLS: the certificate of the broker at kafka-1:9093 is not trusted (self-signed certificate in "
                    f"certificate chain) by KAFKA_SSL_CAFILE={pki['ca']}: set KAFKA_SSL_CAFILE to the CA certificate "
                    f"that signed the broker's")
    line = clients.explain_connection_error(_cert_error("IP address mismatch, certificate is not valid for '10.0.0.9'."),
                                            "10.0.0.9:9093", security=KafkaSecurity("SSL", pki["ca"]))
    assert line is not None and "is not for that address" in line


def test_sasl_refusals_name_the_mechanism_or_the_user_never_the_password(pki: dict[str, Path]) -> None:
    sec = Settings.from_env(_sasl_ssl(pki)).kafka
    unsupported = kafka_errors.UnsupportedSaslMechanismError("broker offers PLAIN")
    line = clients.explain_connection_error(unsupported, "kafka:9094", security=sec)
    assert line is not None and "does not offer KAFKA_SASL_MECHANISM=SCRAM-SHA-512" in line
    failed = kafka_errors.SaslAuthenticationFailed(f"Authentication failed for {PASSWORD}")  # a careless broker
    line = clients.explain_connection_error(failed, "kafka:9094", security=sec)
    assert line is not None and "authentication as 'partd-worker' with SCRAM-SHA-512" in line
    assert "KAFKA_SASL_PASSWORD" in line and PASSWORD not in line


def test_anything_else_is_left_to_the_caller() -> None:
    assert clients.explain_connection_error(ValueError("bad"), NOWHERE, security=KafkaSecurity()) is None
    # connection refused: no TLS or SASL cause, so the plain "cannot connect" line (issue 16), no TLS/SASL one
    line = clients.explain_connection_error(KafkaConnectionError("Unable to bootstrap"), NOWHERE,
                                            security=KafkaSecurity("SSL"))
    assert line is not None and line.startswith(f"cannot connect to the Kafka cluster at {NOWHERE}")
    assert "TLS" not in line and "SASL" not in line


# -- the CLI says it in one line -----------------------------------------------------------------


def _partd(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SCHEMA_REGISTRY_"))}
    return subprocess.run([sys.executable, "-m", "streams.tools.cli", *args], capture_output=True, text=True,
                          env={**base, **env}, timeout=120, stdin=subprocess.DEVNULL)


def test_cli_setting_mistakes_are_one_line(tmp_path: Path) -> None:
    done = _partd("consume", "trr-replies", KAFKA_BOOTSTRAP_SERVERS=NOWHERE, KAFKA_SECURITY_PROTOCOL="TLS")
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        "partd: error: KAFKA_SECURITY_PROTOCOL must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got 'TLS'"]
    missing = tmp_path / "missing-ca.pem"
    done = _partd("consume", "trr-replies", KAFKA_BOOTSTRAP_SERVERS=NOWHERE, KAFKA_SECURITY_PROTOCOL="SSL",
                  KAFKA_SSL_CAFILE=str(missing))
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"partd: error: KAFKA_SSL_CAFILE={missing}: No such file or directory"]


def test_partd_up_does_not_mix_its_plaintext_broker_with_tls_settings(tmp_path: Path, pki: dict[str, Path]) -> None:
    done = _partd("up", "--once", KAFKA_SECURITY_PROTOCOL="SSL", KAFKA_SSL_CAFILE=str(pki["ca"]),
                  PARTD_DATA_DIR=str(tmp_path))
    assert done.returncode == 2
    assert "partd up's own broker is plaintext, but KAFKA_SECURITY_PROTOCOL=SSL" in done.stdout
    assert "partd broker --tls DIR" in done.stdout


def test_no_second_place_builds_a_kafka_client() -> None:
    """Every aiokafka/kafka-python client and connection of the product comes from streams/kafka/clients.py."""
    import re

    root = Path(__file__).resolve().parents[2] / "streams"
    pattern = re.compile(r"\b(AIOKafka(Consumer|Producer|AdminClient|Client)|Kafka(Consumer|Producer|AdminClient)"
                         r"|create_conn|faust\.App|(?<!class )HookedApp)\(")
    found = {str(path.relative_to(root)) for path in root.rglob("*.py") if pattern.search(path.read_text())}
    # clients.py builds them; the worker's Faust app (runtime/app.py) and the bench's plain Faust agent
    # (tools/faust_passthrough.py) get their connection from **clients.faust_settings(...)
    assert found == {"kafka/clients.py", "runtime/app.py", "tools/faust_passthrough.py"}
    for app in ("runtime/app.py", "tools/faust_passthrough.py"):
        assert "**clients.faust_settings(bootstrap)" in (root / app).read_text()
