import type { AddressInfo } from "node:net";
import { Ajv2020 } from "ajv/dist/2020.js";
import Fastify, { type FastifyInstance, type InjectOptions, type RouteOptions } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { JOB_FIELDS } from "../../src/control/jobs.js";
import { MemoryJobStore } from "../../src/control/memory-job-store.js";
import { Orchestrator } from "../../src/control/orchestrator.js";
import { KMS_SERVER_OPTIONS, registerKmsRoutes } from "../../src/server/kms-routes.js";
import { ORCHESTRATOR_OPENAPI } from "../../src/server/orchestrator-openapi.js";
import {
  ORCHESTRATOR_API_PREFIX,
  ORCHESTRATOR_SERVER_OPTIONS,
  orchestratorEventHub,
  registerOrchestratorRoutes,
} from "../../src/server/orchestrator-routes.js";
import { Rng } from "../../src/sim/rng.js";
import { kmeNetwork } from "../kms/kme-network.js";
import { chain } from "../support/topologies.js";

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** Routes as fastify registered them: method and URL. */
interface SeenRoute {
  method: string;
  url: string;
}

async function harness(opts: { heartbeatMs?: number; forceCloseConnections?: boolean } = {}) {
  let t = 1_700_000_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const hub = orchestratorEventHub();
  const orch = await Orchestrator.open({
    topology: chain({ links: 2, p: 0.5, attemptDurationNs: 1000, fidelity: 0.99 }),
    store: new MemoryJobStore(),
    clock: clock.now,
    seed: 7,
    onEvent: hub.emit,
  });
  let n = 0;
  const app = Fastify({
    ...ORCHESTRATOR_SERVER_OPTIONS,
    forceCloseConnections: opts.forceCloseConnections ?? "idle",
  });
  const routes: SeenRoute[] = [];
  app.addHook("onRoute", (r: RouteOptions) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  registerOrchestratorRoutes(app, {
    orchestrator: orch,
    newId: () => `job-${++n}`,
    events: hub.subscribe,
    heartbeatMs: opts.heartbeatMs,
  });
  await app.ready();
  apps.push(app);
  const call = (o: InjectOptions) => app.inject({ ...o, url: `${ORCHESTRATOR_API_PREFIX}${o.url}` });
  const submit = (body: unknown, headers: Record<string, string> = {}) =>
    call({ method: "POST", url: "/jobs", payload: body as object, headers });
  return { app, orch, hub, clock, routes, call, submit };
}

/** Validates bodies against the document's own schemas, so the document cannot drift from the answers. */
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ $id: "qnet-openapi", components: ORCHESTRATOR_OPENAPI.components });
function conforms(schema: string, body: unknown): void {
  const validate = ajv.getSchema(`qnet-openapi#/components/schemas/${schema}`)!;
  expect(validate(body), `${schema}: ${ajv.errorsText(validate.errors)}`).toBe(true);
}

const PAIRS = { kind: "entanglement", src: "n0", dst: "n2", pairs: 5, min_fidelity: 0.9 };

