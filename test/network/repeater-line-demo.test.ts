import { describe, expect, it } from "vitest";
import { runRepeaterLineDemo } from "../../src/network/repeater-line-demo.js";

describe("repeater-line demonstration", () => {
  it("is deterministic for a seed and differs between seeds", () => {
    const a = runRepeaterLineDemo({ seed: 3, durationNs: 2e8 });
    expect(runRepeaterLineDemo({ seed: 3, durationNs: 2e8 })).toEqual(a);
    expect(runRepeaterLineDemo({ seed: 4, durationNs: 2e8 }).linkAttempts).not.toBe(a.linkAttempts);
  });

  it("with perfect memories and no latency, delivers Werner-swapped pairs F² + (1−F)²/3 (physics.md)", () => {
    const r = runRepeaterLineDemo({ durationNs: 2e8, memoryTimeConstantNs: Infinity, classicalLatencyNs: 0 });
    expect(r.meanFidelity).toBeCloseTo(0.903333, 6);
    expect(r.meanTeleportationFidelity).toBeCloseTo((2 * 0.903333 + 1) / 3, 6);
  });

  it("with a = 1, the mean time to a swap is E[max of two geometrics] = (3−2p)/(p(2−p)) within 5σ", () => {
    // Brand, Coopmans, Elkouss, IEEE JSAC 38, 619 (2020): N = 2 closed form. Var[max(G1, G2)] follows
    // from P(max ≤ t) = (1 − q^t)²; computed here by summing the distribution.
    const p = 0.1;
    const r = runRepeaterLineDemo({
      seed: 11,
      durationNs: 5e9,
      linkSuccessProbability: p,
      swapSuccessProbability: 1,
      classicalLatencyNs: 0,
    });
    const q = 1 - p;
    let mean = 0;
    let second = 0;
    for (let t = 1; t < 2000; t++) {
      const pt = (1 - q ** t) ** 2 - (1 - q ** (t - 1)) ** 2;
      mean += t * pt;
      second += t * t * pt;
    }
    expect(mean).toBeCloseTo(r.expectedAttemptsToSwap, 9);
    const sigma = Math.sqrt((second - mean * mean) / r.swapAttempts);
    expect(Math.abs(r.meanAttemptsToSwap - mean)).toBeLessThan(5 * sigma);
  });

  it("waiting in memories lowers the fidelity below the no-waiting value", () => {
    const r = runRepeaterLineDemo({ durationNs: 2e8, memoryTimeConstantNs: 1e6 });
    expect(r.meanFidelity).toBeLessThan(r.fidelityWithoutWaiting - 0.01);
    expect(r.meanFidelity).toBeGreaterThan(0.25);
  });
});
