/**
 * Entanglement-based QKD (BBM92: Bennett, Brassard & Mermin, PRL 68, 557, 1992) on pairs delivered by
 * the network: each party measures its half in Z or X, and the records come out as a
 * {@link DetectionBatch}, the shape decoy-state BB84 produces, so sifting and post-processing are shared.
 *
 * A delivered pair is Bell-diagonal (DEJMPS order [Φ+, Ψ−, Ψ+, Φ−], bell-diagonal.ts), i.e. Φ+ after a
 * random Pauli error I, Y, X or Z. Measuring both halves of Φ+ in Z gives equal outcomes, and in X too.
 * An X or Y error flips the Z correlation and a Z or Y error flips the X correlation, so with the bases
 * agreeing Bob's outcome differs from Alice's with probability
 * - Z basis: e_Z = p(Ψ+) + p(Ψ−) (indices 2 and 1),
 * - X basis: e_X = p(Φ−) + p(Ψ−) (indices 3 and 1).
 * Each party's outcome alone is uniformly random, and in different bases the two outcomes are
 * independent (⟨Z⊗X⟩ = 0 for every Bell state), so this samples the measurement statistics exactly.
 *
 * Imperfections, optional: each party's detector fires with probability `detectorEfficiency` and a pair
 * is recorded only if both fire; each recorded outcome is flipped with probability `measurementError`,
 * independently for each party. Dark counts and multi-pair emissions are not modelled here: the network
 * simulator delivers heralded pairs.
 *
 * @module
 */

import { checkBellDiagonal } from "../quantum/bell-diagonal.js";
import type { Rng } from "../sim/rng.js";
import type { DetectionBatch } from "./bb84.js";
import { binaryEntropy } from "./bits.js";

/** Measurement settings of the two parties. */
export interface Bbm92Params {
  /** Probability that Alice measures in Z, in [0, 1]. Default 0.5. */
  aliceZProbability?: number;
  /** Probability that Bob measures in Z, in [0, 1]. Default 0.5. */
  bobZProbability?: number;
  /** Probability that a party's recorded outcome is flipped, each party independently, in [0, 0.5]. Default 0. */
  measurementError?: number;
  /** Probability that a party's detector registers its photon, each party independently, in [0, 1]. Default 1. */
  detectorEfficiency?: number;
}

/** Many pairs in the same Bell-diagonal state (e.g. a link's Werner pairs). */
export interface UniformPairs {
  /** Coefficients [Φ+, Ψ−, Ψ+, Φ−] (DEJMPS order). */
  readonly state: ArrayLike<number>;
  /** Number of pairs, a safe integer ≥ 0. */
  readonly count: number;
}

function fail(field: string, range: string, value: unknown): never {
  throw new RangeError(`bbm92: ${field} must be ${range}, got ${String(value)}`);
}

function probability(field: string, v: number, upper = 1): number {
  if (!(Number.isFinite(v) && v >= 0 && v <= upper)) fail(field, `a number in [0, ${upper}]`, v);
  return v;
}

/**
 * Error probabilities of BBM92 on a Bell-diagonal pair when the bases agree: e_Z = p(Ψ+) + p(Ψ−),
 * e_X = p(Φ−) + p(Ψ−), and with a flip probability ε per party the disagreement becomes
 * e + (1 − 2e)·2ε(1 − ε).
 * @param state - [Φ+, Ψ−, Ψ+, Φ−] (DEJMPS order), validated.
 * @param measurementError - ε per party, in [0, 0.5]. Default 0.
 */
export function bbm92ErrorRates(state: ArrayLike<number>, measurementError = 0): { z: number; x: number } {
  checkBellDiagonal(state, "bbm92: pair state");
  const flip = flipProbability(probability("measurementError", measurementError, 0.5));
  const z = state[1] + state[2];
  const x = state[1] + state[3];
  return { z: z + (1 - 2 * z) * flip, x: x + (1 - 2 * x) * flip };
}

/** Probability that exactly one of two independent ε-flips happens: 2ε(1 − ε). */
function flipProbability(eps: number): number {
  return 2 * eps * (1 - eps);
}

/**
 * Asymptotic BBM92 secret fraction per sifted Z bit, key from the Z basis: max(0, 1 − f·h(e_Z) − h(e_X))
 * (Shor–Preskill form; the X basis bounds the phase error).
 * @param eZ - bit error rate in the key basis, in [0, 1].
 * @param eX - error rate in the other basis (the phase error), in [0, 1].
 * @param f - error-correction inefficiency f ≥ 1 (1 = Shannon limit). Default 1.
 */
