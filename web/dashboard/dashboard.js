// The qnet dashboard: the topology as a graph, live link status, live jobs, and a form to submit jobs.
//
// Everything comes from the orchestrator API on the same server (docs/orchestrator-api.md):
// GET /api/v1/topology once, GET /api/v1/links every few seconds and at once on every `link` event,
// GET /api/v1/jobs at start (and after a reconnect), then the `job` events of GET /api/v1/events.
// The DOM is built with createElement and textContent only, never from markup strings.

import { layoutGraph } from "./layout.js";

const API = "/api/v1";
const LINKS_REFRESH_MS = 3000;
const MAX_JOBS = 200;
const GRAPH = { width: 640, height: 420, padding: 48 };
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  topology: null,
  /** link ID → the link's last status from GET /links */
  links: new Map(),
  /** job ID → the job, as the API spells it */
  jobs: new Map(),
  /** "a|b" (both orders) → link ID, to draw a job's path on the graph */
  linkByEnds: new Map(),
  /** ID of the job whose path is highlighted, if any */
  highlighted: null,
};

const $ = (selector) => document.querySelector(selector);

// ---------------------------------------------------------------------------------------------------
// Small helpers

/** An HTML element with attributes and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  e.append(...children.filter((c) => c !== undefined && c !== null));
  return e;
}

/** An SVG element with attributes and children. */
function s(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  e.append(...children);
  return e;
}

/** A probability as a percentage, with more digits when it is small. */
function percent(p) {
  if (!Number.isFinite(p)) return "–";
  if (p === 0) return "0 %";
  if (p < 0.001) return `${(p * 100).toExponential(1)} %`;
  return `${(p * 100).toFixed(p < 0.1 ? 2 : 1)} %`;
}

/** A rate with its unit: Hz, kHz or MHz, three significant digits. */
function rate(hz) {
  if (!Number.isFinite(hz)) return "–";
  if (hz >= 1e6) return `${(hz / 1e6).toPrecision(3)} MHz`;
  if (hz >= 1e3) return `${(hz / 1e3).toPrecision(3)} kHz`;
  if (hz === 0) return "0 Hz";
  return `${hz.toPrecision(3)} Hz`;
}

const fidelity = (f) => (Number.isFinite(f) ? f.toFixed(4) : "–");
const count = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en") : "–");

/** A duration in ns, in the unit that reads best. */
function duration(ns) {
  if (!Number.isFinite(ns)) return "–";
  if (ns >= 1e9) return `${(ns / 1e9).toPrecision(3)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toPrecision(3)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toPrecision(3)} µs`;
  return `${ns.toPrecision(3)} ns`;
}

/** Colour of an up link by its success probability: orange at 0.1 % or less, green at 50 % or more. */
function successColour(p) {
  const t = Math.min(1, Math.max(0, (Math.log10(Math.max(p, 1e-6)) + 3) / (Math.log10(0.5) + 3)));
  return `hsl(${Math.round(35 + 90 * t)}, 70%, ${Math.round(44 - 10 * t)}%)`;
}

async function getJson(path) {
  const r = await fetch(`${API}${path}`, { headers: { accept: "application/json" } });
  if (!r.ok) throw new Error(`GET ${API}${path}: ${r.status} ${(await r.text()).slice(0, 200)}`);
  return r.json();
}

function showBanner(text) {
  const b = $('[data-testid="banner"]');
  b.textContent = text;
  b.hidden = text === "";
}

// ---------------------------------------------------------------------------------------------------
// The graph

