import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryJobStore } from "../../src/control/memory-job-store.js";
import { Orchestrator } from "../../src/control/orchestrator.js";
import { parseTopology } from "../../src/network/topology-loader.js";
import { dashboardDir, registerDashboard } from "../../src/server/dashboard.js";
import { ORCHESTRATOR_OPENAPI } from "../../src/server/orchestrator-openapi.js";
import {
  ORCHESTRATOR_SERVER_OPTIONS,
  orchestratorEventHub,
  registerOrchestratorRoutes,
} from "../../src/server/orchestrator-routes.js";

const ROOT = join(import.meta.dirname, "..", "..");
const METRO = join(ROOT, "examples", "metro.yaml");

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function harness(keyPools?: () => ReadonlyMap<string, number>) {
  const topology = parseTopology(readFileSync(METRO, "utf8"), METRO);
  const hub = orchestratorEventHub();
  const orch = await Orchestrator.open({
    topology,
    store: new MemoryJobStore(),
    clock: () => 1_700_000_000_000,
    seed: 1,
    onEvent: hub.emit,
  });
  const app = Fastify(ORCHESTRATOR_SERVER_OPTIONS);
  let n = 0;
  registerOrchestratorRoutes(app, {
    orchestrator: orch,
    newId: () => `job-${++n}`,
    events: hub.subscribe,
    keyPools,
  });
  registerDashboard(app);
  await app.ready();
  apps.push(app);
  return { app, orch, topology };
}

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema({ $id: "qnet-openapi", components: ORCHESTRATOR_OPENAPI.components });
function conforms(schema: string, body: unknown): void {
  const validate = ajv.getSchema(`qnet-openapi#/components/schemas/${schema}`)!;
  expect(validate(body), `${schema}: ${ajv.errorsText(validate.errors)}`).toBe(true);
}

