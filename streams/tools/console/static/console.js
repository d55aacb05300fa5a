// partd console: draws the snapshots the server pushes (/api/events) and looks members up (/api/member).
// Every value from the server is put in the page as text (textContent), never as HTML.
"use strict";

const charts = {};          // chart id -> uPlot
let clockSkew = 0;          // server time - browser time (s)
let lastSnapshot = null;
let windowS = 600;          // how far back the charts go (the server's history)

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, String(v));
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function td(value, cls, attrs) {
  return el("td", Object.assign({class: cls || ""}, attrs || {}), value === null || value === undefined ? "-" : value);
}

function fmtTime(epochSeconds) {
  if (!epochSeconds) return "-";
  return new Date(epochSeconds * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function fmtMs(ms) { return ms ? fmtTime(ms / 1000) : "-"; }

function fmtNum(n, digits) {
  if (n === null || n === undefined) return "-";
  return Number(n).toLocaleString("en-US", {maximumFractionDigits: digits === undefined ? 0 : digits});
}

function replaceRows(tbody, rows) { tbody.replaceChildren(...rows); }

// ------------------------------------------------------------------------------------ charts (uPlot)
function chart(id, parent, label, data) {
  const width = Math.max(280, parent.clientWidth - 10);
  if (!charts[id]) {
    charts[id] = new uPlot({
      width: width, height: 140,
      scales: {x: {time: true, range: (u, min, max) => [max - windowS, max]}},  // the last minutes
      legend: {show: false},
      series: [{}, {label: label, stroke: "#1f5fbf", width: 2, fill: "rgba(31,95,191,0.08)"}],
      axes: [{}, {size: 60}],
    }, data, parent);
  } else {
    charts[id].setData(data);
    if (Math.abs(charts[id].width - width) > 20) charts[id].setSize({width: width, height: 140});
  }
}

function series(history) {
  return [history.map(p => p[0]), history.map(p => p[1])];
}

// ------------------------------------------------------------------------------------ lag
function renderLag(lag) {
  document.getElementById("lag-interval").textContent = lag.interval;
  const box = document.getElementById("lag-groups");
  box.className = "groups";
  const rows = [];
  for (const [group, g] of Object.entries(lag.groups)) {
    let card = document.getElementById("lag-group-" + group);
    if (!card) {
      card = el("div", {class: "group", id: "lag-group-" + group},
        el("h3", {}, "group ", el("code", {}, group)),
        el("div", {class: "figure"}), el("div", {class: "when muted"}), el("div", {class: "chart"}));
      box.append(card);
    }
    const total = g.rows.reduce((s, r) => s + r.lag, 0);
    const oldest = g.rows.reduce((m, r) => Math.max(m, r.lag_seconds || 0), 0);
    const figure = card.querySelector(".figure");
    figure.textContent = g.sampled_at === null ? "no sample yet"
      : `${fmtNum(total)} records behind over ${g.rows.length} partitions; oldest unprocessed ${fmtNum(oldest, 1)} s`;
    figure.setAttribute("data-total-lag", g.sampled_at === null ? "" : total);
    const when = card.querySelector(".when");
    when.setAttribute("data-sampled-at", g.sampled_at || "");
    when.textContent = g.sampled_at ? `sampled ${fmtTime(g.sampled_at)} (took ${fmtNum(g.duration * 1000)} ms)` +
      (g.errors ? `; ${g.errors} failed samples` : "") : (g.errors ? `${g.errors} failed samples` : "");
    chart("lag-" + group, card.querySelector(".chart"), "records behind", series(g.history));
    for (const r of g.rows) {
      rows.push(el("tr", {class: r.lag > 0 ? "behind" : "", "data-group": r.group, "data-topic": r.topic,
                          "data-partition": r.partition, "data-committed": r.committed === null ? "" : r.committed,
                          "data-high-water": r.high_water, "data-lag": r.lag},
        td(r.group), td(r.topic), td(r.partition, "num"), td(r.committed, "num"), td(r.high_water, "num"),
        td(r.lag, "num"), td(r.lag_seconds === null ? "?" : fmtNum(r.lag_seconds, 1), "num")));
    }
  }
  replaceRows(document.querySelector("#lag-table tbody"), rows);
}

function renderThroughput(t) {
  const now = document.getElementById("throughput-now");
  now.textContent = t.rate === null ? (t.error || "measuring (two scrapes are needed)")
    : `${fmtNum(t.rate, 1)} records/s over ${Object.keys(t.workers).length} worker(s)`;
  now.setAttribute("data-rate", t.rate === null ? "" : t.rate);
  const list = document.getElementById("throughput-workers");
  list.replaceChildren(...Object.entries(t.workers).map(([url, w]) => el("li", {},
    el("code", {}, url), w.ok ? ` ${fmtNum(w.applied_total)} records applied since it started` +
      (w.rate === null ? "" : `, ${fmtNum(w.rate, 1)}/s`) : ` unreachable (${w.error})`)));
  chart("throughput", document.getElementById("throughput-chart"), "records/s", series(t.history));
}

// ------------------------------------------------------------------------------------ cycle
function doneRecord(c) {  // what the results agent's done record says: the benchmarks, or the summary's counts
  const bms = Object.entries(c.benchmarks || {}).sort();
  if (bms.length) return "benchmarks: " + bms.map(([region, premium]) => `region ${region} $${premium}`).join(", ");
  const counts = Object.entries(c.summary || {}).sort().map(([name, n]) => `${name} ${n}`).join(", ");
  return counts || "nothing to send";
}

function renderCycle(commands) {
  document.getElementById("cycle-empty").hidden = commands.length > 0;
  const rows = commands.slice().reverse().map(c => {
    const n = c.partitions || 0, k = (c.applied || []).length;
    const bar = el("span", {class: "bar"}, el("span", {}));
    bar.firstChild.style.width = n ? `${Math.round(100 * k / n)}%` : "0%";
    const produced = Object.entries(c.outputs || {}).map(([topic, count]) => `${topic} ${count}`).join(", ");
    const status = c.status === "refused" ? `refused: ${c.error_code}` : c.status;
    return el("tr", {"data-command": c.command, "data-command-id": c.command_id, "data-applied": k,
                     "data-partitions": n, "data-status": c.status, "data-done": c.done ? "yes" : "no"},
      td(fmtMs(c.published_at)), td(c.command || "(unreadable)"), td(c.plan_year), td(c.state_code),
      td(c.as_of ? c.as_of.replace("T", " ").slice(0, 16) : null),
      el("td", {}, bar, n ? `${k} / ${n}` : `${k}`),
      td(status, "status-" + c.status), td(produced || (c.status === "recorded" ? "(an opt-in: nothing to scan)" : "")),
      td(c.done ? doneRecord(c) : null, "done-record"));
  });
  replaceRows(document.querySelector("#cycle-table tbody"), rows);
}

// ------------------------------------------------------------------------------------ dead letters
function renderDead(dead) {
  document.getElementById("dead-total").textContent = fmtNum(dead.total);
  document.getElementById("dead-reading").hidden = !dead.reading;
  document.getElementById("dead-masked").hidden = dead.revealed;
  replaceRows(document.querySelector("#dead-counts tbody"), dead.counts.map(c =>
    el("tr", {"data-error-code": c.error_code, "data-source-topic": c.source_topic, "data-count": c.count},
      td(c.error_code), td(c.source_topic), td(c.count, "num"))));
  replaceRows(document.querySelector("#dead-latest tbody"), dead.latest.map(d =>
    el("tr", {"data-error-code": d.error_code, "data-source-topic": d.source_topic,
              "data-partition": d.partition, "data-offset": d.offset},
      td(d.received_at.replace("T", " ").slice(0, 19)), td(d.error_code),
      td(dead.revealed ? d.error_message : "(hidden)"), td(d.source_topic), td(d.partition, "num"),
      td(d.offset, "num"), td(d.key, "key"))));
}

// ------------------------------------------------------------------------------------ member
function renderLookupState(lookup) {
  const off = document.getElementById("member-off");
  off.hidden = lookup.state !== "off";
  off.textContent = lookup.reason || "";
  document.getElementById("login-form").hidden = lookup.state !== "login";
  document.getElementById("lookup").hidden = lookup.state !== "on";
  document.getElementById("member").setAttribute("data-lookup", lookup.state);
  document.getElementById("dead-masked").textContent = lookup.state === "off"
    ? "Keys are masked and messages hidden (the member lookup is off: PARTD_CONSOLE_TOKEN)."
    : "Keys are masked and messages hidden: sign in (Member, below) to see them.";
}

function kv(obj, keys) {
  const dl = el("dl", {class: "kv"});
  for (const k of keys || Object.keys(obj || {})) {
    const v = obj ? obj[k] : null;
    if (v === null || v === undefined || v === "" || typeof v === "object") continue;
    dl.append(el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, String(v)));
  }
  return dl;
}

function table(id, columns, rows) {
  if (!rows || !rows.length) return el("p", {class: "muted", id: id}, "none");
  return el("table", {class: "grid", id: id},
    el("thead", {}, el("tr", {}, ...columns.map(c => el("th", {}, c.replace(/_/g, " "))))),
    el("tbody", {}, ...rows.map(r => el("tr", {}, ...columns.map(c => {
      const v = r[c];
      return td(v === null || v === undefined ? null : (typeof v === "object" ? JSON.stringify(v) : v));
    })))));
}

function brief(value) {  // a record without its bulky parts (a dead letter's raw bytes are on the topic)
  if (!value || typeof value !== "object") return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || k.startsWith("raw_") || k === "truncated") continue;
    out[k] = v;
  }
  return out;
}