function drawGraph() {
  const { nodes, links } = state.topology;
  const positions = layoutGraph(
    nodes.map((n) => n.id),
    links.map((l) => [l.a, l.b]),
    GRAPH,
  );
  const linkLayer = $('[data-testid="graph"] .links');
  const nodeLayer = $('[data-testid="graph"] .nodes');
  linkLayer.replaceChildren();
  nodeLayer.replaceChildren();
  for (const l of links) {
    const a = positions.get(l.a);
    const b = positions.get(l.b);
    const ends = { x1: a.x, y1: a.y, x2: b.x, y2: b.y };
    linkLayer.append(
      s(
        "g",
        { class: "link-group", "data-testid": "graph-link", "data-link-id": l.id },
        s("title", {}),
        s("line", { class: "link", ...ends }),
        // A wider invisible line under the pointer, so that thin links are easy to hover.
        s("line", { class: "link-hit", ...ends }),
      ),
    );
  }
  for (const n of nodes) {
    const p = positions.get(n.id);
    const degree = links.filter((l) => l.a === n.id || l.b === n.id).length;
    const title = [
      `${n.id}: ${n.type} node`,
      n.memory_qubits === undefined ? "no memory qubits" : `${n.memory_qubits} memory qubits`,
      `${degree} link${degree === 1 ? "" : "s"}`,
    ].join("\n");
    nodeLayer.append(
      s(
        "g",
        {
          class: `node ${n.type}`,
          "data-testid": "graph-node",
          "data-node-id": n.id,
          "data-node-type": n.type,
          transform: `translate(${p.x} ${p.y})`,
        },
        s("title", {}, title),
        s("circle", { r: n.type === "end" ? 13 : 11 }),
        s("text", { y: 28, "text-anchor": "middle" }, n.id),
      ),
    );
  }
  paintLinks();
}

/** Colours and titles of the graph's links from their latest status. */
function paintLinks() {
  if (state.topology === null) return;
  const onPath = pathLinks(state.jobs.get(state.highlighted));
  for (const l of state.topology.links) {
    const g = $(`[data-testid="graph-link"][data-link-id="${CSS.escape(l.id)}"]`);
    if (g === null) continue;
    const st = state.links.get(l.id);
    const line = g.querySelector(".link");
    const lines = [`${l.id} (${l.a} – ${l.b})`];
    if (l.length_km !== undefined) lines.push(`${l.length_km} km of fiber`);
    else lines.push("described by its measured behaviour");
    if (st === undefined) {
      line.setAttribute("stroke", "#9aa3b0");
      g.dataset.status = "unknown";
    } else {
      // A down link's colour comes from the stylesheet (class "down"), which overrides this attribute.
      line.setAttribute("stroke", successColour(st.success_probability));
      line.classList.toggle("down", !st.up);
      g.dataset.status = st.up ? "up" : "down";
      lines.push(
        st.up ? "up" : "DOWN",
        `success ${percent(st.success_probability)} per attempt`,
        `pair rate ${rate(st.pair_rate_hz)} per memory pair`,
        `fidelity ${fidelity(st.fidelity)}`,
      );
      if (st.key_pool_bits !== undefined) lines.push(`key pool ${count(st.key_pool_bits)} bits`);
    }
    g.querySelector("title").textContent = lines.join("\n");
    g.classList.toggle("on-path", onPath.has(l.id));
  }
  const nodesOnPath = new Set(state.jobs.get(state.highlighted)?.path ?? []);
  for (const g of document.querySelectorAll('[data-testid="graph-node"]'))
    g.classList.toggle("on-path", nodesOnPath.has(g.dataset.nodeId));
}

