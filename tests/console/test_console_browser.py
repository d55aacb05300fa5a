"""``partd console`` in a real browser (Debian's chromium, headless) against a real Tansu and a real worker.

One broker, one worker (its web server on HTTPS: PARTD_WEB_CERTFILE) and one
console (``partd console`` as a process, the way an operator runs it, checking
the worker's certificate with PARTD_WEB_CAFILE) serve the whole module; each
test opens its own browser context (its own cookies). What is proven, each on
the page itself:

* the lag shown equals ``partd lag --json`` within one sample (two groups: the
  worker's, caught up, and an ``audit`` group whose offsets this test commits),
  and how long a new committed offset takes to show (written to the test's output);
* a dead letter appears within seconds of the bad record, its key masked;
* a cycle command's progress reaches every partition, with its done record and outputs;
* the member lookup shows a member's new enrollment after its TC 61, and the
  logs name the member by hash only;
* without the token the lookup is refused (no token, a wrong one, straight to the worker,
  and a console started without PARTD_CONSOLE_TOKEN has it off);
* every metric the Grafana dashboard's queries name is served by the worker's ``/metrics``,
  and the console's figures are among them (issue 25, item 5);
* with a second worker in the group, every member is read by the worker that holds its
  partition, found through the map any one worker gives (last: it rebalances the group).

A screenshot of each view is saved under each test's output directory (``tmp_path``).
"""
from __future__ import annotations

import json
import re
import ssl
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiokafka import TopicPartition

from streams import topics
from streams.kafka import clients
from streams.config import Secret
from streams.kafka.admin import ensure_topics
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.observability.access import mbi_hash
from streams.tools import sample
from streams.tools.broker import EmbeddedBroker
from streams.tools.console.feeds import DASHBOARD_SERIES
from streams.tools.io import produce, read_all, wait_consumed
from streams.tools.jsonconv import record_from_json
from streams.tools.runner import ConsoleProcess, WorkerProcess
from tests.console.conftest import arun, off_thread
from tests.ops.prom import DEPLOY, partd_lag_json

pytestmark = pytest.mark.integration

PARTITIONS = 4
TOKEN = "console-test-token-0123456789abcdef"
AUDIT = "audit"  # a second group, whose offsets the lag test commits by hand
AUDITED = topics.PLAN_YEAR_UPDATES
INTERVAL = 1.0  # the console's (and the worker's) lag sample interval here
NEW_MEMBER = "4HK7WH8QN16"  # known (beneficiary-updates), every TC 61 of the sample rejected: no enrollment


@dataclass
class Stack:
    bootstrap: str
    worker: WorkerProcess
    console: ConsoleProcess
    serde: Serde
    ca: Path  # the worker's web server is HTTPS (PARTD_WEB_CERTFILE), checked by the console with this CA

    @property
    def worker_url(self) -> str:
        return f"https://127.0.0.1:{self.worker.web_port}"

    def worker_request(self, req: urllib.request.Request | str) -> tuple[int, str]:
        context = ssl.create_default_context(cafile=str(self.ca))
        try:
            with urllib.request.urlopen(req, timeout=5, context=context) as resp:  # noqa: S310 - loopback
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def publish(self, records: list[tuple[str, Any]], wait: bool = True) -> None:
        items = [(t, None, record_from_json(t, v)) for t, v in records]
        arun(produce(self.bootstrap, self.serde, items))
        if wait:
            arun(wait_consumed(self.bootstrap, "partd", {t for t, _ in records}, timeout=90))


