"""The console without a broker: its settings, who may see what, what each view computes, the vendored chart.

The browser tests (tests/console) run it against a real broker and worker; these
check the rules one by one, and the web server's answers through aiohttp's test client.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import fnmatch
import hashlib
import ssl
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.test_utils import TestClient, TestServer

from processors.model import Output
from streams import topics
from streams.config import ConfigError, Secret, Settings
from streams.kafka.registry import SchemaRegistry
from streams.kafka.serde import Serde
from streams.observability import access
from streams.runtime import cycle
from streams.runtime.deadletters import Source, dead_letter
from streams.tools import console
from streams.tools.console import feeds, server
from streams.tools.errors import PartdError

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "streams" / "tools" / "console" / "static"
TOKEN = "a-console-token-of-32-characters"
MBI = "1EG4TE5MK73"


# ------------------------------------------------------------------------------------------ settings
def test_settings_of_the_console_and_the_web_servers(tmp_path: Path) -> None:
    s = Settings.from_env({})
    assert (s.console_token, s.console_host, s.console_port, s.web_tls) == (None, "127.0.0.1", 0, False)
    assert s.web_url_advertised == "http://127.0.0.1:6066"
    s = Settings.from_env({"PARTD_CONSOLE_TOKEN": TOKEN, "PARTD_WEB_PORT": "7000",
                           "PARTD_WEB_CERTFILE": "c.pem", "PARTD_WEB_KEYFILE": "k.pem"})
    assert s.console_token == Secret(TOKEN) and TOKEN not in repr(s)
    assert s.web_url_advertised == "https://127.0.0.1:7000"
    assert Settings.from_env({"PARTD_WEB_URL": "http://w-0.partd:6066/"}).web_url_advertised == "http://w-0.partd:6066"
    with pytest.raises(ConfigError, match="at least 16"):
        Settings.from_env({"PARTD_CONSOLE_TOKEN": "short"})
    with pytest.raises(ConfigError, match="PARTD_WEB_CERTFILE and PARTD_WEB_KEYFILE go together"):
        Settings.from_env({"PARTD_WEB_CERTFILE": "c.pem"})
    with pytest.raises(ConfigError, match="PARTD_WEB_URL must start with http"):
        Settings.from_env({"PARTD_WEB_URL": "w-0.partd:6066"})


def test_the_lookup_is_off_without_a_token_and_without_https_on_a_tls_cluster() -> None:
    assert "PARTD_CONSOLE_TOKEN" in access.lookup_refusal(Settings.from_env({}))
    assert access.lookup_refusal(Settings.from_env({"PARTD_CONSOLE_TOKEN": TOKEN})) is None
    tls = {"PARTD_CONSOLE_TOKEN": TOKEN, "KAFKA_SECURITY_PROTOCOL": "SSL"}
    assert "PARTD_WEB_CERTFILE" in access.lookup_refusal(Settings.from_env(tls))
    assert access.lookup_refusal(Settings.from_env({**tls, "PARTD_WEB_CERTFILE": "c", "PARTD_WEB_KEYFILE": "k"})) is None


def test_the_console_refuses_a_public_address_without_a_token_and_http_on_a_tls_cluster() -> None:
    assert console.is_loopback("127.0.0.1") and console.is_loopback("::1") and console.is_loopback("localhost")
    assert not console.is_loopback("0.0.0.0") and not console.is_loopback("10.1.2.3")
    with pytest.raises(PartdError, match="will not listen on 0.0.0.0 without PARTD_CONSOLE_TOKEN"):
        console.check(Settings.from_env({}), "0.0.0.0")
    console.check(Settings.from_env({"PARTD_CONSOLE_TOKEN": TOKEN}), "0.0.0.0")
    console.check(Settings.from_env({}), "127.0.0.1")
    with pytest.raises(PartdError, match="serves HTTPS too: set PARTD_WEB_CERTFILE"):
        console.check(Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL"}), "127.0.0.1")


def test_tokens_and_the_mbi_hash() -> None:
    token = Secret(TOKEN)
    assert access.bearer_ok(f"Bearer {TOKEN}", token)
    assert not access.bearer_ok(f"Bearer {TOKEN}x", token) and not access.bearer_ok(TOKEN, token)
    assert not access.bearer_ok(f"Bearer {TOKEN}", None) and not access.bearer_ok(None, token)
    assert access.token_ok(TOKEN, token) and not access.token_ok("", token) and not access.token_ok(TOKEN, None)
    hashed = access.mbi_hash(MBI, token)
    assert len(hashed) == 16 and MBI not in hashed and hashed == access.mbi_hash(MBI.lower(), token)
    assert hashed != access.mbi_hash(MBI, Secret(TOKEN + "2"))  # keyed: no table of every MBI's hash reverses it
    assert hashed != hashlib.sha256(MBI.encode()).hexdigest()[:16]


def test_the_https_context_from_the_web_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    good = Settings.from_env({"PARTD_WEB_CERTFILE": str(tmp_path / "c.pem"), "PARTD_WEB_KEYFILE": str(tmp_path / "k.pem")})
    assert isinstance(access.server_ssl_context(good), ssl.SSLContext)
    assert access.server_ssl_context(Settings.from_env({})) is None
    missing = Settings.from_env({"PARTD_WEB_CERTFILE": str(tmp_path / "no.pem"), "PARTD_WEB_KEYFILE": "k"})
    with pytest.raises(ConfigError, match="PARTD_WEB_CERTFILE=.*no such file"):
        access.server_ssl_context(missing)
    swapped = Settings.from_env({"PARTD_WEB_CERTFILE": str(tmp_path / "k.pem"), "PARTD_WEB_KEYFILE": str(tmp_path / "c.pem")})
    with pytest.raises(ConfigError, match="not a PEM certificate"):
        access.server_ssl_context(swapped)


# ------------------------------------------------------------------------------------------ the views
def test_a_masked_key_shows_its_last_4_characters_only() -> None:
    assert feeds.mask(MBI) == "\u2022" * 7 + "MK73"
    assert feeds.mask("AB") == "\u2022" * 4 and feeds.mask(None) == ""


def test_what_a_cycle_command_produced_is_counted_per_output_topic() -> None:
    outs = [
        Output(topics.TRR_REPLIES, "S7101", {"transaction_reply_code": "212"}),
        Output(topics.TRR_REPLIES, "S7202", {"transaction_reply_code": "014"}),
        Output(topics.BENEFICIARY_NOTICES, MBI, {"publication": "11209", "notice_type": "REASSIGNMENT_PREMIUM"}),
        Output(topics.PLAN_NOTICES, "S7101", {"notice_type": "GAIN_FILE_RECORD"}),
        Output(topics.STATE_LISTS, "FL", {"list_type": "PRELIMINARY"}),
    ]
    summary = dict(cycle.summarize(outs))  # the names the partitions' reports carry
    assert feeds.outputs_by_topic(summary, {"11": "30.05", "22": "25.75"}) == {
        topics.TRR_REPLIES: 2, topics.BENEFICIARY_NOTICES: 1, topics.PLAN_NOTICES: 1, topics.STATE_LISTS: 1,
        topics.LIS_BENCHMARKS: 2}


def _source(topic: str, partition: int, offset: int, value: bytes | None, key: bytes | None = None) -> Source:
    return Source(topic, partition, offset, key, value, 1_790_000_000_000)


def test_the_cycle_view_follows_a_command_from_published_to_done() -> None:
    serde = Serde(SchemaRegistry.embedded())
    feed = feeds.CycleFeed("127.0.0.1:1", serde, lambda: None)  # not started: fed by hand below
    cmd = {"command": "REASSIGNMENT_RUN", "plan_year": 2027, "as_of": dt.datetime(2026, 10, 20, tzinfo=dt.timezone.utc),
           "reference_month": None, "state_code": None, "seed": 7}
    feed.commands.items.append((_source(topics.CYCLE_COMMANDS, 0, 3, b""), cmd))
    cid = cycle.command_id(cmd)
    [row] = feed.snapshot({}, 4)
    assert (row["status"], row["applied"], row["partitions"], row["done"]) == ("waiting", [], 4, False)
    for p in (0, 2):
        report = {"command_id": cid, "command": "REASSIGNMENT_RUN", "plan_year": 2027, "as_of": "x",
                  "reference_month": None, "partitions": 4, "partition": p, "summary": {"trc_212": 1, "letter_11209": 1}}
        feed.results.reports[cid] = cycle.merge_progress(feed.results.reports.get(cid), report)
    [row] = feed.snapshot({}, 4)
    assert (row["status"], row["applied"], row["outputs"]) == ("running", [0, 2], {
        topics.TRR_REPLIES: 2, topics.BENEFICIARY_NOTICES: 2})
    feed.results.done[cid] = {"done": True, "summary": {"trc_212": 3, "trc_014": 3}, "benchmarks": {}}
    assert feed.snapshot({}, 4)[0]["status"] == "done"
    refused = feed.snapshot({(0, 3): "NO_BENCHMARK"}, 4)[0]  # dead-lettered by the cycle-commands agent
    assert (refused["status"], refused["error_code"]) == ("refused", "NO_BENCHMARK")


def test_dead_letters_are_counted_and_masked_unless_revealed() -> None:
    serde = Serde(SchemaRegistry.embedded())
    feed = feeds.DeadLetterFeed("127.0.0.1:1", serde, lambda: None)
    for offset, (topic, code) in enumerate([("enrollment-requests", "WRONG_MAGIC_BYTE")] * 2
                                           + [("lis-status-changes", "LIS_PERIOD_OVERLAP")]):
        letter = dead_letter(_source(topic, 1, offset, b"raw", MBI.encode()), code, f"{MBI}: why")
        feed._apply(_source(topics.DEAD_LETTERS, 0, offset, None), letter.value)
    feed._apply(_source(topics.DEAD_LETTERS, 0, 9, b"junk"), None)
    hidden = feed.snapshot(reveal=False)
    assert (hidden["total"], hidden["unreadable"]) == (3, 1)
    assert hidden["counts"][0] == {"error_code": "WRONG_MAGIC_BYTE", "source_topic": "enrollment-requests", "count": 2}
    assert [r["offset"] for r in hidden["latest"]] == [2, 1, 0]  # newest first
    assert all(r["key"] == feeds.mask(MBI) and r["error_message"] is None for r in hidden["latest"])
    assert MBI not in str(hidden)
    shown = feed.snapshot(reveal=True)
    assert shown["latest"][0]["key"] == MBI and shown["latest"][0]["error_message"] == f"{MBI}: why"
    for i in range(feeds.LATEST + 5):
        feed._apply(_source(topics.DEAD_LETTERS, 1, i, None),
                    dead_letter(_source("enrollment-requests", 0, 10 + i, b"x", b"K"), "UNDECODABLE", "m").value)
    assert len(feed.snapshot(reveal=False)["latest"]) == feeds.LATEST


def test_throughput_reads_the_events_in_counter_of_a_metrics_page() -> None:
    page = ("# TYPE partd_events_in_total counter\n"
            'partd_events_in_total{topic="enrollment-requests"} 120.0\n'
            'partd_events_in_total{topic="beneficiary-updates"} 30.0\n'
            "# TYPE partd_records_out_total counter\n"
            'partd_records_out_total{topic="trr-replies"} 99.0\n')
    assert feeds.events_in(page) == 150.0


# ------------------------------------------------------------------------------------------ the web server
class _Member:
    """Stands in for the lookup through a worker (the browser tests use the real one)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def lookup(self, mbi: str) -> tuple[int, dict[str, Any]]:
        self.asked.append(mbi)
        return 200, {"mbi": mbi, "found": True, "partition": 1}