function renderMember(m) {
  const out = document.getElementById("member-result");
  const member = m.member || {};
  const parts = [
    el("p", {id: "member-where"}, `partition ${m.partition}, held by `, el("code", {}, m.worker),
       m.found ? "" : ": partd holds no member with this MBI"),
  ];
  if (m.found) {
    parts.push(el("div", {class: "card", id: "member-profile"}, el("h3", {}, "Profile"), kv(member.profile || {})));
    parts.push(el("div", {class: "card"}, el("h3", {}, "Enrollments"),
      table("member-enrollments", ["contract_id", "pbp_id", "start", "end", "status", "election_type",
        "enrollment_source", "application_date", "tracking_id", "prior_contract_id", "disenrollment_reason"],
        member.enrollments)));
    parts.push(el("div", {class: "card"}, el("h3", {}, "LIS periods"),
      table("member-lis", ["premium_subsidy_level", "copay_level", "subsidy_source", "start", "end"], member.lis)));
    parts.push(el("div", {class: "card", id: "member-years"}, el("h3", {}, "Reassigned and passive years"),
      kv({reassigned_years: (member.reassigned_years || []).join(", ") || "none",
          passive_years: (member.passive_years || []).join(", ") || "none"})));
  }
  const outbox = (m.outbox || []).flatMap(e => e.records.map(r => ({input: `${e.input} @${e.offset}`,
    topic: r.topic, key: r.key, value: brief(r.value)})).concat(e.dead_letters.map(d => ({input: `${e.input} @${e.offset}`,
    topic: "dead-letters", key: "", value: d}))));
  parts.push(el("div", {class: "card"}, el("h3", {}, "Outbox: sent, input not committed yet"),
    table("member-outbox", ["input", "topic", "key", "value"], outbox)));
  const sent = m.sent || {};
  parts.push(el("div", {class: "card", id: "member-sent"}, el("h3", {}, "Records partd sent about this member (topics keyed by MBI)"),
    ...Object.entries(sent).map(([topic, rows]) => el("div", {"data-topic": topic, "data-count": rows.length},
      el("h3", {}, topic, el("small", {}, ` ${rows.length} record(s)`)),
      table("member-sent-" + topic, ["partition", "offset", "time", "value"],
        rows.map(r => ({partition: r.partition, offset: r.offset, time: fmtMs(r.timestamp), value: brief(r.value)})))))));
  out.replaceChildren(...parts);
  out.setAttribute("data-mbi", m.mbi);
  out.setAttribute("data-found", m.found ? "yes" : "no");
}

