import { describe, expect, it } from "vitest";
import { bellDiagonalToDensityMatrix, wernerState } from "../../src/quantum/bell-diagonal.js";
import { DensityMatrix } from "../../src/quantum/density-matrix.js";
import { fidelity } from "../../src/quantum/fidelity.js";
import { CNOT, type Gate, H, I, kron, rx, ry, rz, X, Y, Z } from "../../src/quantum/gates.js";
import { hermitianEigenvalues } from "../../src/quantum/linalg.js";
import {
  estimatePauliExpectations,
  expectedTomographyCounts,
  fidelityToPure,
  linearInversion,
  MAX_TOMOGRAPHY_QUBITS,
  maximumLikelihood,
  pauliExpectations,
  pauliLabel,
  pauliSettings,
  type SettingCounts,
  settingProbabilities,
  simulateTomographyCounts,
} from "../../src/quantum/tomography.js";
import { Rng } from "../../src/sim/rng.js";

/**
 * Statistical tolerances follow docs/architecture.md: an estimate of ⟨P⟩ pooled over m settings of
 * `shots` each has standard error σ_P = sqrt((1 − ⟨P⟩²)/(m·shots)) (binomial ±1 outcomes), and every
 * check allows 5σ.
 */
const SIGMAS = 5;

const PHI_PLUS = [Math.SQRT1_2, 0, 0, Math.SQRT1_2];

function eigenvalues(rho: DensityMatrix): Float64Array {
  return hermitianEigenvalues({ d: rho.dim, re: rho.re, im: rho.im });
}

function maxDiff(a: DensityMatrix, b: DensityMatrix): number {
  let e = 0;
  for (let k = 0; k < a.re.length; k++)
    e = Math.max(e, Math.abs(a.re[k] - b.re[k]), Math.abs(a.im[k] - b.im[k]));
  return e;
}

/** A generic mixed state with complex coherences: rotations, entangling gates, damping and noise. */
function genericState(n: number, seed: string): DensityMatrix {
  const rng = new Rng(seed);
  const rho = DensityMatrix.basis(n);
  for (let q = 0; q < n; q++) rho.apply(ry(3 * rng.random()), q).apply(rz(6 * rng.random()), q);
  for (let q = 0; q + 1 < n; q++) rho.apply(CNOT, [q, q + 1]);
  for (let q = 0; q < n; q++) rho.apply(rx(2 * rng.random()), q).amplitudeDamp(q, 0.2 * rng.random());
  for (let q = 0; q < n; q++) rho.depolarize(q, 0.1 + 0.2 * rng.random());
  return rho;
}

/** Number of identity factors in a Pauli index: ⟨P⟩ is pooled over 3^(that) settings. */
function identityCount(index: number, n: number): number {
  return [...pauliLabel(index, n)].filter((c) => c === "I").length;
}

/** σ of each Pauli estimate from the true expectations (index 0, the identity, has none). */
function pauliSigmas(truth: Float64Array, n: number, shots: number): Float64Array {
  const sigma = new Float64Array(truth.length);
  for (let k = 1; k < truth.length; k++)
    sigma[k] = Math.sqrt((1 - truth[k] ** 2) / (3 ** identityCount(k, n) * shots));
  return sigma;
}

/** Σ counts·ln p under a state: the log-likelihood the estimator maximises. */
function logLikelihood(rho: DensityMatrix, data: readonly SettingCounts[]): number {
  let sum = 0;
  for (const s of data) {
    const p = settingProbabilities(rho, s.basis);
    for (let o = 0; o < p.length; o++) if (s.counts[o] > 0) sum += s.counts[o] * Math.log(p[o]);
  }
  return sum;
}

function expectPhysical(rho: DensityMatrix): void {
  expect(rho.trace()).toBeCloseTo(1, 12);
  expect(rho.hermiticityError()).toBeLessThan(1e-12);
  expect(eigenvalues(rho)[0]).toBeGreaterThanOrEqual(-1e-9);
}

function expectPaulisWithinErrors(estimate: DensityMatrix, truth: DensityMatrix, shots: number): void {
  const want = pauliExpectations(truth);
  const got = pauliExpectations(estimate);
  const sigma = pauliSigmas(want, truth.n, shots);
  expect(got[0]).toBeCloseTo(1, 12);
  for (let k = 1; k < want.length; k++)
    expect(Math.abs(got[k] - want[k]), `⟨${pauliLabel(k, truth.n)}⟩`).toBeLessThan(SIGMAS * sigma[k]);
}

