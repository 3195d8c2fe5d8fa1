import { describe, expect, it } from "vitest";
import {
  Bb84Link,
  type Bb84Params,
  bb84Model,
  type DetectionBatch,
  simulateBb84,
} from "../../src/qkd/bb84.js";
import { RngStreams } from "../../src/sim/rng.js";

/**
 * Statistical checks use |observed − expected| < 5σ with σ the binomial (or renewal) standard error
 * of the observed quantity; with fixed seeds the outcomes are reproducible.
 */
const streams = new RngStreams("bb84-test");

/**
 * The GYS experiment as used by Lo, Ma & Chen, PRL 94, 230504 (2005), and Ma, Qi, Zhao & Lo, PRA 72,
 * 012326 (2005) (shared/reference/physics.md, "Decoy-state BB84"): α = 0.21 dB/km, η_Bob = 4.5%,
 * Y0 = 1.7e-6, e_detector = 3.3%. Y0 counts both detectors: each dark-counts with 1 − √(1 − Y0).
 */
const GYS = { alpha: 0.21, etaBob: 0.045, y0: 1.7e-6, eDet: 0.033 };
const MU = [0.48, 0.1, 0];
const P = [0.7, 0.2, 0.1];

function gysParams(lengthKm: number, dark: boolean): Bb84Params {
  return {
    intensities: MU,
    intensityProbabilities: P,
    sourceRateHz: 1e9,
    lengthKm,
    attenuationDbPerKm: GYS.alpha,
    detectorEfficiency: GYS.etaBob,
    misalignment: GYS.eDet,
    darkCountProbability: dark ? 1 - Math.sqrt(1 - GYS.y0) : 0,
  };
}

/** Lo–Ma–Chen closed forms: Q_μ = Y0 + 1 − e^(−ημ), E_μ·Q_μ = e0·Y0 + e_det·(1 − e^(−ημ)), e0 = 1/2. */
function lmc(eta: number, mu: number, y0: number, eDet: number): { gain: number; qber: number } {
  const gain = y0 + 1 - Math.exp(-eta * mu);
  return { gain, qber: gain > 0 ? (0.5 * y0 + eDet * (1 - Math.exp(-eta * mu))) / gain : 0 };
}

/** Sifted detections and errors per class (all bases agreeing, both bases together). */
function siftedErrors(batch: DetectionBatch): { sifted: number[]; errors: number[] } {
  const sifted = new Array<number>(batch.classes).fill(0);
  const errors = new Array<number>(batch.classes).fill(0);
  for (let i = 0; i < batch.count; i++) {
    if (batch.aliceBasis[i] !== batch.bobBasis[i]) continue;
    sifted[batch.intensity[i]]++;
    errors[batch.intensity[i]] += batch.aliceBit[i] ^ batch.bobBit[i];
  }
  return { sifted, errors };
}

/** Asserts |x − mean| < 5·sd with a readable message. */
function within5Sigma(x: number, mean: number, sd: number, what: string): void {
  expect(Math.abs(x - mean), `${what}: observed ${x}, expected ${mean} ± ${sd}`).toBeLessThanOrEqual(5 * sd);
}

