/**
 * Decoherence of memory qubits holding halves of Bell-diagonal pairs.
 *
 * A memory (`MemorySpec`) is either depolarizing with a time constant T, or has an energy relaxation time
 * T1 and a coherence time T2 (T2 ≤ 2·T1; T1 = ∞ is pure dephasing), or is perfect.
 *
 * ## One qubit: Pauli transfer factors
 * Write a single-qubit channel by its action on the Pauli operators (its Pauli transfer matrix R). Both
 * memory types keep X and Y along their axes and Z along Z:
 * - depolarizing for time t: R = diag(1, d, d, d) with d = e^{−t/T};
 * - T1/T2 for time t (amplitude damping with γ = 1 − e^{−t/T1}, coherences decaying as λ = e^{−t/T2} in
 *   total, as `DensityMatrix.decay`): X, Y → λ·X, λ·Y; Z → (1 − γ)·Z; and, being non-unital,
 *   I → I + γ·Z (populations relax towards |0⟩).
 *
 * The Pauli twirl of a channel keeps the diagonal of R, so the twirled T1/T2 channel is the Pauli channel
 * with eigenvalues (λ, λ, 1 − γ): p_X = p_Y = γ/4 = (1 − e^{−t/T1})/4,
 * p_Z = (1 − 2λ + 1 − γ)/4 = 1/2 − p_X − e^{−t/T2}/2, p_I = 1 − p_X − p_Y − p_Z
 * ({@link memoryPauliChannel}). The eigenvalues are exponentials in t, so the twirled channel for t1 then
 * t2 is exactly the one for t1 + t2.
 *
 * ## A pair: the exact Bell-diagonal part
 * A Bell-diagonal state is ρ = ¼·(I⊗I + c_x X⊗X + c_y Y⊗Y + c_z Z⊗Z). Letting channels R_A and R_B act on
 * its halves and keeping only the Bell-diagonal part (what a bilateral twirl keeps, and what the simulator
 * carries) gives
 *   c_x' = R_A[x,x]·R_B[x,x]·c_x,  c_y' = R_A[y,y]·R_B[y,y]·c_y,
 *   c_z' = R_A[z,z]·R_B[z,z]·c_z + γ_A·γ_B,
 * where γ_i is the non-unital element R_i[z,I] (0 for depolarizing and pure-dephasing memories). This is
 * what {@link decayPair} computes. When only one half decays (or neither memory relaxes) it is exactly the
 * twirled Pauli channel on one qubit. When both halves relax, the term γ_Aγ_B — both qubits having decayed
 * to |0⟩, which overlaps Φ+ by ½ — is the correlation that independent per-qubit twirls would lose; with
 * it, a pair stored for t on both sides has physics.md's F = [1 − γ + γ² + e^{−2t/T2}]/2 (per-qubit twirls
 * would give γ²/2 in place of γ²), and for t → ∞ it becomes ½Φ+ + ½Φ− (the Bell-diagonal part of |00⟩)
 * rather than I/4.
 *
 * ## Lazy application
 * The map composes exactly in time for depolarizing and pure-dephasing memories and whenever one half is
 * stored. When both halves relax (finite T1) and the map is applied in two steps t1, t2 with the
 * Bell-diagonal projection in between, the local polarisation built up in the first step is dropped, and c_z
 * comes out lower than in one step over t1 + t2 by e^{−t2/T1_A}·γ_A(t1)·γ_B(t2) + e^{−t2/T1_B}·γ_B(t1)·γ_A(t2)
 * (so F by a quarter of that): second order in t/T1. Apply it lazily — once per storage interval, from
 * the pair's last update to its use — not in small steps.
 *
 * @module
 */

import type { MemorySpec } from "../network/topology.js";
import type { BellDiagonal } from "../quantum/bell-diagonal.js";

/**
 * The Pauli-twirled channel of a memory qubit stored for `elapsedNs`, as Pauli-error probabilities
 * [p_I, p_X, p_Y, p_Z] (see the module notes): depolarizing p_X = p_Y = p_Z = (1 − e^{−t/T})/4; T1/T2
 * p_X = p_Y = (1 − e^{−t/T1})/4, p_Z = 1/2 − p_X − e^{−t/T2}/2.
 * @param out - receives the four probabilities (Pauli order I, X, Y, Z); returned.
 * @param elapsedNs - storage time in ns, finite and ≥ 0.
 */
