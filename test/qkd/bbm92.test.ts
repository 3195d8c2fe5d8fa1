import { describe, expect, it } from "vitest";
import { bbm92ErrorRates, bbm92KeyFraction, measureBbm92 } from "../../src/qkd/bbm92.js";
import { binaryEntropy } from "../../src/qkd/bits.js";
import { sift } from "../../src/qkd/sifting.js";
import { bellDiagonalToDensityMatrix, wernerState } from "../../src/quantum/bell-diagonal.js";
import { kron, X, Z } from "../../src/quantum/gates.js";
import { RngStreams } from "../../src/sim/rng.js";

/** Tolerances are 5 binomial standard errors; seeds are fixed. */
const streams = new RngStreams("bbm92-test");

function within5Sigma(x: number, mean: number, sd: number, what: string): void {
  expect(Math.abs(x - mean), `${what}: observed ${x}, expected ${mean} ± ${sd}`).toBeLessThanOrEqual(5 * sd);
}

/** Error rates in each basis among sifted records, and in mismatched bases. */
function observedErrors(batch: ReturnType<typeof measureBbm92>) {
  const n = [0, 0];
  const e = [0, 0];
  let mismatched = 0;
  let mismatchedErrors = 0;
  for (let i = 0; i < batch.count; i++) {
    const err = batch.aliceBit[i] ^ batch.bobBit[i];
    if (batch.aliceBasis[i] === batch.bobBasis[i]) {
      n[batch.aliceBasis[i]]++;
      e[batch.aliceBasis[i]] += err;
    } else {
      mismatched++;
      mismatchedErrors += err;
    }
  }
  return { n, e, mismatched, mismatchedErrors };
}

/** [Φ+, Ψ−, Ψ+, Φ−]: e_Z = p(Ψ+) + p(Ψ−) = 0.10, e_X = p(Φ−) + p(Ψ−) = 0.08. */
const STATE = Float64Array.of(0.85, 0.03, 0.07, 0.05);

describe("BBM92 error rates", () => {
  it("follow from the Bell-diagonal coefficients, checked against the density matrix", () => {
    // Independent check: P(outcomes differ) = (1 − ⟨P⊗P⟩)/2 for P = Z, X on the two-qubit state.
    const rho = bellDiagonalToDensityMatrix(STATE);
    const eZ = (1 - rho.expectation(kron(Z, Z), [0, 1])) / 2;
    const eX = (1 - rho.expectation(kron(X, X), [0, 1])) / 2;
    const predicted = bbm92ErrorRates(STATE);
    expect(predicted.z).toBeCloseTo(eZ, 14);
    expect(predicted.x).toBeCloseTo(eX, 14);
    expect(predicted.z).toBeCloseTo(0.1, 14);
    expect(predicted.x).toBeCloseTo(0.08, 14);
    // A Werner pair of fidelity F errs with 2(1 − F)/3 in both bases.
    const w = bbm92ErrorRates(wernerState(0.9));
    expect(w.z).toBeCloseTo(0.2 / 3, 14);
    expect(w.x).toBeCloseTo(0.2 / 3, 14);
  });

  it("sampled records match the prediction in each basis; mismatched bases are uncorrelated", () => {
    const pairs = 300_000;
    const batch = measureBbm92({ state: STATE, count: pairs }, {}, streams.stream("uniform"));
    expect(batch.count).toBe(pairs);
    expect(batch.pulses).toBe(pairs);
    const o = observedErrors(batch);
    const p = bbm92ErrorRates(STATE);
    within5Sigma(o.e[0] / o.n[0], p.z, Math.sqrt((p.z * (1 - p.z)) / o.n[0]), "e_Z");
    within5Sigma(o.e[1] / o.n[1], p.x, Math.sqrt((p.x * (1 - p.x)) / o.n[1]), "e_X");
    within5Sigma(o.mismatchedErrors / o.mismatched, 0.5, Math.sqrt(0.25 / o.mismatched), "mismatched");
    within5Sigma(o.mismatched / pairs, 0.5, Math.sqrt(0.25 / pairs), "mismatched fraction");
    // Each party's bits are balanced.
    let ones = 0;
    for (let i = 0; i < batch.count; i++) ones += batch.aliceBit[i];
    within5Sigma(ones / pairs, 0.5, Math.sqrt(0.25 / pairs), "Alice's bit balance");
  });

  it("handles pairs in different states, as delivered by the network", () => {
    const rng = streams.stream("states");
    const states: Float64Array[] = [];
    let sumZ = 0;
    let sumX = 0;
    for (let i = 0; i < 200_000; i++) {
      // A Bell-diagonal mix with varying weights.
      const a = 0.6 + 0.4 * rng.random();
      const rest = 1 - a;
      const u = rng.random();
      const v = rng.random() * (1 - u);
      const s = Float64Array.of(a, rest * u, rest * v, rest * (1 - u - v));
      states.push(s);
      const p = bbm92ErrorRates(s);
      sumZ += p.z;
      sumX += p.x;
    }
    const batch = measureBbm92(states, { aliceZProbability: 0.8, bobZProbability: 0.8 }, streams.stream("m"));
    const o = observedErrors(batch);
    // Among sifted pairs, the basis does not depend on the state, so the expected rate is the average.
    const eZ = sumZ / states.length;
    const eX = sumX / states.length;
    within5Sigma(o.e[0] / o.n[0], eZ, Math.sqrt((eZ * (1 - eZ)) / o.n[0]), "mean e_Z");
    within5Sigma(o.e[1] / o.n[1], eX, Math.sqrt((eX * (1 - eX)) / o.n[1]), "mean e_X");
    const total = states.length;
    within5Sigma(batch.pulsesSent[0][0] / total, 0.8, Math.sqrt(0.16 / total), "Alice's Z share");
  });

  it("applies measurement errors and detector efficiency", () => {
    const pairs = 400_000;
    const params = { measurementError: 0.02, detectorEfficiency: 0.7 };
    const batch = measureBbm92({ state: STATE, count: pairs }, params, streams.stream("noisy"));
    const eta2 = 0.49;
    within5Sigma(batch.count / pairs, eta2, Math.sqrt((eta2 * (1 - eta2)) / pairs), "both detect");
    expect(batch.pulsesSent[0][0] + batch.pulsesSent[0][1]).toBe(pairs);
    const p = bbm92ErrorRates(STATE, 0.02);
    const flip = 2 * 0.02 * 0.98;
    expect(p.z).toBeCloseTo(0.1 * (1 - flip) + 0.9 * flip, 14);
    const o = observedErrors(batch);
    within5Sigma(o.e[0] / o.n[0], p.z, Math.sqrt((p.z * (1 - p.z)) / o.n[0]), "noisy e_Z");
    within5Sigma(o.e[1] / o.n[1], p.x, Math.sqrt((p.x * (1 - p.x)) / o.n[1]), "noisy e_X");
  });

  it("produces records that sifting handles like BB84 detections", () => {
    const batch = measureBbm92({ state: STATE, count: 100_000 }, {}, streams.stream("sift"));
    const r = sift(batch, streams.stream("sift-alice"), { disclosedFraction: [0.2, 1] });
    expect(r.blocks.length).toBe(1);
    expect(r.gain[0]).toBe(1);
    const p = bbm92ErrorRates(STATE);
    const z = r.blocks[0][0];
    within5Sigma(r.errorRate[0][0], p.z, Math.sqrt((p.z * (1 - p.z)) / z.disclosed), "sifted e_Z");
    const x = r.blocks[0][1];
    within5Sigma(r.errorRate[0][1], p.x, Math.sqrt((p.x * (1 - p.x)) / x.disclosed), "sifted e_X");
    expect(r.keyAlice.length).toBe(z.sifted - z.disclosed);
    expect(r.traffic.intensityClasses).toBe(0);
  });
});

