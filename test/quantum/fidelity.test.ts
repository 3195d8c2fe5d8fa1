import { describe, expect, it } from "vitest";
import { DensityMatrix } from "../../src/quantum/density-matrix.js";
import { fidelity, traceDistance } from "../../src/quantum/fidelity.js";
import { CNOT, H, rx, ry } from "../../src/quantum/gates.js";
import { hermitianEigenvalues, hermitianFunction } from "../../src/quantum/linalg.js";
import { StateVector } from "../../src/quantum/state-vector.js";

/** Single-qubit state from its Bloch vector: ρ = (I + r·σ)/2. */
function bloch(x: number, y: number, z: number): DensityMatrix {
  const m = new DensityMatrix(1);
  m.re[0] = (1 + z) / 2;
  m.re[3] = (1 - z) / 2;
  m.re[1] = x / 2;
  m.im[1] = -y / 2;
  m.re[2] = x / 2;
  m.im[2] = y / 2;
  return m;
}

function noisyState(n: number, p: number, angle: number): DensityMatrix {
  const rho = DensityMatrix.basis(n);
  for (let q = 0; q < n; q++) rho.apply(ry(angle * (q + 1)), q).apply(rx(0.3 * q), q);
  for (let q = 0; q + 1 < n; q++) rho.apply(CNOT, [q, q + 1]);
  for (let q = 0; q < n; q++) rho.depolarize(q, p);
  return rho;
}

describe("Uhlmann fidelity", () => {
  it("equals the qubit closed form Tr(ρσ) + 2√(det ρ · det σ) (Jozsa 1994)", () => {
    const a = [0.3, -0.2, 0.5];
    const b = [-0.1, 0.6, 0.2];
    const rho = bloch(a[0], a[1], a[2]);
    const sigma = bloch(b[0], b[1], b[2]);
    const dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    const detA = (1 - (a[0] ** 2 + a[1] ** 2 + a[2] ** 2)) / 4;
    const detB = (1 - (b[0] ** 2 + b[1] ** 2 + b[2] ** 2)) / 4;
    const expected = (1 + dot) / 2 + 2 * Math.sqrt(detA * detB);
    expect(fidelity(rho, sigma)).toBeCloseTo(expected, 12);
    expect(fidelity(sigma, rho)).toBeCloseTo(expected, 12);
  });
  it("reduces to ⟨ψ|ρ|ψ⟩ when one state is pure, on three qubits", () => {
    const rho = noisyState(3, 0.2, 0.4);
    const psi = new StateVector(3).apply(H, 0).apply(CNOT, [0, 1]).apply(ry(0.5), 2);
    expect(fidelity(rho, psi.toDensityMatrix())).toBeCloseTo(rho.fidelityPure(psi.re, psi.im), 10);
  });
  it("is 1 for identical states and 0 for orthogonal ones", () => {
    const rho = noisyState(2, 0.1, 0.7);
    expect(fidelity(rho, rho)).toBeCloseTo(1, 10);
    expect(fidelity(DensityMatrix.basis(2, 0), DensityMatrix.basis(2, 3))).toBeCloseTo(0, 12);
    expect(() => fidelity(DensityMatrix.basis(1), DensityMatrix.basis(2))).toThrow(/1 and 2 qubits/);
  });
  it("obeys the Fuchs–van de Graaf bounds 1 − √F ≤ D ≤ √(1 − F)", () => {
    const rho = noisyState(2, 0.15, 0.3);
    const sigma = noisyState(2, 0.3, 0.9);
    const f = fidelity(rho, sigma);
    const d = traceDistance(rho, sigma);
    expect(d).toBeGreaterThanOrEqual(1 - Math.sqrt(f) - 1e-12);
    expect(d).toBeLessThanOrEqual(Math.sqrt(1 - f) + 1e-12);
  });
});

describe("Hermitian eigensolver", () => {
  it("finds the spectrum of a depolarized GHZ state: (1−p)+p/8 once and p/8 seven times", () => {
    const p = 0.3;
    const ghz = new StateVector(3).apply(H, 0).apply(CNOT, [0, 1]).apply(CNOT, [1, 2]).toDensityMatrix();
    const mixed = new DensityMatrix(3);
    for (let k = 0; k < 64; k++) mixed.re[k] = (1 - p) * ghz.re[k] + (k % 9 === 0 ? p / 8 : 0);
    mixed.im.set(ghz.im.map((v) => (1 - p) * v));
    const ev = hermitianEigenvalues({ d: 8, re: mixed.re, im: mixed.im });
    for (let i = 0; i < 7; i++) expect(ev[i]).toBeCloseTo(p / 8, 12);
    expect(ev[7]).toBeCloseTo(1 - p + p / 8, 12);
  });
  it("√ρ squared gives back ρ for a complex mixed state", () => {
    const rho = noisyState(2, 0.2, 1.1);
    const r = hermitianFunction({ d: 4, re: rho.re, im: rho.im }, Math.sqrt);
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) {
        let sr = 0;
        let si = 0;
        for (let k = 0; k < 4; k++) {
          sr += r.re[i * 4 + k] * r.re[k * 4 + j] - r.im[i * 4 + k] * r.im[k * 4 + j];
          si += r.re[i * 4 + k] * r.im[k * 4 + j] + r.im[i * 4 + k] * r.re[k * 4 + j];
        }
        expect(sr).toBeCloseTo(rho.re[i * 4 + j], 12);
        expect(si).toBeCloseTo(rho.im[i * 4 + j], 12);
      }
  });
});
