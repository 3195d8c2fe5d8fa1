import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { linkAttemptModel } from "../../src/network/link-model.js";
import { LiveTwin, liveTwinProbes } from "../../src/network/live-twin.js";
import { planNetwork } from "../../src/network/plan.js";
import type { SimulationObserver } from "../../src/network/simulation.js";
import type { Topology } from "../../src/network/topology.js";
import { parseTopology } from "../../src/network/topology-loader.js";

const metro = (): Topology =>
  parseTopology(
    readFileSync(join(import.meta.dirname, "..", "..", "examples", "metro.yaml"), "utf8"),
    "metro.yaml",
  );

/** Per link of the topology: the model's attempt figures and the memory pairs the twin runs on it. */
function linkFigures(t: Topology, probeRateHz = 0) {
  const probes = liveTwinProbes(t, probeRateHz);
  const plan = planNetwork(probes.topology, probes.requestLinks);
  const nodes = new Map(t.nodes.map((n) => [n.id, n]));
  return t.links.map((link, li) => {
    const model = linkAttemptModel(link, nodes.get(link.a)!, nodes.get(link.b)!);
    const pl = plan.links.find((l) => l.topologyLink === li)!;
    const memoryPairs = Math.min(
      plan.ports[pl.leftPort].qubits.length,
      plan.ports[pl.rightPort].qubits.length,
    );
    return { id: link.id, model, memoryPairs };
  });
}

/** An observer that records everything per link. */
function recorder() {
  const links = new Map<
    string,
    { expected: number; attempts: number; successes: number; fidelities: number[]; delivered: number }
  >();
  const at = (id: string) => {
    let r = links.get(id);
    if (!r) {
      r = { expected: Number.NaN, attempts: 0, successes: 0, fidelities: [], delivered: 0 };
      links.set(id, r);
    }
    return r;
  };
  let occupancyCalls = 0;
  const observer: SimulationObserver = {
    linkExpectedSuccess: (id, p) => {
      at(id).expected = p;
    },
    linkAttempts: (id, a, s) => {
      at(id).attempts += a;
      at(id).successes += s;
    },
    pairFidelity: (id, f) => {
      at(id).fidelities.push(f);
    },
    pairDelivered: (route) => {
      at(route.requestId.replace(/^probe:/, "")).delivered++;
    },
    memoryOccupancy: () => {
      occupancyCalls++;
    },
    memoryStorageTime: () => {},
  };
  return { observer, links, occupancy: () => occupancyCalls };
}

