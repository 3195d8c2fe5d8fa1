import { describe, expect, it } from "vitest";
import {
  type HeraldingParameters,
  heraldedPair,
  heraldingParameters,
  linkAttemptModel,
} from "../../src/hardware/heralding.js";
import {
  HERALD_FAILURE,
  sampleAttemptsToSuccess,
  sampleHeraldingAttempt,
  sampleHeraldTimeNs,
} from "../../src/hardware/heralding-sampler.js";
import type { PhysicalLinkSpec } from "../../src/network/topology.js";
import { RngStreams } from "../../src/sim/rng.js";
import { physicalLink } from "./fixtures.js";

const ATTEMPTS = 200_000;

/**
 * Runs `n` Monte Carlo attempts and checks, within 5 standard errors, the success rate against the closed
 * form P (σ = √(P(1−P)/n)) and the frequency of each Bell component among the successes against the
 * model's heralded state (σ_k = √(p_k(1−p_k)/successes)).
 */
function validate(
  link: PhysicalLinkSpec,
  seed: string,
  efficiencyA = 1,
  efficiencyB = 1,
  n = ATTEMPTS,
): void {
  const params: HeraldingParameters = heraldingParameters(link, efficiencyA, efficiencyB);
  const model = linkAttemptModel(link, efficiencyA, efficiencyB);
  const rng = new RngStreams(7).stream(seed);
  const counts = [0, 0, 0, 0];
  let successes = 0;
  for (let i = 0; i < n; i++) {
    const k = sampleHeraldingAttempt(params, rng);
    if (k !== HERALD_FAILURE) {
      successes++;
      counts[k]++;
    }
  }
  const P = model.successProbability;
  const sigma = Math.sqrt((P * (1 - P)) / n);
  expect(Math.abs(successes / n - P), `${seed}: success rate`).toBeLessThanOrEqual(5 * sigma);
  expect(successes).toBeGreaterThan(1000);
  for (let k = 0; k < 4; k++) {
    const pk = model.state[k];
    const sk = Math.sqrt((pk * (1 - pk)) / successes);
    expect(Math.abs(counts[k] / successes - pk), `${seed}: component ${k}`).toBeLessThanOrEqual(5 * sk);
  }
}

describe("Monte Carlo heralding validates the closed forms (physics.md, Heralded entanglement generation)", () => {
  // p_d = 1 − exp(−2e4 Hz · 1 µs) ≈ 0.02 per detector and window: large enough to matter at 50 km.
  const darkSettings = [
    { name: "no dark counts", darkCountRateHz: 0, detectionWindowNs: 1 },
    { name: "p_d ≈ 0.02", darkCountRateHz: 2e4, detectionWindowNs: 1e3 },
  ];
  for (const heralding of ["double-click", "single-click"] as const) {
    for (const dark of darkSettings) {
      it(`${heralding}, ${dark.name}: success rate P and heralded state at 1, 10, 25, 50 km within 5σ`, () => {
        for (const lengthKm of [1, 10, 25, 50]) {
          const link = physicalLink({ heralding, lengthKm, brightStatePopulation: 0.1, ...dark });
          validate(link, `${heralding}/${dark.name}/${lengthKm}`);
        }
      });
    }
  }

  it("unequal memory efficiencies, dark counts, α = 0.25 and source fidelity 0.95, both schemes", () => {
    for (const heralding of ["double-click", "single-click"] as const) {
      const link = physicalLink({
        heralding,
        lengthKm: 15,
        brightStatePopulation: 0.25,
        darkCountRateHz: 5e4,
        detectionWindowNs: 1e3,
        sourceFidelity: 0.95,
      });
      validate(link, `asymmetric/${heralding}`, 0.4, 0.9);
    }
  });

  it("multiplexing: an attempt over M = 5 modes succeeds with 1 − (1 − P)^M", () => {
    for (const heralding of ["double-click", "single-click"] as const) {
      const link = physicalLink({
        heralding,
        lengthKm: 50,
        multiplexingModes: 5,
        darkCountRateHz: 1e4,
        detectionWindowNs: 1e3,
      });
      validate(link, `multiplexed/${heralding}`, 1, 1, 50_000);
    }
  });

  it("the ideal double-click herald is always Φ+; blind detectors herald I/4 from dark counts alone", () => {
    const rng = new RngStreams(7).stream("ideal");
    const ideal = heraldingParameters(physicalLink({ lengthKm: 5 }));
    const seen = new Set<number>();
    for (let i = 0; i < 20_000; i++) seen.add(sampleHeraldingAttempt(ideal, rng));
    expect([...seen].sort()).toEqual([HERALD_FAILURE, 0]);
    validate(
      physicalLink({ detectorEfficiency: 0, darkCountRateHz: 3e5, detectionWindowNs: 1e3 }),
      "blind",
      1,
      1,
      50_000,
    );
  });
});

describe("attempts to success (what the simulator draws)", () => {
  it("is geometric with the per-attempt P: mean 1/P within 5σ, σ = √((1−P)/P²/n)", () => {
    const model = linkAttemptModel(physicalLink({ lengthKm: 50 }));
    const P = model.successProbability;
    const rng = new RngStreams(7).stream("geometric");
    const n = 100_000;
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    let timeSum = 0;
    for (let i = 0; i < n; i++) {
      const k = sampleAttemptsToSuccess(model, rng);
      sum += k;
      min = Math.min(min, k);
      timeSum += sampleHeraldTimeNs(model, rng);
    }
    expect(min).toBe(1);
    const sigma = Math.sqrt((1 - P) / (P * P) / n);
    expect(Math.abs(sum / n - 1 / P)).toBeLessThanOrEqual(5 * sigma);
    // Time: (k − 1)·T_att + T_herald, so mean (1/P − 1)·T_att + T_herald, σ scaled by T_att.
    const meanTime = (1 / P - 1) * model.attemptDurationNs + model.heraldDelayNs;
    expect(Math.abs(timeSum / n - meanTime)).toBeLessThanOrEqual(5 * sigma * model.attemptDurationNs);
  });

  it("never succeeds when P = 0, and succeeds at once when P = 1", () => {
    const rng = new RngStreams(7).stream("edges");
    const never = linkAttemptModel(physicalLink({ detectorEfficiency: 0 }));
    expect(sampleAttemptsToSuccess(never, rng)).toBe(Number.POSITIVE_INFINITY);
    expect(sampleHeraldTimeNs(never, rng)).toBe(Number.POSITIVE_INFINITY);
    const always = linkAttemptModel({
      kind: "abstract",
      successProbability: 1,
      attemptDurationNs: 10,
      fidelity: 1,
      lengthKm: 0,
    });
    expect(sampleAttemptsToSuccess(always, rng)).toBe(1);
    expect(sampleHeraldTimeNs(always, rng)).toBe(10);
  });

  it("the closed-form state used by the model is the one heraldedPair computes", () => {
    const link = physicalLink({ heralding: "single-click", darkCountRateHz: 1e4, detectionWindowNs: 1e3 });
    const out = new Float64Array(4);
    heraldedPair(out, heraldingParameters(link));
    expect(Array.from(linkAttemptModel(link).state)).toEqual(Array.from(out));
  });
});