describe("orchestrator API: jobs", () => {
  it("submits (201, admitted), then shows the job succeeded with its result after a step", async () => {
    const h = await harness();
    const r = await h.submit(PAIRS);
    expect(r.statusCode).toBe(201);
    expect(r.headers["content-type"]).toMatch(/^application\/json/);
    expect(r.headers.location).toBe("/api/v1/jobs/job-1");
    const job = r.json();
    conforms("Job", job);
    expect(job).toMatchObject({
      id: "job-1",
      kind: "entanglement",
      state: "admitted",
      tenant: "default",
      priority: 5,
      path: ["n0", "n1", "n2"],
      spec: { kind: "entanglement", src: "n0", dst: "n2", pairs: 5, min_fidelity: 0.9 },
      created_at: "2023-11-14T22:13:20.000Z",
    });
    expect(job.history.map((e: { state: string }) => e.state)).toEqual(["queued", "admitted"]);

    h.clock.advance(1000);
    await h.orch.step();
    const g = await h.call({ method: "GET", url: "/jobs/job-1" });
    expect(g.statusCode).toBe(200);
    const done = g.json();
    conforms("Job", done);
    expect(done.state).toBe("succeeded");
    expect(done.result.delivered).toBe(5);
    expect(done.result.fidelity.count).toBe(5);
    expect(done.result.fidelity.min).toBeGreaterThanOrEqual(0.9);
    expect(done.result.duration_ns).toBeGreaterThan(0);
    expect(done.updated_at).toBe("2023-11-14T22:13:21.000Z");
  });

  it("takes the tenant from the x-qnet-tenant header over the body", async () => {
    const h = await harness();
    const r = await h.submit({ ...PAIRS, tenant: "body" }, { "x-qnet-tenant": "acme" });
    expect(r.statusCode).toBe(201);
    expect(r.json().tenant).toBe("acme");
    const bad = await h.submit(PAIRS, { "x-qnet-tenant": "!bad" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors.map((e: { path: string }) => e.path)).toEqual(["tenant"]);
  });

  it("answers 400 listing every bad field of an invalid spec, and stores nothing", async () => {
    const h = await harness();
    const r = await h.submit({ kind: "entanglement", src: "n0", dst: "n0", rateHz: 3, priority: 11 });
    expect(r.statusCode).toBe(400);
    const body = r.json();
    conforms("ValidationError", body);
    expect(body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      "dst",
      "pairs",
      "priority",
      "rateHz",
    ]);
    expect(body.message).toMatch(/^invalid job spec: /);
    expect((await h.call({ method: "GET", url: "/jobs" })).json().jobs).toEqual([]);
  });

  it("answers 422 with admission's reason and code, and the failed job", async () => {
    const h = await harness();
    const r = await h.submit({ ...PAIRS, min_fidelity: 0.999 });
    expect(r.statusCode).toBe(422);
    const body = r.json();
    conforms("Refused", body);
    expect(body.code).toBe("FIDELITY");
    expect(body.message.length).toBeGreaterThan(0);
    expect(body.job.state).toBe("failed");
    expect(body.job.result.error.code).toBe("FIDELITY");
    expect((await h.call({ method: "GET", url: `/jobs/${body.job.id}` })).json().state).toBe("failed");
  });

  it("404s an unknown job", async () => {
    const h = await harness();
    const r = await h.call({ method: "GET", url: "/jobs/nope" });
    expect(r.statusCode).toBe(404);
    conforms("Error", r.json());
    expect(r.json().message).toMatch(/no job with ID "nope"/);
    // The longest valid job ID fits the router's parameter limit.
    expect((await h.call({ method: "GET", url: `/jobs/${"a".repeat(128)}` })).statusCode).toBe(404);
  });

  it("lists with filters and pages by cursor, newest first", async () => {
    const h = await harness();
    for (let i = 0; i < 5; i++) {
      await h.submit({ ...PAIRS, tenant: i % 2 === 0 ? "even" : "odd" });
      h.clock.advance(1);
    }
    await h.submit({ kind: "qkd", src: "n0", dst: "n2", key_bits: 64 });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await h.call({
        method: "GET",
        url: `/jobs?limit=2&kind=entanglement${cursor === undefined ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
      });
      expect(r.statusCode).toBe(200);
      const page = r.json();
      conforms("JobPage", page);
      seen.push(...page.jobs.map((j: { id: string }) => j.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== undefined);
    expect(seen).toEqual(["job-5", "job-4", "job-3", "job-2", "job-1"]);
    expect(pages).toBe(3);
    const even = (await h.call({ method: "GET", url: "/jobs?tenant=even" })).json();
    expect(even.jobs.map((j: { id: string }) => j.id)).toEqual(["job-5", "job-3", "job-1"]);
    const states = (await h.call({ method: "GET", url: "/jobs?state=admitted,failed&kind=qkd" })).json();
    expect(states.jobs.map((j: { id: string }) => j.id)).toEqual(["job-6"]);
    for (const q of [
      "limit=0",
      "limit=abc",
      "state=done",
      "kind=x",
      "cursor=zzz",
      "colour=red",
      "limit=1&limit=2",
    ]) {
      const r = await h.call({ method: "GET", url: `/jobs?${q}` });
      expect(r.statusCode, q).toBe(400);
      expect(typeof r.json().message, q).toBe("string");
    }
  });

  it("cancels a waiting job (200), then 409 when it is final, 404 when unknown", async () => {
    const h = await harness();
    await h.submit(PAIRS);
    const r = await h.call({ method: "DELETE", url: "/jobs/job-1" });
    expect(r.statusCode).toBe(200);
    conforms("Job", r.json());
    expect(r.json().state).toBe("cancelled");
    expect(await h.orch.step()).toEqual([]);
    const again = await h.call({ method: "DELETE", url: "/jobs/job-1" });
    expect(again.statusCode).toBe(409);
    conforms("Conflict", again.json());
    expect(again.json().code).toBe("JOB_ILLEGAL_TRANSITION");
    expect((await h.call({ method: "DELETE", url: "/jobs/nope" })).statusCode).toBe(404);
  });
});

describe("orchestrator API: links", () => {
  it("takes a link down (failing the job that used it) and up again", async () => {
    const h = await harness();
    await h.submit(PAIRS);
    const down = await h.call({ method: "POST", url: "/links/n0-n1/down" });
    expect(down.statusCode).toBe(200);
    conforms("LinkChange", down.json());
    expect(down.json()).toMatchObject({ link_id: "n0-n1", up: false });
    expect(down.json().affected.map((j: { id: string; state: string }) => [j.id, j.state])).toEqual([
      ["job-1", "failed"],
    ]);
    const refused = await h.submit(PAIRS);
    expect(refused.statusCode).toBe(422);
    expect(refused.json().code).toBe("LINK_DOWN");
    const up = await h.call({ method: "POST", url: "/links/n0-n1/up" });
    expect(up.statusCode).toBe(200);
    expect(up.json()).toEqual({ link_id: "n0-n1", up: true, affected: [] });
    expect((await h.submit(PAIRS)).statusCode).toBe(201);
    const unknown = await h.call({ method: "POST", url: "/links/x-y/down" });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().message).toMatch(/no link with ID "x-y"/);
  });
});

/** Reads server-sent events off a fetch body until `count` events (not comments) arrived. */
async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  count: number,
  seen: { comments: string[]; buffer: string },
): Promise<{ event: string; data: unknown }[]> {
  const out: { event: string; data: unknown }[] = [];
  const decoder = new TextDecoder();
  while (out.length < count) {
    let sep = seen.buffer.indexOf("\n\n");
    while (sep < 0) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended after ${out.length} events`);
      seen.buffer += decoder.decode(value, { stream: true });
      sep = seen.buffer.indexOf("\n\n");
    }
    const block = seen.buffer.slice(0, sep);
    seen.buffer = seen.buffer.slice(sep + 2);
    if (block.startsWith(":")) {
      seen.comments.push(block);
      continue;
    }
    const lines = Object.fromEntries(
      block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]),
    );
    out.push({ event: lines.event, data: JSON.parse(lines.data) });
  }
  return out;
}