describe("LiveTwin of examples/metro.yaml", () => {
  it("after 2 simulated seconds every link matches its model: success rate, heralded fidelity, pair rate (5σ)", () => {
    const t = metro();
    const T = 2e9;
    const twin = new LiveTwin(t, { seed: 1 });
    for (let k = 1; k <= 20; k++) expect(twin.advanceTo((k * T) / 20).behind).toBe(false);
    expect(twin.nowNs).toBe(T);
    const status = twin.linkStatus();
    const figures = linkFigures(t);
    expect(status.map((s) => s.id)).toEqual(t.links.map((l) => l.id));
    for (const [i, s] of status.entries()) {
      const { model, memoryPairs: m } = figures[i];
      const p = model.successProbability;
      expect(s.up && s.running).toBe(true);
      expect(s.expectedSuccessProbability).toBe(p);
      // Success fraction over A Bernoulli attempts: binomial standard error σ = √(p(1 − p)/A).
      expect(Math.abs(s.successes / s.attempts - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / s.attempts));
      // Heralded pairs are all in the model's state.
      expect(s.fidelityRecent!).toBeCloseTo(model.state[0], 9);
      // Pair rate: each of the m memory pairs is a renewal process whose cycle is (K − 1)·τ + d (K ~
      // Geometric(p) attempts of period τ, herald delay d; the pair is delivered and the memories
      // re-armed at the herald). Mean μ = (1/p − 1)·τ + d, variance s² = τ²(1 − p)/p²; over T the count
      // is ≈ normal with mean m·T/μ and variance m·T·s²/μ³ (renewal CLT), give or take a cycle per pair.
      const tau = model.attemptPeriodNs;
      const mu = (1 / p - 1) * tau + model.heraldDelayNs;
      const s2 = (tau * tau * (1 - p)) / (p * p);
      const sd = Math.sqrt((m * T * s2) / mu ** 3);
      expect(Math.abs(s.successes - (m * T) / mu)).toBeLessThan(5 * sd + m);
      // Every heralded pair is handed to the link's ends at once.
      expect(s.pairsDelivered).toBe(s.successes);
    }
    // The abstract link as the file states it: 2 % per attempt, fidelity 0.93.
    const abstract = status.find((s) => s.id === "datacentre-core-south")!;
    expect(Math.abs(abstract.successes / abstract.attempts - 0.02)).toBeLessThan(
      5 * Math.sqrt((0.02 * 0.98) / abstract.attempts),
    );
    expect(abstract.fidelityRecent!).toBeCloseTo(0.93, 9);
  });

  it("with probeRateHz, each link makes its rate (give or take a pair per memory pair)", () => {
    const t = metro();
    const rate = 1000;
    const twin = new LiveTwin(t, { seed: 2, probeRateHz: rate });
    twin.advanceTo(1e9);
    const figures = linkFigures(t, rate);
    for (const [i, s] of twin.linkStatus().entries())
      expect(Math.abs(s.successes - rate)).toBeLessThanOrEqual(figures[i].memoryPairs + 1);
  });

  it("a link set down stops heralding (its attempts go on, in vain) and resumes when set up", () => {
    const t = metro();
    const id = "core-north-core-south";
    const twin = new LiveTwin(t, { seed: 3 });
    twin.advanceTo(0.5e9);
    const before = twin.linkStatus();
    twin.setLinkUp(id, false);
    twin.advanceTo(1e9);
    const during = twin.linkStatus();
    const i = t.links.findIndex((l) => l.id === id);
    const { model, memoryPairs: m } = linkFigures(t)[i];
    expect(during[i].up).toBe(false);
    // Only successes of attempts begun before the down time (heralds in flight) still arrive.
    expect(during[i].successes - before[i].successes).toBeLessThanOrEqual(m);
    // m memory pairs attempt every τ for the 0.5 s down: all counted, none succeeds.
    expect(during[i].attempts - before[i].attempts).toBeGreaterThanOrEqual(
      m * Math.floor(0.5e9 / model.attemptPeriodNs) - m,
    );
    // The other links carry on.
    for (const [j, s] of during.entries())
      if (j !== i) expect(s.successes - before[j].successes).toBeGreaterThan(0.3 * before[j].successes);
    twin.setLinkUp(id, true);
    twin.advanceTo(1.5e9);
    const after = twin.linkStatus();
    expect(after[i].up).toBe(true);
    expect(after[i].successes - during[i].successes).toBeGreaterThan(0.8 * before[i].successes);
    const report = twin.report().links[i];
    expect(report.outages).toBe(1);
    expect(report.downtime_s).toBeCloseTo(0.5, 12);
  });

  it("advancing in many small steps (with event caps) equals one advance, link changes included", () => {
    const t = metro();
    const drive = (steps: number, cap: number) => {
      const twin = new LiveTwin(t, { seed: 4, maxEventsPerAdvance: cap });
      let calls = 0;
      let behind = 0;
      const to = (target: number) => {
        for (let k = 1; k <= steps; k++) {
          const goal = twin.nowNs + ((target - twin.nowNs) * k) / steps;
          let r = twin.advanceTo(goal);
          calls++;
          while (r.behind) {
            behind++;
            expect(r.events).toBe(cap);
            r = twin.advanceTo(goal);
            calls++;
          }
        }
        expect(twin.nowNs).toBe(target);
      };
      to(0.2e9);
      twin.setLinkUp("exchange-hospital", false);
      to(0.35e9);
      twin.setLinkUp("exchange-hospital", true);
      twin.setLinkUp("campus-a-datacentre", false);
      to(0.5e9);
      return { status: twin.linkStatus(), report: twin.report(), calls, behind };
    };
    const once = drive(1, 1e9);
    expect(once.calls).toBe(3);
    const stepped = drive(7, 500);
    expect(stepped.behind).toBeGreaterThan(50);
    expect(stepped.status).toStrictEqual(once.status);
    expect(stepped.report).toStrictEqual(once.report);
  });

  it("the observer receives what linkStatus reports, and linkStatus agrees with the report", () => {
    const t = metro();
    const rec = recorder();
    const twin = new LiveTwin(t, { seed: 5, observer: rec.observer, fidelityWindow: 50 });
    twin.advanceTo(0.3e9);
    twin.setLinkUp("core-south-hospital", false);
    twin.advanceTo(0.6e9);
    const report = twin.report();
    for (const [i, s] of twin.linkStatus().entries()) {
      const r = rec.links.get(s.id)!;
      expect(r.expected).toBe(s.expectedSuccessProbability);
      expect(r.attempts).toBe(s.attempts);
      expect(r.successes).toBe(s.successes);
      expect(r.delivered).toBe(s.pairsDelivered);
      const recent = r.fidelities.slice(-50);
      expect(s.fidelityRecent!).toBeCloseTo(recent.reduce((a, b) => a + b, 0) / recent.length, 12);
      // Right after an advance the observer has been told every attempt made: the report's count.
      expect(report.links[i].attempts).toBe(s.attempts);
      expect(report.links[i].successes).toBe(s.successes);
    }
    expect(rec.occupancy()).toBeGreaterThan(0);
  });

  it("refuses bad options", () => {
    expect(() => new LiveTwin(metro(), { probeRateHz: -1 })).toThrow(RangeError);
    expect(() => new LiveTwin(metro(), { maxEventsPerAdvance: 0 })).toThrow(RangeError);
    expect(() => new LiveTwin(metro(), { fidelityWindow: 0 })).toThrow(RangeError);
    expect(() => new LiveTwin(metro()).setLinkUp("nope", false)).toThrow(/no link 'nope'/);
  });
});
