import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PlanError } from "../../src/network/plan.js";
import { NetworkSimulation, type SimulationReport, simulate } from "../../src/network/simulation.js";
import type { Topology } from "../../src/network/topology.js";
import { parseRequests, parseTopology } from "../../src/network/topology-loader.js";
import { abstractLink, chain, node, request } from "../support/topologies.js";

/** Mean and standard error of the time to deliver the first pair, over independent seeds. */
function firstDeliveryTime(topology: Topology, runs: number, seedBase: number): { mean: number; se: number } {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < runs; i++) {
    const r = simulate(topology, 1e12, { seed: seedBase + i });
    const t = r.requests[0].latency_s.mean * 1e9; // one pair: its latency is its delivery time
    s += t;
    s2 += t * t;
  }
  const mean = s / runs;
  return { mean, se: Math.sqrt((s2 / runs - mean * mean) / runs) };
}

describe("nested swapping: mean delivery time (Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020), physics.md)", () => {
  // Abstract links whose attempts last one time unit (1 ns); swaps instantaneous; no classical latency.
  const table: [number, number, number][] = [
    [2, 1, 14.736842],
    [4, 1, 20.273378],
    [8, 1, 26.295784],
    [2, 0.5, 29.473684],
    [4, 0.5, 84.81758],
    [8, 0.5, 242.348372],
  ];
  for (const [n, a, expected] of table) {
    it(`N = ${n}, p = 0.1, a = ${a}: E[T] = ${expected} attempts within 5σ`, () => {
      const topo = chain({
        links: n,
        p: 0.1,
        swap: "nested",
        swapSuccessProbability: a,
        request: { pairs: 1 },
      });
      const { mean, se } = firstDeliveryTime(topo, 3000, 1000 * n + 10 * a);
      expect(Math.abs(mean - expected)).toBeLessThan(5 * se);
    });
  }
  it("N = 2 also matches the closed form (3−2p)/(a·p·(2−p)) at p = 0.3, a = 0.7", () => {
    const p = 0.3;
    const a = 0.7;
    const topo = chain({ links: 2, p, swap: "nested", swapSuccessProbability: a, request: { pairs: 1 } });
    const { mean, se } = firstDeliveryTime(topo, 3000, 77);
    expect(Math.abs(mean - (3 - 2 * p) / (a * p * (2 - p)))).toBeLessThan(5 * se);
  });
});

describe("swap-ASAP with a = 1: E[T] = Σ_{t≥0} [1 − (1 − (1−p)^t)^N] (physics.md)", () => {
  for (const n of [3, 5]) {
    it(`N = ${n}, p = 0.2`, () => {
      const p = 0.2;
      let expected = 0;
      for (let t = 0; t < 2000; t++) expected += 1 - (1 - (1 - p) ** t) ** n;
      const topo = chain({ links: n, p, swap: "asap", request: { pairs: 1 } });
      const { mean, se } = firstDeliveryTime(topo, 3000, 500 + n);
      expect(Math.abs(mean - expected)).toBeLessThan(5 * se);
    });
  }
});

describe("swap fidelity along chains of Werner links F = 0.95 (physics.md)", () => {
  for (const [n, f] of [
    [2, 0.903333],
    [4, 0.819126],
    [8, 0.681872],
  ] as const) {
    for (const swap of ["asap", "nested"] as const) {
      it(`N = ${n}, ${swap}: every delivered pair has F = ${f}`, () => {
        const r = simulate(chain({ links: n, p: 0.3, fidelity: 0.95, swap }), 5e3, { seed: 1 });
        const req = r.requests[0];
        expect(req.delivered).toBeGreaterThan(10);
        expect(req.fidelity.mean).toBeCloseTo(f, 6);
        expect(req.fidelity.p05).toBeCloseTo(f, 6);
      });
    }
  }
});