async def _commit(bootstrap: str, group: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` (partition -> offset of AUDITED) for ``group``, as a consumer that joins nothing."""
    tps = {TopicPartition(AUDITED, p): o for p, o in offsets.items()}
    async with clients.started(clients.consumer(bootstrap, group_id=group, enable_auto_commit=False)) as c:
        c.assign(list(tps))
        await c.commit(tps)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    served = ca.issue_cert("127.0.0.1")
    served.cert_chain_pems[0].write_to_path(str(tmp / "web.pem"))
    served.private_key_pem.write_to_path(str(tmp / "web-key.pem"))
    broker = EmbeddedBroker(log_dir=tmp)
    bootstrap = broker.start(None)
    worker = console = None
    try:
        off_thread(ensure_topics, bootstrap, list(topics.ALL), PARTITIONS)  # the browser may be running already
        env = {"PARTD_CONSOLE_TOKEN": TOKEN, "PARTD_LAG_INTERVAL": str(INTERVAL),
               "PARTD_WEB_CERTFILE": str(tmp / "web.pem"), "PARTD_WEB_KEYFILE": str(tmp / "web-key.pem")}
        worker = WorkerProcess(bootstrap, tmp / "w1", partitions=PARTITIONS, extra_env=env).start()
        s = Stack(bootstrap, worker, None, Serde(SchemaRegistry.from_env()), tmp / "ca.pem")  # type: ignore[arg-type]
        for stage in (sample.STAGE_REFERENCE, sample.STAGE_ENROLL, sample.STAGE_CHANGE):
            s.publish(stage)
        arun(_commit(bootstrap, AUDIT, {p: 0 for p in range(PARTITIONS)}))  # everything of AUDITED behind
        console = ConsoleProcess(bootstrap, tmp, workers=[s.worker_url], groups=["partd", AUDIT], interval=INTERVAL,
                                 extra_env={"PARTD_CONSOLE_TOKEN": TOKEN, "PARTD_WEB_CAFILE": str(s.ca)}).start()
        s.console = console
        yield s
    finally:
        for p in (console, worker):
            if p is not None:
                p.stop()
        broker.stop()


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    """A new browser context (no cookies) on the console, once the live updates are flowing."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    pg = context.new_page()
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(stack.console.url)
    pg.wait_for_selector("#conn[data-state=live]", timeout=15_000)
    pg.wait_for_selector("#lag-table tbody tr", timeout=30_000)
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"errors in the page's script: {errors}"


def _shot(page: Any, view: str, out: Path) -> Path:
    path = out / f"console-{view}.png"
    page.locator(f"#{view}").screenshot(path=str(path))
    assert path.stat().st_size > 5_000
    return path


# ------------------------------------------------------------------------------------------ lag
_ROWS_JS = """rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"""


def _page_lag(page: Any) -> tuple[float, dict[tuple[str, str, int], dict[str, Any]]]:
    """What the lag table shows (cell text, as the operator reads it) and when its newest sample was taken."""
    cells = page.eval_on_selector_all("#lag-table tbody tr", _ROWS_JS)
    rows = {}
    for group, topic, partition, committed, high_water, lag, seconds in cells:
        rows[(group, topic, int(partition))] = {
            "committed": None if committed == "-" else int(committed.replace(",", "")),
            "high_water": int(high_water.replace(",", "")), "lag": int(lag.replace(",", "")),
            "lag_seconds": None if seconds == "?" else float(seconds.replace(",", ""))}
    stamps = page.eval_on_selector_all("[data-sampled-at]", "ns => ns.map(n => Number(n.dataset.sampledAt))")
    return min(stamps), rows


def _cli_lag(bootstrap: str) -> tuple[float, dict[tuple[str, str, int], dict[str, Any]]]:
    """``partd lag --json`` for both groups, and how long the command took."""
    started = time.monotonic()
    rows = partd_lag_json(bootstrap, "--group", "partd", "--group", AUDIT)
    return time.monotonic() - started, {(r["group"], r["topic"], r["partition"]): r for r in rows}


def _same(page_rows: dict, cli_rows: dict, took: float) -> bool:
    if set(page_rows) != set(cli_rows):
        return False
    for key, shown in page_rows.items():
        cli = cli_rows[key]
        if (shown["committed"], shown["high_water"], shown["lag"]) != (cli["committed"], cli["high_water"], cli["lag"]):
            return False
        if (shown["lag_seconds"] is None) != (cli["lag_seconds"] is None):
            return False
        if shown["lag_seconds"] is not None and abs(shown["lag_seconds"] - cli["lag_seconds"]) > INTERVAL + took + 0.5:
            return False  # the age of the oldest unprocessed record grows between two samples
    return True


def test_lag_shown_equals_partd_lag_json_and_a_new_figure_shows_within_seconds(page: Any, stack: Stack,
                                                                                tmp_path: Path) -> None:
    page.wait_for_selector(f'#lag-table tr[data-group="{AUDIT}"]', timeout=15_000)
    cli: dict[tuple[str, str, int], dict[str, Any]] = {}
    took, shown = 0.0, {}
    for _ in range(3):  # within one sample: the CLI's reading equals the page's now or after the page's next sample
        sampled, shown = _page_lag(page)
        took, cli = _cli_lag(stack.bootstrap)
        if _same(shown, cli, took):
            break
        page.wait_for_function("t => [...document.querySelectorAll('[data-sampled-at]')]"
                               ".every(n => Number(n.dataset.sampledAt) > t)", arg=sampled, timeout=15_000)
        shown = _page_lag(page)[1]
        if _same(shown, cli, took):
            break
    assert _same(shown, cli, took), f"page {shown}\n!= partd lag --json {cli}"
    audit = {k: v for k, v in shown.items() if k[0] == AUDIT}
    assert {k[1] for k in audit} == {AUDITED} and sum(v["lag"] for v in audit.values()) == 10  # the 10 sample plans
    assert all(v["lag"] == 0 for k, v in shown.items() if k[0] == "partd")  # the worker is caught up
    assert page.get_attribute(f"#lag-group-{AUDIT} .figure", "data-total-lag") == "10"
    _shot(page, "lag", tmp_path)

    # Time to a fresh figure: a commit is acknowledged, then the page shows it (no reload).
    partition = max(audit, key=lambda k: audit[k]["high_water"])[2]
    high_water = audit[(AUDIT, AUDITED, partition)]["high_water"]
    took = []
    for offset in range(1, high_water + 1):
        arun(_commit(stack.bootstrap, AUDIT, {partition: offset}))
        started = time.monotonic()
        page.wait_for_function(
            "([p, v]) => { const r = document.querySelector(`#lag-table tr[data-group='audit'][data-partition='${p}']`);"
            " return r !== null && r.cells[3].textContent === String(v); }", arg=[partition, offset], timeout=15_000)
        took.append(time.monotonic() - started)
    row = page.eval_on_selector_all(f"#lag-table tr[data-group='{AUDIT}'][data-partition='{partition}']", _ROWS_JS)[0]
    assert row[3:6] == [str(high_water), str(high_water), "0"]
    figures = {"sample_interval_s": INTERVAL, "commits": len(took), "seconds": [round(t, 3) for t in took],
               "median_s": round(statistics.median(took), 3), "max_s": round(max(took), 3)}
    (tmp_path / "lag-freshness.json").write_text(json.dumps(figures, indent=1))
    print(f"time to a fresh lag figure on the page: {figures}")