/** The IDs of the links along a job's path. */
function pathLinks(job) {
  const ids = new Set();
  const path = job?.path ?? [];
  for (let i = 0; i + 1 < path.length; i++) {
    const id = state.linkByEnds.get(`${path[i]}|${path[i + 1]}`);
    if (id !== undefined) ids.add(id);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------------
// Links

async function refreshLinks() {
  try {
    const { links } = await getJson("/links");
    state.links = new Map(links.map((l) => [l.link_id, l]));
    renderLinks();
    paintLinks();
    $('[data-testid="links-updated"]').textContent = `Updated ${new Date().toLocaleTimeString("en-GB")}`;
  } catch (e) {
    $('[data-testid="links-updated"]').textContent = `Could not update the links: ${e.message}`;
  }
}

function renderLinks() {
  const withKeys = [...state.links.values()].some((l) => l.key_pool_bits !== undefined);
  $('[data-testid="links-table"] .key-column').hidden = !withKeys;
  const rows = [...state.links.values()].map((l) => {
    const downText = l.down_cause === "detected" ? "down · detected" : "down";
    const status = h("span", { class: `badge ${l.up ? "up" : "down"}` }, l.up ? "up" : downText);
    const key = h("td", { class: "num", "data-testid": "link-key-pool" });
    key.hidden = !withKeys;
    key.textContent = l.key_pool_bits === undefined ? "–" : `${count(l.key_pool_bits)} bits`;
    return h(
      "tr",
      { "data-testid": "link-row", "data-link-id": l.link_id, "data-status": l.up ? "up" : "down" },
      h("td", {}, h("div", {}, l.link_id), h("div", { class: "muted small" }, `${l.a} – ${l.b}`)),
      h("td", { "data-testid": "link-status" }, status),
      h("td", { class: "num", "data-testid": "link-success" }, percent(l.success_probability)),
      h("td", { class: "num", "data-testid": "link-rate" }, rate(l.pair_rate_hz)),
      h("td", { class: "num", "data-testid": "link-fidelity" }, fidelity(l.fidelity)),
      key,
      h("td", { class: "num" }, count(l.observed_attempts)),
    );
  });
  $('[data-testid="links-table"] tbody').replaceChildren(...rows);
}

// ---------------------------------------------------------------------------------------------------
// Jobs

/** Keeps the newer of two versions of a job (events and fetches may cross). */
function upsertJob(job) {
  const old = state.jobs.get(job.id);
  if (old !== undefined && old.version > job.version) return;
  state.jobs.set(job.id, job);
}

/** What the job came to, in a few words. */
function resultSummary(job) {
  const r = job.result;
  if (r === undefined) return "";
  const parts = [];
  if (job.kind === "qkd") {
    if (r.key_bits !== undefined) parts.push(`${count(r.key_bits)} key bits`);
  } else if (r.delivered !== undefined) {
    const noun = job.kind === "teleportation" ? "state" : "pair";
    parts.push(`${count(r.delivered)} ${noun}${r.delivered === 1 ? "" : "s"}`);
  }
  if (r.fidelity !== undefined && r.fidelity.count > 0)
    parts.push(`F ${fidelity(r.fidelity.mean)} (min ${fidelity(r.fidelity.min)})`);
  if (r.rate_hz !== undefined) parts.push(rate(r.rate_hz));
  if (r.duration_ns !== undefined) parts.push(`in ${duration(r.duration_ns)}`);
  if (r.error !== undefined && parts.length === 0) parts.push(r.error.code);
  return parts.join(", ");
}

/**
 * Why the job is where it is: for a job that did not succeed, the reason it ended (or is waiting);
 * nothing for one that succeeded, whose result says it all.
 */
function reasonOf(job) {
  if (job.state === "succeeded") return "";
  const last = [...job.history].reverse().find((e) => e.reason !== undefined);
  if (last !== undefined) return last.reason;
  const error = job.result?.error;
  return error === undefined ? "" : `${error.code}: ${error.message}`;
}

function renderJobs() {
  const jobs = [...state.jobs.values()].sort(
    (a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id),
  );
  for (const old of jobs.slice(MAX_JOBS)) state.jobs.delete(old.id);
  const rows = jobs.slice(0, MAX_JOBS).map((job) => {
    const row = h(
      "tr",
      { "data-testid": "job-row", "data-job-id": job.id, "data-state": job.state, tabindex: "0" },
      h("td", { class: "id", title: job.id }, job.id.length > 12 ? `${job.id.slice(0, 8)}…` : job.id),
      h("td", {}, job.kind),
      h("td", { class: "route" }, `${job.spec.src} → ${job.spec.dst}`),
      h("td", {}, job.tenant),
      h("td", { "data-testid": "job-state" }, h("span", { class: `badge state-${job.state}` }, job.state)),
      h("td", { class: "path", "data-testid": "job-path" }, (job.path ?? []).join(" → ")),
      h("td", { class: "result", "data-testid": "job-result" }, resultSummary(job)),
      h("td", { class: "reason", "data-testid": "job-reason" }, reasonOf(job)),
    );
    const highlight = (on) => () => {
      state.highlighted = on ? job.id : null;
      paintLinks();
    };
    row.addEventListener("mouseenter", highlight(true));
    row.addEventListener("mouseleave", highlight(false));
    row.addEventListener("focus", highlight(true));
    row.addEventListener("blur", highlight(false));
    return row;
  });
  $('[data-testid="jobs-table"] tbody').replaceChildren(...rows);
  $('[data-testid="jobs-empty"]').hidden = rows.length > 0;
}

let renderPending = false;
/** Renders the jobs once per frame however many events arrive in it. */
function scheduleJobsRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    renderJobs();
    if (state.highlighted !== null) paintLinks();
  });
}