export function memoryPauliChannel(out: Float64Array, elapsedNs: number, memory: MemorySpec): Float64Array {
  checkMemory(memory, "memory");
  checkElapsed(elapsedNs);
  const fx = shrinkFactor(elapsedNs, transverseTime(memory));
  const fz = shrinkFactor(elapsedNs, longitudinalTime(memory));
  out[0] = (1 + 2 * fx + fz) / 4;
  out[1] = (1 - fz) / 4;
  out[2] = (1 - fz) / 4;
  out[3] = (1 - 2 * fx + fz) / 4;
  return out;
}

/**
 * Decay of a Bell-diagonal pair whose first half waited `elapsedANs` in memory A and whose second half
 * waited `elapsedBNs` in memory B: the exact Bell-diagonal part of the pair after both memories' channels
 * (module notes). Pass 0 for a half that was not stored. Allocates nothing; `out` may alias `p`.
 * @param out - receives the decayed pair (DEJMPS order); returned.
 * @param p - the pair before the wait (DEJMPS order [Φ+, Ψ−, Ψ+, Φ−]).
 * @param elapsedANs - storage time of the first half in ns, finite and ≥ 0.
 * @param elapsedBNs - storage time of the second half in ns, finite and ≥ 0.
 */
export function decayPair(
  out: BellDiagonal,
  p: BellDiagonal,
  elapsedANs: number,
  memoryA: MemorySpec,
  elapsedBNs: number,
  memoryB: MemorySpec,
): BellDiagonal {
  checkMemory(memoryA, "memory A");
  checkMemory(memoryB, "memory B");
  checkElapsed(elapsedANs);
  checkElapsed(elapsedBNs);
  return decayBellDiagonal(
    out,
    p,
    elapsedANs,
    transverseTime(memoryA),
    longitudinalTime(memoryA),
    relaxationTime(memoryA),
    elapsedBNs,
    transverseTime(memoryB),
    longitudinalTime(memoryB),
    relaxationTime(memoryB),
  );
}

/**
 * The time constants of a memory that {@link decayPair} reads, resolved once by {@link memoryDecay}
 * (in ns; Infinity: no such decay).
 */
export interface MemoryDecay {
  /** Of ⟨X⟩ and ⟨Y⟩: T (depolarizing) or T2. */
  readonly transverseNs: number;
  /** Of ⟨Z⟩: T (depolarizing) or T1. */
  readonly longitudinalNs: number;
  /** Of the relaxation towards |0⟩: T1 (Infinity for a depolarizing memory). */
  readonly relaxationNs: number;
}

/**
 * Validates a memory (RangeError naming `what` if it is not one: see {@link decayPair}) and resolves its
 * time constants for {@link decayPairWith}.
 */
export function memoryDecay(memory: MemorySpec, what = "memory"): MemoryDecay {
  checkMemory(memory, what);
  return {
    transverseNs: transverseTime(memory),
    longitudinalNs: longitudinalTime(memory),
    relaxationNs: relaxationTime(memory),
  };
}

/**
 * {@link decayPair} for memories resolved with {@link memoryDecay}, with the same results bit for bit
 * but without validating anything again: for simulators that decay pairs in their inner loop. The
 * storage times must be finite and ≥ 0.
 */
export function decayPairWith(
  out: BellDiagonal,
  p: BellDiagonal,
  elapsedANs: number,
  memoryA: MemoryDecay,
  elapsedBNs: number,
  memoryB: MemoryDecay,
): BellDiagonal {
  return decayBellDiagonal(
    out,
    p,
    elapsedANs,
    memoryA.transverseNs,
    memoryA.longitudinalNs,
    memoryA.relaxationNs,
    elapsedBNs,
    memoryB.transverseNs,
    memoryB.longitudinalNs,
    memoryB.relaxationNs,
  );
}

