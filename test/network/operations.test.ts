import { describe, expect, it } from "vitest";
import { simulate } from "../../src/network/simulation.js";
import type { Topology } from "../../src/network/topology.js";
import { parseTopology, TopologyError } from "../../src/network/topology-loader.js";
import { chain } from "../support/topologies.js";

// Link outages (edge case E3), rate requests, per-node memory metrics (M5, M8) and applications named
// in topology files.

/** A single abstract link n0 — n1, one qubit per side, endless request. */
function singleLink(p: number, attemptNs: number, extra: Partial<Topology["links"][number]> = {}): Topology {
  const t = chain({ links: 1, p, attemptDurationNs: attemptNs });
  Object.assign(t.links[0], extra);
  return t;
}

describe("link outages (E3: intermittent alignment failures; success collapses, then recovers)", () => {
  it("a scheduled outage: no success while down, the rate before and after matches p within 5σ", () => {
    const p = 0.05;
    const t = singleLink(p, 1000, { outages: [{ startNs: 20e6, durationNs: 10e6 }] });
    const r = simulate(t, 50e6, { seed: 3, timelineBinNs: 5e6 });
    const link = r.links[0];
    expect(link.outages).toBe(1);
    expect(link.downtime_s).toBeCloseTo(0.01, 12);
    const bins = link.timeline!;
    expect(bins).toHaveLength(10);
    for (const b of bins) {
      // Every bin holds 5000 attempt slots of 1 µs; the memory pair re-arms at once after a herald.
      expect(b.attempts).toBeGreaterThan(4900);
      const down = b.start_s >= 0.02 && b.start_s < 0.03;
      if (down) expect(b.successes).toBe(0);
      else {
        const sigma = Math.sqrt((p * (1 - p)) / b.attempts);
        expect(Math.abs(b.success_rate - p)).toBeLessThan(5 * sigma);
      }
    }
    // The bins account for every attempt and success of the link.
    expect(bins.reduce((s, b) => s + b.attempts, 0)).toBe(link.attempts);
    expect(bins.reduce((s, b) => s + b.successes, 0)).toBe(link.successes);
  });

  it("random outages: the fraction of time down is mean_down / (mean_up + mean_down) within 5σ", () => {
    // Alternating renewal process with exponential up (mean u) and down (mean d) periods. Over a run of
    // length T with about T/(u+d) cycles, the down fraction has variance ≈ 2·u²·d² / ((u+d)³·T)
    // (each cycle contributes the variance of d·U − u·D with U, D exponential, divided by the cycle count).
    const u = 2e6;
    const d = 0.5e6;
    const T = 4e9;
    const t = singleLink(0.5, 10_000, { intermittency: { meanUpNs: u, meanDownNs: d } });
    const r = simulate(t, T, { seed: 11 });
    const link = r.links[0];
    const frac = link.downtime_s / (T / 1e9);
    const expected = d / (u + d);
    const sigma = Math.sqrt((2 * u * u * d * d) / ((u + d) ** 3 * T));
    expect(Math.abs(frac - expected)).toBeLessThan(5 * sigma);
    expect(link.outages).toBeGreaterThan(0.9 * (T / (u + d)));
    // While the link is up, attempts succeed with p = 0.5, so successes ≈ p × attempts made while up.
    // Those are attempts × (1 − down fraction), give or take one attempt at each outage's two ends:
    // tolerance 5 binomial standard errors plus p × 2 attempts per outage.
    const p = 0.5;
    const upAttempts = link.attempts * (1 - frac);
    const tolerance = 5 * Math.sqrt(p * (1 - p) * upAttempts) + p * 2 * link.outages;
    expect(Math.abs(link.successes - p * upAttempts)).toBeLessThan(tolerance);
    expect(tolerance).toBeLessThan(0.03 * p * upAttempts); // still tight enough to catch a wrong rate
  });

  it("pairs already stored survive an outage; the outage only delays delivery", () => {
    const base = chain({ links: 2, p: 0.5, attemptDurationNs: 1000, request: { pairs: 50 } });
    const cut = structuredClone(base);
    cut.links[1].outages = [{ startNs: 0, durationNs: 1e6 }];
    const a = simulate(base, 1e9, { seed: 5 });
    const b = simulate(cut, 1e9, { seed: 5 });
    expect(a.requests[0].delivered).toBe(50);
    expect(b.requests[0].delivered).toBe(50);
    // The first link's pair waited in memory through the 1 ms outage of the second link.
    expect(b.memory.nodes[1].storage_time_s.max).toBeGreaterThanOrEqual(1e-3 - 1e-6);
    expect(b.links[1].successes).toBeGreaterThanOrEqual(50);
    expect(b.links[1].timeline).toBeUndefined();
  });

  it("reject overlapping scheduled outages and half-given random ones, saying what to change", () => {
    const text = `apiVersion: qnet/v1
nodes:
  - { id: a, type: end }
  - { id: b, type: end }
links:
  - a: a
    b: b
    success_probability: 0.1
    attempt_duration: 1 us
    outages:
      - { start: 1 s, duration: 2 s }
      - { start: 2 s, duration: 1 s }
    mean_time_between_outages: 5 s
`;
    expect(() => parseTopology(text, "o.yaml")).toThrow(TopologyError);
    let message = "";
    try {
      parseTopology(text, "o.yaml");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain("o.yaml:12:9: links[0].outages[1]: this outage begins at 2 s, before the one");
    expect(message).toContain("links[0].mean_outage_duration: required field is missing");
  });

  it("load from a file with units", () => {
    const t = parseTopology(
      `apiVersion: qnet/v1
nodes: [{ id: a, type: end }, { id: b, type: end }]
links:
  - { a: a, b: b, success_probability: 0.1, attempt_duration: 1 us,
      outages: [{ start: 2 s, duration: 300 ms }], mean_time_between_outages: 5 s, mean_outage_duration: 100 ms }
`,
      "o.yaml",
    );
    expect(t.links[0].outages).toEqual([{ startNs: 2e9, durationNs: 3e8 }]);
    expect(t.links[0].intermittency).toEqual({ meanUpNs: 5e9, meanDownNs: 1e8 });
  });
});

describe("rate requests", () => {
  it("deliver at the target rate when the network can do more, and say so", () => {
    // One link with p = 0.1 per 1 µs attempt can make ~1e5 pairs/s; ask for 1 kHz.
    const t = chain({ links: 2, p: 0.1, attemptDurationNs: 1000, request: { rateHz: 1000 } });
    const r = simulate(t, 2e9, { seed: 2 });
    const req = r.requests[0];
    expect(req.target_rate_hz).toBe(1000);
    // Throttled to one pair per ms: 2000 pairs in 2 s, give or take the pair in flight at the end.
    expect(Math.abs(req.delivered - 2000)).toBeLessThanOrEqual(2);
    expect(req.rate_fraction).toBeCloseTo(1, 2);
    expect(req.pairs_requested).toBeNull();
  });

  it("report a fraction below 1 when the target is beyond the network", () => {
    const t = chain({ links: 2, p: 0.01, attemptDurationNs: 1000, request: { rateHz: 1e6 } });
    const r = simulate(t, 0.2e9, { seed: 2 });
    expect(r.requests[0].rate_fraction!).toBeLessThan(0.1);
    expect(r.requests[0].delivered).toBeGreaterThan(0);
  });

  it("requests without a rate report no target", () => {
    const r = simulate(chain({ links: 1, p: 0.5, request: { pairs: 3 } }), 1e6, { seed: 1 });
    expect(r.requests[0].target_rate_hz).toBeNull();
    expect(r.requests[0].rate_fraction).toBeNull();
  });
});

describe("per-node memory: lifetime of stored halves (M5) and occupancy (M8)", () => {
  // Two identical links with geometric attempts G1, G2 (p per attempt of τ), one qubit per side, no
  // latency: each cycle the earlier link's qubits wait |G1 − G2|·τ for the swap, the later ones 0, and
  // both links restart together after delivery. Hence, per stored qubit, E[storage] = E|G1−G2|·τ/2 with
  // E|G1−G2| = 2(1−p)/(p(2−p)), and the repeater's two qubits are occupied a fraction
  // E|G1−G2| / (2·E[max(G1, G2)]) = (1−p)/(3−2p) of the time (E[max] = (3−2p)/(p(2−p)), physics.md).
  const p = 0.2;
  const tau = 1000;
  const meanAbsDiff = (2 * (1 - p)) / (p * (2 - p));
  const t = chain({ links: 2, p, attemptDurationNs: tau });
  const r = simulate(t, 1e9, { seed: 9 });
  const cycles = r.requests[0].delivered;

  it("mean storage time per qubit matches E|G1−G2|·τ/2 within 5σ", () => {
    const varAbsDiff = (2 * (1 - p)) / (p * p) - meanAbsDiff ** 2;
    const rep = r.memory.nodes[1];
    const sigma = Math.sqrt(varAbsDiff / (4 * cycles)) * tau;
    expect(Math.abs(rep.storage_time_s.mean * 1e9 - (meanAbsDiff * tau) / 2)).toBeLessThan(5 * sigma);
    // Each end holds its half as long as the repeater holds the matching one: (G_other − G_own)⁺·τ,
    // with E = E|G1−G2|/2 and E[((G2−G1)⁺)²] = E[(G1−G2)²]/2 = (1−p)/p².
    const sigmaEnd = Math.sqrt(((1 - p) / (p * p) - (meanAbsDiff / 2) ** 2) / cycles) * tau;
    for (const end of [r.memory.nodes[0], r.memory.nodes[2]])
      expect(Math.abs(end.storage_time_s.mean * 1e9 - (meanAbsDiff * tau) / 2)).toBeLessThan(5 * sigmaEnd);
  });

  it("occupancy of the repeater matches (1−p)/(3−2p); the maximum is its 2 qubits", () => {
    const rep = r.memory.nodes[1];
    expect(rep.id).toBe("n1");
    expect(rep.qubits).toBe(2);
    expect(rep.occupancy_max).toBe(2);
    // A ratio estimator ΣX / (2·ΣM) over iid cycles, X = |G1 − G2|, M = max(G1, G2): by the delta
    // method its variance is Var(X − 2R·M) / (n·(2·E[M])²), with the moments summed over the joint
    // geometric distribution (the tail beyond 400 attempts is below 1e-38 at p = 0.2).
    const expected = (1 - p) / (3 - 2 * p);
    let eM = 0;
    let eY2 = 0;
    for (let a = 1; a <= 400; a++)
      for (let b = 1; b <= 400; b++) {
        const w = p * (1 - p) ** (a - 1) * p * (1 - p) ** (b - 1);
        const y = Math.abs(a - b) - 2 * expected * Math.max(a, b);
        eM += w * Math.max(a, b);
        eY2 += w * y * y; // E[Y] = 0 at the true ratio
      }
    const sigma = Math.sqrt(eY2 / cycles) / (2 * eM);
    expect(Math.abs(rep.occupancy_mean - expected)).toBeLessThan(5 * sigma);
    // The network-wide figure is the qubit-weighted mean of the nodes'.
    const total = r.memory.nodes.reduce((s, n) => s + n.occupancy_mean * n.qubits, 0) / 4;
    expect(r.memory.occupancy_mean).toBeCloseTo(total, 10);
  });

  it("count cutoff discards at the node that gave up its qubit", () => {
    const c = chain({ links: 2, p: 0.01, attemptDurationNs: 1000, node: { cutoffNs: 20_000 } });
    const out = simulate(c, 50e6, { seed: 4 });
    const byNode = out.memory.nodes.map((n) => n.decohered_discarded);
    expect(byNode.reduce((a, b) => a + b, 0)).toBe(out.memory.decohered_discarded);
    expect(out.memory.decohered_discarded).toBeGreaterThan(0);
    for (const n of out.memory.nodes) expect(n.storage_time_s.max).toBeLessThanOrEqual(20e-6 + 1e-15);
  });
});

describe("applications in topology files", () => {
  const base = `apiVersion: qnet/v1
nodes: [{ id: a, type: end }, { id: b, type: end }]
links: [{ a: a, b: b, success_probability: 0.5, attempt_duration: 1 us, fidelity: 0.9 }]
`;

  it("teleport with given angles, and chsh", () => {
    const t = parseTopology(
      `${base}requests:
  - { id: tele, src: a, dst: b, pairs: 2000, application: { kind: teleport, theta: 1.0472, phi: 0.5 } }
  - { id: bell, src: a, dst: b, pairs: 2000, application: { kind: chsh } }
`,
      "apps.yaml",
    );
    expect(t.requests[0].application).toEqual({ kind: "teleport", theta: 1.0472, phi: 0.5 });
    expect(t.requests[1].application).toEqual({ kind: "chsh" });
  });

  it("reject unknown kinds, angles out of range and angles on chsh", () => {
    const text = `${base}requests:
  - { src: a, dst: b, application: { kind: teleportation } }
  - { id: r2, src: a, dst: b, application: { kind: teleport, theta: 4 } }
  - { id: r3, src: a, dst: b, application: { kind: chsh, phi: 1 } }
`;
    let message = "";
    try {
      parseTopology(text, "apps.yaml");
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(
      "requests[0].application.kind: 'teleportation' is not one of teleport, chsh; did you mean 'teleport'?",
    );
    expect(message).toContain("requests[1].application.theta");
    expect(message).toContain("requests[2].application.phi: the chsh application measures in fixed settings");
  });
});

describe("delivered pairs to a callback", () => {
  it("hands every delivered pair's Bell-diagonal state to onPairDelivered, in delivery order", () => {
    const t = chain({ links: 2, p: 0.3, fidelity: 0.9, request: { pairs: 200 } });
    const states: number[][] = [];
    const times: number[] = [];
    const r = simulate(t, 1e9, {
      seed: 6,
      onPairDelivered: (id, state, timeNs) => {
        expect(id).toBe("req");
        states.push([...state]);
        times.push(timeNs);
      },
    });
    expect(states).toHaveLength(r.requests[0].delivered);
    // Two Werner links of F = 0.9 swapped in perfect memories: F = F1·F2 + (1−F1)(1−F2)/3 (physics.md).
    const mean = states.reduce((s, x) => s + x[0], 0) / states.length;
    expect(mean).toBeCloseTo(r.requests[0].fidelity.mean, 12);
    expect(mean).toBeCloseTo(0.9 * 0.9 + (0.1 * 0.1) / 3, 12);
    for (const x of states) expect(x[0] + x[1] + x[2] + x[3]).toBeCloseTo(1, 12);
    expect(times.every((v, i) => i === 0 || v >= times[i - 1])).toBe(true);
  });
});

describe("observations as the simulation runs (live metrics)", () => {
  it("reports every herald, delivery and memory change, consistent with the final report", async () => {
    const { RecordingSink } = await import("../../src/telemetry/observations.js");
    const sink = new RecordingSink();
    const t = chain({ links: 2, p: 0.2, attemptDurationNs: 1000, fidelity: 0.95, request: { pairs: 300 } });
    const r = simulate(t, 1e9, { seed: 12, observer: sink });
    // The model's expectation, once per link.
    expect(sink.of("linkExpectedSuccess").map((o) => [o.linkId, o.probability])).toEqual([
      ["n0-n1", 0.2],
      ["n1-n2", 0.2],
    ]);
    for (const link of r.links) {
      const heralds = sink.of("linkAttempts").filter((o) => o.linkId === link.id);
      expect(heralds.reduce((s, o) => s + o.successes, 0)).toBe(link.successes);
      // Attempts are observed at each herald: all but those still running at the end of the run.
      expect(heralds.reduce((s, o) => s + o.attempts, 0)).toBeLessThanOrEqual(link.attempts);
      expect(sink.of("pairFidelity").filter((o) => o.linkId === link.id)).toHaveLength(link.successes);
    }
    const delivered = sink.of("pairDelivered");
    expect(delivered).toHaveLength(300);
    expect(delivered[0].route).toEqual({ requestId: "req", srcNodeId: "n0", dstNodeId: "n2" });
    const meanF = delivered.reduce((s, o) => s + o.fidelity, 0) / delivered.length;
    expect(meanF).toBeCloseTo(r.requests[0].fidelity.mean, 12);
    // Occupancy never exceeds capacity, and storage times match the report's mean.
    for (const o of sink.of("memoryOccupancy")) expect(o.occupied).toBeLessThanOrEqual(o.capacity);
    const repeater = sink.of("memoryStorageTime").filter((o) => o.nodeId === "n1");
    const mean = repeater.reduce((s, o) => s + o.seconds, 0) / repeater.length;
    expect(mean).toBeCloseTo(r.memory.nodes[1].storage_time_s.mean, 12);
  });
});