describe("orchestrator API: event stream", () => {
  it("streams job and link events with heartbeats, and cleans up when the client goes", async () => {
    // fetch (undici) may leave a spare idle-looking connection behind after an abort, which would hold
    // the server's close for seconds; forcing connections closed keeps the test fast.
    const h = await harness({ heartbeatMs: 30, forceCloseConnections: true });
    await h.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = h.app.server.address() as AddressInfo;
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/events`, { signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(h.hub.size()).toBe(1);
    const reader = res.body!.getReader();
    const seen = { comments: [] as string[], buffer: "" };

    await h.submit(PAIRS);
    await h.call({ method: "POST", url: "/links/n1-n2/down" });
    const events = await readEvents(reader, 4, seen);
    expect(events.map((e) => e.event)).toEqual(["job", "job", "link", "job"]);
    const states = events
      .filter((e) => e.event === "job")
      .map((e) => (e.data as { job: { state: string } }).job.state);
    expect(states).toEqual(["queued", "admitted", "failed"]);
    conforms("JobEvent", events[0].data);
    conforms("LinkEvent", events[2].data);
    expect(events[2].data).toEqual({ link_id: "n1-n2", up: false, cause: "operator" });

    // Heartbeats: comments only, while nothing happens.
    await new Promise((r) => setTimeout(r, 100));
    await h.orch.linkUp("n1-n2");
    const [up] = await readEvents(reader, 1, seen);
    expect(up).toEqual({ event: "link", data: { link_id: "n1-n2", up: true, cause: "operator" } });
    expect(seen.comments.filter((c) => c === ": heartbeat").length).toBeGreaterThanOrEqual(1);

    abort.abort();
    await reader.cancel().catch(() => {});
    for (let i = 0; i < 50 && h.hub.size() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(h.hub.size()).toBe(0);
  });

  it("lets the server close while a stream is open", async () => {
    const h = await harness();
    await h.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = h.app.server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/events`);
    const reader = res.body!.getReader();
    await reader.read(); // the opening comment
    await h.app.close();
    apps.splice(apps.indexOf(h.app), 1);
    expect(h.hub.size()).toBe(0);
    // The client sees the end of the stream rather than hanging.
    for (;;) if ((await reader.read()).done) break;
  });
});