async function loadJobs() {
  const { jobs } = await getJson(`/jobs?limit=${MAX_JOBS}`);
  for (const job of jobs) upsertJob(job);
  renderJobs();
}

// ---------------------------------------------------------------------------------------------------
// Live events

function connectEvents() {
  const indicator = $('[data-testid="connection"]');
  const setConnection = (st, text) => {
    indicator.dataset.state = st;
    indicator.querySelector(".connection-text").textContent = text;
  };
  const events = new EventSource(`${API}/events`);
  let opened = false;
  events.addEventListener("open", () => {
    setConnection("live", "live");
    // After a reconnect, catch up with what happened while the stream was down (no replay).
    if (opened) {
      loadJobs().catch(() => {});
      refreshLinks();
    }
    opened = true;
  });
  events.addEventListener("error", () => {
    setConnection(events.readyState === EventSource.CLOSED ? "lost" : "connecting", "reconnecting…");
  });
  events.addEventListener("job", (e) => {
    upsertJob(JSON.parse(e.data).job);
    scheduleJobsRender();
  });
  events.addEventListener("link", (e) => {
    const { link_id: id, up, cause } = JSON.parse(e.data);
    const known = state.links.get(id);
    // Show the change at once; the refresh brings the estimates that go with it.
    if (known !== undefined) {
      const { down_cause: _previous, ...rest } = known;
      state.links.set(id, {
        ...rest,
        up,
        pair_rate_hz: up ? known.pair_rate_hz : 0,
        ...(up ? {} : { down_cause: cause }),
      });
      renderLinks();
      paintLinks();
    }
    refreshLinks();
  });
}

// ---------------------------------------------------------------------------------------------------
// The job form

const NUMERIC_FIELDS = new Set([
  "priority",
  "deadline_s",
  "pairs",
  "rate_hz",
  "min_fidelity",
  "theta",
  "phi",
  "key_bits",
]);

function fillNodeSelects() {
  const nodes = state.topology.nodes;
  const ends = nodes.filter((n) => n.type === "end");
  const preferred = ends.length >= 2 ? ends : nodes;
  for (const [name, pick] of [
    ["src", 0],
    ["dst", 1],
  ]) {
    const select = $(`[data-testid="job-form"] select[name="${name}"]`);
    select.replaceChildren(...nodes.map((n) => h("option", { value: n.id }, `${n.id} (${n.type})`)));
    if (preferred[pick] !== undefined) select.value = preferred[pick].id;
  }
}

/** Shows only the fields of the chosen kind; a disabled fieldset's fields are not sent. */
function showKindFields() {
  const kind = $('[data-testid="form-kind"]').value;
  for (const fs of document.querySelectorAll("[data-testid='job-form'] fieldset[data-kind]")) {
    const mine = fs.dataset.kind === kind;
    fs.hidden = !mine;
    fs.disabled = !mine;
  }
}