def _console(token: str | None, member: _Member) -> server.Console:
    settings = Settings.from_env({"PARTD_CONSOLE_TOKEN": token} if token else {})
    serde = Serde(SchemaRegistry.embedded())
    hub = server.Hub()
    workers = feeds.Workers(["http://127.0.0.1:1"], None)
    dead = feeds.DeadLetterFeed("127.0.0.1:1", serde, hub.changed)
    letter = dead_letter(_source("enrollment-requests", 0, 5, b"raw", MBI.encode()), "UNDECODABLE", f"{MBI} bad")
    dead._apply(_source(topics.DEAD_LETTERS, 0, 0, None), letter.value)
    return server.Console(lag=feeds.LagFeed(["partd"], "partd", 2.0, hub.changed),
                          throughput=feeds.ThroughputFeed(workers, 2.0, hub.changed),
                          cycle=feeds.CycleFeed("127.0.0.1:1", serde, hub.changed), dead=dead,
                          member=member, token=settings.console_token,  # type: ignore[arg-type]
                          refusal=access.lookup_refusal(settings), https=False, hub=hub)


def _with_client(c: server.Console, body: Callable[[TestClient], Awaitable[None]]) -> None:
    async def run() -> None:
        async with TestClient(TestServer(c.app())) as client:
            await body(client)

    asyncio.run(run())


