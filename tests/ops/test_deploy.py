"""deploy/: Prometheus config and rules (promtool), Grafana, docker-compose, the image, Kubernetes.

No Docker engine and no Kubernetes API here: compose and the manifests get
structural checks (parse, required fields, references that must agree).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from streams import topics
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
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{n}:9092"
        voters = voters or env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters
        assert f"{env['KAFKA_NODE_ID']}@{n}:9093" in voters
    assert not any("zookeeper" in n for n in services)
    assert "schema-registry" in services
    w = services["worker"]
    assert "container_name" not in w and "ports" not in w, "--scale worker=N needs no fixed name or host port"
    env = w["environment"]
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == ",".join(f"{k}:9092" for k in kafkas)
    assert env["SCHEMA_REGISTRY_URL"].startswith("http://schema-registry:")
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
                         capture_output=True, text=True, timeout=60)
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
    pdb = by_kind["PodDisruptionBudget"][0]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    exporter = next(d for d in by_kind["Deployment"] if "lag" in d["metadata"]["name"])
    args = exporter["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["lag", "--serve"]