describe("decoherence of stored pairs", () => {
  // Deterministic timing: every attempt succeeds (p = 1); link A–R takes 1 µs, R–B takes 1 µs + t, so
  // the A–R pair waits t in both memories before the swap at R, and the R–B pair does not wait.
  function waitingLine(waitNs: number, memory: { depolarizingTimeNs?: number; t2Ns?: number }): Topology {
    const mem = (q: number) => ({
      qubits: q,
      t1Ns: Infinity,
      t2Ns: memory.t2Ns ?? Infinity,
      depolarizingTimeNs: memory.depolarizingTimeNs ?? Infinity,
      efficiency: 1,
    });
    return {
      apiVersion: "qnet/v1",
      name: "wait",
      nodes: [
        { ...node("A"), memory: mem(1) },
        { ...node("R"), memory: mem(2) },
        { ...node("B"), memory: mem(1) },
      ],
      links: [abstractLink("A", "R", 1, 1000), abstractLink("R", "B", 1, 1000 + waitNs)],
      swap: "asap",
      requests: [request("A", "B", { pairs: 1 })],
    };
  }
  it("depolarizing memories, F0 = 1, t/T = 0.1: F = 0.864048", () => {
    const r = simulate(waitingLine(1e5, { depolarizingTimeNs: 1e6 }), 1e9);
    expect(r.requests[0].fidelity.mean).toBeCloseTo(0.864048, 6);
  });
  it("pure dephasing T2, F0 = 1, t/T2 = 0.1: F = 0.909365", () => {
    const r = simulate(waitingLine(1e5, { t2Ns: 1e6 }), 1e9);
    expect(r.requests[0].fidelity.mean).toBeCloseTo(0.909365, 6);
  });
  it("classical latency to the end nodes adds storage time: w = e^{−2(t + L)/T}", () => {
    const topo = waitingLine(2e4, { depolarizingTimeNs: 1e6 });
    for (const l of topo.links) l.classical.latencyNs = 4e4;
    const r = simulate(topo, 1e9);
    // The A–R pair waits 2e4 ns at both ends before the swap; the swapped pair then waits one latency
    // (4e4 ns) at both ends for the outcome message.
    const w = Math.exp((-2 * 2e4) / 1e6) * Math.exp((-2 * 4e4) / 1e6);
    expect(r.requests[0].fidelity.mean).toBeCloseTo((1 + 3 * w) / 4, 9);
    expect(r.requests[0].latency_s.mean).toBeCloseTo((1000 + 2e4 + 4e4) / 1e9, 12);
  });
});

describe("cutoffs", () => {
  function cutoffLine(waitNs: number, cutoffNs: number): Topology {
    return {
      apiVersion: "qnet/v1",
      name: "cutoff",
      nodes: [
        node("A", { qubits: 1, cutoffNs }),
        node("R", { cutoffNs }),
        node("B", { qubits: 1, cutoffNs }),
      ],
      links: [abstractLink("A", "R", 1, 1000), abstractLink("R", "B", 1, 1000 + waitNs)],
      swap: "asap",
      requests: [request("A", "B", { pairs: 1 })],
    };
  }
  it("a pair exactly as old as the cutoff is still used", () => {
    const r = simulate(cutoffLine(5000, 5000), 1e6);
    expect(r.requests[0].delivered).toBe(1);
    expect(r.memory.decohered_discarded).toBe(0);
  });
  it("a pair older than the cutoff is discarded and counted", () => {
    // A–R is heralded at 1 µs, R–B at 6.001 µs: the A–R pair expires at 6 µs, before the swap could
    // happen, and is regenerated at 7 µs.
    const r = simulate(cutoffLine(5001, 5000), 6500);
    expect(r.memory.decohered_discarded).toBeGreaterThan(0);
    expect(r.requests[0].delivered).toBe(0);
  });
  it("bounds the fidelity of delivered pairs from below on a noisy chain", () => {
    const t = 1e6;
    const cutoff = 2e4;
    const topo = chain({
      links: 4,
      p: 0.02,
      attemptDurationNs: 1000,
      qubitsPerSide: 2,
      node: { cutoffNs: cutoff },
    });
    for (const n of topo.nodes) n.memory.depolarizingTimeNs = t;
    const r = simulate(topo, 5e8, { seed: 3 });
    expect(r.memory.decohered_discarded).toBeGreaterThan(0);
    // Every qubit is used within the cutoff of its storage, so each of the 8 stored qubits has decayed by
    // at most e^{−cutoff/T}: the end-to-end Werner factor is at least e^{−8·cutoff/T}.
    const wMin = Math.exp((-8 * cutoff) / t);
    expect(r.requests[0].delivered).toBeGreaterThan(5);
    expect(r.requests[0].fidelity.p05).toBeGreaterThanOrEqual((1 + 3 * wMin) / 4 - 1e-12);
  });
});