describe("decoy-state BB84 link against the Lo–Ma–Chen model (GYS parameters)", () => {
  for (const lengthKm of [0, 25, 50, 100]) {
    for (const dark of [false, true]) {
      it(`gains and QBERs per intensity at ${lengthKm} km ${dark ? "with" : "without"} dark counts`, () => {
        const params = gysParams(lengthKm, dark);
        const model = bb84Model(params);
        const eta = GYS.etaBob * 10 ** ((-GYS.alpha * lengthKm) / 10);
        expect(model.transmittance).toBeCloseTo(eta, 15);
        const y0 = dark ? GYS.y0 : 0;
        expect(model.backgroundYield).toBeCloseTo(y0, 15);
        // About 3·10^5 signal clicks whatever the distance: the cost follows the clicks, not the pulses.
        const pulses = Math.round(3e5 / (P[0] * lmc(eta, MU[0], y0, GYS.eDet).gain));
        const batch = simulateBb84(params, { pulses }, streams.stream(`gys-${lengthKm}-${dark}`));
        expect(batch.pulses).toBe(pulses);
        const { sifted, errors } = siftedErrors(batch);
        for (let k = 0; k < MU.length; k++) {
          const expected = lmc(eta, MU[k], y0, GYS.eDet);
          // The exact model of the simulator agrees with the first-order LMC forms far below the noise.
          expect(Math.abs(model.gain[k] - expected.gain)).toBeLessThanOrEqual(2e-6 * expected.gain + 1e-15);
          expect(Math.abs(model.errorRate[k] - expected.qber)).toBeLessThanOrEqual(1e-4 * expected.qber);
          const sent = batch.pulsesSent[k][0] + batch.pulsesSent[k][1];
          const q = expected.gain;
          within5Sigma(batch.detections[k] / sent, q, Math.sqrt((q * (1 - q)) / sent), `Q_${k}`);
          if (q === 0) {
            expect(batch.detections[k]).toBe(0);
            continue;
          }
          // The vacuum class clicks only a few times at short range (Y0·pulses); its QBER is checked where
          // the sample is large enough to be meaningful.
          if (sifted[k] < 100) continue;
          const e = expected.qber;
          within5Sigma(errors[k] / sifted[k], e, Math.sqrt((e * (1 - e)) / sifted[k]), `E_${k}`);
        }
        expect(batch.detections.reduce((s, d) => s + d, 0)).toBe(batch.count);
      });
    }
  }

  it("the exact model reproduces the published key-rate inputs: Q_μ at 0 km is 1 − e^(−0.045·0.48) + Y0", () => {
    const m = bb84Model(gysParams(0, true));
    // Equal up to the product Y0·(1 − e^(−ημ)) ≈ 3.6e-8 that the first-order form leaves out.
    expect(m.gain[0]).toBeCloseTo(1.7e-6 + 1 - Math.exp(-0.045 * 0.48), 7);
    expect(m.gain[2]).toBeCloseTo(1.7e-6, 12);
    expect(m.errorRate[2]).toBeCloseTo(0.5, 12);
  });
});

