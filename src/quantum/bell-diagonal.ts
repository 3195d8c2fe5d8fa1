import { DensityMatrix } from "./density-matrix.js";

/**
 * Bell-diagonal two-qubit states for link-level simulation.
 *
 * A pair is stored as four probabilities of the Bell states in a `Float64Array(4)`, always in the
 * DEJMPS order of Deutsch et al., PRL 77, 2818 (1996) — the order of shared/reference/physics.md:
 *
 * | index | Bell state | DEJMPS name | Pauli error on one half of Φ+ |
 * |---|---|---|---|
 * | 0 | Φ+ = (|00⟩+|11⟩)/√2 | A | I |
 * | 1 | Ψ− = (|01⟩−|10⟩)/√2 | B | Y (up to a global phase) |
 * | 2 | Ψ+ = (|01⟩+|10⟩)/√2 | C | X |
 * | 3 | Φ− = (|00⟩−|11⟩)/√2 | D | Z |
 *
 * So a pair is "Φ+ after a random Pauli error on one of its qubits". It does not matter which qubit
 * carries the error: (P⊗I)|Φ+⟩ = (I⊗Pᵀ)|Φ+⟩ and Pᵀ = ±P. Index 0 is the fidelity to Φ+. This is not the
 * order of `BellState` in bell.ts, which follows the Bell-measurement outcome bits (Φ+, Ψ+, Φ−, Ψ−).
 *
 * Why this order works for composition: writing an index as bits (b1 b0), the Pauli error is
 * X^(b1⊕b0)·Z^(b0). That map is linear over GF(2), so multiplying Paulis (up to phase) is XOR of indices,
 * and every map below is a handful of multiply-adds with no tables. {@link toPauliOrder} and
 * {@link fromPauliOrder} convert to and from the other common order, indexed by the error I, X, Y, Z.
 *
 * Functions write into a caller-supplied `out` array and return it (or a success probability), so hot
 * loops allocate nothing; `out` may alias an input. The maps assume valid inputs (non-negative, summing
 * to 1) and do not re-check them — validate at the boundary with {@link checkBellDiagonal}.
 */
export type BellDiagonal = Float64Array;

/** Positions of the Bell states in a {@link BellDiagonal} (the DEJMPS order A, B, C, D). */
export const BellIndex = {
  /** Φ+ = (|00⟩+|11⟩)/√2: the target state; its coefficient is the fidelity (DEJMPS A). */
  PHI_PLUS: 0,
  /** Ψ− = (|01⟩−|10⟩)/√2: Φ+ with a Y error (DEJMPS B). */
  PSI_MINUS: 1,
  /** Ψ+ = (|01⟩+|10⟩)/√2: Φ+ with an X (bit-flip) error (DEJMPS C). */
  PSI_PLUS: 2,
  /** Φ− = (|00⟩−|11⟩)/√2: Φ+ with a Z (phase-flip) error (DEJMPS D). */
  PHI_MINUS: 3,
} as const;

/** Tolerance on the sum of the four probabilities, and on small negative values from rounding. */
const SUM_TOLERANCE = 1e-9;

/**
 * Throws a `RangeError` unless `p` has four finite, non-negative entries summing to 1 (within 1e-9).
 * @param what - name used in the message, e.g. "link 3 state".
 */
export function checkBellDiagonal(p: ArrayLike<number>, what = "Bell-diagonal state"): void {
  if (p.length !== 4)
    throw new RangeError(`${what} needs 4 probabilities (Φ+, Ψ−, Ψ+, Φ−), got ${p.length} entries`);
  let sum = 0;
  for (let k = 0; k < 4; k++) {
    const v = p[k];
    if (!Number.isFinite(v) || v < -SUM_TOLERANCE)
      throw new RangeError(`${what}: probability ${k} is ${v}; each must be a finite number ≥ 0`);
    sum += v;
  }
  if (Math.abs(sum - 1) > SUM_TOLERANCE)
    throw new RangeError(`${what}: probabilities sum to ${sum}; they must sum to 1 (normalise them)`);
}

/**
 * A Bell-diagonal state from its four coefficients, checked with {@link checkBellDiagonal}.
 * @param phiPlus - weight of Φ+ (the fidelity, DEJMPS A).
 * @param psiMinus - weight of Ψ− (DEJMPS B).
 * @param psiPlus - weight of Ψ+ (DEJMPS C).
 * @param phiMinus - weight of Φ− (DEJMPS D).
 */