describe("requests", () => {
  it("deliver exactly the pairs asked for, then stop and report completion", () => {
    const r = simulate(chain({ links: 3, p: 0.5, qubitsPerSide: 3, request: { pairs: 25 } }), 1e9, {
      seed: 2,
    });
    expect(r.requests[0].delivered).toBe(25);
    expect(r.requests[0].completed).toBe(true);
    expect(r.simulated_time_s).toBeLessThan(1e-6);
  });
  it("expire at their deadline", () => {
    const r = simulate(chain({ links: 3, p: 0.01, request: { pairs: 1000, deadlineNs: 5000 } }), 1e9, {
      seed: 2,
    });
    expect(r.requests[0].expired).toBe(true);
    expect(r.requests[0].completed).toBe(false);
    expect(r.simulated_time_s).toBeCloseTo(5e-6, 12);
  });
  it("discard and count pairs below the minimum fidelity", () => {
    const r = simulate(chain({ links: 4, p: 0.5, fidelity: 0.95, request: { minFidelity: 0.85 } }), 1e4, {
      seed: 2,
    });
    expect(r.requests[0].delivered).toBe(0);
    expect(r.requests[0].discarded_low_fidelity).toBeGreaterThan(0);
  });
  it("share a repeater's memories and run side by side", () => {
    const topo: Topology = {
      apiVersion: "qnet/v1",
      name: "star",
      nodes: [
        node("hub", { qubits: 4 }),
        node("a", { qubits: 1 }),
        node("b", { qubits: 1 }),
        node("c", { qubits: 2 }),
      ],
      links: [
        abstractLink("a", "hub", 0.5, 10),
        abstractLink("b", "hub", 0.5, 10),
        abstractLink("c", "hub", 0.5, 10),
      ],
      swap: "asap",
      requests: [request("a", "c", { id: "r1" }), request("b", "c", { id: "r2" })],
    };
    const r = simulate(topo, 1e5, { seed: 4 });
    expect(r.requests.map((q) => q.path)).toEqual([
      ["a", "hub", "c"],
      ["b", "hub", "c"],
    ]);
    for (const q of r.requests) expect(q.delivered).toBeGreaterThan(100);
  });
  it("refuse a plan whose node has too few memories, saying what to change", () => {
    const topo = chain({ links: 2, p: 0.5 });
    topo.nodes[1].memory.qubits = 1;
    expect(() => simulate(topo, 1e3)).toThrow(PlanError);
    expect(() => simulate(topo, 1e3)).toThrow(/node n1 has 1 memory qubit\(s\).*raise its memory.qubits/);
  });
});

describe("reports", () => {
  it("are identical for the same seed and differ between seeds", () => {
    const topo = chain({ links: 3, p: 0.1, fidelity: 0.97, qubitsPerSide: 2 });
    const a = simulate(topo, 1e5, { seed: 9 });
    expect(simulate(topo, 1e5, { seed: 9 })).toEqual(a);
    expect(simulate(topo, 1e5, { seed: 10 }).requests[0].delivered).not.toBe(a.requests[0].delivered);
  });
  it("count link attempts within the simulated time: success rate ≈ p within 5σ", () => {
    const p = 0.05;
    const r = simulate(chain({ links: 2, p, qubitsPerSide: 4 }), 1e6, { seed: 5 });
    for (const l of r.links) {
      expect(Math.abs(l.success_rate - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / l.attempts));
      expect(l.pairs_per_s).toBeCloseTo(l.successes / r.simulated_time_s, 6);
    }
    expect(r.memory.occupancy_mean).toBeGreaterThan(0);
    expect(r.memory.occupancy_mean).toBeLessThanOrEqual(1);
  });
});