describe("BBM92 key fraction", () => {
  it("is 1 − f·h(e_Z) − h(e_X), clipped at 0", () => {
    expect(bbm92KeyFraction(0, 0)).toBe(1);
    expect(bbm92KeyFraction(0.05, 0.03, 1.2)).toBeCloseTo(
      1 - 1.2 * binaryEntropy(0.05) - binaryEntropy(0.03),
      14,
    );
    // Shor–Preskill threshold: 1 − 2h(e) = 0 at e ≈ 11.0%.
    expect(bbm92KeyFraction(0.11, 0.11)).toBeGreaterThan(0);
    expect(bbm92KeyFraction(0.111, 0.111)).toBe(0);
    expect(() => bbm92KeyFraction(0.1, 0.1, 0.9)).toThrow(/\bf\b/);
  });
});

describe("BBM92 validation and determinism", () => {
  it("rejects invalid states and parameters, naming them", () => {
    const rng = streams.stream("bad");
    expect(() => measureBbm92([Float64Array.of(0.5, 0.5, 0.5, 0)], {}, rng)).toThrow(/pair 0.*sum/);
    expect(() => measureBbm92([[1, 0, 0]], {}, rng)).toThrow(/4 probabilities/);
    expect(() => measureBbm92({ state: STATE, count: -1 }, {}, rng)).toThrow(/count/);
    expect(() => measureBbm92([], { aliceZProbability: 2 }, rng)).toThrow(/aliceZProbability/);
    expect(() => measureBbm92([], { measurementError: 0.7 }, rng)).toThrow(/measurementError.*\[0, 0.5\]/);
    expect(() => measureBbm92([], { detectorEfficiency: -1 }, rng)).toThrow(/detectorEfficiency/);
  });

  it("is deterministic under a seed", () => {
    const a = measureBbm92({ state: STATE, count: 10_000 }, {}, new RngStreams(3).stream("p"));
    const b = measureBbm92({ state: STATE, count: 10_000 }, {}, new RngStreams(3).stream("p"));
    expect(b).toEqual(a);
  });
});