describe("detector model beyond first order", () => {
  it("double clicks, squashing and the bases-disagree statistics match the exact model at high η·μ", () => {
    // η·μ = 0.8: double clicks from multi-photon pulses are frequent enough to measure.
    const params: Bb84Params = {
      intensities: [1, 0.2],
      intensityProbabilities: [0.5, 0.5],
      sourceRateHz: 1e8,
      channelTransmittance: 1,
      detectorEfficiency: 0.8,
      misalignment: 0.1,
      darkCountProbability: 0.01,
    };
    const model = bb84Model(params);
    const batch = simulateBb84(params, { pulses: 400_000 }, streams.stream("high"));
    for (let k = 0; k < 2; k++) {
      let matched = 0;
      let errors = 0;
      let doubles = 0;
      let mismatched = 0;
      let mismatchedErrors = 0;
      for (let i = 0; i < batch.count; i++) {
        if (batch.intensity[i] !== k) continue;
        const err = batch.aliceBit[i] ^ batch.bobBit[i];
        if (batch.aliceBasis[i] === batch.bobBasis[i]) {
          matched++;
          errors += err;
          doubles += batch.doubleClick[i];
        } else {
          mismatched++;
          mismatchedErrors += err;
        }
      }
      const e = model.errorRate[k];
      within5Sigma(errors / matched, e, Math.sqrt((e * (1 - e)) / matched), `E_${k}`);
      const d = model.doubleClickFraction[k];
      within5Sigma(doubles / matched, d, Math.sqrt((d * (1 - d)) / matched), `double clicks ${k}`);
      within5Sigma(mismatchedErrors / mismatched, 0.5, Math.sqrt(0.25 / mismatched), `mismatch ${k}`);
      const sent = batch.pulsesSent[k][0] + batch.pulsesSent[k][1];
      const q = model.gain[k];
      within5Sigma(batch.detections[k] / sent, q, Math.sqrt((q * (1 - q)) / sent), `Q_${k}`);
    }
    // Closed form of the first class: with p_d = 0.01, m = 0.8, each detector clicks with
    // 1 − 0.99·e^(−m·share), independently.
    const cR = 1 - 0.99 * Math.exp(-0.8 * 0.9);
    const cW = 1 - 0.99 * Math.exp(-0.8 * 0.1);
    const q = 1 - (1 - cR) * (1 - cW);
    expect(model.gain[0]).toBeCloseTo(q, 14);
    expect(model.errorRate[0]).toBeCloseTo((cW * (1 - cR) + (cR * cW) / 2) / q, 14);
    expect(batch.doubleClicks).toBe(batch.doubleClick.reduce((s, x) => s + x, 0));
  });

  it("click probability does not depend on the bases, so biased bases show up unchanged among detections", () => {
    const params: Bb84Params = {
      intensities: [0.5],
      intensityProbabilities: [1],
      aliceZProbability: 0.9,
      bobZProbability: 0.8,
      sourceRateHz: 1e9,
      lengthKm: 10,
      detectorEfficiency: 0.5,
      misalignment: 0.02,
    };
    const batch = simulateBb84(params, { pulses: 2_000_000 }, streams.stream("biased"));
    const n = batch.count;
    let aZ = 0;
    let bZ = 0;
    for (let i = 0; i < n; i++) {
      aZ += batch.aliceBasis[i] === 0 ? 1 : 0;
      bZ += batch.bobBasis[i] === 0 ? 1 : 0;
    }
    within5Sigma(aZ / n, 0.9, Math.sqrt((0.9 * 0.1) / n), "Alice Z fraction");
    within5Sigma(bZ / n, 0.8, Math.sqrt((0.8 * 0.2) / n), "Bob Z fraction");
  });
});

describe("dead time", () => {
  /**
   * A shared, non-paralyzable dead time of τ blinds D = ⌈τ·f⌉ − 1 pulses after each click. Detections
   * form a renewal process with cycles D + G, G geometric with mean 1/P and variance (1 − P)/P², so
   * the rate per pulse is P/(1 + P·D) and the count over N pulses has variance ≈ N·Var(cycle)/E(cycle)³.
   * For τ·f ≫ 1 this is the continuous non-paralyzable formula R = r/(1 + r·τ) with r = P·f, up to
   * the one-pulse discretisation (Müller 1973; Knoll, Radiation Detection and Measurement, ch. 4).
   */
  const params: Bb84Params = {
    intensities: [0.2],
    intensityProbabilities: [1],
    sourceRateHz: 1e9,
    channelTransmittance: 0.5,
    misalignment: 0.01,
    deadTimeNs: 100,
  };

  it("lowers the click rate as a non-paralyzable detector does", () => {
    const model = bb84Model(params);
    expect(model.deadPulses).toBe(99);
    const p = model.clickProbability;
    expect(p).toBeCloseTo(1 - Math.exp(-0.1), 14);
    const n = 20_000_000;
    const batch = simulateBb84(params, { pulses: n }, streams.stream("dead"));
    const D = model.deadPulses;
    const cycleMean = D + 1 / p;
    const cycleVar = (1 - p) / p ** 2;
    const sd = Math.sqrt((n * cycleVar) / cycleMean ** 3);
    within5Sigma(batch.count, n / cycleMean, sd, "detections with dead time");
    expect(model.detectionsPerPulse).toBeCloseTo(p / (1 + p * D), 15);
    // Continuous non-paralyzable formula, per pulse: within 1% (one pulse period out of 100 ns).
    const r = p * 1e9;
    const continuous = (r / (1 + r * 100e-9)) * 1e-9;
    expect(Math.abs(model.detectionsPerPulse / continuous - 1)).toBeLessThan(0.01);
    // A strong reduction: without dead time the count would be n·p ≈ 1.9·10^6.
    expect(batch.count).toBeLessThan(0.2 * n * p);
    // No two detections closer than D + 1 pulses, and the blind pulses are D per click (minus the tail).
    let minGap = Number.POSITIVE_INFINITY;
    for (let i = 1; i < batch.count; i++)
      minGap = Math.min(minGap, batch.pulseIndex[i] - batch.pulseIndex[i - 1]);
    expect(minGap).toBeGreaterThanOrEqual(D + 1);
    expect(batch.blindPulses).toBeLessThanOrEqual(batch.count * D);
    expect(batch.blindPulses).toBeGreaterThan((batch.count - 1) * D);
  });

  it("carries over batch boundaries in a Bb84Link", () => {
    const link = new Bb84Link(params, streams.stream("dead-chunks"));
    const model = link.model;
    const chunk = 1_003; // not a multiple of anything in the process
    let last = Number.NEGATIVE_INFINITY;
    let count = 0;
    let blind = 0;
    let pulses = 0;
    for (let c = 0; c < 2000; c++) {
      const b = link.run({ pulses: chunk });
      expect(b.firstPulse).toBe(c * chunk);
      for (let i = 0; i < b.count; i++) {
        expect(b.pulseIndex[i] - last).toBeGreaterThanOrEqual(model.deadPulses + 1);
        last = b.pulseIndex[i];
      }
      count += b.count;
      blind += b.blindPulses;
      pulses += b.pulses;
    }
    expect(link.pulsesSent).toBe(pulses);
    const p = model.clickProbability;
    const cycleMean = model.deadPulses + 1 / p;
    const sd = Math.sqrt((pulses * ((1 - p) / p ** 2)) / cycleMean ** 3);
    within5Sigma(count, pulses / cycleMean, sd, "detections over batches");
    expect(blind).toBeLessThanOrEqual(count * model.deadPulses);
  });
});