/**
 * Lower bound on the Uhlmann fidelity of an estimate whose Pauli expectations are each within 5σ:
 * ‖Δ‖₁ ≤ √d‖Δ‖₂ and ‖Δ‖₂² = Σ_P Δ⟨P⟩²/d give a trace distance D ≤ ½·sqrt(Σ (5σ_P)²), and
 * Fuchs–van de Graaf (1 − √F ≤ D) gives F ≥ (1 − D)².
 */
function fidelityLowerBound(truth: DensityMatrix, shots: number): number {
  const sigma = pauliSigmas(pauliExpectations(truth), truth.n, shots);
  let s = 0;
  for (let k = 1; k < sigma.length; k++) s += (SIGMAS * sigma[k]) ** 2;
  return (1 - 0.5 * Math.sqrt(s)) ** 2;
}

describe("tomography data format", () => {
  it("lists the 3^n Pauli settings, qubit 0 first, and labels Pauli strings in base 4", () => {
    expect(pauliSettings(1)).toEqual(["X", "Y", "Z"]);
    expect(pauliSettings(2)).toEqual(["XX", "XY", "XZ", "YX", "YY", "YZ", "ZX", "ZY", "ZZ"]);
    expect(pauliSettings(4)).toHaveLength(81);
    expect(pauliLabel(0, 3)).toBe("III");
    expect(pauliLabel(7, 2)).toBe("XZ"); // 7 = 1·4 + 3
    expect(pauliLabel(4 ** 3 - 1, 3)).toBe("ZZZ");
  });

  it("orders outcomes with qubit 0 as the most significant bit and bit 0 as the +1 eigenstate", () => {
    // |0⟩⊗|+⟩ measured in "ZX" always gives bits (0, 0); |1⟩⊗|−i⟩ in "ZY" gives (1, 1).
    const zeroPlus = DensityMatrix.fromPure([Math.SQRT1_2, Math.SQRT1_2, 0, 0]);
    expect(Array.from(settingProbabilities(zeroPlus, "ZX")).map((p) => Math.round(p * 1e12) / 1e12)).toEqual([
      1, 0, 0, 0,
    ]);
    const oneMinusI = DensityMatrix.fromPure([0, 0, Math.SQRT1_2, 0], [0, 0, 0, -Math.SQRT1_2]);
    expect(settingProbabilities(oneMinusI, "ZY")[3]).toBeCloseTo(1, 14);
    // Φ+: X and Z outcomes always agree, Y outcomes always differ.
    const bell = DensityMatrix.fromPure(PHI_PLUS);
    for (const [basis, expected] of [
      ["XX", [0.5, 0, 0, 0.5]],
      ["YY", [0, 0.5, 0.5, 0]],
      ["ZZ", [0.5, 0, 0, 0.5]],
      ["XZ", [0.25, 0.25, 0.25, 0.25]],
    ] as const) {
      const p = settingProbabilities(bell, basis);
      for (let o = 0; o < 4; o++) expect(p[o]).toBeCloseTo(expected[o], 14);
    }
  });

  it("computes exact Pauli expectations equal to Tr(ρ·P) of the Kronecker product", () => {
    const rho = genericState(3, "pauli expectations");
    const paulis: Record<string, Gate> = { I, X, Y, Z };
    const all = pauliExpectations(rho);
    for (let k = 0; k < all.length; k++) {
      const label = pauliLabel(k, 3);
      const op = kron(kron(paulis[label[0]], paulis[label[1]]), paulis[label[2]]);
      expect(all[k], label).toBeCloseTo(rho.expectation(op, [0, 1, 2]), 13);
    }
  });
});