/** The spec the form describes: empty fields are left out, so the API applies its defaults. */
function formSpec(form) {
  const spec = {};
  for (const field of form.querySelectorAll("input, select")) {
    // :disabled covers the fields of a disabled fieldset, which `field.disabled` does not.
    if (field.matches(":disabled") || field.name === "" || field.value.trim() === "") continue;
    const text = field.value.trim();
    const n = Number(text);
    spec[field.name] = NUMERIC_FIELDS.has(field.name) && Number.isFinite(n) ? n : text;
  }
  return spec;
}

function clearFieldErrors(form) {
  for (const e of form.querySelectorAll(".field-error")) e.textContent = "";
  for (const f of form.querySelectorAll("[aria-invalid]")) f.removeAttribute("aria-invalid");
}

/** Shows the outcome of a submission in the form's status area. */
function showStatus(kind, message, details = []) {
  const box = $('[data-testid="form-status"]');
  box.className = `form-status ${kind}`;
  const children = [
    h("p", { class: "message", "data-testid": `form-${kind === "ok" ? "ok" : "error"}` }, message),
  ];
  if (details.length > 0)
    children.push(
      h(
        "ul",
        { "data-testid": "form-errors" },
        ...details.map((d) =>
          h("li", {}, d.path ? h("code", {}, d.path) : "", d.path ? `: ${d.message}` : d.message),
        ),
      ),
    );
  box.replaceChildren(...children);
}

async function submitJob(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  clearFieldErrors(form);
  button.disabled = true;
  try {
    const r = await fetch(`${API}/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(formSpec(form)),
    });
    let body = {};
    try {
      body = await r.json();
    } catch {
      body = { message: `the server answered ${r.status} without JSON` };
    }
    if (r.status === 201) {
      upsertJob(body);
      renderJobs();
      const why = reasonOf(body);
      showStatus("ok", `Job ${body.id} ${body.state}${why ? `: ${why}` : ""}.`);
    } else if (r.status === 400 && Array.isArray(body.errors)) {
      for (const err of body.errors) {
        const field = form.querySelector(`[name="${CSS.escape(err.path)}"]`);
        if (field !== null) field.setAttribute("aria-invalid", "true");
        const slot = form.querySelector(`[data-error-for="${CSS.escape(err.path)}"]`);
        if (slot !== null) slot.textContent = err.message;
      }
      showStatus("error", "The job was not accepted; nothing was stored:", body.errors);
    } else if (r.status === 422) {
      if (body.job !== undefined) {
        upsertJob(body.job);
        renderJobs();
      }
      showStatus("error", `Refused by admission control (${body.code}): ${body.message}`);
    } else {
      showStatus("error", `The server answered ${r.status}: ${body.message ?? "no details"}`);
    }
  } catch (e) {
    showStatus("error", `Could not reach the server: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------------
// Start

async function start() {
  const form = $('[data-testid="job-form"]');
  form.addEventListener("submit", submitJob);
  $('[data-testid="form-kind"]').addEventListener("change", showKindFields);
  showKindFields();
  try {
    state.topology = await getJson("/topology");
  } catch (e) {
    showBanner(`Could not load the topology: ${e.message}`);
    return;
  }
  const { name, nodes, links } = state.topology;
  for (const l of links) {
    state.linkByEnds.set(`${l.a}|${l.b}`, l.id);
    state.linkByEnds.set(`${l.b}|${l.a}`, l.id);
  }
  $('[data-testid="topology-summary"]').textContent = `${name}: ${nodes.length} nodes, ${links.length} links`;
  document.title = `qnet · ${name}`;
  fillNodeSelects();
  drawGraph();
  connectEvents();
  await Promise.all([
    refreshLinks(),
    loadJobs().catch((e) => showBanner(`Could not load the jobs: ${e.message}`)),
  ]);
  setInterval(refreshLinks, LINKS_REFRESH_MS);
}

start();