const EXAMPLES = join(import.meta.dirname, "..", "..", "examples");
function example(file: string, requestsFile?: string): Topology {
  const t = parseTopology(readFileSync(join(EXAMPLES, file), "utf8"), file);
  if (requestsFile !== undefined)
    t.requests = parseRequests(readFileSync(join(EXAMPLES, requestsFile), "utf8"), requestsFile, t);
  return t;
}

/** Advances in uneven steps (some capped by an event count, some reports in between), then reports. */
function advancedInSteps(
  topology: Topology,
  untilNs: number,
  options: { seed: number; timelineBinNs?: number },
  steps: number,
): SimulationReport {
  const s = new NetworkSimulation(topology, options);
  let x = options.seed * 7919 + 1;
  let t = 0;
  for (let i = 1; i <= steps; i++) {
    x = (x * 48271) % 2147483647;
    // Uneven step ends, some on timeline bin edges, the last exactly at untilNs.
    let next = i === steps ? untilNs : Math.min(untilNs, t + ((x % 1000) / 1000) * ((2 * untilNs) / steps));
    if (options.timelineBinNs && i % 5 === 0 && i < steps)
      next = Math.min(untilNs, Math.ceil(t / options.timelineBinNs + 1) * options.timelineBinNs);
    if (i % 3 === 0) {
      // A few small event budgets: the clock stops at an event short of `next`, then carries on.
      while (!s.advance(next, 1 + (x % 50))) {}
    } else s.advance(next);
    if (i % 4 === 0) s.currentReport(); // looking must not change anything
    t = next;
  }
  return s.currentReport();
}

describe("advancing in steps (a resumable simulation)", () => {
  const cases: { name: string; topology: () => Topology; untilNs: number; timelineBinNs?: number }[] = [
    { name: "metro.yaml", topology: () => example("metro.yaml"), untilNs: 0.3e9, timelineBinNs: 7e6 },
    {
      name: "metro.yaml with metro-requests.yaml",
      topology: () => example("metro.yaml", "metro-requests.yaml"),
      untilNs: 0.3e9,
    },
    {
      name: "link-outages.yaml",
      topology: () => example("link-outages.yaml"),
      untilNs: 1e9,
      timelineBinNs: 50e6,
    },
    { name: "repeater-chain.yaml", topology: () => example("repeater-chain.yaml"), untilNs: 0.5e9 },
    { name: "point-to-point.yaml", topology: () => example("point-to-point.yaml"), untilNs: 0.2e9 },
    { name: "pompili-2021.yaml", topology: () => example("pompili-2021.yaml"), untilNs: 0.2e9 },
    { name: "trusted-star.yaml", topology: () => example("trusted-star.yaml"), untilNs: 0.2e9 },
    {
      name: "a chain whose request completes early",
      topology: () => chain({ links: 3, p: 0.2, qubitsPerSide: 2, request: { pairs: 40 } }),
      untilNs: 1e9,
    },
  ];
  for (const c of cases)
    it(`${c.name}: the report after many steps deep-equals one run to the same time, for several seeds`, () => {
      for (const seed of [1, 2, 7]) {
        const options = { seed, ...(c.timelineBinNs ? { timelineBinNs: c.timelineBinNs } : {}) };
        const once = simulate(c.topology(), c.untilNs, options);
        expect(advancedInSteps(c.topology(), c.untilNs, options, 40)).toStrictEqual(once);
      }
    });

  it("refuses to go back in time, and a step to the current time does nothing", () => {
    const s = new NetworkSimulation(chain({ links: 2, p: 0.1 }), { seed: 1 });
    s.advance(1e6);
    const r = s.currentReport();
    expect(s.advance(1e6)).toBe(true);
    expect(s.currentReport()).toStrictEqual(r);
    expect(() => s.advance(5e5)).toThrow(RangeError);
  });
});