/** The map of decayPair, with each memory given by its time constants. */
function decayBellDiagonal(
  out: BellDiagonal,
  p: BellDiagonal,
  tA: number,
  transverseA: number,
  longitudinalA: number,
  relaxationA: number,
  tB: number,
  transverseB: number,
  longitudinalB: number,
  relaxationB: number,
): BellDiagonal {
  const p0 = p[0];
  const p1 = p[1];
  const p2 = p[2];
  const p3 = p[3];
  const s = p0 + p1 + p2 + p3;
  // Correlations ⟨X⊗X⟩, ⟨Y⊗Y⟩, ⟨Z⊗Z⟩ of Φ+, Ψ−, Ψ+, Φ−: (1,−1,1), (−1,−1,−1), (1,1,−1), (−1,1,1).
  // Halves stored equally long in alike memories (as both halves of a pair usually are) shrink by the
  // same factors: one exponential serves both.
  const fzA = shrinkFactor(tA, longitudinalA);
  const fzB = tB === tA && longitudinalB === longitudinalA ? fzA : shrinkFactor(tB, longitudinalB);
  const fxA = shrinkFactor(tA, transverseA);
  const fxB = tB === tA && transverseB === transverseA ? fxA : shrinkFactor(tB, transverseB);
  const fxy = fxA * fxB;
  const cx = fxy * (p0 - p1 + p2 - p3);
  const cy = fxy * (-p0 - p1 + p2 + p3);
  const cz =
    fzA * fzB * (p0 - p1 - p2 + p3) + relaxedFraction(tA, relaxationA) * relaxedFraction(tB, relaxationB) * s;
  out[0] = (s + cx - cy + cz) / 4;
  out[1] = (s - cx - cy - cz) / 4;
  out[2] = (s + cx + cy - cz) / 4;
  out[3] = (s - cx + cy + cz) / 4;
  return out;
}

/** Factor e^{−t/τ} by which an expectation value with time constant τ shrinks (1 for τ = ∞). */
function shrinkFactor(t: number, tau: number): number {
  // t = 0 gives e^{−0} = 1 exactly: skip the call (e.g. for a half that was not stored).
  return t === 0 || !(tau < Number.POSITIVE_INFINITY) ? 1 : Math.exp(-t / tau);
}

/** Time constant of ⟨X⟩ and ⟨Y⟩ of a stored qubit: T or T2. */
function transverseTime(m: MemorySpec): number {
  return m.depolarizingTimeNs < Number.POSITIVE_INFINITY ? m.depolarizingTimeNs : m.t2Ns;
}

/** Time constant of ⟨Z⟩ of a stored qubit: T or T1. */
function longitudinalTime(m: MemorySpec): number {
  return m.depolarizingTimeNs < Number.POSITIVE_INFINITY ? m.depolarizingTimeNs : m.t1Ns;
}

/** T1 of the relaxation towards |0⟩, or Infinity for a depolarizing memory. */
function relaxationTime(m: MemorySpec): number {
  return m.depolarizingTimeNs < Number.POSITIVE_INFINITY || !(m.t1Ns < Number.POSITIVE_INFINITY)
    ? Number.POSITIVE_INFINITY
    : m.t1Ns;
}

/** γ = 1 − e^{−t/T1}, the population relaxed towards |0⟩ (0 when nothing relaxes). */
function relaxedFraction(t: number, relaxationNs: number): number {
  return relaxationNs < Number.POSITIVE_INFINITY ? -Math.expm1(-t / relaxationNs) : 0;
}

function checkElapsed(t: number): void {
  if (!(t >= 0 && Number.isFinite(t)))
    throw new RangeError(`storage time must be a finite number ≥ 0 ns, got ${t}`);
}

function checkMemory(m: MemorySpec, what: string): void {
  const { t1Ns, t2Ns, depolarizingTimeNs } = m;
  if (!(t1Ns > 0) || !(t2Ns > 0) || !(depolarizingTimeNs > 0))
    throw new RangeError(
      `${what}: T1, T2 and the depolarizing time must be > 0 ns (Infinity: none), got T1=${t1Ns}, T2=${t2Ns}, T=${depolarizingTimeNs}`,
    );
  if (
    depolarizingTimeNs < Number.POSITIVE_INFINITY &&
    (t1Ns < Number.POSITIVE_INFINITY || t2Ns < Number.POSITIVE_INFINITY)
  )
    throw new RangeError(
      `${what}: a memory is either depolarizing or T1/T2, not both; set t1Ns and t2Ns to Infinity or depolarizingTimeNs to Infinity`,
    );
  if (t2Ns > 2 * t1Ns * (1 + 1e-12))
    throw new RangeError(
      `${what}: T2 (${t2Ns} ns) cannot exceed 2·T1 (${2 * t1Ns} ns); lower T2 or raise T1`,
    );
}