export function createBellDiagonal(
  phiPlus: number,
  psiMinus: number,
  psiPlus: number,
  phiMinus: number,
): BellDiagonal {
  const p = Float64Array.of(phiPlus, psiMinus, psiPlus, phiMinus);
  checkBellDiagonal(p);
  return p;
}

/** Werner parameter w = (4F − 1)/3 of a pair with fidelity F ∈ [0, 1] (physics.md). */
export function wernerParameter(fidelity: number): number {
  checkFidelity(fidelity);
  return (4 * fidelity - 1) / 3;
}

/** Fidelity F = (1 + 3w)/4 of a Werner state with parameter w ∈ [−1/3, 1] (physics.md). */
export function fidelityFromWernerParameter(w: number): number {
  if (!(w >= -1 / 3 - SUM_TOLERANCE && w <= 1 + SUM_TOLERANCE))
    throw new RangeError(`Werner parameter must be in [−1/3, 1], got ${w}`);
  return (1 + 3 * w) / 4;
}

/**
 * The Werner state of fidelity F: F on Φ+ and (1 − F)/3 on each other Bell state, i.e. w·Φ+ + (1 − w)·I/4.
 * @param out - array to write into; a new one by default.
 */
export function wernerState(fidelity: number, out: BellDiagonal = new Float64Array(4)): BellDiagonal {
  checkFidelity(fidelity);
  return wernerStateUnchecked(out, fidelity);
}

/** Fidelity to Φ+, the coefficient at {@link BellIndex.PHI_PLUS}. */
export function bellDiagonalFidelity(p: BellDiagonal): number {
  return p[0];
}

/** Werner parameter w = (4F − 1)/3 of a Bell-diagonal state (of its twirled, Werner form). */
export function bellDiagonalWernerParameter(p: BellDiagonal): number {
  return (4 * p[0] - 1) / 3;
}

/**
 * Reorders a DEJMPS-order state into Pauli-error order [p(I), p(X), p(Y), p(Z)] = [Φ+, Ψ+, Ψ−, Φ−].
 * `out` may alias `p`.
 */
export function toPauliOrder(out: Float64Array, p: BellDiagonal): Float64Array {
  const y = p[1];
  out[0] = p[0];
  out[1] = p[2];
  out[2] = y;
  out[3] = p[3];
  return out;
}

/** Inverse of {@link toPauliOrder}: [p(I), p(X), p(Y), p(Z)] → DEJMPS order. `out` may alias `pauli`. */
export function fromPauliOrder(out: BellDiagonal, pauli: Float64Array): BellDiagonal {
  // The permutation swaps the two middle entries, so it is its own inverse.
  return toPauliOrder(out, pauli);
}

/**
 * Twirl (random bilateral rotation, Bennett et al. 1996): keeps the fidelity F and spreads the rest
 * evenly, giving the Werner state of the same fidelity. `out` may alias `p`.
 */
export function twirlBellDiagonal(out: BellDiagonal, p: BellDiagonal): BellDiagonal {
  return wernerStateUnchecked(out, p[0]);
}

/**
 * Composition of independent Pauli errors: p_out(k) = Σ_{i·j=k} a(i)·b(j), where i·j is the Pauli
 * product up to phase (XOR of indices in this order). This is what entanglement swapping with perfect
 * gates and Pauli-frame correction does to two pairs (physics.md), and also how a Pauli channel acts on a
 * pair. Commutative; `out` may alias either input.
 */
export function composePauliErrors(out: BellDiagonal, a: BellDiagonal, b: BellDiagonal): BellDiagonal {
  const a0 = a[0];
  const a1 = a[1];
  const a2 = a[2];
  const a3 = a[3];
  const b0 = b[0];
  const b1 = b[1];
  const b2 = b[2];
  const b3 = b[3];
  out[0] = a0 * b0 + a1 * b1 + a2 * b2 + a3 * b3;
  out[1] = a0 * b1 + a1 * b0 + a2 * b3 + a3 * b2;
  out[2] = a0 * b2 + a2 * b0 + a1 * b3 + a3 * b1;
  out[3] = a0 * b3 + a3 * b0 + a1 * b2 + a2 * b1;
  return out;
}

