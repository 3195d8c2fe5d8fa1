import { describe, expect, it } from "vitest";
import { keyRate } from "../../src/qkd/key-rate.js";
import { simulateDecoyKeyRate } from "../../src/qkd/key-rate-simulation.js";
import { Rng } from "../../src/sim/rng.js";

// The vacuum + weak decoy estimator of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), on statistics observed
// from simulated pulses, against the same estimator on the expected statistics (GYS parameters,
// shared/reference/physics.md). Tolerance: 5 standard errors of the simulated rate (delta method over
// the binomial errors of the observed gains and error rates).
describe("simulated decoy-state key rates agree with the analytic vacuum + weak model", () => {
  it.each([
    [0, 5e8],
    [25, 5e8],
    [50, 1e9],
    [75, 2e9],
    [100, 4e9],
  ])("at %i km (μ = 0.48, ν = 0.1, %d pulses)", (km, pulses) => {
    const sim = simulateDecoyKeyRate({ distanceKm: km, mu: 0.48, pulses }, new Rng(100 + km));
    const exact = keyRate("vacuum-weak", km, 0.48).key_rate_per_pulse;
    expect(sim.stderr).toBeGreaterThan(0);
    expect(sim.stderr).toBeLessThan(0.2 * exact);
    expect(Math.abs(sim.key_rate_per_pulse - exact)).toBeLessThan(5 * sim.stderr);
  });

  it("the standard error shrinks as 1/√pulses", () => {
    const a = simulateDecoyKeyRate({ distanceKm: 50, mu: 0.48, pulses: 1e8 }, new Rng(1));
    const b = simulateDecoyKeyRate({ distanceKm: 50, mu: 0.48, pulses: 1e10 }, new Rng(2));
    expect(a.stderr / b.stderr).toBeGreaterThan(7);
    expect(a.stderr / b.stderr).toBeLessThan(14);
  });

  it("rejects bad settings with the field named", () => {
    expect(() => simulateDecoyKeyRate({ distanceKm: 10, mu: 0.48, pulses: 0 }, new Rng(1))).toThrow(/pulses/);
    expect(() => simulateDecoyKeyRate({ distanceKm: 10, mu: 0.05, pulses: 10 }, new Rng(1))).toThrow(
      /mu must exceed nu/,
    );
  });
});
