import { describe, expect, it } from "vitest";
import type { JobRecord } from "../../src/control/jobs.js";
import { MemoryJobStore } from "../../src/control/memory-job-store.js";
import {
  INTERRUPTED_REASON,
  Orchestrator,
  type OrchestratorEvent,
  type OrchestratorOptions,
} from "../../src/control/orchestrator.js";
import type { LinkSpec, Topology } from "../../src/network/topology.js";
import { abstractLink, chain, node } from "../support/topologies.js";

/** A clock the test moves by hand. */
function manualClock(startMs = 1_700_000_000_000) {
  let t = startMs;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** a — b — d and a — c — d: two disjoint two-hop paths between a and d. */
function mesh(): Topology {
  const ends = (id: string) => node(id, { type: "end", qubits: 2 });
  return {
    apiVersion: "qnet/v1",
    name: "mesh",
    nodes: [ends("a"), node("b"), node("c"), ends("d")],
    links: [
      abstractLink("a", "b", 0.5, 1000, 0.99),
      abstractLink("b", "d", 0.5, 1000, 0.99),
      abstractLink("a", "c", 0.2, 1000, 0.98),
      abstractLink("c", "d", 0.2, 1000, 0.98),
    ],
    swap: "asap",
    requests: [],
  };
}

/** A 10 km fiber link with a midpoint station. */
function fiber(a: string, b: string): LinkSpec {
  return {
    id: `${a}-${b}`,
    a,
    b,
    quantum: {
      kind: "physical",
      lengthKm: 10,
      attenuationDbPerKm: 0.2,
      groupIndex: 1.4682,
      heralding: "single-click",
      sourceRateHz: 1e6,
      detectorEfficiency: 0.9,
      darkCountRateHz: 0,
      detectionWindowNs: 1,
      brightStatePopulation: 0.1,
      multiplexingModes: 1,
      sourceFidelity: 1,
    },
    classical: { latencyNs: 50_000, jitterNs: 0, lossProbability: 0 },
    outages: [],
  };
}

function setup(
  overrides: Partial<OrchestratorOptions> = {},
  topology: Topology = chain({ links: 2, p: 0.5, attemptDurationNs: 1000, fidelity: 0.99 }),
) {
  const store = (overrides.store as MemoryJobStore | undefined) ?? new MemoryJobStore();
  const clock = manualClock();
  const events: OrchestratorEvent[] = [];
  const finished: [string, string, string][] = [];
  const orch = new Orchestrator({
    topology,
    store,
    clock: clock.now,
    seed: 7,
    onEvent: (e) => events.push(e),
    sink: { jobFinished: (t, k, o) => finished.push([t, k, o]) },
    ...overrides,
  });
  return { orch, store, clock, events, finished };
}

const states = (job: JobRecord) => job.history.map((h) => h.state);

describe("Orchestrator", () => {
  it("runs a feasible entanglement job through the whole lifecycle", async () => {
    const { orch, events, finished } = setup();
    const sub = await orch.submit(
      { kind: "entanglement", src: "n0", dst: "n2", pairs: 20, min_fidelity: 0.9 },
      { id: "j1" },
    );
    expect(sub.ok).toBe(true);
    if (!sub.ok) return;
    expect(sub.job.state).toBe("admitted");
    expect(sub.job.path).toEqual(["n0", "n1", "n2"]);
    const done = await orch.step();
    expect(done.map((j) => j.id)).toEqual(["j1"]);
    const job = (await orch.get("j1"))!;
    expect(states(job)).toEqual(["queued", "admitted", "reserved", "running", "succeeded"]);
    expect(job.result?.delivered).toBe(20);
    expect(job.result?.fidelity?.count).toBe(20);
    expect(job.result?.fidelity?.min).toBeGreaterThanOrEqual(0.9);
    expect(job.result?.durationNs).toBeGreaterThan(0);
    // Events: one per transition, in order.
    expect(events.map((e) => (e.type === "job" ? e.job.state : "link"))).toEqual([
      "queued",
      "admitted",
      "reserved",
      "running",
      "succeeded",
    ]);
    expect(finished).toEqual([["default", "entanglement", "succeeded"]]);
    expect(orch.scheduler.occupancy().running).toBe(0);
  });

  it("fails an infeasible job with admission's reason", async () => {
    const { orch, finished } = setup();
    const sub = await orch.submit(
      { kind: "entanglement", src: "n0", dst: "n2", pairs: 5, min_fidelity: 0.999 },
      { id: "bad" },
    );
    expect(sub.ok).toBe(false);
    if (sub.ok || !("refused" in sub)) throw new Error("expected a refusal");
    expect(sub.refused.code).toBe("FIDELITY");
    expect(sub.job.state).toBe("failed");
    expect(sub.job.result?.error?.code).toBe("FIDELITY");
    expect(sub.job.history.at(-1)?.reason).toContain(sub.refused.reason);
    expect(finished).toEqual([["default", "entanglement", "rejected"]]);
  });

  it("returns validation errors without persisting anything", async () => {
    const { orch, store } = setup();
    const sub = await orch.submit({ kind: "qkd", src: "n0", dst: "n2" }, { id: "x" });
    expect(sub.ok).toBe(false);
    expect("errors" in sub && sub.errors[0].path).toBe("key_bits");
    expect(await store.get("x")).toBeNull();
  });

  it("teleports with fidelity (2F + 1)/3 of the delivered pair", async () => {
    const { orch } = setup();
    await orch.submit({ kind: "teleportation", src: "n0", dst: "n2", theta: 1, phi: 0.5 }, { id: "t" });
    await orch.step();
    const job = (await orch.get("t"))!;
    expect(job.state).toBe("succeeded");
    expect(job.result?.delivered).toBe(1);
    // Two Werner links of F = 0.99 swapped perfectly: a Werner pair of F' = F² + (1 − F)²/3.
    const f = 0.99 ** 2 + 0.01 ** 2 / 3;
    const stats = job.result!.fidelity!;
    const stderr = (stats.stdDev ?? 0) / Math.sqrt(stats.count);
    expect(Math.abs(stats.mean - (2 * f + 1) / 3)).toBeLessThanOrEqual(4 * stderr + 1e-9);
  });

  it("makes at least the QKD key asked for over a repeater path", async () => {
    const { orch } = setup({}, chain({ links: 1, p: 0.5, attemptDurationNs: 1000, fidelity: 0.995 }));
    await orch.submit({ kind: "qkd", src: "n0", dst: "n1", key_bits: 200 }, { id: "k" });
    await orch.step();
    const job = (await orch.get("k"))!;
    expect(job.state).toBe("succeeded");
    expect(job.result?.keyBits).toBeGreaterThanOrEqual(200);
  });

  it("relays QKD key hop by hop over a trusted node when no repeater path exists", async () => {
    // Nodes without memories: no repeater path, so admission falls back to the trusted node.
    const topology: Topology = {
      apiVersion: "qnet/v1",
      name: "trusted",
      nodes: [
        node("a", { type: "end", qubits: 0 }),
        node("t", { type: "trusted", qubits: 0 }),
        node("b", { type: "end", qubits: 0 }),
      ],
      links: [fiber("a", "t"), fiber("t", "b")],
      swap: "asap",
      requests: [],
    };
    const { orch } = setup({}, topology);
    const sub = await orch.submit({ kind: "qkd", src: "a", dst: "b", key_bits: 1000 }, { id: "tk" });
    expect(sub.ok && sub.job.history.at(-1)?.reason).toMatch(/trusted/);
    await orch.step();
    const job = (await orch.get("tk"))!;
    expect(job.state).toBe("succeeded");
    expect(job.result?.keyBits).toBeGreaterThanOrEqual(1000);
  });

  it("falls back to a trusted-node path for a QKD job when its repeater path loses a link", async () => {
    // a — r — b through a repeater with memories, and a — t — b through a trusted node without.
    const topology: Topology = {
      apiVersion: "qnet/v1",
      name: "fallback",
      nodes: [
        node("a", { type: "end", qubits: 2 }),
        node("r", { qubits: 4 }),
        node("t", { type: "trusted", qubits: 0 }),
        node("b", { type: "end", qubits: 2 }),
      ],
      links: [fiber("a", "r"), fiber("r", "b"), fiber("a", "t"), fiber("t", "b")],
      swap: "asap",
      requests: [],
    };
    const { orch, events } = setup({}, topology);
    const sub = await orch.submit({ kind: "qkd", src: "a", dst: "b", key_bits: 500 }, { id: "q" });
    expect(sub.ok && sub.job.path).toEqual(["a", "r", "b"]);
    const affected = await orch.linkDown("r-b");
    expect(affected.map((j) => [j.id, j.path])).toEqual([["q", ["a", "t", "b"]]]);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "job",
        reroute: { linkId: "r-b", from: ["a", "r", "b"], to: ["a", "t", "b"] },
      }),
    );
    await orch.step();
    const job = (await orch.get("q"))!;
    expect(job.state).toBe("succeeded");
    expect(job.result?.keyBits).toBeGreaterThanOrEqual(500);
    expect(job.history.map((h) => h.reason).join(" ")).toMatch(/reserved a-t, t-b/);
  });

  it("dispatches by priority, then fairly between tenants", async () => {
    const { orch, events } = setup({ scheduler: { defaultLinkShare: 1 } });
    const spec = { kind: "entanglement", src: "n0", dst: "n2", pairs: 2 };
    await orch.submit({ ...spec, priority: 1 }, { id: "low" });
    await orch.submit({ ...spec, tenant: "a" }, { id: "a1" });
    await orch.submit({ ...spec, tenant: "a" }, { id: "a2" });
    await orch.submit({ ...spec }, { id: "b1", tenant: "b" });
    await orch.submit({ ...spec, priority: 9 }, { id: "high" });
    await orch.step();
    const order = events.flatMap((e) => (e.type === "job" && e.job.state === "running" ? [e.job.id] : []));
    expect(order).toEqual(["high", "a1", "b1", "a2", "low"]);
    expect((await orch.get("b1"))!.spec.tenant).toBe("b");
  });

  it("cancels a job in every cancellable state", async () => {
    const store = new MemoryJobStore();
    const { orch, finished } = setup({ store });
    const spec = {
      kind: "entanglement" as const,
      src: "n0",
      dst: "n2",
      pairs: 1,
      priority: 5,
      tenant: "default",
    };
    const t0 = 1_700_000_000_000;
    await store.create({ id: "q", spec, nowMs: t0 });
    for (const [id, path] of [
      ["r", ["admitted", "reserved"]],
      ["u", ["admitted", "reserved", "running"]],
    ] as const) {
      await store.create({ id, spec, nowMs: t0 });
      for (const to of path) await store.transition({ id, to, atMs: t0 });
    }
    const sub = await orch.submit(spec, { id: "a" });
    expect(sub.ok && sub.job.state).toBe("admitted");
    for (const id of ["q", "a", "r", "u"]) expect((await orch.cancel(id))?.state).toBe("cancelled");
    expect(orch.scheduler.queuedIds()).toEqual([]);
    expect(await orch.step()).toEqual([]);
    expect(finished.filter((f) => f[2] === "cancelled")).toHaveLength(4);
    await expect(orch.cancel("q")).rejects.toThrow(/final/);
    expect(await orch.cancel("nope")).toBeNull();
  });

  it("reroutes a waiting job when a link goes down, and refuses when no path is left", async () => {
    const { orch, events } = setup({}, mesh());
    const sub = await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 3 }, { id: "m" });
    expect(sub.ok && sub.job.path).toEqual(["a", "b", "d"]);
    const moved = await orch.linkDown("a-b");
    expect(moved.map((j) => j.path)).toEqual([["a", "c", "d"]]);
    const reroute = events.find((e) => e.type === "job" && e.reroute !== undefined);
    expect(reroute).toMatchObject({ reroute: { linkId: "a-b", from: ["a", "b", "d"], to: ["a", "c", "d"] } });
    expect(events).toContainEqual({ type: "link", linkId: "a-b", up: false, cause: "operator" });
    const failed = await orch.linkDown("c-d");
    expect(failed[0].state).toBe("failed");
    expect(failed[0].result?.error?.code).toBe("LINK_DOWN");
    expect(failed[0].history.at(-1)?.reason).toMatch(/link c-d went down/);
    // A new job is refused while no path exists, and admitted again once a link is back.
    const refused = await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 1 }, { id: "n" });
    expect(!refused.ok && "refused" in refused && refused.refused.code).toBe("LINK_DOWN");
    await orch.linkUp("a-b");
    const again = await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 1 }, { id: "o" });
    expect(again.ok && again.job.path).toEqual(["a", "b", "d"]);
    await orch.step();
    expect((await orch.get("o"))!.state).toBe("succeeded");
  });

  it("moves waiting jobs back onto a path through a link that comes back up", async () => {
    const { orch, events } = setup({}, mesh());
    await orch.linkDown("a-b");
    const sub = await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 2 }, { id: "w" });
    expect(sub.ok && sub.job.path).toEqual(["a", "c", "d"]);
    const moved = await orch.linkUp("a-b");
    expect(moved.map((j) => [j.id, j.path])).toEqual([["w", ["a", "b", "d"]]]);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: "job",
        reroute: { linkId: "a-b", from: ["a", "c", "d"], to: ["a", "b", "d"] },
      }),
    );
    // A job that would not use the link stays where it is.
    expect(await orch.linkUp("c-d")).toEqual([]);
    await orch.step();
    const job = (await orch.get("w"))!;
    expect(job.state).toBe("succeeded");
    expect(job.path).toEqual(["a", "b", "d"]);
  });

  it("moves a waiting job off a link that degraded below what it needs, and only that job", async () => {
    const { orch, events } = setup({ scheduler: { defaultLinkShare: 1 } }, mesh());
    const strict = await orch.submit(
      { kind: "entanglement", src: "a", dst: "d", pairs: 2, min_fidelity: 0.95 },
      { id: "strict" },
    );
    const lax = await orch.submit({ kind: "entanglement", src: "a", dst: "d", pairs: 2 }, { id: "lax" });
    expect(strict.ok && strict.job.path).toEqual(["a", "b", "d"]);
    expect(lax.ok && lax.job.path).toEqual(["a", "b", "d"]);
    // Small fluctuations move nothing.
    for (let i = 0; i < 50; i++) orch.estimator.observeFidelity("a-b", 0.988);
    await orch.linkUp("c-d"); // an unrelated change: no reroute either
    expect(events.some((e) => e.type === "job" && e.reroute)).toBe(false);
    // a-b's pairs get much worse: a-b-d can no longer give 0.95, a-c-d still can.
    for (let i = 0; i < 500; i++) orch.estimator.observeFidelity("a-b", 0.9);
    await orch.step();
    const moved = events.filter((e) => e.type === "job" && e.reroute);
    expect(moved).toEqual([
      expect.objectContaining({
        job: expect.objectContaining({ id: "strict" }),
        reroute: { linkId: "a-b", from: ["a", "b", "d"], to: ["a", "c", "d"] },
      }),
    ]);
    expect((await orch.get("strict"))!.path).toEqual(["a", "c", "d"]);
    expect((await orch.get("lax"))!.path).toEqual(["a", "b", "d"]);
  });

  it("recovers unfinished jobs from the same store after a restart", async () => {
    const store = new MemoryJobStore();
    const first = setup({ store });
    const spec = { kind: "entanglement", src: "n0", dst: "n2", pairs: 2 };
    await first.orch.submit(spec, { id: "adm" });
    const t0 = first.clock.now();
    const full = { ...spec, kind: "entanglement" as const, priority: 5, tenant: "default" };
    await store.create({ id: "que", spec: full, nowMs: t0 });
    await store.create({ id: "res", spec: full, nowMs: t0 });
    await store.transition({ id: "res", to: "admitted", atMs: t0 });
    await store.transition({ id: "res", to: "reserved", atMs: t0 });
    await store.create({ id: "run", spec: full, nowMs: t0 });
    for (const to of ["admitted", "reserved", "running"] as const)
      await store.transition({ id: "run", to, atMs: t0 });
    // The first orchestrator "crashes"; a second one opens the same store.
    const events: OrchestratorEvent[] = [];
    const second = await Orchestrator.open({
      topology: first.orch.topology,
      store,
      clock: first.clock.now,
      seed: 7,
      onEvent: (e) => events.push(e),
    });
    const run = (await second.get("run"))!;
    expect(run.state).toBe("failed");
    expect(run.history.at(-1)?.reason).toBe(INTERRUPTED_REASON);
    expect(second.scheduler.queuedIds().sort()).toEqual(["adm", "que", "res"]);
    await second.step();
    for (const id of ["adm", "que", "res"]) {
      const job = (await second.get(id))!;
      expect(job.state).toBe("succeeded");
      expect(job.result?.delivered).toBe(2);
    }
    expect(states((await second.get("res"))!)).toEqual([
      "queued",
      "admitted",
      "reserved",
      "admitted",
      "reserved",
      "running",
      "succeeded",
    ]);
  });

  it("expires a job whose deadline passes while it waits", async () => {
    const { orch, clock, finished } = setup();
    await orch.submit(
      { kind: "entanglement", src: "n0", dst: "n2", pairs: 1, deadline_s: 1 },
      { id: "late" },
    );
    clock.advance(2000);
    const done = await orch.step();
    expect(done.map((j) => [j.id, j.state])).toEqual([["late", "expired"]]);
    expect(finished).toEqual([["default", "entanglement", "expired"]]);
    expect(orch.scheduler.queuedIds()).toEqual([]);
  });

  it("is deterministic: the same seed gives the same results", async () => {
    const run = async (seed: number) => {
      const { orch } = setup({ seed });
      await orch.submit({ kind: "entanglement", src: "n0", dst: "n2", pairs: 10 }, { id: "d" });
      await orch.step();
      return (await orch.get("d"))!.result;
    };
    const a = await run(3);
    expect(await run(3)).toEqual(a);
    expect((await run(4))?.durationNs).not.toBe(a?.durationNs);
  });
});