/** Imperfections of an entanglement swap; every field defaults to a perfect operation. */
export interface SwapNoise {
  /**
   * Probability in [0, 1] that the swapped pair is replaced by the maximally mixed state I/4: a lumped
   * model of gate errors in the Bell-state measurement. Default 0.
   */
  readonly depolarizing?: number;
  /**
   * Probability in [0, 1] that each of the two Bell-state-measurement outcome bits is read wrongly,
   * independently. A wrong parity bit applies a needless X correction, a wrong phase bit a needless Z, so
   * the output picks up the Pauli error I, X, Z, Y with probabilities (1−ε)², ε(1−ε), ε(1−ε), ε². Default 0.
   */
  readonly measurementError?: number;
}

/**
 * Entanglement swap of pairs `a` (nodes 1–2) and `b` (nodes 2–3) into a pair between nodes 1 and 3, by a
 * Bell-state measurement at node 2 and Pauli-frame correction at an end node. Perfect swaps compose the
 * errors ({@link composePauliErrors}); for Werner pairs w = w1·w2, F = F1F2 + (1−F1)(1−F2)/3 (physics.md).
 * Deterministic: a swap with CNOT + H + measurement always succeeds. `out` may alias an input.
 * @param noise - optional imperfections; see {@link SwapNoise}.
 */
export function swapBellDiagonal(
  out: BellDiagonal,
  a: BellDiagonal,
  b: BellDiagonal,
  noise?: SwapNoise,
): BellDiagonal {
  composePauliErrors(out, a, b);
  if (noise === undefined) return out;
  const eps = noise.measurementError ?? 0;
  const dep = noise.depolarizing ?? 0;
  checkProbability(eps, "swap measurement error");
  checkProbability(dep, "swap depolarizing probability");
  if (eps > 0) {
    // Misread bits act as an extra independent Pauli error, in DEJMPS order [I, Y, X, Z].
    const p0 = out[0];
    const p1 = out[1];
    const p2 = out[2];
    const p3 = out[3];
    const q0 = (1 - eps) * (1 - eps);
    const qy = eps * eps;
    const qxz = eps * (1 - eps);
    out[0] = q0 * p0 + qy * p1 + qxz * (p2 + p3);
    out[1] = q0 * p1 + qy * p0 + qxz * (p2 + p3);
    out[2] = q0 * p2 + qy * p3 + qxz * (p0 + p1);
    out[3] = q0 * p3 + qy * p2 + qxz * (p0 + p1);
  }
  if (dep > 0) mixWithMaximallyMixed(out, 1 - dep);
  return out;
}

/**
 * One round of the bilateral-CNOT recurrence without any twirl or local rotation: pair `a` is the source
 * (kept), pair `b` the target (measured in Z at both ends); the round succeeds when the two outcomes agree.
 * An X error on the source is copied onto the target and a Z error on the target onto the source, so the
 * round keeps pairs whose X parts agree and multiplies their Z parts. This is the core of both
 * {@link bbpssw} and {@link dejmps}.
 * @returns the success probability; the state kept on success is written to `out` (filled with NaN when
 *   the success probability is 0). `out` may alias an input.
 */
export function bilateralCnot(out: BellDiagonal, a: BellDiagonal, b: BellDiagonal): number {
  const a0 = a[0];
  const a1 = a[1];
  const a2 = a[2];
  const a3 = a[3];
  const b0 = b[0];
  const b1 = b[1];
  const b2 = b[2];
  const b3 = b[3];
  // X part 0: indices 0 (I) and 3 (Z); X part 1: indices 1 (Y) and 2 (X).
  const p = (a0 + a3) * (b0 + b3) + (a1 + a2) * (b1 + b2);
  return writeNormalised(out, a0 * b0 + a3 * b3, a1 * b2 + a2 * b1, a1 * b1 + a2 * b2, a0 * b3 + a3 * b0, p);
}

/**
 * BBPSSW recurrence purification (Bennett, Brassard, Popescu, Schumacher, Smolin, Wootters, PRL 76, 722
 * (1996)) in the Φ+ convention: twirl both pairs to Werner form, bilateral CNOT, compare Z outcomes, and
 * twirl the kept pair again. For two Werner pairs of fidelity F: p = F² + 2F(1−F)/3 + 5(1−F)²/9,
 * F' = [F² + (1−F)²/9]/p (physics.md).
 * @returns the success probability; the (Werner) output is written to `out`. `out` may alias an input.
 */
