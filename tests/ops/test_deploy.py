"""deploy/: Prometheus config and rules (promtool), Grafana, docker-compose, the image, Kubernetes.

No Docker engine and no Kubernetes API here: compose and the manifests get
structural checks (parse, required fields, references that must agree).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from streams import topics
from streams.config import Settings
from tests.ops.prom import DEPLOY, ROOT, binary, rules_for_test
from tests.ops.yamlload import load, load_all

PROM = DEPLOY / "prometheus"


def _run(*cmd: str, cwd: Path = PROM) -> str:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"{' '.join(cmd)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def test_promtool_check_config_and_rules() -> None:
    promtool = binary("promtool")
    assert "SUCCESS" in _run(promtool, "check", "config", "prometheus.yml")
    assert "SUCCESS" in _run(promtool, "check", "rules", "alerts.yml")


def test_promtool_rule_unit_tests() -> None:
    assert "SUCCESS" in _run(binary("promtool"), "test", "rules", "alerts_test.yml")


def test_test_rules_differ_only_in_for(tmp_path: Path) -> None:
    real = load(PROM / "alerts.yml")
    (tmp_path / "r.yml").write_text(rules_for_test("3s"))
    short = load(tmp_path / "r.yml")
    rr = [r for g in real["groups"] for r in g["rules"]]
    sr = [r for g in short["groups"] for r in g["rules"]]
    assert [r["expr"] for r in rr] == [r["expr"] for r in sr]
    assert all(r["for"] == "3s" for r in sr)
    names = {r["alert"] for r in rr}
    assert {"PartdConsumerLagGrowing", "PartdWorkerDown", "PartdDeadLetters", "PartdRebalanceStorm"} <= names
    _run(binary("promtool"), "check", "rules", str(tmp_path / "r.yml"))


def test_prometheus_jobs_match_rules_and_compose() -> None:
    config = load(PROM / "prometheus.yml")
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert {"partd-worker", "partd-lag"} <= set(jobs)
    rules = (PROM / "alerts.yml").read_text()
    for job in re.findall(r'job="([^"]+)"', rules):
        assert job in jobs, f"alerts.yml uses job {job!r} that prometheus.yml does not scrape"
    compose = load(DEPLOY / "docker-compose.yml")
    assert jobs["partd-worker"]["dns_sd_configs"][0]["names"] == ["worker"]
    assert "worker" in compose["services"]
    host, port = jobs["partd-lag"]["static_configs"][0]["targets"][0].split(":")
    assert host in compose["services"]
    assert port in compose["services"][host]["command"]


def test_grafana_dashboard_and_provisioning() -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "partd.json").read_text())
    ds = load(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    uid = ds["datasources"][0]["uid"]
    prov = load(DEPLOY / "grafana" / "provisioning" / "dashboards" / "partd.yml")
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert dash["uid"] and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    for metric in ("partd_consumer_lag", "partd_consumer_lag_seconds", "partd_events_in_total",
                   "partd_records_out_total", "partd_trr_replies_total", "partd_dead_letters_total",
                   "partd_rebalances_total", "partd_batch_duration_seconds_bucket"):
        assert re.search(rf"\b{metric}\b", exprs), f"no panel shows {metric}"
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == uid
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == uid
            assert "$" not in t["expr"], "the live test evaluates expressions as they are: no Grafana variables"
    compose = load(DEPLOY / "docker-compose.yml")
    vols = compose["services"]["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in vols
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in vols


def test_compose_file() -> None:
    compose = load(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    kafkas = [n for n in services if n.startswith("kafka-")]
    assert len(kafkas) == 3
    voters = None
    for n in kafkas:
        env = services[n]["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"CLIENTS://{n}:9092,BROKERS://{n}:9094"
        # TLS on every listener: clients, brokers among themselves, controllers
        protocols = dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        listeners = {entry.split("://")[0] for entry in env["KAFKA_LISTENERS"].split(",")}
        assert listeners == set(protocols) and set(protocols.values()) == {"SSL"}
        assert "SSL://" not in env["KAFKA_ADVERTISED_LISTENERS"]  # else the image demands its own key-store layout
        assert env["KAFKA_SSL_KEYSTORE_LOCATION"] == f"/run/secrets/{n}-keystore"
        assert env["KAFKA_SSL_TRUSTSTORE_LOCATION"] == "/run/secrets/kafka-ca"
        assert {f"{n}-keystore", "kafka-ca"} <= set(services[n]["secrets"])
        assert env["KAFKA_SSL_KEYSTORE_PASSWORD"].startswith("${PARTD_TLS_KEYSTORE_PASSWORD:?")  # never a literal
        voters = voters or env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters
        assert f"{env['KAFKA_NODE_ID']}@{n}:9093" in voters
    assert not any("zookeeper" in n for n in services)
    assert "schema-registry" in services
    w = services["worker"]
    assert "container_name" not in w and "ports" not in w, "--scale worker=N needs no fixed name or host port"
    env = w["environment"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == ",".join(f"{k}:9092" for k in kafkas)
    assert env["SCHEMA_REGISTRY_URL"].startswith("https://schema-registry:")
    assert services["schema-registry"]["environment"]["SCHEMA_REGISTRY_LISTENERS"].startswith("https://")
    assert services["schema-registry"]["environment"]["SCHEMA_REGISTRY_KAFKASTORE_SECURITY_PROTOCOL"] == "SSL"
    for name in ("worker", "lag-exporter"):  # partd's own settings module accepts them: TLS, CA from a secret
        sec = Settings.from_env({k: str(v) for k, v in services[name]["environment"].items()})
        assert sec.kafka.protocol == "SSL" and str(sec.kafka.ssl_cafile) == "/run/secrets/kafka-ca"
        assert sec.schema_registry_ca_file == sec.kafka.ssl_cafile and "kafka-ca" in services[name]["secrets"]
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./tls/certs/")  # made by deploy/tls/make-certs.sh, git-ignored
    assert "/deploy/tls/certs/" in (ROOT / ".gitignore").read_text().split()
    assert env["PARTD_WEB_HOST"] == "0.0.0.0"
    assert (ROOT / w["build"]["dockerfile"]).exists() and w["build"]["context"] == ".."
    for s in ("prometheus", "grafana", "lag-exporter"):
        assert s in services
    # every partd topic is created (RF 3) before the workers start
    script = services["topics"]["command"][0]
    for topic in topics.ALL:
        assert topic in script
    # every bind-mounted file exists
    for s in services.values():
        for v in s.get("volumes", []):
            if isinstance(v, str) and v.startswith("./"):
                assert (DEPLOY / v.split(":")[0]).exists(), v


def test_compose_config_with_docker_cli_if_possible() -> None:
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("no docker CLI")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"the docker CLI here has no compose plugin: {probe.stderr.strip()[:200]}")
    out = subprocess.run([docker, "compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "-q"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PARTD_TLS_KEYSTORE_PASSWORD": "only-for-config-check"})
    assert out.returncode == 0, out.stderr


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    for src in re.findall(r"^COPY (\S+)", text, re.M):
        assert (ROOT / src).exists(), src
    assert "PARTD_WEB_HOST=0.0.0.0" in text
    assert '"partd"' in text and "/healthz" in text


def _k8s_docs() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for d in load_all(path):
            if d:
                d["__file__"] = path.name
                docs.append(d)
    return docs


def test_kubernetes_manifests() -> None:
    docs = _k8s_docs()
    kust = load(DEPLOY / "k8s" / "kustomization.yaml")
    assert sorted(kust["resources"]) == sorted({d["__file__"] for d in docs})
    for d in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(d), d["__file__"]
        assert d["metadata"]["name"], d["__file__"]
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == kust["namespace"]
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    sts = by_kind["StatefulSet"][0]
    assert sts["apiVersion"] == "apps/v1"
    spec = sts["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    svc = next(s for s in by_kind["Service"] if s["metadata"]["name"] == spec["serviceName"])
    assert svc["spec"]["clusterIP"] == "None", "the StatefulSet's service must be headless"
    assert svc["spec"]["selector"].items() <= labels.items()
    container = spec["template"]["spec"]["containers"][0]
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PARTD_WEB_HOST"] == "0.0.0.0" and int(env["PARTD_WEB_PORT"]) == port_names["web"]
    # each pod advertises its own name through the headless service (the console's member lookup)
    assert env["PARTD_WEB_URL"] == f"http://$(POD_NAME).{spec['serviceName']}:{env['PARTD_WEB_PORT']}"
    assert next(e for e in container["env"] if e["name"] == "POD_NAME")["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "web"}
    # persistent RocksDB: a claim per pod, mounted at PARTD_DATA_DIR
    claims = {c["metadata"]["name"] for c in spec["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert "data" in claims and mounts["data"] == env["PARTD_DATA_DIR"]
    # partitions are the unit of scale: never more replicas than partitions
    cm = next(c for c in by_kind["ConfigMap"] if c["metadata"]["name"] == "partd-config")
    assert spec["replicas"] <= int(cm["data"]["PARTD_PARTITIONS"])
    assert {"KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL"} <= set(cm["data"])
    for ref in container["envFrom"]:
        assert ref["configMapRef"]["name"] == "partd-config"
    # SASL_SSL: the CA from a Secret mounted where KAFKA_SSL_CAFILE points, credentials from Secrets
    exporter = next(d for d in by_kind["Deployment"] if "lag" in d["metadata"]["name"])
    for pod in (spec["template"]["spec"], exporter["spec"]["template"]["spec"]):
        c = pod["containers"][0]
        secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in c["env"]
                      if "secretKeyRef" in e.get("valueFrom", {})}
        assert {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"} <= set(secret_env)
        assert not any("PASSWORD" in e["name"] or "USER_INFO" in e["name"] for e in c["env"] if "value" in e)
        fake = {name: "x:y" for name in secret_env}
        sec = Settings.from_env({**cm["data"], **fake})
        assert (sec.kafka.protocol, sec.kafka.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        volume = next(v for v in pod["volumes"] if v["name"] == mounts[str(sec.kafka.ssl_cafile.parent)])
        assert volume["secret"]["items"] == [{"key": "ca.crt", "path": sec.kafka.ssl_cafile.name}]
    assert not any(k.endswith(("PASSWORD", "USER_INFO", "USERNAME")) for k in cm["data"])
    pdb = by_kind["PodDisruptionBudget"][0]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    exporter = next(d for d in by_kind["Deployment"] if "lag" in d["metadata"]["name"])
    args = exporter["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["lag", "--serve"]


def test_trial_certificates_script(tmp_path: Path) -> None:
    """deploy/tls/make-certs.sh makes what compose mounts: a CA, PKCS12 stores the JVM reads, for each host."""
    if not shutil.which("openssl"):
        pytest.skip("no openssl")
    env = {**os.environ, "PARTD_TLS_KEYSTORE_PASSWORD": "trial-pw-1"}
    done = subprocess.run(["bash", str(DEPLOY / "tls" / "make-certs.sh"), str(tmp_path)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    compose = load(DEPLOY / "docker-compose.yml")
    for secret in compose["secrets"].values():
        assert (tmp_path / Path(secret["file"]).name).is_file(), secret
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o077 == 0  # the CA key: owner only
    for host in ("kafka-1", "kafka-2", "kafka-3", "schema-registry"):
        text = subprocess.run(["openssl", "x509", "-in", str(tmp_path / f"{host}.pem"), "-noout", "-ext", "subjectAltName"],
                              capture_output=True, text=True, timeout=30).stdout
        assert f"DNS:{host}" in text and "DNS:localhost" in text
        p12 = subprocess.run(["openssl", "pkcs12", "-in", str(tmp_path / f"{host}.p12"), "-nokeys",
                              "-passin", "pass:trial-pw-1"], capture_output=True, text=True, timeout=30)
        assert p12.returncode == 0 and p12.stdout.count("BEGIN CERTIFICATE") == 2  # the host's and the CA's
    # a client with partd's settings trusts the trial CA
    import ssl

    assert ssl.create_default_context(cafile=str(tmp_path / "ca.pem")).get_ca_certs()
    without = subprocess.run(["bash", str(DEPLOY / "tls" / "make-certs.sh"), str(tmp_path / "x")], capture_output=True,
                             text=True, timeout=60, env={k: v for k, v in os.environ.items()
                                                         if k != "PARTD_TLS_KEYSTORE_PASSWORD"})
    assert without.returncode != 0 and "PARTD_TLS_KEYSTORE_PASSWORD" in without.stderr