describe("linear inversion", () => {
  it.each([1, 2, 3])("returns a %i-qubit state exactly from exact (infinite-shot) probabilities", (n) => {
    const rho = genericState(n, `exact ${n}`);
    const estimate = linearInversion(expectedTomographyCounts(rho));
    expect(maxDiff(estimate, rho)).toBeLessThan(1e-13);
    // Scaled expected counts are the same data.
    expect(maxDiff(linearInversion(expectedTomographyCounts(rho, 12345)), rho)).toBeLessThan(1e-13);
    // So do the Pauli estimates.
    const truth = pauliExpectations(rho);
    const est = estimatePauliExpectations(expectedTomographyCounts(rho));
    for (let k = 0; k < truth.length; k++) expect(est[k]).toBeCloseTo(truth[k], 13);
  });

  it("adds the counts of a setting that is listed twice", () => {
    const rho = genericState(2, "duplicates");
    const data = simulateTomographyCounts(rho, 1000, new Rng("duplicates"));
    const split: SettingCounts[] = [];
    for (const s of data) {
      const first = Float64Array.from(s.counts, (c) => Math.floor(c / 3));
      const rest = Float64Array.from(s.counts, (c, o) => c - first[o]);
      split.push({ basis: s.basis, counts: first }, { basis: s.basis, counts: rest });
    }
    expect(maxDiff(linearInversion(split), linearInversion(data))).toBeLessThan(1e-15);
  });

  it("can be unphysical with finite counts: a pure Bell state measured 500 times per setting", () => {
    // A pure state sits on the edge of the state space, so sampling noise pushes some eigenvalues below 0.
    const data = simulateTomographyCounts(DensityMatrix.fromPure(PHI_PLUS), 500, new Rng("unphysical"));
    const linear = linearInversion(data);
    expect(eigenvalues(linear)[0]).toBeLessThan(-1e-3);
    // Maximum likelihood repairs it while staying close.
    const ml = maximumLikelihood(data);
    expectPhysical(ml.state);
    expect(fidelityToPure(ml.state, PHI_PLUS)).toBeGreaterThan(
      fidelityLowerBound(DensityMatrix.fromPure(PHI_PLUS), 500),
    );
  });
});

describe("maximum-likelihood tomography (RρR, Hradil 1997) from simulated counts", () => {
  it("recovers the state exactly from exact probabilities when it has full rank", () => {
    for (const n of [1, 2]) {
      const rho = genericState(n, `ml exact ${n}`);
      const result = maximumLikelihood(expectedTomographyCounts(rho, 1000), { tolerance: 1e-10 });
      expect(result.converged).toBe(true);
      expect(result.likelihoodGap).toBeLessThanOrEqual(1e-10);
      expect(maxDiff(result.state, rho)).toBeLessThan(1e-7);
    }
  });

  it("Werner pair F = 0.9 (physics.md Werner form), 20 000 shots per setting", () => {
    const shots = 20000;
    const truth = bellDiagonalToDensityMatrix(wernerState(0.9));
    const data = simulateTomographyCounts(truth, shots, new Rng("werner tomography"));
    const ml = maximumLikelihood(data);
    expect(ml.converged).toBe(true);
    expectPhysical(ml.state);
    expectPaulisWithinErrors(ml.state, truth, shots);
    expectPaulisWithinErrors(linearInversion(data), truth, shots);
    // F to Φ+ = (1 + ⟨XX⟩ − ⟨YY⟩ + ⟨ZZ⟩)/4; the three come from separate settings.
    const w = (4 * 0.9 - 1) / 3;
    const sigmaF = Math.sqrt((3 * (1 - w * w)) / shots) / 4;
    expect(Math.abs(fidelityToPure(ml.state, PHI_PLUS) - 0.9)).toBeLessThan(SIGMAS * sigmaF);
    expect(fidelity(ml.state, truth)).toBeGreaterThan(fidelityLowerBound(truth, shots));
  });

  it("a rotated qubit with depolarizing noise, 5 000 shots per setting", () => {
    const shots = 5000;
    const p = 0.2;
    const rotation = (m: DensityMatrix) => m.apply(ry(1.1), 0).apply(rz(0.7), 0);
    const truth = rotation(DensityMatrix.basis(1)).depolarize(0, p);
    const ideal = rotation(DensityMatrix.basis(1));
    // The ideal pure state's amplitudes: Ry(1.1) then Rz(0.7) on |0⟩.
    const c = Math.cos(0.55);
    const s = Math.sin(0.55);
    const psiRe = [c * Math.cos(0.35), s * Math.cos(0.35)];
    const psiIm = [-c * Math.sin(0.35), s * Math.sin(0.35)];
    expect(ideal.fidelityPure(psiRe, psiIm)).toBeCloseTo(1, 14);

    const data = simulateTomographyCounts(truth, shots, new Rng("qubit tomography"));
    const ml = maximumLikelihood(data);
    expect(ml.converged).toBe(true);
    expectPhysical(ml.state);
    expectPaulisWithinErrors(ml.state, truth, shots);
    // F = (1 + r·n)/2 with r = (1 − p)·n: σ_F = ½·sqrt(Σ n_i²(1 − r_i²)/shots).
    const bloch = pauliExpectations(ideal).subarray(1);
    let variance = 0;
    for (const ni of bloch) variance += (ni * ni * (1 - ((1 - p) * ni) ** 2)) / shots;
    expect(Math.abs(fidelityToPure(ml.state, psiRe, psiIm) - (1 - p / 2))).toBeLessThan(
      (SIGMAS * Math.sqrt(variance)) / 2,
    );
    expect(fidelity(ml.state, truth)).toBeGreaterThan(fidelityLowerBound(truth, shots));
  });

  it("certifies its gap to the maximum likelihood, and reports a run stopped by the cap as not converged", () => {
    const truth = genericState(2, "capped");
    const data = simulateTomographyCounts(truth, 300, new Rng("capped"));
    const one = maximumLikelihood(data, { maxIterations: 1 });
    expect(one.iterations).toBe(1);
    expect(one.converged).toBe(false);
    expect(one.likelihoodGap).toBeGreaterThan(1e-4);
    expectPhysical(one.state);
    const full = maximumLikelihood(data);
    expect(full.converged).toBe(true);
    expect(full.likelihoodGap).toBeLessThanOrEqual(1e-4); // the default tolerance
    expect(full.logLikelihood).toBeGreaterThanOrEqual(one.logLikelihood);
    expect(full.logLikelihood).toBeCloseTo(logLikelihood(full.state, data), 6);
    // The gap is a bound over all states: none, not even the true one, beats the estimate by more.
    expect(logLikelihood(truth, data)).toBeLessThanOrEqual(full.logLikelihood + full.likelihoodGap);
    expect(logLikelihood(one.state, data)).toBeLessThanOrEqual(full.logLikelihood + full.likelihoodGap);
  });

  it("handles four qubits: a noisy GHZ state from 1 000 shots per setting", () => {
    const shots = 1000;
    const truth = DensityMatrix.basis(4).apply(H, 0);
    for (let q = 0; q < 3; q++) truth.apply(CNOT, [q, q + 1]);
    for (let q = 0; q < 4; q++) truth.depolarize(q, 0.05);
    const data = simulateTomographyCounts(truth, shots, new Rng("ghz"));
    const ml = maximumLikelihood(data, { tolerance: 1e-2 });
    expect(ml.converged).toBe(true);
    expectPhysical(ml.state);
    expectPaulisWithinErrors(ml.state, truth, shots);
    expect(fidelity(ml.state, truth)).toBeGreaterThan(fidelityLowerBound(truth, shots));
  });
});