export function bbm92KeyFraction(eZ: number, eX: number, f = 1): number {
  probability("eZ", eZ);
  probability("eX", eX);
  if (!(Number.isFinite(f) && f >= 1)) fail("f", "a finite number ≥ 1", f);
  return Math.max(0, 1 - f * binaryEntropy(eZ) - binaryEntropy(eX));
}

/**
 * Measures delivered pairs in BBM92 and returns the records as a {@link DetectionBatch}: one intensity
 * class, `pulseIndex` = the pair's position in the input, `pulsesSent[0][b]` = pairs where Alice chose
 * basis b, no double clicks, `durationNs` 0 (the caller knows when the pairs arrived).
 * @param pairs - the pairs' Bell-diagonal coefficients in DEJMPS order (each validated), or
 *   `{ state, count }` for many pairs in one state.
 * @param params - bases, measurement error and detector efficiency.
 * @param rng - random stream.
 */
export function measureBbm92(
  pairs: Iterable<ArrayLike<number>> | UniformPairs,
  params: Bbm92Params,
  rng: Rng,
): DetectionBatch {
  const pAZ = probability("aliceZProbability", params.aliceZProbability ?? 0.5);
  const pBZ = probability("bobZProbability", params.bobZProbability ?? 0.5);
  const flip = flipProbability(probability("measurementError", params.measurementError ?? 0, 0.5));
  const eff = probability("detectorEfficiency", params.detectorEfficiency ?? 1);
  const both = eff * eff;

  let capacity = 1024;
  let pulseIndex = new Float64Array(capacity);
  let aliceBasis = new Uint8Array(capacity);
  let aliceBit = new Uint8Array(capacity);
  let bobBasis = new Uint8Array(capacity);
  let bobBit = new Uint8Array(capacity);
  let count = 0;
  const sent = [0, 0];
  let index = 0;

  const measure = (eZ: number, eX: number): void => {
    const a = rng.random() < pAZ ? 0 : 1;
    const b = rng.random() < pBZ ? 0 : 1;
    sent[a]++;
    const i = index++;
    if (both < 1 && !(rng.random() < both)) return;
    const bits = rng.nextUint32();
    const x = bits & 1;
    let y: number;
    if (a === b) {
      // The pair's error flips the correlation, then the measurement errors flip it again.
      const e = a === 0 ? eZ : eX;
      const err = e + (1 - 2 * e) * flip;
      y = rng.random() < err ? x ^ 1 : x;
    } else {
      y = (bits >>> 1) & 1;
    }
    if (count === capacity) {
      capacity *= 2;
      pulseIndex = grow(pulseIndex, capacity);
      aliceBasis = grow(aliceBasis, capacity);
      aliceBit = grow(aliceBit, capacity);
      bobBasis = grow(bobBasis, capacity);
      bobBit = grow(bobBit, capacity);
    }
    pulseIndex[count] = i;
    aliceBasis[count] = a;
    aliceBit[count] = x;
    bobBasis[count] = b;
    bobBit[count] = y;
    count++;
  };

  if (isUniform(pairs)) {
    if (!(Number.isSafeInteger(pairs.count) && pairs.count >= 0))
      fail("count", "a safe integer ≥ 0", pairs.count);
    checkBellDiagonal(pairs.state, "bbm92: pair state");
    const eZ = pairs.state[1] + pairs.state[2];
    const eX = pairs.state[1] + pairs.state[3];
    for (let n = 0; n < pairs.count; n++) measure(eZ, eX);
  } else {
    for (const p of pairs) {
      checkBellDiagonal(p, `bbm92: pair ${index}`);
      measure(p[1] + p[2], p[1] + p[3]);
    }
  }

  return {
    count,
    pulseIndex: pulseIndex.slice(0, count),
    intensity: new Uint8Array(count),
    aliceBasis: aliceBasis.slice(0, count),
    aliceBit: aliceBit.slice(0, count),
    bobBasis: bobBasis.slice(0, count),
    bobBit: bobBit.slice(0, count),
    doubleClick: new Uint8Array(count),
    classes: 1,
    firstPulse: 0,
    pulses: index,
    pulsesSent: [[sent[0], sent[1]]],
    detections: [count],
    doubleClicks: 0,
    blindPulses: 0,
    durationNs: 0,
  };
}

function isUniform(p: Iterable<ArrayLike<number>> | UniformPairs): p is UniformPairs {
  return typeof (p as UniformPairs).count === "number" && (p as UniformPairs).state !== undefined;
}

function grow<T extends Float64Array | Uint8Array>(a: T, capacity: number): T {
  const b = new (a.constructor as new (n: number) => T)(capacity);
  b.set(a);
  return b;
}