describe("setting a link down and up while running", () => {
  it("no success while down, the rate before and after matches p within 5σ, down attempts count", () => {
    // One abstract link, p = 0.05 per 1 µs attempt, down over [20 ms, 30 ms) of a 50 ms run.
    const p = 0.05;
    const t = chain({ links: 1, p, attemptDurationNs: 1000 });
    const s = new NetworkSimulation(t, { seed: 3, timelineBinNs: 5e6 });
    s.advance(20e6);
    s.setLinkUp("n0-n1", false);
    expect(s.isLinkUp("n0-n1")).toBe(false);
    s.advance(30e6);
    s.setLinkUp("n0-n1", true);
    s.advance(50e6);
    const link = s.currentReport().links[0];
    expect(link.outages).toBe(1);
    expect(link.downtime_s).toBeCloseTo(0.01, 12);
    const bins = link.timeline!;
    expect(bins).toHaveLength(10);
    for (const b of bins) {
      // 5000 attempt slots of 1 µs per bin, down or not: attempts go on, in vain, while down.
      expect(b.attempts).toBeGreaterThan(4900);
      if (b.start_s >= 0.02 && b.start_s < 0.03) expect(b.successes).toBe(0);
      else {
        // Binomial standard error of a success fraction over n attempts: σ = √(p(1 − p)/n).
        const sigma = Math.sqrt((p * (1 - p)) / b.attempts);
        expect(Math.abs(b.success_rate - p)).toBeLessThan(5 * sigma);
      }
    }
    expect(bins.reduce((n, b) => n + b.attempts, 0)).toBe(link.attempts);
    expect(bins.reduce((n, b) => n + b.successes, 0)).toBe(link.successes);
  });

  it("a link down from the start delivers no pair to the requests over it, and delivers once up", () => {
    const t = chain({ links: 2, p: 0.2, attemptDurationNs: 1000, qubitsPerSide: 2 });
    const s = new NetworkSimulation(t, { seed: 4 });
    s.setLinkUp("n1-n2", false);
    s.advance(100e6);
    let r = s.currentReport();
    expect(r.requests[0].delivered).toBe(0);
    expect(r.links[1].successes).toBe(0);
    expect(r.links[1].attempts).toBeGreaterThan(2 * 99_000); // two memory pairs, 1 µs attempts
    expect(r.links[0].successes).toBeGreaterThan(0);
    s.setLinkUp("n1-n2", true);
    s.advance(110e6);
    r = s.currentReport();
    expect(r.requests[0].delivered).toBeGreaterThan(1000);
    expect(r.links[1].outages).toBe(1);
    expect(r.links[1].downtime_s).toBeCloseTo(0.1, 12);
  });

  it("a link set down mid-run stops deliveries over it after what is stored or heralded is used", () => {
    const t = chain({ links: 2, p: 0.2, attemptDurationNs: 1000, qubitsPerSide: 2 });
    const s = new NetworkSimulation(t, { seed: 8 });
    s.advance(10e6);
    const before = s.currentReport();
    expect(before.requests[0].delivered).toBeGreaterThan(100);
    s.setLinkUp("n1-n2", false);
    s.advance(100e6);
    const after = s.currentReport();
    // At most one pair per memory pair of the downed link was stored or already heralded.
    expect(after.requests[0].delivered - before.requests[0].delivered).toBeLessThanOrEqual(2);
    expect(after.links[1].successes - before.links[1].successes).toBeLessThanOrEqual(2);
    expect(after.links[1].attempts - before.links[1].attempts).toBeGreaterThan(2 * 89_000);
  });

  it("down and up at the same times in steps give the same report as in one go per period", () => {
    const run = (steps: number) => {
      const s = new NetworkSimulation(example("link-outages.yaml"), { seed: 5, timelineBinNs: 10e6 });
      const marks = [0.1e9, 0.25e9, 0.5e9, 0.7e9, 1e9];
      let t = 0;
      marks.forEach((m, i) => {
        for (let k = 1; k <= steps; k++) s.advance(t + ((m - t) * k) / steps);
        t = m;
        if (i < marks.length - 1) s.setLinkUp("alice-relay", i % 2 === 1);
      });
      return s.currentReport();
    };
    const once = run(1);
    expect(run(13)).toStrictEqual(once);
    expect(once.links[0].outages).toBeGreaterThan(2);
  });

  it("refuses an unknown link", () => {
    const s = new NetworkSimulation(chain({ links: 1, p: 0.5 }), { seed: 1 });
    expect(() => s.setLinkUp("nope", false)).toThrow(/no link 'nope'/);
  });
});
