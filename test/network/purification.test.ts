import { describe, expect, it } from "vitest";
import { simulate } from "../../src/network/simulation.js";
import type { PurificationSpec, Topology } from "../../src/network/topology.js";
import { bbpssw, dejmps, wernerState } from "../../src/quantum/bell-diagonal.js";
import { chain } from "../support/topologies.js";

function withPurification(t: Topology, spec: PurificationSpec): Topology {
  return { ...t, purification: spec };
}

/** BBPSSW on two Werner pairs of fidelity F, re-twirled (Bennett et al. 1996; physics.md). */
function bbpsswClosedForm(f: number): { p: number; f: number } {
  const p = f * f + (2 * f * (1 - f)) / 3 + (5 * (1 - f) ** 2) / 9;
  return { p, f: (f * f + (1 - f) ** 2 / 9) / p };
}

describe("link-level recurrence purification (physics.md values, Werner F = 0.7)", () => {
  const single = (scheme: "bbpssw" | "dejmps", rounds: number) =>
    withPurification(chain({ links: 1, p: 0.5, fidelity: 0.7, qubitsPerSide: 2 ** rounds }), {
      scheme,
      mode: "recurrence",
      level: "link",
      rounds,
    });
  for (const [scheme, rounds, f, p] of [
    ["bbpssw", 1, 0.735294, 0.68],
    ["bbpssw", 2, 0.773171, 0.709343],
    ["dejmps", 1, 0.735294, 0.68],
    ["dejmps", 2, 0.845946, 0.640138],
  ] as const) {
    it(`${scheme}, ${rounds} round(s): delivered F = ${f}; last-round success ≈ ${p} within 5σ`, () => {
      const r = simulate(single(scheme, rounds), 2e5, { seed: 3 });
      const req = r.requests[0];
      expect(req.delivered).toBeGreaterThan(500);
      expect(req.fidelity.mean).toBeCloseTo(f, 6);
      expect(req.fidelity.p05).toBeCloseTo(f, 6);
      const l = r.links[0];
      // Every delivered pair passed `rounds` successful rounds; the success rate over all rounds mixes
      // the rounds' probabilities, so check the one-round case exactly and bound the others.
      const rate = 1 - l.purifications_failed / l.purifications;
      if (rounds === 1)
        expect(Math.abs(rate - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / l.purifications));
      else expect(rate).toBeGreaterThan(Math.min(p, 0.68) - 0.05);
    });
  }
});

describe("link-level pumping", () => {
  it("lifts a pair with fresh Werner pairs: DEJMPS(DEJMPS(w, w), w)", () => {
    const t = withPurification(chain({ links: 1, p: 0.5, fidelity: 0.8, qubitsPerSide: 2 }), {
      scheme: "dejmps",
      mode: "pumping",
      level: "link",
      rounds: 2,
    });
    const r = simulate(t, 1e5, { seed: 4 });
    const w = wernerState(0.8);
    const once = new Float64Array(4);
    dejmps(once, w, w);
    const twice = new Float64Array(4);
    dejmps(twice, once, w);
    expect(r.requests[0].delivered).toBeGreaterThan(100);
    expect(r.requests[0].fidelity.mean).toBeCloseTo(twice[0], 9);
  });
});

describe("end-to-end purification", () => {
  it("BBPSSW on swapped pairs of a two-link chain: F' from the closed form of F = 0.903333", () => {
    const t = withPurification(chain({ links: 2, p: 0.5, fidelity: 0.95, qubitsPerSide: 2 }), {
      scheme: "bbpssw",
      mode: "recurrence",
      level: "end-to-end",
      rounds: 1,
    });
    const r = simulate(t, 2e5, { seed: 5 });
    const req = r.requests[0];
    const f0 = 0.95 * 0.95 + 0.05 ** 2 / 3;
    const { p, f } = bbpsswClosedForm(f0);
    expect(req.delivered).toBeGreaterThan(300);
    expect(req.fidelity.mean).toBeCloseTo(f, 9);
    const rate = 1 - req.purifications_failed / req.purifications;
    expect(Math.abs(rate - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / req.purifications));
  });
  it("agrees with the Bell-diagonal map when memories decohere in between (BBPSSW ≥ input fidelity)", () => {
    const t = withPurification(chain({ links: 2, p: 0.2, fidelity: 0.95, qubitsPerSide: 2, latencyNs: 50 }), {
      scheme: "bbpssw",
      mode: "recurrence",
      level: "end-to-end",
      rounds: 1,
    });
    for (const n of t.nodes) n.memory.depolarizingTimeNs = 1e5;
    const plain = simulate({ ...t, purification: undefined }, 2e5, { seed: 6 }).requests[0].fidelity.mean;
    const purified = simulate(t, 2e5, { seed: 6 }).requests[0].fidelity.mean;
    expect(purified).toBeGreaterThan(plain);
    // One round can never beat the perfect-memory value.
    const out = new Float64Array(4);
    const w = wernerState(0.95 * 0.95 + 0.05 ** 2 / 3);
    bbpssw(out, w, w);
    expect(purified).toBeLessThan(out[0]);
  });
});
