import { describe, expect, it } from "vitest";
import { LinkEstimator } from "../../src/control/link-estimates.js";
import type { LinkSpec, Topology } from "../../src/network/topology.js";
import { abstractLink, node } from "../support/topologies.js";

function topo(links: LinkSpec[]): Topology {
  const ids = new Set(links.flatMap((l) => [l.a, l.b]));
  return {
    apiVersion: "qnet/v1",
    name: "t",
    nodes: [...ids].map((id) => node(id)),
    links,
    swap: "asap",
    requests: [],
  };
}

describe("LinkEstimator", () => {
  it("is seeded from the topology's link models", () => {
    // p = 0.5 per attempt, one attempt per ms: 500 pairs/s.
    const est = new LinkEstimator(topo([abstractLink("a", "b", 0.5, 1e6, 0.93)]));
    expect(est.linkIds()).toEqual(["a-b"]);
    expect(est.successProbability("a-b")).toBeCloseTo(0.5, 12);
    expect(est.expectedPairRateHz("a-b")).toBeCloseTo(500, 9);
    expect(est.fidelity("a-b")).toBeCloseTo(0.93, 12);
    expect(est.isUp("a-b")).toBe(true);
  });

  it("derives a physical link's rate from the heralding model (physics.md: double click, 10 km)", () => {
    const link: LinkSpec = {
      id: "a-b",
      a: "a",
      b: "b",
      quantum: {
        kind: "physical",
        lengthKm: 10,
        attenuationDbPerKm: 0.2,
        groupIndex: 1.4682,
        heralding: "double-click",
        sourceRateHz: Number.POSITIVE_INFINITY,
        detectorEfficiency: 0.9,
        darkCountRateHz: 0,
        detectionWindowNs: 1,
        brightStatePopulation: 0.1,
        multiplexingModes: 1,
        sourceFidelity: 1,
      },
      classical: { latencyNs: 0, jitterNs: 0, lossProbability: 0 },
      outages: [],
    };
    const est = new LinkEstimator(topo([link]));
    expect(est.successProbability("a-b")).toBeCloseTo(0.25554, 4);
    // physics.md: 5.22e3 pairs/s.
    expect(est.expectedPairRateHz("a-b") / 5.22e3).toBeCloseTo(1, 2);
    expect(est.fidelity("a-b")).toBeCloseTo(1, 9);
  });

  it("follows observed attempts within a few windows, and batch size does not matter", () => {
    const t = topo([abstractLink("a", "b", 0.5, 1e6)]);
    const one = new LinkEstimator(t, { windowAttempts: 1000 });
    const many = new LinkEstimator(t, { windowAttempts: 1000 });
    one.observeAttempts("a-b", 10_000, 100);
    for (let i = 0; i < 100; i++) many.observeAttempts("a-b", 100, 1);
    // The prior 0.5 weighs e^{-10} of what it did: the estimate is ≈ the observed 1 %.
    expect(one.successProbability("a-b")).toBeCloseTo(0.01, 3);
    expect(many.successProbability("a-b")).toBeCloseTo(one.successProbability("a-b"), 9);
    expect(one.estimate("a-b").observedAttempts).toBe(10_000);
  });

  it("shows a collapse (E3) within about one window and recovers after it", () => {
    const est = new LinkEstimator(topo([abstractLink("a", "b", 0.2, 1e6)]), { windowAttempts: 500 });
    est.observeAttempts("a-b", 5000, 1000);
    expect(est.successProbability("a-b")).toBeCloseTo(0.2, 3);
    est.observeAttempts("a-b", 1000, 0);
    // Old evidence weighs e^{-2} ≈ 0.135 of its weight: p falls below 0.2·0.16.
    expect(est.successProbability("a-b")).toBeLessThan(0.035);
    est.observeAttempts("a-b", 2500, 500);
    expect(est.successProbability("a-b")).toBeGreaterThan(0.19);
  });

  it("averages fidelity samples with an exponential weight", () => {
    const est = new LinkEstimator(topo([abstractLink("a", "b", 0.5, 1e6, 0.9)]), {
      fidelitySampleWeight: 0.5,
    });
    est.observeFidelity("a-b", 0.8);
    expect(est.fidelity("a-b")).toBeCloseTo(0.85, 12);
    for (let i = 0; i < 60; i++) est.observeFidelity("a-b", 0.7);
    expect(est.fidelity("a-b")).toBeCloseTo(0.7, 9);
    expect(est.estimate("a-b").fidelitySamples).toBe(61);
  });

  it("reports a down link with rate 0 and keeps its estimates for when it is up", () => {
    const est = new LinkEstimator(topo([abstractLink("a", "b", 0.5, 1e6)]));
    est.markDown("a-b");
    expect(est.isUp("a-b")).toBe(false);
    expect(est.expectedPairRateHz("a-b")).toBe(0);
    expect(est.successProbability("a-b")).toBeCloseTo(0.5, 12);
    est.markUp("a-b");
    expect(est.expectedPairRateHz("a-b")).toBeCloseTo(500, 9);
  });

  it("rejects unknown links and invalid observations with a clear message", () => {
    const est = new LinkEstimator(topo([abstractLink("a", "b", 0.5, 1e6)]));
    expect(() => est.isUp("x-y")).toThrow(/unknown link "x-y": known links are a-b/);
    expect(() => est.observeAttempts("a-b", 10, 11)).toThrow(/successes must be between 0 and attempts/);
    expect(() => est.observeFidelity("a-b", 1.2)).toThrow(/fidelity must be in \[0, 1\]/);
    expect(() => new LinkEstimator(topo([]), { windowAttempts: 0 })).toThrow(/windowAttempts/);
  });
});
