import { describe, expect, it } from "vitest";
import { binaryEntropy } from "../../src/qkd/bits.js";
import {
  asymptoticKeyLength,
  type DecoyObservation,
  decoyKeyRateAsymptotic,
  estimateDecoyBounds,
  type FiniteKeyInput,
  finiteKeyLength,
  type PerIntensity,
  phaseErrorDeviation,
} from "../../src/qkd/decoy-estimation.js";
import {
  GYS_PARAMETERS,
  intensityStatistics,
  keyRateVacuumWeak,
  overallTransmittance,
} from "../../src/qkd/key-rate.js";

const rel = (a: number, b: number) => Math.abs(a / b - 1);

/** Noise-free observations: the gains and error rates the GYS channel model predicts at `distanceKm`. */
function expectedObservation(intensities: PerIntensity, distanceKm: number): DecoyObservation {
  const eta = overallTransmittance(distanceKm);
  const s = intensities.map((m) => intensityStatistics(m, eta, GYS_PARAMETERS));
  return {
    intensities,
    gains: [s[0].gain, s[1].gain, s[2].gain],
    errorRates: [s[0].errorRate, s[1].errorRate, s[2].errorRate],
  };
}

const MU: PerIntensity = [0.5, 0.1, 0];
const P: PerIntensity = [0.7, 0.2, 0.1];
/** Probability that Alice and Bob both pick X (then Z); the key comes from X. */
const QX = 0.5;

/** Expected counts of N pulses: n_{B,k} = N·p_k·P(both B)·Q_k, m_{B,k} = n_{B,k}·E_k. */
function expectedBlock(N: number, distanceKm: number): FiniteKeyInput {
  const obs = expectedObservation(MU, distanceKm);
  const basis = (both: number) => ({
    detections: [0, 1, 2].map((k) => N * P[k] * both * obs.gains[k]) as unknown as PerIntensity,
    errors: [0, 1, 2].map(
      (k) => N * P[k] * both * obs.gains[k] * obs.errorRates[k],
    ) as unknown as PerIntensity,
  });
  return {
    intensities: MU,
    probabilities: P,
    x: basis(QX * QX),
    z: basis((1 - QX) * (1 - QX)),
    pulses: N,
    epsSec: 1e-10,
    epsCor: 1e-15,
    ecEfficiency: 1.22,
  };
}

describe("asymptotic decoy bounds from observed gains", () => {
  it("fed the expected gains, reproduce the analytic vacuum + weak model (Ma et al. 2005)", () => {
    for (const L of [0, 25, 50, 75, 100, 125]) {
      for (const [mu, nu] of [
        [0.48, 0.1],
        [0.6, 0.05],
      ]) {
        const est = decoyKeyRateAsymptotic(expectedObservation([mu, nu, 0], L));
        const model = keyRateVacuumWeak(L, mu, { nu });
        expect(rel(est.y1Lower, model.single_photon_yield!)).toBeLessThan(1e-10);
        expect(rel(est.e1Upper, model.single_photon_error!)).toBeLessThan(1e-10);
        expect(rel(est.q1Lower, model.single_photon_gain!)).toBeLessThan(1e-10);
        expect(rel(est.key_rate_per_pulse, model.key_rate_per_pulse)).toBeLessThan(1e-10);
      }
    }
  });

  it("recovers the vacuum yield, and bounds Y1 and e1 on the safe side of the truth", () => {
    const L = 60;
    const b = estimateDecoyBounds(expectedObservation([0.5, 0.1, 0], L));
    expect(b.y0Lower).toBeCloseTo(1.7e-6, 18);
    const eta = overallTransmittance(L);
    const y1 = 1.7e-6 + eta - 1.7e-6 * eta;
    const e1 = (0.5 * 1.7e-6 + 0.033 * eta) / y1;
    expect(b.y1Lower).toBeLessThan(y1);
    expect(b.y1Lower).toBeGreaterThan(0.9 * y1);
    expect(b.e1Upper).toBeGreaterThan(e1);
    expect(b.e1Upper).toBeLessThan(1.2 * e1);
  });

  it("handles a weakest decoy above zero (μ3 > 0) with a vacuum lower bound", () => {
    const b = estimateDecoyBounds(expectedObservation([0.5, 0.1, 2e-4], 40));
    expect(b.y0Lower).toBeGreaterThan(0);
    expect(b.y0Lower).toBeLessThan(1.7e-6);
    expect(b.y1Lower).toBeGreaterThan(0);
  });

  it("gives no key when the observations leave no room for single photons", () => {
    // The signal clicks far more often than the weak decoy allows for single photons: multi-photon
    // pulses (which Eve may have split) could explain every signal detection.
    const b = decoyKeyRateAsymptotic({
      intensities: [0.5, 0.1, 0],
      gains: [1e-2, 1e-4, 1e-6],
      errorRates: [0.02, 0.02, 0.5],
    });
    expect(b.y1Lower).toBe(0);
    expect(b.e1Upper).toBe(0.5);
    expect(b.key_rate_per_pulse).toBe(0);
  });

  it("rejects invalid observations with clear messages", () => {
    const good = expectedObservation([0.5, 0.1, 0], 10);
    expect(() => estimateDecoyBounds({ ...good, intensities: [0.1, 0.5, 0] })).toThrow(
      /μ1 > μ2 \+ μ3 and μ2 > μ3 ≥ 0, got \[0\.1, 0\.5, 0\]/,
    );
    expect(() => estimateDecoyBounds({ ...good, intensities: [0.5, 0.3, 0.3] })).toThrow(/μ2 > μ3/);
    expect(() => estimateDecoyBounds({ ...good, gains: [0.1, 1.2, 0] })).toThrow(
      /gains\[1\] must be in \[0, 1\], got 1\.2/,
    );
    expect(() => estimateDecoyBounds({ ...good, errorRates: [0.1, Number.NaN, 0.5] })).toThrow(
      /errorRates\[1\]/,
    );
    expect(() => estimateDecoyBounds({ ...good, gains: [0.1, 0.2] as unknown as PerIntensity })).toThrow(
      /one value per intensity/,
    );
    expect(() => decoyKeyRateAsymptotic(good, { ecEfficiency: 0.8 })).toThrow(
      /ecEfficiency must be a finite number ≥ 1/,
    );
  });
});

