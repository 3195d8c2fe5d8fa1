import type { DensityMatrix } from "./density-matrix.js";
import { complexMatmul, hermitianEigenvalues, hermitianFunction } from "./linalg.js";

/**
 * Uhlmann fidelity F(ρ, σ) = (Tr √(√ρ σ √ρ))², the squared convention, so that for a pure σ = |ψ⟩⟨ψ|
 * it equals ⟨ψ|ρ|ψ⟩. Intended for registers of up to about 7 qubits (the cost grows as 8^n).
 */
export function fidelity(rho: DensityMatrix, sigma: DensityMatrix): number {
  if (rho.n !== sigma.n) throw new RangeError(`states have ${rho.n} and ${sigma.n} qubits`);
  const a = { d: rho.dim, re: rho.re, im: rho.im };
  const b = { d: sigma.dim, re: sigma.re, im: sigma.im };
  const sqrtRho = hermitianFunction(a, (x) => Math.sqrt(Math.max(x, 0)));
  const m = complexMatmul(complexMatmul(sqrtRho, b), sqrtRho);
  const ev = hermitianEigenvalues(m);
  // Eigenvalues that are zero in exact arithmetic come out at ±1e-17; their square roots (3e-9) would
  // swamp the result for rank-deficient states, so values below round-off of the largest count as 0.
  const floor = 1e-12 * Math.max(ev[ev.length - 1], 0);
  let t = 0;
  for (const lambda of ev) if (lambda > floor) t += Math.sqrt(lambda);
  return Math.min(1, t * t);
}

/** Trace distance ½‖ρ − σ‖₁. */
export function traceDistance(rho: DensityMatrix, sigma: DensityMatrix): number {
  if (rho.n !== sigma.n) throw new RangeError(`states have ${rho.n} and ${sigma.n} qubits`);
  const re = new Float64Array(rho.re.length);
  const im = new Float64Array(rho.im.length);
  for (let k = 0; k < re.length; k++) {
    re[k] = rho.re[k] - sigma.re[k];
    im[k] = rho.im[k] - sigma.im[k];
  }
  let s = 0;
  for (const lambda of hermitianEigenvalues({ d: rho.dim, re, im })) s += Math.abs(lambda);
  return s / 2;
}