def test_the_page_its_scripts_and_the_chart_are_served_with_a_strict_policy() -> None:
    async def body(client: TestClient) -> None:
        page = await client.get("/")
        assert page.status == 200 and "partd console" in await page.text()
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Cache-Control"] == "no-store"
        for path in ("/static/console.js", "/static/console.css", "/static/vendor/uplot/uPlot.iife.min.js",
                     "/static/vendor/uplot/uPlot.min.css"):
            assert (await client.get(path)).status == 200, path
        assert (await client.get("/static/server.py")).status == 404  # only what is in static/
        state = await (await client.get("/api/state")).json()
        assert set(state) >= {"lag", "throughput", "cycle", "dead", "lookup"}

    _with_client(_console(TOKEN, _Member()), body)


def test_without_the_token_the_lookup_is_refused_and_dead_letters_masked() -> None:
    member = _Member()

    async def body(client: TestClient) -> None:
        state = await (await client.get("/api/state")).json()
        assert state["lookup"]["state"] == "login"
        assert state["dead"]["latest"][0]["key"] == feeds.mask(MBI) and MBI not in str(state)
        assert (await client.post("/api/member", json={"mbi": MBI})).status == 401
        wrong = await client.post("/api/member", json={"mbi": MBI}, headers={"Authorization": "Bearer nope" * 4})
        assert wrong.status == 401
        assert member.asked == []

    _with_client(_console(TOKEN, member), body)