describe("pulses sent", () => {
  it("per class and basis follow the multinomial of Alice's choices, clicks and dead time included", () => {
    const params: Bb84Params = {
      intensities: [0.8, 0.3, 0.05, 0],
      intensityProbabilities: [0.4, 0.3, 0.2, 0.1],
      aliceZProbability: 0.7,
      sourceRateHz: 1e9,
      channelTransmittance: 0.6,
      darkCountProbability: 1e-3,
      deadTimeNs: 20,
    };
    const n = 3_000_000;
    const batch = simulateBb84(params, { pulses: n }, streams.stream("multinomial"));
    let total = 0;
    for (let k = 0; k < 4; k++) {
      for (let a = 0; a < 2; a++) {
        const p = params.intensityProbabilities[k] * (a === 0 ? 0.7 : 0.3);
        within5Sigma(batch.pulsesSent[k][a], n * p, Math.sqrt(n * p * (1 - p)), `pulses[${k}][${a}]`);
        total += batch.pulsesSent[k][a];
      }
      // Detections of a class never exceed its pulses.
      expect(batch.detections[k]).toBeLessThanOrEqual(batch.pulsesSent[k][0] + batch.pulsesSent[k][1]);
    }
    expect(total).toBe(n);
    expect(batch.blindPulses).toBeGreaterThan(0);
  });

  it("a duration covers ⌊duration·rate⌋ pulses and reports the simulated time", () => {
    const params: Bb84Params = { intensities: [0.1], intensityProbabilities: [1], sourceRateHz: 80e6 };
    const batch = simulateBb84(params, { durationNs: 1e6 }, streams.stream("duration"));
    expect(batch.pulses).toBe(80_000);
    expect(batch.durationNs).toBeCloseTo(1e6, 6);
    const short = simulateBb84(params, { durationNs: 30 }, streams.stream("duration"));
    expect(short.pulses).toBe(2); // 30 ns holds two 12.5 ns periods
  });

  it("no light and no dark counts give no detections but still count the pulses", () => {
    const params: Bb84Params = {
      intensities: [0.5, 0],
      intensityProbabilities: [0.5, 0.5],
      sourceRateHz: 1e9,
      channelTransmittance: 0,
    };
    const batch = simulateBb84(params, { pulses: 1e12 }, streams.stream("dark"));
    expect(batch.count).toBe(0);
    const sum = batch.pulsesSent.flat().reduce((s, x) => s + x, 0);
    expect(sum).toBe(1e12);
  });
});