describe("simulated counts", () => {
  it("are a multinomial sample of the exact probabilities, reproducible from the seed", () => {
    const rho = genericState(2, "sampling");
    const shots = 4000;
    const data = simulateTomographyCounts(rho, shots, new Rng("sampling"));
    expect(data.map((s) => s.basis)).toEqual(pauliSettings(2));
    for (const s of data) {
      const exact = settingProbabilities(rho, s.basis);
      let total = 0;
      for (let o = 0; o < 4; o++) {
        expect(Number.isInteger(s.counts[o])).toBe(true);
        total += s.counts[o];
        const sigma = Math.sqrt((exact[o] * (1 - exact[o])) / shots);
        expect(Math.abs(s.counts[o] / shots - exact[o])).toBeLessThanOrEqual(SIGMAS * sigma);
      }
      expect(total).toBe(shots);
    }
    const again = simulateTomographyCounts(rho, shots, new Rng("sampling"));
    expect(again.map((s) => Array.from(s.counts))).toEqual(data.map((s) => Array.from(s.counts)));
  });

  it("measure only the requested settings", () => {
    const data = simulateTomographyCounts(DensityMatrix.basis(2), 10, new Rng("some"), ["ZZ", "XZ"]);
    expect(data.map((s) => s.basis)).toEqual(["ZZ", "XZ"]);
    expect(Array.from(data[0].counts)).toEqual([10, 0, 0, 0]);
  });
});