# ------------------------------------------------------------------------------------------ dead letters
def _dead_count(page: Any, code: str, topic: str) -> int:
    return page.evaluate("([c, t]) => { const r = document.querySelector(`#dead-counts tr[data-error-code='${c}']"
                         "[data-source-topic='${t}']`); return r === null ? 0 : Number(r.dataset.count); }",
                         [code, topic])


def test_a_dead_letter_appears_within_seconds_with_its_key_masked(page: Any, stack: Stack, tmp_path: Path) -> None:
    key = "DLQCONSOLE7319"
    counted = _dead_count(page, "WRONG_MAGIC_BYTE", topics.ENROLLMENT_REQUESTS)
    arun(produce(stack.bootstrap, stack.serde, [(topics.ENROLLMENT_REQUESTS, key, b"\x01 not a partd record")]))
    started = time.monotonic()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#dead-latest tbody tr')].some(r => r.cells[6].textContent.endsWith('7319'))",
        timeout=15_000)  # a few seconds: the worker's batch, its producer, the console's reader, one push
    appeared = time.monotonic() - started
    row = page.eval_on_selector_all("#dead-latest tbody tr", _ROWS_JS)
    mine = [r for r in row if r[6].endswith("7319")]
    assert len(mine) == 1
    _, reason, message, topic, _, _, shown_key = mine[0]
    assert (reason, topic, message) == ("WRONG_MAGIC_BYTE", topics.ENROLLMENT_REQUESTS, "(hidden)")
    assert shown_key == "\u2022" * 7 + "7319" and key not in page.content()
    page.wait_for_function(
        "n => { const r = document.querySelector('#dead-counts tr[data-error-code=\"WRONG_MAGIC_BYTE\"]"
        "[data-source-topic=\"enrollment-requests\"]'); return r !== null && Number(r.dataset.count) === n; }",
        arg=counted + 1, timeout=5_000)
    assert page.is_visible("#dead-masked")
    _shot(page, "dead", tmp_path)
    print(f"a dead letter appeared on the page {appeared:.2f} s after the bad record was published")