describe("finite-key length (Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014))", () => {
  it("without fluctuations equals the closed-form rate of the same protocol", () => {
    // s_X0 + s_X1(1 − h(e1)) − f·n_X·h(E_X) per pulse, with Y0, Y1^L, e1^U of the vacuum + weak bounds:
    // key from every intensity, sifted with probability q_x².
    const L = 50;
    const N = 1e12;
    const obs = expectedObservation(MU, L);
    const b = estimateDecoyBounds(obs);
    const tau0 = P[0] * Math.exp(-MU[0]) + P[1] * Math.exp(-MU[1]) + P[2] * Math.exp(-MU[2]);
    const tau1 = P[0] * MU[0] * Math.exp(-MU[0]) + P[1] * MU[1] * Math.exp(-MU[1]);
    const qX = P[0] * obs.gains[0] + P[1] * obs.gains[1] + P[2] * obs.gains[2];
    const eX =
      (P[0] * obs.gains[0] * obs.errorRates[0] +
        P[1] * obs.gains[1] * obs.errorRates[1] +
        P[2] * obs.gains[2] * obs.errorRates[2]) /
      qX;
    const expected =
      QX *
      QX *
      (tau0 * b.y0Lower + tau1 * b.y1Lower * (1 - binaryEntropy(b.e1Upper)) - 1.22 * qX * binaryEntropy(eX));
    const r = asymptoticKeyLength(expectedBlock(N, L));
    // ℓ is rounded down to whole bits: ~1e-8 relative at ℓ ≈ 8e7.
    expect(rel(r.key_rate_per_pulse!, expected)).toBeLessThan(1e-7);
    expect(rel(r.phi_x, b.e1Upper)).toBeLessThan(1e-9);
    expect(r.security_cost_bits).toBe(0);
  });

  it("applies the Hoeffding widths of Eq. (2) to the vacuum bound", () => {
    // Enough pulses that the vacuum count exceeds its Hoeffding width (else the bound is 0).
    const input = expectedBlock(1e14, 20);
    const r = finiteKeyLength(input);
    const nX = r.n_x;
    const delta = Math.sqrt((nX / 2) * Math.log(21 / 1e-10));
    const tau0 = P[0] * Math.exp(-MU[0]) + P[1] * Math.exp(-MU[1]) + P[2];
    // μ3 = 0: s_X0 ≥ τ0·(e^0/p3)·(n_{X,3} − δ).
    expect(rel(r.s_x0, (tau0 / P[2]) * (input.x.detections[2] - delta))).toBeLessThan(1e-12);
    expect(r.security_cost_bits).toBeCloseTo(6 * Math.log2(21e10) + Math.log2(2e15), 9);
    expect(rel(r.lambda_ec, 1.22 * nX * binaryEntropy(r.qber_x))).toBeLessThan(1e-12);
  });

  it("grows with the block size and approaches the asymptotic rate as 1/√N", () => {
    // Every statistical correction (Hoeffding widths, γ) scales as √n while the key scales as n, so the
    // relative gap to the asymptotic rate should shrink about tenfold per hundredfold more pulses; the
    // log factor inside γ makes it a little less.
    const L = 50;
    const asymptotic = asymptoticKeyLength(expectedBlock(1e14, L)).key_rate_per_pulse!;
    const sizes = [1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    const rates = sizes.map((N) => finiteKeyLength(expectedBlock(N, L)).key_rate_per_pulse!);
    for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeGreaterThanOrEqual(rates[i - 1]);
    for (const r of rates) expect(r).toBeLessThan(asymptotic);
    // Too few pulses: the corrections eat the whole key.
    expect(rates[0]).toBe(0);
    expect(rates[3]).toBeGreaterThan(0);
    const gap = rates.map((r) => 1 - r / asymptotic);
    expect(gap[7]).toBeLessThan(0.005);
    for (const i of [3, 4, 5]) {
      const shrink = gap[i] / gap[i + 2];
      expect(shrink).toBeGreaterThan(6);
      expect(shrink).toBeLessThan(12);
    }
    // The asymptotic rate itself does not depend on N.
    expect(rel(asymptoticKeyLength(expectedBlock(1e10, L)).key_rate_per_pulse!, asymptotic)).toBeLessThan(
      1e-6,
    );
  });

  it("bounds the phase error by the observed rate plus γ, which shrinks with the samples", () => {
    const r = finiteKeyLength(expectedBlock(1e12, 30));
    const b = r.v_z1 / r.s_z1;
    expect(r.phi_x).toBeCloseTo(b + phaseErrorDeviation(1e-10, b, r.s_z1, r.s_x1), 15);
    expect(r.phi_x).toBeGreaterThan(asymptoticKeyLength(expectedBlock(1e12, 30)).phi_x);
    // γ(a, b, c, d) = sqrt{(c+d)(1−b)b/(cd·ln 2)·log2[(c+d)/(cd(1−b)b)·21²/a²]}, by hand for c = d = 1e6.
    const g = Math.sqrt(
      ((2e6 * 0.95 * 0.05) / (1e12 * Math.LN2)) * Math.log2((2e6 / (1e12 * 0.95 * 0.05)) * (441 / 1e-20)),
    );
    expect(phaseErrorDeviation(1e-10, 0.05, 1e6, 1e6)).toBeCloseTo(g, 15);
    expect(phaseErrorDeviation(1e-10, 0.05, 1e8, 1e8)).toBeLessThan(g / 5);
    expect(phaseErrorDeviation(1e-10, 0, 1e6, 1e6)).toBe(0);
  });

  it("uses a given λ_EC and reports ℓ without a rate when N is unknown", () => {
    const input = { ...expectedBlock(1e12, 20), pulses: undefined };
    const auto = finiteKeyLength(input);
    const given = finiteKeyLength({ ...input, lambdaEC: auto.lambda_ec + 1000 });
    expect(auto.key_rate_per_pulse).toBeNull();
    expect(auto.key_length_bits - given.key_length_bits).toBeGreaterThanOrEqual(999);
    expect(auto.key_length_bits - given.key_length_bits).toBeLessThanOrEqual(1001);
    expect(Number.isInteger(auto.key_length_bits)).toBe(true);
  });

  it("rejects invalid input with clear messages", () => {
    const good = expectedBlock(1e10, 10);
    expect(() => finiteKeyLength({ ...good, probabilities: [0.5, 0.3, 0.3] })).toThrow(
      /probabilities must sum to 1, got 1\.1/,
    );
    expect(() => finiteKeyLength({ ...good, probabilities: [1, 0, 0] })).toThrow(/probability > 0/);
    expect(() => finiteKeyLength({ ...good, probabilities: [1.2, -0.1, -0.1] })).toThrow(
      /probabilities\[0\] must be in \[0, 1\]/,
    );
    expect(() => finiteKeyLength({ ...good, intensities: [0.5, 0.4, 0.2] })).toThrow(/μ1 > μ2 \+ μ3/);
    expect(() => finiteKeyLength({ ...good, epsSec: 0 })).toThrow(/epsSec must be in \(0, 1\), got 0/);
    expect(() => finiteKeyLength({ ...good, epsCor: 2 })).toThrow(/epsCor must be in \(0, 1\)/);
    expect(() => finiteKeyLength({ ...good, lambdaEC: -5 })).toThrow(
      /lambdaEC must be a finite number ≥ 0 bits/,
    );
    expect(() => finiteKeyLength({ ...good, pulses: 0 })).toThrow(/pulses must be a finite number > 0/);
    expect(() => finiteKeyLength({ ...good, z: { detections: [10, 10, 10], errors: [1, 11, 0] } })).toThrow(
      /z\.errors\[1\] = 11 exceeds z\.detections\[1\] = 10/,
    );
    expect(() => finiteKeyLength({ ...good, x: { detections: [-1, 0, 0], errors: [0, 0, 0] } })).toThrow(
      /x\.detections\[0\] must be in/,
    );
    expect(() => phaseErrorDeviation(1e-10, 0.1, 0, 5)).toThrow(/sample sizes must be > 0/);
  });
});