describe("fidelity to a pure target", () => {
  it("normalises the target amplitudes", () => {
    const rho = bellDiagonalToDensityMatrix(wernerState(0.9));
    expect(fidelityToPure(rho, [1, 0, 0, 1])).toBeCloseTo(0.9, 14);
    expect(fidelityToPure(rho, [0, 1, 1, 0])).toBeCloseTo(0.1 / 3, 14);
  });

  it("rejects a target of the wrong size or zero norm", () => {
    const rho = DensityMatrix.basis(2);
    expect(() => fidelityToPure(rho, [1, 0])).toThrow(
      /target has 2 amplitudes but the estimate is 2-qubit; give 4/,
    );
    expect(() => fidelityToPure(rho, [0, 0, 0, 0])).toThrow(/amplitudes are all zero/);
  });
});

describe("invalid tomography input is rejected with a message saying what to change", () => {
  const good = expectedTomographyCounts(DensityMatrix.basis(2), 100);
  const withSetting = (i: number, s: SettingCounts): SettingCounts[] => good.map((g, k) => (k === i ? s : g));

  it.each([
    ["no settings", [], /tomography data are empty: give a list of \{ basis, counts \} settings/],
    [
      "a lower-case or unknown basis letter",
      withSetting(2, { basis: "Xq", counts: [1, 0, 0, 0] }),
      /setting 2 \("Xq"\): letter 1 is "q"; each qubit's basis must be X, Y or Z/,
    ],
    [
      "settings for different qubit counts",
      withSetting(4, { basis: "XYZ", counts: new Array(8).fill(1) }),
      /setting 4 \("XYZ"\) names 3 qubit\(s\) but the data are for 2; give one letter per qubit/,
    ],
    [
      "the wrong number of outcomes",
      withSetting(1, { basis: "XY", counts: [1, 2, 3] }),
      /setting 1 \("XY"\) has 3 counts; 2 qubit\(s\) need 4, one per outcome bit string/,
    ],
    [
      "a negative count",
      withSetting(0, { basis: "XX", counts: [5, -1, 0, 0] }),
      /setting 0 \("XX"\) count 1 is -1; counts must be finite numbers ≥ 0/,
    ],
    ["a NaN count", withSetting(3, { basis: "YX", counts: [5, Number.NaN, 0, 0] }), /count 1 is NaN/],
    [
      "a setting with no counts",
      withSetting(8, { basis: "ZZ", counts: [0, 0, 0, 0] }),
      /setting 8 \("ZZ"\) has no counts at all; remove it or record its outcomes/,
    ],
    [
      "a missing basis string",
      [{ counts: [1, 0] } as unknown as SettingCounts],
      /setting 0 has no basis string/,
    ],
    [
      "too many qubits",
      [{ basis: "Z".repeat(MAX_TOMOGRAPHY_QUBITS + 1), counts: [1] }],
      /implies 7 qubit\(s\); tomography supports 1\.\.6/,
    ],
  ] as const)("%s", (_what, data, message) => {
    expect(() => linearInversion(data as readonly SettingCounts[])).toThrow(message);
    expect(() => maximumLikelihood(data as readonly SettingCounts[])).toThrow(message);
  });

  it("incomplete data that leave some ⟨P⟩ undetermined", () => {
    const onlyZ = good.filter((s) => s.basis === "ZZ");
    expect(() => linearInversion(onlyZ)).toThrow(
      /the data do not determine ⟨IX⟩ or 11 other Pauli expectation\(s\): add a setting that measures each of its non-identity factors in that basis \(e\.g\. "ZX"\)/,
    );
    const noXY = good.filter((s) => s.basis !== "XY");
    expect(() => maximumLikelihood(noXY)).toThrow(/do not determine ⟨XY⟩: add a setting .* \(e\.g\. "XY"\)/);
  });

  it("bad options and shot counts", () => {
    expect(() => maximumLikelihood(good, { tolerance: 0 })).toThrow(/tolerance must be > 0 \(nats\), got 0/);
    expect(() => maximumLikelihood(good, { maxIterations: 2.5 })).toThrow(
      /maxIterations must be an integer ≥ 1/,
    );
    const rho = DensityMatrix.basis(1);
    expect(() => simulateTomographyCounts(rho, 0, new Rng(1))).toThrow(
      /shotsPerSetting must be an integer ≥ 1, got 0/,
    );
    expect(() => expectedTomographyCounts(rho, -2)).toThrow(/shotsPerSetting must be a finite number > 0/);
    expect(() => settingProbabilities(rho, "XX")).toThrow(/names 2 qubit\(s\) but the data are for 1/);
    expect(() => pauliLabel(16, 2)).toThrow(/Pauli index must be an integer in 0\.\.15, got 16/);
  });
});