describe("orchestrator API: OpenAPI document", () => {
  it("is served as JSON and documents exactly the routes fastify serves", async () => {
    const h = await harness();
    const r = await h.call({ method: "GET", url: "/openapi.json" });
    expect(r.statusCode).toBe(200);
    const doc = JSON.parse(r.body);
    expect(doc.openapi).toBe("3.1.0");
    expect(doc).toEqual(JSON.parse(JSON.stringify(ORCHESTRATOR_OPENAPI)));

    const served = h.routes
      .filter((x) => x.url.startsWith(ORCHESTRATOR_API_PREFIX))
      .map(
        (x) =>
          `${x.method.toLowerCase()} ${x.url.slice(ORCHESTRATOR_API_PREFIX.length).replace(/:(\w+)/g, "{$1}")}`,
      )
      .sort();
    const documented = Object.entries(doc.paths as Record<string, object>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
      .sort();
    expect(served).toEqual(documented);
    expect(served.length).toBe(10);

    // Every operation has an ID, a 200-class answer, and only refs that resolve.
    const text = JSON.stringify(doc);
    for (const [, name] of text.matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g))
      expect(doc.components.schemas[name], name).toBeDefined();
    for (const ops of Object.values(
      doc.paths as Record<string, Record<string, { operationId: string; responses: object }>>,
    ))
      for (const op of Object.values(ops)) {
        expect(op.operationId).toBeTruthy();
        expect(Object.keys(op.responses).some((s) => s.startsWith("2"))).toBe(true);
      }
    // Every field the job model accepts is described.
    for (const f of new Set(Object.values(JOB_FIELDS).flat()))
      expect(doc.components.schemas.JobSpec.properties[f], f).toBeDefined();
    // The schemas themselves compile as JSON Schema 2020-12.
    for (const name of Object.keys(doc.components.schemas))
      expect(ajv.getSchema(`qnet-openapi#/components/schemas/${name}`), name).toBeDefined();
  });
});