# ------------------------------------------------------------------------------------------ the annual cycle
def test_a_cycle_command_progress_reaches_every_partition(page: Any, stack: Stack, tmp_path: Path) -> None:
    command = {"command": "CALCULATE_BENCHMARKS", "plan_year": 2027, "as_of": "2026-10-01T16:00:00Z",
               "reference_month": "2026-09-01", "state_code": None, "seed": None}
    stack.publish([(topics.CYCLE_COMMANDS, command)], wait=False)
    row = '#cycle-table tr[data-command="CALCULATE_BENCHMARKS"]'
    page.wait_for_selector(row, timeout=15_000)  # published: listed before any partition has applied it
    page.wait_for_selector(f'{row}[data-applied="{PARTITIONS}"][data-partitions="{PARTITIONS}"][data-done="yes"]',
                           timeout=60_000)
    cells = page.eval_on_selector_all(row, _ROWS_JS)[0]
    assert cells[1:3] == ["CALCULATE_BENCHMARKS", "2027"]
    assert cells[5] == f"{PARTITIONS} / {PARTITIONS}" and cells[6] == "done"
    benchmarks = [b for b in arun(read_all(stack.bootstrap, stack.serde, topics.LIS_BENCHMARKS))
                  if b["plan_year"] == 2027]
    assert len(benchmarks) >= 1  # the sample's plans are in regions 11 and 22
    assert cells[7] == f"lis-benchmarks {len(benchmarks)}"
    # the done record's benchmarks are the ones published on lis-benchmarks
    assert cells[8] == "benchmarks: " + ", ".join(
        f"region {b['region']} ${b['benchmark_premium']}" for b in sorted(benchmarks, key=lambda b: b["region"]))
    _shot(page, "cycle", tmp_path)


# ------------------------------------------------------------------------------------------ one member
def _login(page: Any, token: str) -> None:
    page.fill("#login-form input[name=token]", token)
    page.click("#login-form button")
    page.wait_for_load_state()
    page.wait_for_selector("#conn[data-state=live]", timeout=15_000)


def _look_up(page: Any, mbi: str) -> None:
    page.fill("#mbi", mbi)
    page.click("#lookup-form button")
    page.wait_for_selector(f'#member-result[data-mbi="{mbi}"]', timeout=20_000)


