import { describe, expect, it } from "vitest";
import { fiberDelayNs } from "../../src/hardware/fiber.js";
import {
  darkCountProbability,
  heraldedPair,
  heraldingParameters,
  linkAttemptModel,
  multiplexedSuccessProbability,
  pairRateHz,
} from "../../src/hardware/heralding.js";
import type { AbstractLinkSpec } from "../../src/network/topology.js";
import { checkBellDiagonal, composePauliErrors, wernerState } from "../../src/quantum/bell-diagonal.js";
import { physicalLink } from "./fixtures.js";

/** |x − published| within half a unit of the published value's last digit. */
function expectPublished(x: number, published: number, lastDigit: number): void {
  expect(Math.abs(x - published)).toBeLessThanOrEqual(lastDigit / 2);
}

/** physics.md arm transmission η = η_det·10^(−0.2·(L/2)/10). */
const eta = (lengthKm: number, etaDet = 0.9) => etaDet * 10 ** ((-0.2 * lengthKm) / 2 / 10);
/** physics.md single click, symmetric. */
const singleP = (a: number, e: number) => 2 * a * (1 - a) * e + a * a * (2 * e - e * e);
const singleF = (a: number, e: number) => (1 - a) / (1 - (a * e) / 2);

describe("heralded entanglement generation: closed forms (physics.md, Heralded entanglement generation)", () => {
  it("double click, η_det = 0.9, L = 10 km: η = 0.71490, P = 0.25554, T_att = 48.97 µs, 5.22e3 pairs/s, F = 1", () => {
    const link = physicalLink({ lengthKm: 10, heralding: "double-click" });
    expectPublished(heraldingParameters(link).armTransmissionA, 0.7149, 1e-5);
    const m = linkAttemptModel(link);
    expectPublished(m.successProbability, 0.25554, 1e-5);
    expectPublished(m.attemptDurationNs / 1e3, 48.97, 0.01);
    expect(m.heraldDelayNs).toBe(m.attemptDurationNs);
    expectPublished(pairRateHz(m), 5.22e3, 10);
    expect(Array.from(m.state)).toEqual([1, 0, 0, 0]);
    expect(m.modes).toBe(1);
  });

  it("double click, L = 100 km: P = 4.05e-3, 8.27 pairs/s", () => {
    const m = linkAttemptModel(physicalLink({ lengthKm: 100 }));
    expectPublished(m.successProbability, 4.05e-3, 1e-5);
    expectPublished(pairRateHz(m), 8.27, 0.01);
  });

  it("single click, η_det = 0.9, α = 0.1, L = 10 km: P = 0.13787, F = 0.9334", () => {
    const m = linkAttemptModel(physicalLink({ heralding: "single-click", brightStatePopulation: 0.1 }));
    expectPublished(m.successProbability, 0.13787, 1e-5);
    expectPublished(m.state[0], 0.9334, 1e-4);
    checkBellDiagonal(m.state);
  });

  it("without dark counts reduces to P = η²/2 (double) and P = 2α(1−α)η + α²(2η−η²), F = (1−α)/(1−αη/2) (single)", () => {
    for (const L of [0.5, 1, 10, 25, 50, 100, 300]) {
      const e = eta(L);
      const d = linkAttemptModel(physicalLink({ lengthKm: L }));
      expect(d.successProbability).toBeCloseTo((e * e) / 2, 15);
      expect(d.state[0]).toBe(1);
      for (const a of [0.01, 0.1, 0.3, 0.5]) {
        const s = linkAttemptModel(
          physicalLink({ lengthKm: L, heralding: "single-click", brightStatePopulation: a }),
        );
        expect(s.successProbability / singleP(a, e)).toBeCloseTo(1, 13);
        expect(s.state[0]).toBeCloseTo(singleF(a, e), 13);
        // The rest: no Φ− without dark counts; the double excitation sits evenly on Ψ±.
        expect(s.state[3]).toBe(0);
        expect(s.state[1]).toBeCloseTo(s.state[2], 15);
      }
    }
  });

  it("with unequal memory efficiencies: double click P = η_Aη_B/2 with F = 1; single click reduces to the symmetric form when equal", () => {
    const link = physicalLink({ lengthKm: 20 });
    const arm = eta(20);
    const d = linkAttemptModel(link, 0.5, 0.8);
    expect(d.successProbability).toBeCloseTo((0.5 * arm * 0.8 * arm) / 2, 15);
    expect(d.state[0]).toBe(1);

    const a = 0.2;
    const single = physicalLink({ lengthKm: 20, heralding: "single-click", brightStatePopulation: a });
    const eA = 0.5 * arm;
    const eB = 0.8 * arm;
    const s = linkAttemptModel(single, 0.5, 0.8);
    const p = a * (1 - a) * (eA + eB) + a * a * (eA + eB - eA * eB);
    expect(s.successProbability).toBeCloseTo(p, 15);
    // Coherent part √a|↑↓⟩ + √b|↓↑⟩ projects (√a ± √b)²/2 on Φ±.
    const sqA = Math.sqrt(eA);
    const sqB = Math.sqrt(eB);
    expect(s.state[0]).toBeCloseTo((a * (1 - a) * (sqA + sqB) ** 2) / 2 / p, 14);
    expect(s.state[3]).toBeCloseTo((a * (1 - a) * (sqA - sqB) ** 2) / 2 / p, 14);

    const sym = linkAttemptModel(single, 0.7, 0.7);
    const e = 0.7 * arm;
    expect(sym.successProbability).toBeCloseTo(singleP(a, e), 15);
    expect(sym.state[0]).toBeCloseTo(singleF(a, e), 14);
    expect(sym.state[3]).toBe(0);
  });

  it("dark-count probability per detector and window is 1 − exp(−rate·window)", () => {
    expect(darkCountProbability(0, 1)).toBe(0);
    expect(darkCountProbability(1e3, 1e3)).toBeCloseTo(1 - Math.exp(-1e-3), 16);
    expect(darkCountProbability(1e6, 1e3)).toBeCloseTo(1 - Math.exp(-1), 15);
    const link = physicalLink({ darkCountRateHz: 100, detectionWindowNs: 50 });
    // rate·window = 100 Hz · 50 ns = 5e-6: p_d ≈ 5e-6 (compared relatively; 1 − e^{−x} loses digits here).
    expect(heraldingParameters(link).darkCountProbability / -Math.expm1(-5e-6)).toBeCloseTo(1, 14);
  });

  it("dark counts add false heralds: P rises, F falls; with no photons at all the heralded pair is I/4", () => {
    for (const heralding of ["double-click", "single-click"] as const) {
      for (const L of [10, 50, 150]) {
        const clean = linkAttemptModel(physicalLink({ lengthKm: L, heralding }));
        const dark = linkAttemptModel(
          physicalLink({ lengthKm: L, heralding, darkCountRateHz: 1e4, detectionWindowNs: 1e3 }),
        );
        expect(dark.successProbability).toBeGreaterThan(clean.successProbability);
        expect(dark.state[0]).toBeLessThan(clean.state[0]);
        checkBellDiagonal(dark.state);
      }
    }
    // η = 0: only dark counts herald. Double click needs one lone dark click per round: (2p_d(1−p_d))².
    const blind = physicalLink({ detectorEfficiency: 0, darkCountRateHz: 1e5, detectionWindowNs: 1e3 });
    const pd = darkCountProbability(1e5, 1e3);
    const m = linkAttemptModel(blind);
    expect(m.successProbability).toBeCloseTo((2 * pd * (1 - pd)) ** 2, 15);
    for (let k = 0; k < 4; k++) expect(m.state[k]).toBeCloseTo(0.25, 15);
    // Single click: one lone dark click, 2p_d(1−p_d).
    const s = linkAttemptModel({ ...blind, heralding: "single-click" });
    expect(s.successProbability).toBeCloseTo(2 * pd * (1 - pd), 15);
    expect(s.state[0]).toBeCloseTo(s.state[3], 15);
  });

  it("no photons and no dark counts: P = 0 and the (undefined) state is NaN", () => {
    const m = linkAttemptModel(physicalLink({ detectorEfficiency: 0 }));
    expect(m.successProbability).toBe(0);
    expect(Number.isNaN(m.state[0])).toBe(true);
  });

  it("source fidelity multiplies its Werner factor into the heralded pair and leaves P unchanged", () => {
    const base = physicalLink({
      heralding: "single-click",
      lengthKm: 30,
      darkCountRateHz: 1e4,
      detectionWindowNs: 1e3,
    });
    const perfect = linkAttemptModel(base);
    for (const fs of [0.97, 0.8, 0.25, 0.1]) {
      const m = linkAttemptModel({ ...base, sourceFidelity: fs });
      expect(m.successProbability).toBe(perfect.successProbability);
      const expected = composePauliErrors(new Float64Array(4), perfect.state, wernerState(fs));
      for (let k = 0; k < 4; k++) expect(m.state[k]).toBeCloseTo(expected[k], 15);
      checkBellDiagonal(m.state);
    }
    // Double click from F = 1: the Werner state itself.
    const d = linkAttemptModel(physicalLink({ sourceFidelity: 0.9 }));
    expect(d.state[0]).toBeCloseTo(0.9, 15);
    expect(d.state[1]).toBeCloseTo(0.1 / 3, 15);
  });

  it("multiplexing M modes: P_attempt = 1 − (1 − P)^M, same state", () => {
    const one = linkAttemptModel(physicalLink({ lengthKm: 100 }));
    const many = linkAttemptModel(physicalLink({ lengthKm: 100, multiplexingModes: 100 }));
    expect(many.modes).toBe(100);
    expect(many.modeSuccessProbability).toBe(one.successProbability);
    expect(many.successProbability).toBeCloseTo(1 - (1 - one.successProbability) ** 100, 14);
    expect(Array.from(many.state)).toEqual(Array.from(one.state));
    expect(multiplexedSuccessProbability(1, 3)).toBe(1);
    expect(multiplexedSuccessProbability(0, 3)).toBe(0);
    expect(multiplexedSuccessProbability(1e-20, 10)).toBeCloseTo(1e-19, 30);
  });

  it("attempts are not pipelined: period max(n_g·L/c, 1/sourceRate), herald after n_g·L/c", () => {
    const slow = linkAttemptModel(physicalLink({ lengthKm: 0.1, sourceRateHz: 1e6 }));
    expect(slow.attemptDurationNs).toBe(1000);
    expect(slow.heraldDelayNs).toBeCloseTo(fiberDelayNs(0.1), 12);
    const fast = linkAttemptModel(physicalLink({ lengthKm: 10, sourceRateHz: 1e6 }));
    expect(fast.attemptDurationNs).toBe(fiberDelayNs(10));
    expect(fast.heraldDelayNs).toBe(fast.attemptDurationNs);
    const group = linkAttemptModel(physicalLink({ lengthKm: 10, groupIndex: 1.5 }));
    expect(group.attemptDurationNs).toBeCloseTo((10 * 1.5 * 1e9) / 299792.458, 9);
  });

  it("abstract links: the stated P and duration, a Werner pair of the stated fidelity, herald = duration", () => {
    const link: AbstractLinkSpec = {
      kind: "abstract",
      successProbability: 0.1,
      attemptDurationNs: 5000,
      fidelity: 0.95,
      lengthKm: 0,
    };
    const m = linkAttemptModel(link, 0.3, 0.3);
    expect(m.successProbability).toBe(0.1);
    expect(m.modeSuccessProbability).toBe(0.1);
    expect(m.attemptDurationNs).toBe(5000);
    expect(m.heraldDelayNs).toBe(5000);
    expect(m.modes).toBe(1);
    expect(Array.from(m.state)).toEqual(Array.from(wernerState(0.95)));
    expect(() => linkAttemptModel({ ...link, successProbability: 1.2 })).toThrow(/success probability/);
    expect(() => linkAttemptModel({ ...link, fidelity: -0.1 })).toThrow(/fidelity/);
    expect(() => linkAttemptModel({ ...link, attemptDurationNs: 0 })).toThrow(/attempt duration/);
  });

  it("rejects bad parameters with a RangeError that names them", () => {
    const cases: [Partial<Parameters<typeof physicalLink>[0]>, RegExp][] = [
      [{ lengthKm: -1 }, /length/],
      [{ lengthKm: Number.NaN }, /length/],
      [{ detectorEfficiency: 1.1 }, /detector efficiency/],
      [{ brightStatePopulation: -0.1 }, /bright-state population/],
      [{ sourceFidelity: 2 }, /source fidelity/],
      [{ multiplexingModes: 0 }, /multiplexing modes/],
      [{ multiplexingModes: 1.5 }, /multiplexing modes/],
      [{ darkCountRateHz: -5 }, /dark-count rate/],
      [{ detectionWindowNs: -1 }, /detection window/],
      [{ attenuationDbPerKm: -0.2 }, /attenuation/],
      [{ groupIndex: 0 }, /group index/],
      [{ sourceRateHz: 0 }, /source rate/],
      [{ lengthKm: 0 }, /zero attempt duration/],
    ];
    for (const [overrides, message] of cases) {
      expect(() => linkAttemptModel(physicalLink(overrides))).toThrow(RangeError);
      expect(() => linkAttemptModel(physicalLink(overrides))).toThrow(message);
    }
    expect(() => linkAttemptModel(physicalLink(), 1.5, 1)).toThrow(/memory efficiency of node A/);
    expect(() => linkAttemptModel(physicalLink(), 1, -0.5)).toThrow(/memory efficiency of node B/);
    expect(() => multiplexedSuccessProbability(-0.1, 2)).toThrow(RangeError);
    // A zero-length link is fine when the source rate bounds the attempt period.
    expect(linkAttemptModel(physicalLink({ lengthKm: 0, sourceRateHz: 1e6 })).attemptDurationNs).toBe(1000);
  });

  it("heraldedPair writes into a caller-supplied array and returns the single-mode probability", () => {
    const out = new Float64Array(4);
    const p = heraldedPair(out, heraldingParameters(physicalLink({ multiplexingModes: 4 })));
    expect(p).toBeCloseTo(eta(10) ** 2 / 2, 15);
    expect(out[0]).toBe(1);
  });
});
