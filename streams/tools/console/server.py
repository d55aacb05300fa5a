"""The console's web server (aiohttp, which the worker's Faust web server runs on too).

Routes:

* ``GET /``: the page (``static/index.html``; ``static/console.js`` draws it, uPlot the charts);
* ``GET /api/events``: server-sent events, one JSON snapshot each time a feed has
  something new (a lag sample, a dead letter, a cycle report): the page updates
  without a reload;
* ``GET /api/state``: the same snapshot once (scripts, tests);
* ``POST /api/member`` ``{"mbi": ...}``: one member (:class:`.feeds.MemberLookup`);
  needs ``Authorization: Bearer <PARTD_CONSOLE_TOKEN>`` or the session cookie of
  the login form; off (404) without a token; the log names the member by
  :func:`streams.observability.access.mbi_hash` only;
* ``POST /login`` (form field ``token``), ``POST /logout``; ``GET /healthz``.

Without a session or bearer token the snapshot masks dead letters' keys (last 4
characters) and leaves out their messages (which can name a person).
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from streams.config import Secret
from streams.observability import access
from streams.tools.console.feeds import HISTORY_S, CycleFeed, DeadLetterFeed, LagFeed, MemberLookup, ThroughputFeed

log = logging.getLogger("partd.console")

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "partd_console"
SESSION_S = 8 * 3600.0
#: A wrong token at the login form costs this long (a guesser gets one try per second per connection).
LOGIN_DELAY_S = 1.0
#: At most one snapshot per connection this often (a backlog of dead letters is one update, not thousands).
MIN_PUSH_S = 0.25
KEEPALIVE_S = 15.0


class Hub:
    """Wakes every event stream when a feed has something new."""

    def __init__(self) -> None:
        self.version = 0
        self.closed = False
        self._event = asyncio.Event()

    def changed(self) -> None:
        self.version += 1
        self._event.set()

    def close(self) -> None:
        """The console stops: every event stream ends now (not at its next keep-alive)."""
        self.closed = True
        self._event.set()

    async def wait(self, seen: int, timeout: float) -> int:
        if self.version == seen and not self.closed:
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        return self.version


class Console:
    """The feeds, the sessions and the routes."""

    def __init__(self, *, lag: LagFeed, throughput: ThroughputFeed, cycle: CycleFeed, dead: DeadLetterFeed,
                 member: MemberLookup, token: Secret | None, refusal: str | None, https: bool, hub: Hub) -> None:
        self.lag, self.throughput, self.cycle, self.dead, self.member = lag, throughput, cycle, dead, member
        self.token = token
        self.refusal = refusal  # why the lookup is off (None: on)
        self.https = https
        self.hub = hub
        self.sessions: dict[str, float] = {}

    # ----------------------------------------------------------------------------- who is asking
    def authorized(self, request: web.Request) -> bool:
        if self.refusal is not None:
            return False
        if access.bearer_ok(request.headers.get("Authorization"), self.token):
            return True
        expires = self.sessions.get(request.cookies.get(COOKIE, ""))
        return expires is not None and expires > time.monotonic()

    def lookup_state(self, request: web.Request) -> dict[str, Any]:
        if self.refusal is not None:
            return {"state": "off", "reason": self.refusal}
        return {"state": "on" if self.authorized(request) else "login", "reason": None}

    def snapshot(self, request: web.Request) -> dict[str, Any]:
        reveal = self.authorized(request)
        routing = self.throughput.workers.routing or {}
        return {
            "now": time.time(),
            "history_s": HISTORY_S,
            "lookup": self.lookup_state(request),
            "lag": self.lag.snapshot(),
            "throughput": self.throughput.snapshot(),
            "cycle": self.cycle.snapshot(self.dead.refused_commands, routing.get("partitions")),
            "dead": self.dead.snapshot(reveal),
        }

    # ----------------------------------------------------------------------------- routes
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._headers])
        app.router.add_get("/", self.index)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/api/state", self.state)
        app.router.add_get("/api/events", self.events)
        app.router.add_post("/api/member", self.lookup)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
        return app

    @web.middleware
    async def _headers(self, request: web.Request, handler: Any) -> web.StreamResponse:
        resp = await handler(request)
        resp.headers.setdefault("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                           "img-src 'self' data:; frame-ancestors 'none'")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith("/api/") or request.path == "/":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot(request), dumps=_dumps)

    async def events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        seen = -1
        try:
            while not self.hub.closed:
                version = await self.hub.wait(seen, KEEPALIVE_S)
                if self.hub.closed:
                    break
                if version == seen:
                    await resp.write(b": keep-alive\n\n")
                    continue
                seen = version
                await resp.write(f"data: {_dumps(self.snapshot(request))}\n\n".encode())
                await asyncio.sleep(MIN_PUSH_S)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def lookup(self, request: web.Request) -> web.Response:
        if self.refusal is not None:
            return web.json_response({"error": "LOOKUP_OFF", "message": self.refusal}, status=404)
        if not self.authorized(request):
            return web.json_response({"error": "UNAUTHORIZED", "message": "sign in with PARTD_CONSOLE_TOKEN "
                                      "(the form, or Authorization: Bearer)"}, status=401)
        try:
            mbi = str((await request.json())["mbi"]).strip().upper()
        except Exception:  # noqa: BLE001 - any malformed body (also a form post: JSON only, against CSRF)
            mbi = ""
        if not mbi.isalnum() or len(mbi) > 20:
            return web.json_response({"error": "BAD_REQUEST", "message": "an MBI is 11 letters and digits"},
                                     status=400)
        started = time.perf_counter()
        try:
            status, body = await self.member.lookup(mbi)
        except Exception as exc:  # noqa: BLE001 - one line on the page, the type in the log (no MBI)
            log.warning("member lookup %s failed: %s", access.mbi_hash(mbi, self.token), type(exc).__name__)
            return web.json_response({"error": "FAILED", "message": f"the lookup failed ({type(exc).__name__})"},
                                     status=502)
        log.info("member lookup %s from %s: %s, partition %s, %.0f ms", access.mbi_hash(mbi, self.token),
                 request.remote, "found" if body.get("found") else body.get("error", "not found"),
                 body.get("partition"), (time.perf_counter() - started) * 1000)
        return web.json_response(body, status=status, dumps=_dumps)

    async def login(self, request: web.Request) -> web.Response:  # answers by raising a redirect
        form = await request.post()
        given = form.get("token")
        if self.refusal is None and access.token_ok(given if isinstance(given, str) else None, self.token):
            sid = secrets.token_urlsafe(32)
            now = time.monotonic()
            self.sessions = {s: t for s, t in self.sessions.items() if t > now}
            self.sessions[sid] = now + SESSION_S
            resp = web.HTTPSeeOther("/#member")
            resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", secure=self.https, path="/",
                            max_age=int(SESSION_S))
            log.info("console login from %s", request.remote)
            raise resp
        log.warning("console login refused from %s", request.remote)
        await asyncio.sleep(LOGIN_DELAY_S)
        raise web.HTTPSeeOther("/?login=refused#member")

    async def logout(self, request: web.Request) -> web.Response:
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        resp = web.HTTPSeeOther("/#member")
        resp.del_cookie(COOKIE, path="/")
        raise resp


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))