def test_the_member_lookup_shows_a_new_enrollment_after_its_tc_61(page: Any, stack: Stack, tmp_path: Path) -> None:
    _login(page, TOKEN)
    page.wait_for_selector("#member[data-lookup=on] #lookup-form", timeout=15_000)
    _look_up(page, NEW_MEMBER)
    assert page.get_attribute("#member-result", "data-found") == "yes"
    assert "Patel" in page.text_content("#member-profile")
    assert page.text_content("#member-enrollments") == "none"  # the sample's TC 61s for this member were rejected

    tc61 = dict(next(v for t, v in sample.STAGE_ENROLL if v["tracking_id"] == "SAMPLE-0006"),
                tracking_id="CONSOLE-0001", effective_date="2027-01-01")
    stack.publish([(topics.ENROLLMENT_REQUESTS, tc61)])
    _look_up(page, NEW_MEMBER)
    page.wait_for_selector("table#member-enrollments", timeout=5_000)
    enrollments = page.eval_on_selector_all("#member-enrollments tbody tr", _ROWS_JS)
    assert [r[:9] for r in enrollments] == [["S7303", "005", "2027-01-01", "-", "ACTIVE", tc61["election_type"],
                                              tc61["enrollment_source"], tc61["application_date"], "CONSOLE-0001"]]
    where = page.text_content("#member-where")
    assert stack.worker_url in where  # over HTTPS, the address the worker advertises
    partition = clients.key_partition(NEW_MEMBER.encode(), PARTITIONS)
    assert where.startswith(f"partition {partition},")
    _shot(page, "member", tmp_path)
    page.screenshot(path=str(tmp_path / "console-page.png"), full_page=True)  # every view (docs/console.png)

    # the lookups are logged by hash, never by MBI, by the console and by the worker
    hashed = mbi_hash(NEW_MEMBER, Secret(TOKEN))
    console_log = stack.console.log_path.read_text()
    worker_log = stack.worker.log_path.read_text()
    assert f"member lookup {hashed}" in console_log and f"member query {hashed}" in worker_log
    assert NEW_MEMBER not in console_log and NEW_MEMBER not in worker_log


def _fetch_member(page: Any, mbi: str) -> list[Any]:
    return page.evaluate("""async (mbi) => {
        const r = await fetch('/api/member', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                               body: JSON.stringify({mbi: mbi})});
        return [r.status, await r.text()]; }""", mbi)