describe("orchestrator API: malformed requests", () => {
  it("answers 400 JSON for bad JSON, a wrong content type, an oversized body or no body", async () => {
    const h = await harness();
    const cases: [InjectOptions, RegExp][] = [
      [
        { method: "POST", url: "/jobs", payload: "{", headers: { "content-type": "application/json" } },
        /not valid JSON/,
      ],
      [
        { method: "POST", url: "/jobs", payload: "kind=qkd", headers: { "content-type": "text/plain" } },
        /Content-Type/,
      ],
      [
        {
          method: "POST",
          url: "/jobs",
          payload: `{"a":"${"x".repeat(70_000)}"}`,
          headers: { "content-type": "application/json" },
        },
        /larger than 65536 bytes/,
      ],
      [{ method: "POST", url: "/jobs" }, /JSON body/],
      [
        { method: "POST", url: "/jobs", payload: "", headers: { "content-type": "application/json" } },
        /empty/,
      ],
      [
        {
          method: "POST",
          url: "/jobs",
          payload: '{"__proto__":{"x":1}}',
          headers: { "content-type": "application/json" },
        },
        /not valid JSON/,
      ],
      [
        { method: "POST", url: "/jobs", payload: "[1,2]", headers: { "content-type": "application/json" } },
        /JSON object/,
      ],
    ];
    for (const [o, message] of cases) {
      const r = await h.call(o);
      expect(r.statusCode, JSON.stringify(o).slice(0, 80)).toBe(400);
      expect(r.headers["content-type"]).toMatch(/^application\/json/);
      expect(r.json().message).toMatch(message);
    }
    const missing = await h.call({ method: "GET", url: "/nowhere" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().message).toMatch(/no such route/);
  });

  it("survives a fuzz loop of malformed bodies with 4xx JSON answers", async () => {
    const h = await harness();
    const rng = new Rng(42);
    const alphabet = '{}[]":,0123456789.-eE truefalsnul\\/kindsrcdstpairs_\u00e9\u0000';
    const types = [
      "application/json",
      "application/json; charset=utf-8",
      "text/plain",
      "application/x-www-form-urlencoded",
      "",
    ];
    const urls = ["/jobs", "/links/n0-n1/down", "/links/n0-n1/up"];
    for (let i = 0; i < 300; i++) {
      const len = Math.floor(rng.random() * 60);
      let payload = "";
      for (let k = 0; k < len; k++) payload += alphabet[Math.floor(rng.random() * alphabet.length)];
      if (i % 5 === 0)
        payload = JSON.stringify({ ...PAIRS, [["pairs", "src", "kind", "tenant"][i % 4]]: payload });
      const ct = types[i % types.length];
      const r = await h.call({
        method: "POST",
        url: urls[i % urls.length],
        payload,
        headers: ct === "" ? {} : { "content-type": ct },
      });
      expect(r.statusCode, `${ct} ${payload}`).toBeLessThan(500);
      if (r.statusCode >= 400) {
        expect(r.statusCode).toBeGreaterThanOrEqual(400);
        expect(typeof r.json().message).toBe("string");
      }
    }
  });

  it("shares a server with the key delivery API, each keeping its own rules", async () => {
    const h = await harness();
    const app = Fastify(KMS_SERVER_OPTIONS);
    apps.push(app);
    registerKmsRoutes(app, { kme: kmeNetwork().a, identify: () => null });
    registerOrchestratorRoutes(app, {
      orchestrator: h.orch,
      newId: () => "shared-1",
      events: () => () => {},
    });
    await app.ready();
    // The KMS scope answers 401 to an unknown caller; the orchestrator scope is not behind it.
    expect((await app.inject({ method: "GET", url: "/api/v1/keys/sae-b1/status" })).statusCode).toBe(401);
    const r = await app.inject({ method: "POST", url: "/api/v1/jobs", payload: PAIRS });
    expect(r.statusCode).toBe(201);
    // A job ID of the longest allowed length (128) fits in the path with these server options.
    const long = await app.inject({ method: "GET", url: `/api/v1/jobs/${"a".repeat(128)}` });
    expect(long.statusCode).toBe(404);
  });
});