async function lookUp(event) {
  event.preventDefault();
  const mbi = document.getElementById("mbi").value.trim().toUpperCase();
  const status = document.getElementById("member-status");
  status.textContent = `looking up (the worker holding ${mbi.slice(-4).padStart(mbi.length, "\u2022")})\u2026`;
  const started = performance.now();
  try {
    const resp = await fetch("/api/member", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({mbi: mbi})});
    const body = await resp.json();
    if (!resp.ok) {
      status.textContent = `${body.error}: ${body.message}`;
      status.setAttribute("data-error", body.error);
      document.getElementById("member-result").replaceChildren();
      return;
    }
    status.removeAttribute("data-error");
    status.textContent = `answered in ${Math.round(performance.now() - started)} ms`;
    renderMember(body);
  } catch (err) {
    status.textContent = `the lookup failed: ${err}`;
  }
}

// ------------------------------------------------------------------------------------ live updates
function render(s) {
  lastSnapshot = s;
  windowS = s.history_s || windowS;
  clockSkew = s.now - Date.now() / 1000;
  renderLag(s.lag);
  renderThroughput(s.throughput);
  renderCycle(s.cycle);
  renderDead(s.dead);
  renderLookupState(s.lookup);
  document.body.setAttribute("data-updated", s.now);
}

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/api/events");
  es.onopen = () => { conn.dataset.state = "live"; conn.textContent = "live"; };
  es.onmessage = (e) => render(JSON.parse(e.data));
  es.onerror = () => { conn.dataset.state = "lost"; conn.textContent = "reconnecting\u2026"; };
}

function tick() {  // how old the shown samples are, between two updates
  if (!lastSnapshot) return;
  const now = Date.now() / 1000 + clockSkew;
  for (const node of document.querySelectorAll("[data-sampled-at]")) {
    const at = Number(node.getAttribute("data-sampled-at"));
    if (at) node.title = `${fmtNum(now - at, 1)} s ago`;
  }
}

document.getElementById("lookup-form").addEventListener("submit", lookUp);
document.getElementById("login-refused").hidden = !location.search.includes("login=refused");
connect();
setInterval(tick, 1000);