def _post_worker(stack: Stack, mbi: str, token: str | None) -> int:
    req = urllib.request.Request(f"{stack.worker_url}/partd/member", method="POST", data=json.dumps({"mbi": mbi}).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    return stack.worker_request(req)[0]


def test_without_the_token_the_lookup_is_refused(page: Any, stack: Stack, browser: Any, tmp_path: Path) -> None:
    # not signed in: the form asks for the token; the API refuses, and says nothing about the member
    assert page.get_attribute("#member", "data-lookup") == "login"
    assert page.is_visible("#login-form") and not page.is_visible("#lookup")
    status, body = _fetch_member(page, "1EG4TE5MK73")
    assert status == 401 and "Lovelace" not in body and "UNAUTHORIZED" in body
    # a wrong token: refused, still asked for
    _login(page, "not-the-token-" + "x" * 20)
    assert page.is_visible("#login-refused") and page.get_attribute("#member", "data-lookup") == "login"
    assert _fetch_member(page, "1EG4TE5MK73")[0] == 401
    _shot(page, "member", tmp_path)
    # straight to the worker: the same token is needed there
    assert _post_worker(stack, "1EG4TE5MK73", None) == 401
    assert _post_worker(stack, "1EG4TE5MK73", "wrong-" + TOKEN) == 401
    assert _post_worker(stack, "1EG4TE5MK73", TOKEN) == 200

    # a console started without PARTD_CONSOLE_TOKEN: the lookup is off, and says how to turn it on
    off = ConsoleProcess(stack.bootstrap, tmp_path, workers=[stack.worker_url], interval=INTERVAL,
                         extra_env={"PARTD_CONSOLE_TOKEN": "", "PARTD_WEB_CAFILE": str(stack.ca)}).start()
    context = browser.new_context()
    try:
        other = context.new_page()
        other.goto(off.url)
        other.wait_for_selector("#member[data-lookup=off]", timeout=15_000)
        assert "PARTD_CONSOLE_TOKEN" in other.text_content("#member-off")
        assert not other.is_visible("#login-form") and not other.is_visible("#lookup")
        status, body = _fetch_member(other, "1EG4TE5MK73")
        assert status == 404 and "LOOKUP_OFF" in body
        (tmp_path / "off").mkdir()
        _shot(other, "member", tmp_path / "off")
    finally:
        context.close()
        off.stop()


# ------------------------------------------------------------------------------------------ Grafana (item 5)
#: Series a dashboard query names that no partd process serves: Prometheus makes them itself.
PROMETHEUS_OWN = {"up"}


def test_the_dashboard_queries_name_metrics_the_worker_serves(stack: Stack) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "partd.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    named = {m for e in exprs for m in re.findall(r"\b(partd_[a-z0-9_]+|up)\b", e)} - PROMETHEUS_OWN
    assert len(named) >= 12
    deadline = time.monotonic() + 20
    while True:  # the lag gauges come with the worker's first lag sample
        served = {s.name for fam in text_string_to_metric_families(
            stack.worker_request(f"{stack.worker_url}/metrics")[1]) for s in fam.samples}
        if named <= served or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert named <= served, f"dashboard queries name metrics the worker does not serve: {sorted(named - served)}"
    # the console's figures are the dashboard's series
    assert set(DASHBOARD_SERIES.values()) <= named, sorted(set(DASHBOARD_SERIES.values()) - named)


# ------------------------------------------------------------------------------------------ two workers (last: it rebalances)
def _console_lookup(stack: Stack, mbi: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"{stack.console.url}api/member", method="POST", data=json.dumps({"mbi": mbi}).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_with_two_workers_each_member_is_read_by_the_worker_that_holds_it(stack: Stack, tmp_path: Path) -> None:
    # one member on every partition (the sample's five are on two of them)
    template = next(v for t, v in sample.STAGE_REFERENCE if t == topics.BENEFICIARY_UPDATES)
    people: dict[int, str] = {}
    for i in range(1, 200):
        mbi = sample.mbi(i)
        people.setdefault(clients.key_partition(mbi.encode(), PARTITIONS), mbi)
        if len(people) == PARTITIONS:
            break
    stack.publish([(topics.BENEFICIARY_UPDATES, dict(template, mbi=m, last_name=f"P{p}")) for p, m in people.items()])

    second = WorkerProcess(stack.bootstrap, tmp_path / "w2", partitions=PARTITIONS, extra_env={
        k: v for k, v in stack.worker.env.items()
        if k in ("PARTD_CONSOLE_TOKEN", "PARTD_LAG_INTERVAL", "PARTD_WEB_CERTFILE", "PARTD_WEB_KEYFILE")}).start()
    try:
        deadline = time.monotonic() + 90
        answers: dict[int, tuple[int, dict[str, Any]]] = {}
        while time.monotonic() < deadline:
            routing = json.loads(stack.worker_request(f"{stack.worker_url}/partd/workers")[1])
            if len(routing["workers"]) == 2:
                answers = {p: _console_lookup(stack, m) for p, m in people.items()}
                if all(status == 200 for status, _ in answers.values()):
                    break
            time.sleep(1)
        assert len(routing["workers"]) == 2, f"the second worker never got partitions: {second.log_tail()}"
        holder = {p: url for url, parts in routing["workers"].items() for p in parts}
        for p, (status, body) in answers.items():
            assert status == 200, (p, body)
            assert (body["partition"], body["worker"], body["found"]) == (p, holder[p], True)
            assert body["member"]["profile"]["last_name"] == f"P{p}"
        assert {body["worker"] for _, body in answers.values()} == set(routing["workers"])  # both were asked
    finally:
        second.stop()