describe("validation and determinism", () => {
  const base: Bb84Params = {
    intensities: [0.5, 0.1, 0],
    intensityProbabilities: [0.8, 0.1, 0.1],
    sourceRateHz: 1e9,
    lengthKm: 20,
  };
  const bad: [Partial<Bb84Params> & Record<string, unknown>, RegExp][] = [
    [{ intensities: [] }, /intensities/],
    [{ intensities: [0.5, -0.1, 0] }, /intensities\[1\].*≥ 0/],
    [{ intensityProbabilities: [0.5, 0.5] }, /intensityProbabilities/],
    [{ intensityProbabilities: [0.5, 0.3, 0.1] }, /intensityProbabilities.*sum/],
    [{ aliceZProbability: 1.5 }, /aliceZProbability.*\[0, 1\]/],
    [{ bobZProbability: Number.NaN }, /bobZProbability/],
    [{ sourceRateHz: 0 }, /sourceRateHz.*> 0/],
    [{ lengthKm: -1 }, /lengthKm.*≥ 0/],
    [{ attenuationDbPerKm: Number.POSITIVE_INFINITY }, /attenuationDbPerKm/],
    [{ channelTransmittance: 1.2 }, /channelTransmittance.*\[0, 1\]/],
    [{ misalignment: 0.6 }, /misalignment.*\[0, 0.5\]/],
    [{ detectorEfficiency: -0.1 }, /detectorEfficiency/],
    [{ darkCountProbability: 1 }, /darkCountProbability.*\[0, 1\)/],
    [{ darkCountProbability: 1e-6, darkCountRateHz: 100 }, /darkCountProbability.*not together/],
    [{ darkCountRateHz: -5 }, /darkCountRateHz/],
    [{ darkCountRateHz: 10, detectionWindowNs: 0 }, /detectionWindowNs.*> 0/],
    [{ deadTimeNs: -1 }, /deadTimeNs/],
  ];
  for (const [patch, message] of bad) {
    it(`rejects ${JSON.stringify(patch)}`, () => {
      const params = { ...base, ...patch } as Bb84Params;
      expect(() => bb84Model(params)).toThrow(RangeError);
      expect(() => bb84Model(params)).toThrow(message);
    });
  }

  it("rejects bad spans", () => {
    const rng = streams.stream("span");
    expect(() => simulateBb84(base, { pulses: 1.5 }, rng)).toThrow(/pulses.*safe integer/);
    expect(() => simulateBb84(base, { durationNs: -1 }, rng)).toThrow(/durationNs/);
  });

  it("turns a dark-count rate into a probability per window", () => {
    const m = bb84Model({ ...base, darkCountRateHz: 1000, detectionWindowNs: 2 });
    expect(m.darkCountProbability).toBeCloseTo(-Math.expm1(-1000 * 2e-9), 18);
    const period = bb84Model({ ...base, darkCountRateHz: 1000 });
    expect(period.darkCountProbability).toBeCloseTo(-Math.expm1(-1000 * 1e-9), 18);
  });

  it("is deterministic under a seed", () => {
    const params = { ...base, deadTimeNs: 50, darkCountProbability: 1e-5, misalignment: 0.02 };
    const a = simulateBb84(params, { pulses: 500_000 }, new RngStreams(9).stream("link"));
    const b = simulateBb84(params, { pulses: 500_000 }, new RngStreams(9).stream("link"));
    const c = simulateBb84(params, { pulses: 500_000 }, new RngStreams(10).stream("link"));
    expect(a.count).toBeGreaterThan(1000);
    expect(b).toEqual(a);
    expect(c.pulseIndex).not.toEqual(a.pulseIndex);
  });
});