describe("dashboard: the page and its assets", () => {
  it("serves the page at / and its files under /dashboard with their content types", async () => {
    const { app } = await harness();
    const page = await app.inject({ method: "GET", url: "/" });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toBe(readFileSync(join(ROOT, "web", "dashboard", "index.html"), "utf8"));
    expect(page.body).toContain('data-testid="graph"');
    expect(page.body).toContain('src="/dashboard/dashboard.js"');
    // Nothing is fetched from elsewhere, and the policy keeps it so.
    expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    // A browser revalidating an unchanged file gets a 304 and no body; a stale tag gets the file.
    const etag = String(page.headers.etag);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    const again = await app.inject({ method: "GET", url: "/", headers: { "if-none-match": etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe("");
    const stale = await app.inject({ method: "GET", url: "/", headers: { "if-none-match": '"old"' } });
    expect(stale.statusCode).toBe(200);
    expect(stale.body).toBe(page.body);

    const types: [string, string][] = [
      ["dashboard.js", "text/javascript; charset=utf-8"],
      ["layout.js", "text/javascript; charset=utf-8"],
      ["dashboard.css", "text/css; charset=utf-8"],
      ["index.html", "text/html; charset=utf-8"],
    ];
    for (const [name, type] of types) {
      const r = await app.inject({ method: "GET", url: `/dashboard/${name}` });
      expect(r.statusCode, name).toBe(200);
      expect(r.headers["content-type"], name).toBe(type);
      expect(r.body, name).toBe(readFileSync(join(ROOT, "web", "dashboard", name), "utf8"));
    }
  });

  it("answers 404 for unknown assets and never leaves its folder", async () => {
    const { app } = await harness();
    const secret = readFileSync(join(ROOT, "package.json"), "utf8");
    for (const url of [
      "/dashboard/nope.js",
      "/dashboard/",
      "/dashboard",
      "/dashboard/../package.json",
      "/dashboard/..%2fpackage.json",
      "/dashboard/%2e%2e/package.json",
      "/dashboard/%2e%2e%2f%2e%2e%2fpackage.json",
      "/dashboard/..%5cpackage.json",
      "/dashboard/../../../../etc/passwd",
      "/dashboard//etc/passwd",
      "/dashboard/%2fetc%2fpasswd",
      "/dashboard/./index.html/..",
      "/dashboard/.hidden.js",
      "/dashboard/__proto__",
      "/dashboard/constructor",
      "/package.json",
      "/web/dashboard/index.html",
    ]) {
      const r = await app.inject({ method: "GET", url });
      expect(r.statusCode, url).toBe(404);
      expect(r.body, url).not.toContain('"name": "qnet"');
      expect(r.body, url).not.toContain(secret.slice(0, 40));
      expect(r.body, url).not.toContain("root:");
    }
  });

  it("serves only the files of the folder it was given, and refuses a folder without a page", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qnet-dashboard-"));
    try {
      writeFileSync(join(dir, "index.html"), "<!doctype html><title>x</title>");
      writeFileSync(join(dir, "notes.txt"), "not an asset type");
      const app = Fastify();
      registerDashboard(app, { dir });
      apps.push(app);
      expect((await app.inject({ method: "GET", url: "/" })).body).toBe("<!doctype html><title>x</title>");
      expect((await app.inject({ method: "GET", url: "/dashboard/notes.txt" })).statusCode).toBe(404);
      expect((await app.inject({ method: "GET", url: "/dashboard/dashboard.js" })).statusCode).toBe(404);
      rmSync(join(dir, "index.html"));
      expect(() => registerDashboard(Fastify(), { dir })).toThrow(/no index.html/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => registerDashboard(Fastify(), { dir: join(dir, "gone") })).toThrow(/files are missing/);
  });

  it("finds web/dashboard of the installation from the module's own location", () => {
    expect(dashboardDir()).toBe(join(ROOT, "web", "dashboard"));
  });
});

describe("dashboard: the graph layout", () => {
  type Layout = (
    ids: string[],
    edges: [string, string][],
    box: { width: number; height: number; padding: number },
  ) => Map<string, { x: number; y: number }>;
  const load = async (): Promise<Layout> =>
    (await import(pathToFileURL(join(ROOT, "web", "dashboard", "layout.js")).href)).layoutGraph;

  it("is deterministic, stays inside the box and keeps neighbours closer than distant nodes", async () => {
    const layoutGraph = await load();
    const topology = parseTopology(readFileSync(METRO, "utf8"), METRO);
    const ids = topology.nodes.map((n) => n.id);
    const edges = topology.links.map((l) => [l.a, l.b] as [string, string]);
    const box = { width: 640, height: 420, padding: 48 };
    const p = layoutGraph(ids, edges, box);
    expect([...layoutGraph(ids, edges, box)]).toEqual([...p]);
    expect([...p.keys()]).toEqual(ids);
    for (const { x, y } of p.values()) {
      expect(x).toBeGreaterThanOrEqual(box.padding - 0.1);
      expect(x).toBeLessThanOrEqual(box.width - box.padding + 0.1);
      expect(y).toBeGreaterThanOrEqual(box.padding - 0.1);
      expect(y).toBeLessThanOrEqual(box.height - box.padding + 0.1);
    }
    const dist = (a: string, b: string) => Math.hypot(p.get(a)!.x - p.get(b)!.x, p.get(a)!.y - p.get(b)!.y);
    // No two nodes overlap.
    for (const a of ids) for (const b of ids) if (a < b) expect(dist(a, b), `${a} ${b}`).toBeGreaterThan(40);
    // campus-a and hospital are three links apart; campus-a and core-north one.
    expect(dist("campus-a", "hospital")).toBeGreaterThan(2 * dist("campus-a", "core-north"));
  });

  it("handles an empty graph, one node, and nodes without links", async () => {
    const layoutGraph = await load();
    const box = { width: 100, height: 100, padding: 10 };
    expect(layoutGraph([], [], box).size).toBe(0);
    expect([...layoutGraph(["a"], [], box)]).toEqual([["a", { x: 50, y: 50 }]]);
    const p = layoutGraph(["a", "b", "c"], [["a", "b"]], box);
    for (const { x, y } of p.values()) expect(Number.isFinite(x) && Number.isFinite(y)).toBe(true);
    expect(new Set([...p.values()].map(({ x, y }) => `${x},${y}`)).size).toBe(3);
  });
});

describe("dashboard: GET /api/v1/topology and /api/v1/links", () => {
  it("returns the topology's nodes and links", async () => {
    const { app } = await harness();
    const r = await app.inject({ method: "GET", url: "/api/v1/topology" });
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^application\/json/);
    const body = r.json();
    conforms("Topology", body);
    expect(body.name).toBe("metro");
    expect(body.nodes).toEqual([
      { id: "campus-a", type: "end", memory_qubits: 4 },
      { id: "campus-b", type: "end", memory_qubits: 4 },
      { id: "hospital", type: "end", memory_qubits: 4 },
      { id: "datacentre", type: "end", memory_qubits: 8 },
      { id: "core-north", type: "repeater", memory_qubits: 8 },
      { id: "core-south", type: "repeater", memory_qubits: 8 },
      { id: "exchange", type: "trusted", memory_qubits: 6 },
    ]);
    expect(body.links).toEqual([
      { id: "campus-a-core-north", a: "campus-a", b: "core-north", kind: "physical", length_km: 8.5 },
      { id: "core-north-campus-b", a: "core-north", b: "campus-b", kind: "physical", length_km: 6 },
      { id: "campus-a-datacentre", a: "campus-a", b: "datacentre", kind: "physical", length_km: 4 },
      { id: "core-north-core-south", a: "core-north", b: "core-south", kind: "physical", length_km: 12 },
      { id: "datacentre-core-south", a: "datacentre", b: "core-south", kind: "abstract" },
      { id: "core-north-exchange", a: "core-north", b: "exchange", kind: "physical", length_km: 15 },
      { id: "core-south-exchange", a: "core-south", b: "exchange", kind: "physical", length_km: 9 },
      { id: "exchange-hospital", a: "exchange", b: "hospital", kind: "physical", length_km: 7 },
      { id: "core-south-hospital", a: "core-south", b: "hospital", kind: "physical", length_km: 14 },
    ]);
  });

  it("leaves out memory_qubits for a node without memories", async () => {
    const text = readFileSync(METRO, "utf8").replace(
      /id: exchange\n {4}type: trusted\n {4}memory:\n {6}qubits: 6/,
      "id: exchange\n    type: trusted\n    memory:\n      qubits: 0",
    );
    const topology = parseTopology(text, "metro.yaml");
    expect(topology.nodes.find((n) => n.id === "exchange")!.memory.qubits).toBe(0);
    const orch = await Orchestrator.open({ topology, store: new MemoryJobStore(), clock: () => 0, seed: 1 });
    const app = Fastify();
    registerOrchestratorRoutes(app, { orchestrator: orch, newId: () => "x", events: () => () => {} });
    apps.push(app);
    const body = (await app.inject({ method: "GET", url: "/api/v1/topology" })).json();
    conforms("Topology", body);
    expect(body.nodes.find((n: { id: string }) => n.id === "exchange")).toEqual({
      id: "exchange",
      type: "trusted",
    });
  });

  it("returns every link's live estimates, which follow what the estimator observes", async () => {
    const { app, orch, topology } = await harness();
    const get = async () => {
      const r = await app.inject({ method: "GET", url: "/api/v1/links" });
      expect(r.statusCode).toBe(200);
      expect(r.headers["content-type"]).toMatch(/^application\/json/);
      conforms("LinkStatusList", r.json());
      return r.json().links as Record<string, unknown>[];
    };
    const links = await get();
    expect(links.map((l) => l.link_id)).toEqual(topology.links.map((l) => l.id));
    const est = orch.estimator;
    for (const l of links) {
      const id = l.link_id as string;
      const e = est.estimate(id);
      expect(l).toEqual({
        link_id: id,
        a: e.a,
        b: e.b,
        up: true,
        success_probability: e.successProbability,
        attempt_period_ns: e.attemptPeriodNs,
        pair_rate_hz: est.expectedPairRateHz(id),
        fidelity: e.fidelity,
        observed_attempts: 0,
      });
    }
    // The abstract link is exactly as the file describes it: 2 % per 20 µs attempt, fidelity 0.93.
    const abstract = links.find((l) => l.link_id === "datacentre-core-south")!;
    expect(abstract.success_probability).toBeCloseTo(0.02, 12);
    expect(abstract.attempt_period_ns).toBe(20_000);
    expect(abstract.pair_rate_hz).toBeCloseTo(1000, 9);
    expect(abstract.fidelity).toBe(0.93);

    // Observations move the numbers; a link taken down shows up: false and no pair rate.
    est.observeAttempts("datacentre-core-south", 10_000, 1_000);
    est.observeFidelity("datacentre-core-south", 0.5);
    expect(
      (await app.inject({ method: "POST", url: "/api/v1/links/campus-a-datacentre/down" })).statusCode,
    ).toBe(200);
    const after = await get();
    const moved = after.find((l) => l.link_id === "datacentre-core-south")!;
    expect(moved.observed_attempts).toBe(10_000);
    expect(moved.success_probability).toBe(est.successProbability("datacentre-core-south"));
    // The estimator's window is 1,000 attempts and its prior the model's 0.02: after 10,000 attempts at
    // 10 % the estimate is 0.1 − (0.1 − 0.02)·e^{−10,000/1,000} (docs/orchestrator-decisions.md).
    expect(moved.success_probability as number).toBeCloseTo(0.1 - 0.08 * Math.exp(-10), 12);
    expect(moved.fidelity).toBeCloseTo(0.93 + 0.05 * (0.5 - 0.93), 12);
    const down = after.find((l) => l.link_id === "campus-a-datacentre")!;
    expect(down.up).toBe(false);
    expect(down.down_cause).toBe("operator");
    expect(moved.down_cause).toBeUndefined();
    expect(down.pair_rate_hz).toBe(0);
    expect(down.success_probability).toBe(est.successProbability("campus-a-datacentre"));
  });

  it("adds key_pool_bits for the links the key pools callback knows, read on every request", async () => {
    const pools = new Map([
      ["campus-a-core-north", 4096],
      ["exchange-hospital", 0],
    ]);
    let calls = 0;
    const { app } = await harness(() => {
      calls++;
      return pools;
    });
    const get = async () => {
      const body = (await app.inject({ method: "GET", url: "/api/v1/links" })).json();
      conforms("LinkStatusList", body);
      return new Map(
        (body.links as { link_id: string; key_pool_bits?: number }[]).map((l) => [l.link_id, l]),
      );
    };
    let links = await get();
    expect(links.get("campus-a-core-north")!.key_pool_bits).toBe(4096);
    expect(links.get("exchange-hospital")!.key_pool_bits).toBe(0);
    expect("key_pool_bits" in links.get("core-north-campus-b")!).toBe(false);
    expect([...links.values()].filter((l) => "key_pool_bits" in l).length).toBe(2);
    pools.set("campus-a-core-north", 1024);
    links = await get();
    expect(links.get("campus-a-core-north")!.key_pool_bits).toBe(1024);
    expect(calls).toBe(2);
  });
});