def test_the_login_form_and_the_bearer_token_open_the_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    member = _Member()

    async def body(client: TestClient) -> None:
        refused = await client.post("/login", data={"token": "wrong" * 5}, allow_redirects=False)
        assert refused.status == 303 and refused.headers["Location"] == "/?login=refused#member"
        assert not client.session.cookie_jar.filter_cookies(client.make_url("/"))
        ok = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
        assert ok.status == 303
        cookie = ok.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
        state = await (await client.get("/api/state")).json()
        assert state["lookup"]["state"] == "on" and state["dead"]["latest"][0]["key"] == MBI
        found = await client.post("/api/member", json={"mbi": " 1eg4te5mk73 "})
        assert found.status == 200 and (await found.json())["found"] is True
        assert (await client.post("/api/member", data="mbi=" + MBI)).status == 400  # JSON only (no cross-site form)
        assert (await client.post("/api/member", json={"mbi": "<script>"})).status == 400
        await client.post("/logout", allow_redirects=False)
        assert (await client.post("/api/member", json={"mbi": MBI})).status == 401
        assert member.asked == [MBI]

    monkeypatch.setattr(server, "LOGIN_DELAY_S", 0.0)
    _with_client(_console(TOKEN, member), body)

    async def bearer(client: TestClient) -> None:
        resp = await client.post("/api/member", json={"mbi": MBI}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status == 200

    _with_client(_console(TOKEN, member), bearer)


def test_without_partd_console_token_the_lookup_is_off() -> None:
    async def body(client: TestClient) -> None:
        state = await (await client.get("/api/state")).json()
        assert state["lookup"]["state"] == "off" and "PARTD_CONSOLE_TOKEN" in state["lookup"]["reason"]
        off = await client.post("/api/member", json={"mbi": MBI}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert off.status == 404 and (await off.json())["error"] == "LOOKUP_OFF"

    _with_client(_console(None, _Member()), body)


def test_server_sent_events_push_a_snapshot_when_a_feed_changes() -> None:
    c = _console(TOKEN, _Member())

    async def body(client: TestClient) -> None:
        resp = await client.get("/api/events")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
        assert first.startswith(b"data: {")
        c.hub.changed()
        second = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
        assert second.startswith(b"data: {")
        c.hub.close()  # the console stops: the stream ends now, not at its next keep-alive (15 s)
        assert await asyncio.wait_for(resp.content.read(), 2) == b""

    _with_client(c, body)


def test_the_console_serves_https_with_the_web_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    settings = Settings.from_env({"PARTD_WEB_CERTFILE": str(tmp_path / "c.pem"),
                                  "PARTD_WEB_KEYFILE": str(tmp_path / "k.pem")})
    c = _console(TOKEN, _Member())

    async def run() -> None:
        from aiohttp import web

        runner = web.AppRunner(c.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=access.server_ssl_context(settings))
        await site.start()
        port = runner.addresses[0][1]
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"https://127.0.0.1:{port}/healthz", ssl=client_ctx) as resp:
                    assert resp.status == 200
                with pytest.raises(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        await resp.read()
        finally:
            await runner.cleanup()

    asyncio.run(run())


# ------------------------------------------------------------------------------------------ what is shipped
def test_uplot_is_the_pinned_npm_release_with_its_license() -> None:
    vendor = STATIC / "vendor" / "uplot"
    notes = (vendor / "VERSION").read_text()
    assert notes.startswith("uPlot 1.6.32 (MIT")
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        digest = hashlib.sha256((vendor / name).read_bytes()).hexdigest()
        assert f"{name:<19} {digest}" in notes, name
    assert (vendor / "uPlot.iife.min.js").read_text().startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert "MIT License" in (vendor / "LICENSE").read_text()


def test_the_static_files_are_package_data() -> None:
    """Every file under static/ is shipped: its directory is a listed package whose package-data globs match it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert len(files) >= 7
    for f in files:
        package = ".".join(f.parent.relative_to(ROOT).parts)
        assert package in config["packages"], package
        assert any(fnmatch.fnmatch(f.name, g) for g in config["package-data"].get(package, [])), f


def test_partd_console_says_in_one_line_why_it_will_not_start() -> None:
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("PARTD_", "KAFKA_"))}
    cases = [
        (["--host", "0.0.0.0"], {}, "will not listen on 0.0.0.0 without PARTD_CONSOLE_TOKEN"),
        ([], {"KAFKA_SECURITY_PROTOCOL": "SSL"}, "serves HTTPS too: set PARTD_WEB_CERTFILE and PARTD_WEB_KEYFILE"),
        ([], {"PARTD_CONSOLE_TOKEN": "short"}, "PARTD_CONSOLE_TOKEN must be at least 16 characters"),
    ]
    for args, env, says in cases:
        done = subprocess.run([sys.executable, "-m", "streams.tools.cli", "console", *args], env={**base, **env},
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 1, done
        assert done.stderr.startswith("partd: error: ") and says in done.stderr and done.stderr.count("\n") == 1, done