export function bbpssw(out: BellDiagonal, a: BellDiagonal, b: BellDiagonal): number {
  const fa = a[0];
  const fb = b[0];
  const ea = (1 - fa) / 3;
  const eb = (1 - fb) / 3;
  // After the twirl the X-part-0 weight (I, Z) is F + e and the X-part-1 weight (X, Y) is 2e.
  const p = (fa + ea) * (fb + eb) + 4 * ea * eb;
  if (!(p > 0)) {
    out.fill(Number.NaN);
    return 0;
  }
  wernerStateUnchecked(out, (fa * fb + ea * eb) / p);
  return p;
}

/**
 * DEJMPS recurrence purification (Deutsch, Ekert, Jozsa, Macchiavello, Popescu, Sanpera, PRL 77, 2818
 * (1996)): Alice applies Rx(π/2) and Bob Rx(−π/2) to their halves of both pairs (this exchanges Ψ− and Φ−),
 * then a bilateral CNOT from `a` to `b`, Z measurement of `b` at both ends, keep on equal outcomes. With
 * A, B, C, D the coefficients of Φ+, Ψ−, Ψ+, Φ− (physics.md, for two copies of one state):
 * N = (A+B)² + (C+D)², A' = (A²+B²)/N, B' = 2CD/N, C' = (C²+D²)/N, D' = 2AB/N. Here the two pairs may
 * differ: N = (A₁+B₁)(A₂+B₂) + (C₁+D₁)(C₂+D₂), A' = (A₁A₂+B₁B₂)/N, B' = (C₁D₂+D₁C₂)/N,
 * C' = (C₁C₂+D₁D₂)/N, D' = (A₁B₂+B₁A₂)/N. No twirl.
 * @returns the success probability N; the output is written to `out` (NaN when N = 0). `out` may alias an
 *   input.
 */
export function dejmps(out: BellDiagonal, a: BellDiagonal, b: BellDiagonal): number {
  const A1 = a[0];
  const B1 = a[1];
  const C1 = a[2];
  const D1 = a[3];
  const A2 = b[0];
  const B2 = b[1];
  const C2 = b[2];
  const D2 = b[3];
  const p = (A1 + B1) * (A2 + B2) + (C1 + D1) * (C2 + D2);
  return writeNormalised(out, A1 * A2 + B1 * B2, C1 * D2 + D1 * C2, C1 * C2 + D1 * D2, A1 * B2 + B1 * A2, p);
}

/**
 * Both halves of a pair waiting in depolarizing memories with time constant T: each stored qubit is
 * replaced by I/2 with probability 1 − e^{−t/T}, so the Werner factor shrinks by e^{−t/T} per qubit —
 * w(t) = w₀·e^{−(tA+tB)/T}, e.g. w₀·e^{−2t/T} when both wait t (physics.md). Pass 0 for a qubit that is
 * not stored (one qubit stored only: w₀·e^{−t/T}). Times in any one unit (the simulator uses ns).
 * `out` may alias `p`.
 * @param elapsedA - storage time of the first qubit, ≥ 0.
 * @param elapsedB - storage time of the second qubit, ≥ 0.
 * @param timeConstant - depolarizing time constant T > 0 (`Infinity` for no decay).
 */
export function decayDepolarizing(
  out: BellDiagonal,
  p: BellDiagonal,
  elapsedA: number,
  elapsedB: number,
  timeConstant: number,
): BellDiagonal {
  checkTimes(elapsedA, elapsedB, timeConstant, "depolarizing time constant T");
  for (let k = 0; k < 4; k++) out[k] = p[k];
  return mixWithMaximallyMixed(out, Math.exp(-(elapsedA + elapsedB) / timeConstant));
}

/**
 * Both halves of a pair waiting in pure-dephasing memories with coherence time T2: each stored qubit's
 * coherences shrink by e^{−t/T2}, which on a Bell-diagonal pair is a Z error with probability
 * (1 − e^{−t/T2})/2, exchanging Φ+↔Φ− and Ψ+↔Ψ−. Two stored qubits compose to one Z error with probability
 * (1 − e^{−(tA+tB)/T2})/2; for a Werner start F(t) = (1 + w₀ + 2w₀e^{−2t/T2})/4 (physics.md). Pass 0 for a
 * qubit that is not stored. Matches `DensityMatrix.decay(q, t, Infinity, T2)` on each qubit.
 * `out` may alias `p`.
 * @param elapsedA - storage time of the first qubit, ≥ 0.
 * @param elapsedB - storage time of the second qubit, ≥ 0.
 * @param t2 - coherence time T2 > 0 in the same unit (`Infinity` for no decay).
 */
