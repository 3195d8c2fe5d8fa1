import { describe, expect, it } from "vitest";
import { ControlPlane, DEFAULT_AGENT_PROCESSING_NS } from "../../src/control/control-plane.js";
import { MemoryJobStore } from "../../src/control/memory-job-store.js";
import { Orchestrator } from "../../src/control/orchestrator.js";
import type { Topology } from "../../src/network/topology.js";
import { Rng } from "../../src/sim/rng.js";
import { chain } from "../support/topologies.js";

/** A line n0 — … — n(links) whose classical hops have the given latency, jitter and loss. */
function line(links: number, latencyNs: number, jitterNs = 0, lossProbability = 0): Topology {
  const t = chain({ links, p: 0.5, attemptDurationNs: 1000, latencyNs });
  for (const l of t.links) l.classical = { latencyNs, jitterNs, lossProbability };
  return t;
}

function meanAndVariance(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

describe("ControlPlane", () => {
  it("puts the controller at the centre by latency unless told where", () => {
    expect(new ControlPlane(line(4, 1000)).controller).toBe("n2");
    expect(new ControlPlane(line(4, 1000), { controller: "n0" }).controller).toBe("n0");
  });

  it("refuses a controller node that is not in the topology, naming the choices", () => {
    expect(() => new ControlPlane(line(2, 1000), { controller: "x" })).toThrow(
      "controller node 'x' is not in the topology; choose one of n0, n1, n2",
    );
    expect(() => new ControlPlane(line(2, 1000), { processingNs: -1 })).toThrow(/processing delay/);
  });

  it("without jitter or loss a round trip is twice the route's latency plus processing", () => {
    const cp = new ControlPlane(line(4, 25_000), { controller: "n0", processingNs: 10_000 });
    const rtts = cp.roundTrips(["n0", "n1", "n4"], new Rng(1));
    expect(rtts).toEqual([
      { nodeId: "n0", rttNs: 10_000 },
      { nodeId: "n1", rttNs: 60_000 },
      { nodeId: "n4", rttNs: 210_000 },
    ]);
    expect(cp.nominalRttNs("n4")).toBe(210_000);
  });

  it("takes the lowest-latency route, not the fewest hops", () => {
    const t = line(3, 1000);
    // A direct n0–n3 link that is slower than the three hops around.
    t.links.push({
      ...t.links[0],
      id: "n0-n3",
      a: "n0",
      b: "n3",
      classical: { ...t.links[0].classical, latencyNs: 5000 },
    });
    const cp = new ControlPlane(t, { controller: "n0", processingNs: 0 });
    expect(cp.nominalRttNs("n3")).toBe(6000);
  });

  it("reports nodes it cannot reach", () => {
    const t = line(2, 1000);
    t.links = t.links.slice(0, 1);
    const cp = new ControlPlane(t, { controller: "n0" });
    expect(cp.reaches("n2")).toBe(false);
    expect(() => cp.roundTrips(["n2"], new Rng(1))).toThrow(
      "node 'n2' is not reachable from the controller at 'n0'",
    );
  });

  it("adds uniform jitter per hop: mean and variance match the closed form within 5σ", () => {
    // h hops each way with U(0, J) jitter: mean 2h·J/2 over the nominal, variance 2h·J²/12.
    const hops = 3;
    const jitter = 4000;
    const cp = new ControlPlane(line(hops, 10_000, jitter), { controller: "n0", processingNs: 0 });
    const rng = new Rng("jitter");
    const n = 20_000;
    const extra = Array.from({ length: n }, () => cp.roundTrips(["n3"], rng)[0].rttNs - 60_000);
    const { mean, variance } = meanAndVariance(extra);
    const varExact = (2 * hops * jitter ** 2) / 12;
    expect(Math.abs(mean - hops * jitter)).toBeLessThan(5 * Math.sqrt(varExact / n));
    // Variance of the sample variance for a sum of uniforms ≈ (μ4 − σ⁴)/n; a 10 % band is > 5σ here.
    expect(variance / varExact).toBeGreaterThan(0.9);
    expect(variance / varExact).toBeLessThan(1.1);
  });

  it("resends lost messages after 2·latency: the mean delay matches the geometric closed form within 5σ", () => {
    // Per hop and direction the losses K are geometric: E[K] = p/(1−p), Var[K] = p/(1−p)²; each costs 2L.
    const hops = 2;
    const latency = 10_000;
    const p = 0.2;
    const cp = new ControlPlane(line(hops, latency, 0, p), { controller: "n0", processingNs: 0 });
    const rng = new Rng("loss");
    const n = 20_000;
    const extra = Array.from({ length: n }, () => cp.roundTrips(["n2"], rng)[0].rttNs - 2 * hops * latency);
    const { mean } = meanAndVariance(extra);
    const legs = 2 * hops;
    const expected = legs * 2 * latency * (p / (1 - p));
    const sd = Math.sqrt((legs * (2 * latency) ** 2 * p) / (1 - p) ** 2 / n);
    expect(Math.abs(mean - expected)).toBeLessThan(5 * sd);
  });
});

describe("Orchestrator path setup (M4)", () => {
  it("reports a round trip per path node and records the longest as the job's setup time", async () => {
    const rtts: [string, number][] = [];
    const topology = line(2, 30_000);
    const orch = new Orchestrator({
      topology,
      store: new MemoryJobStore(),
      clock: () => 1_700_000_000_000,
      seed: 3,
      sink: { jobFinished: () => {}, controlRtt: (node, s) => rtts.push([node, s]) },
      controlPlane: { controller: "n0" },
    });
    const sub = await orch.submit({ kind: "entanglement", src: "n0", dst: "n2", pairs: 2 }, { id: "j" });
    expect(sub.ok).toBe(true);
    await orch.step();
    const job = (await orch.get("j"))!;
    expect(job.state).toBe("succeeded");
    const p = DEFAULT_AGENT_PROCESSING_NS;
    expect(rtts).toEqual([
      ["n0", p / 1e9],
      ["n1", (60_000 + p) / 1e9],
      ["n2", (120_000 + p) / 1e9],
    ]);
    expect(job.result?.setupNs).toBe(120_000 + p);
  });
});