export function decayDephasing(
  out: BellDiagonal,
  p: BellDiagonal,
  elapsedA: number,
  elapsedB: number,
  t2: number,
): BellDiagonal {
  checkTimes(elapsedA, elapsedB, t2, "coherence time T2");
  const q = (1 - Math.exp(-(elapsedA + elapsedB) / t2)) / 2;
  const r = 1 - q;
  const p0 = p[0];
  const p1 = p[1];
  const p2 = p[2];
  const p3 = p[3];
  out[0] = r * p0 + q * p3;
  out[3] = r * p3 + q * p0;
  out[1] = r * p1 + q * p2;
  out[2] = r * p2 + q * p1;
  return out;
}

/**
 * The two-qubit density matrix Σ_k p_k |β_k⟩⟨β_k| (qubit 0 is the first half of the pair).
 */
export function bellDiagonalToDensityMatrix(p: BellDiagonal): DensityMatrix {
  checkBellDiagonal(p);
  const m = new DensityMatrix(2);
  const { re } = m;
  // Φ± live on |00⟩,|11⟩ (indices 0, 3) and Ψ± on |01⟩,|10⟩ (indices 1, 2).
  re[0] = re[15] = (p[0] + p[3]) / 2;
  re[3] = re[12] = (p[0] - p[3]) / 2;
  re[5] = re[10] = (p[2] + p[1]) / 2;
  re[6] = re[9] = (p[2] - p[1]) / 2;
  return m;
}

/**
 * The Bell-diagonal part of a two-qubit state: p_k = ⟨β_k|ρ|β_k⟩. Everything off the Bell-basis diagonal
 * is dropped, which is exactly what a random bilateral Pauli twirl (P⊗P*) would do to the state, so the
 * result is the state a Bell-diagonal simulation should carry. The matrix is not renormalised.
 * @param out - array to write into; a new one by default.
 */
export function bellDiagonalFromDensityMatrix(
  rho: DensityMatrix,
  out: BellDiagonal = new Float64Array(4),
): BellDiagonal {
  if (rho.n !== 2) throw new RangeError(`a Bell-diagonal pair is a 2-qubit state; got ${rho.n} qubit(s)`);
  const { re } = rho;
  const phi = re[0] + re[15];
  const phiCoh = re[3] + re[12];
  const psi = re[5] + re[10];
  const psiCoh = re[6] + re[9];
  out[0] = (phi + phiCoh) / 2;
  out[1] = (psi - psiCoh) / 2;
  out[2] = (psi + psiCoh) / 2;
  out[3] = (phi - phiCoh) / 2;
  return out;
}

// ---- private helpers ----------------------------------------------------------------------------

/** p → λp + (1 − λ)/4: the pair is replaced by I/4 with probability 1 − λ. */
function mixWithMaximallyMixed(out: BellDiagonal, lambda: number): BellDiagonal {
  const floor = (1 - lambda) / 4;
  for (let k = 0; k < 4; k++) out[k] = lambda * out[k] + floor;
  return out;
}

function writeNormalised(
  out: BellDiagonal,
  v0: number,
  v1: number,
  v2: number,
  v3: number,
  p: number,
): number {
  if (!(p > 0)) {
    out.fill(Number.NaN);
    return 0;
  }
  out[0] = v0 / p;
  out[1] = v1 / p;
  out[2] = v2 / p;
  out[3] = v3 / p;
  return p;
}

function wernerStateUnchecked(out: BellDiagonal, fidelity: number): BellDiagonal {
  const e = (1 - fidelity) / 3;
  out[0] = fidelity;
  out[1] = e;
  out[2] = e;
  out[3] = e;
  return out;
}

function checkFidelity(f: number): void {
  if (!(f >= 0 && f <= 1)) throw new RangeError(`fidelity must be in [0, 1], got ${f}`);
}

function checkProbability(p: number, what: string): void {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${what} must be in [0, 1], got ${p}`);
}

function checkTimes(tA: number, tB: number, constant: number, what: string): void {
  if (!(tA >= 0) || !(tB >= 0) || !Number.isFinite(tA) || !Number.isFinite(tB))
    throw new RangeError(`storage times must be finite and ≥ 0, got ${tA} and ${tB}`);
  if (!(constant > 0)) throw new RangeError(`${what} must be > 0 (Infinity for none), got ${constant}`);
}
