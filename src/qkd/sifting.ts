/**
 * Sifting and parameter estimation for BB84-type records ({@link DetectionBatch}, from decoy-state BB84
 * or from BBM92 on delivered pairs).
 *
 * The exchange modelled, over an authenticated classical channel:
 * 1. Bob announces which pulses he detected and his basis for each.
 * 2. Alice announces, for each detection, her basis and the intensity class of the pulse (decoy-state
 *    estimation needs the class; with a single class that costs nothing).
 * 3. Both keep the detections where the bases agree: the sifted bits, grouped into blocks by class and
 *    basis.
 * 4. Parameter estimation: in the blocks of the key classes (by default only class 0, the signal) Alice
 *    picks a uniformly random subset of exactly round(f_b·n) of the n sifted bits of basis b, f_b being
 *    `disclosedFraction[b]`; the blocks of every other class (the decoys, which never become key in the
 *    Lo–Ma–Chen analysis) are disclosed entirely. Bob reveals his disclosed bits, Alice counts the
 *    disagreements, and the disclosed bits are dropped. The default [0.1, 1] follows efficient BB84 (Lo,
 *    Chau & Ardehali, J. Cryptology 18, 133, 2005): the rare X basis is spent entirely on estimating the
 *    phase error, and a tenth of the Z bits measure the bit error rate that error correction needs.
 * 5. What remains of the key classes' blocks is the raw key, Z basis first.
 *
 * Classical traffic is counted in bits: detection positions as Elias-gamma codes of the gaps between
 * detected pulse indices, one bit per basis announcement, ⌈log2 K⌉ bits per class announcement, one
 * mask bit per sifted bit of a partly disclosed block (which bits are disclosed), and one bit per
 * disclosed bit value.
 *
 * @module
 */

import type { Rng } from "../sim/rng.js";
import type { Basis, DetectionBatch } from "./bb84.js";
import type { Bits } from "./bits.js";

/** Options of {@link sift}. */
export interface SiftingOptions {
  /**
   * Fraction of the sifted bits of each key-class block disclosed for error estimation, per basis
   * `[Z, X]`, each in [0, 1]. Default `[0.1, 1]` (efficient BB84: X entirely for estimation).
   */
  disclosedFraction?: readonly [number, number];
  /**
   * Intensity classes whose sifted bits may become key; every other class's sifted bits are disclosed
   * entirely. Class indices in [0, classes). Default `[0]` (the signal).
   */
  keyClasses?: readonly number[];
}

/** The sifted bits of one intensity class in one basis. */
export interface SiftedBlock {
  /** Intensity class. */
  readonly intensity: number;
  /** Basis both parties used ({@link Basis}). */
  readonly basis: Basis;
  /** Detections of this class where both chose this basis. */
  readonly sifted: number;
  /** How many of them were disclosed for estimation. */
  readonly disclosed: number;
  /** Disagreements among the disclosed bits. */
  readonly disclosedErrors: number;
  /** Alice's sifted bits that stay secret, in pulse order (Alice's copy; a view into `keyAlice`). */
  readonly alice: Bits;
  /** Bob's bits at the same positions (Bob's copy; a view into `keyBob`). */
  readonly bob: Bits;
  /** Pulse index of each kept bit. */
  readonly pulseIndex: Float64Array;
}

/** Classical bits exchanged during sifting and estimation. */
export interface SiftingTraffic {
  /** Bob → Alice: detected pulse positions, Elias-gamma-coded gaps. */
  readonly detectionPositions: number;
  /** Bob → Alice: his basis per detection, 1 bit each. */
  readonly bobBases: number;
  /** Alice → Bob: her basis per detection, 1 bit each. */
  readonly aliceBases: number;
  /** Alice → Bob: intensity class per detection, ⌈log2 K⌉ bits each. */
  readonly intensityClasses: number;
  /** Alice → Bob: disclosure mask over the sifted bits of partly disclosed blocks. */
  readonly disclosureMask: number;
  /** Bob → Alice: the values of his disclosed bits. */
  readonly disclosedValues: number;
  /** All bits sent by Bob. */
  readonly bobToAlice: number;
  /** All bits sent by Alice. */
  readonly aliceToBob: number;
}

/** The outcome of {@link sift}. */
export interface SiftResult {
  /** `blocks[k][basis]`: sifted bits of class k in each basis. */
  readonly blocks: readonly (readonly [SiftedBlock, SiftedBlock])[];
  /** Observed gain Q_k = detections_k / pulses_k (all bases); NaN when no pulse of class k was sent. */
  readonly gain: readonly number[];
  /**
   * Observed gain per class and Alice's basis: detections with Alice's basis b (any Bob basis) divided by
   * `pulsesSent[k][b]`; NaN when no such pulse was sent.
   */
  readonly gainByBasis: readonly (readonly [number, number])[];
  /** Estimated QBER E_k per class and basis: disclosedErrors / disclosed; NaN when nothing was disclosed. */
  readonly errorRate: readonly (readonly [number, number])[];
  /** All sifted detections (bases agreeing), disclosed or not. */
  readonly siftedCount: number;
  /**
   * The raw key, Alice's copy: the kept bits of the key classes, Z blocks then X blocks, each in class
   * order (with the default X fraction of 1 only Z bits remain).
   */
  readonly keyAlice: Bits;
  /** The raw key, Bob's copy, aligned with `keyAlice`. */
  readonly keyBob: Bits;
  /** Classical communication of sifting and estimation, in bits. */
  readonly traffic: SiftingTraffic;
}

function fail(field: string, range: string, value: unknown): never {
  throw new RangeError(`sift: ${field} must be ${range}, got ${String(value)}`);
}

/** Length in bits of the Elias-gamma code of an integer g ≥ 1: 2⌊log2 g⌋ + 1. */
export function eliasGammaLength(g: number): number {
  const lg = g < 4294967296 ? 31 - Math.clz32(g) : Math.floor(Math.log2(g));
  return 2 * lg + 1;
}

/**
 * Marks (with 1) a uniformly random subset of exactly `m` of the positions of the zeroed `mask`. Marks
 * the smaller of the subset and its complement by drawing positions until that many distinct ones are
 * found, so it needs at most about 2·min(m, s − m) draws for s positions.
 */
function markSubset(mask: Uint8Array, m: number, rng: Rng): void {
  const s = mask.length;
  const inverse = m > s / 2;
  if (inverse) mask.fill(1);
  const mark = inverse ? 0 : 1;
  let left = inverse ? s - m : m;
  while (left > 0) {
    const j = rng.int(s);
    if (mask[j] !== mark) {
      mask[j] = mark;
      left--;
    }
  }
}

/**
 * Sifts a batch of detections and estimates the error rates (see the module documentation for the
 * exchange and its default choices).
 * @param batch - detections from `simulateBb84`, a `Bb84Link` or `measureBbm92`.
 * @param rng - Alice's random stream, used to choose the disclosed subsets.
 * @param options - disclosure fractions and key classes.
 */
export function sift(batch: DetectionBatch, rng: Rng, options: SiftingOptions = {}): SiftResult {
  const K = batch.classes;
  const fractions = options.disclosedFraction ?? [0.1, 1];
  if (!Array.isArray(fractions) || fractions.length !== 2)
    fail("disclosedFraction", "a pair [Z, X] of fractions", fractions);
  for (let b = 0; b < 2; b++)
    if (!(fractions[b] >= 0 && fractions[b] <= 1))
      fail(`disclosedFraction[${b}]`, "a number in [0, 1]", fractions[b]);
  const keyClasses = options.keyClasses ?? [0];
  const isKey = new Uint8Array(K);
  for (const k of keyClasses) {
    if (!(Number.isInteger(k) && k >= 0 && k < K)) fail("keyClasses", `class indices in [0, ${K})`, k);
    isKey[k] = 1;
  }

  const n = batch.count;
  const cells = 2 * K;
  const { intensity, aliceBasis, bobBasis, aliceBit, bobBit, pulseIndex } = batch;
  // Blocks are numbered basis-major, cell = basis·K + class, so that the kept bits of all blocks laid
  // end to end in cell order are the raw key (blocks of other classes keep nothing).
  // Pass 1: sizes of the blocks, detections per class and Alice basis, and the announcement costs.
  const siftedIn = new Int32Array(cells);
  const detectedIn = new Int32Array(cells);
  let positionBits = 0;
  let previous = batch.firstPulse - 1;
  for (let i = 0; i < n; i++) {
    const cell = aliceBasis[i] * K + intensity[i];
    detectedIn[cell]++;
    if (aliceBasis[i] === bobBasis[i]) siftedIn[cell]++;
    positionBits += eliasGammaLength(pulseIndex[i] - previous);
    previous = pulseIndex[i];
  }

  // How many bits each block discloses, and where its mask and kept bits go in the flat buffers.
  const disclose = new Int32Array(cells);
  const maskStart = new Int32Array(cells);
  const keptStart = new Int32Array(cells + 1);
  let maskBits = 0;
  let siftedCount = 0;
  for (let cell = 0; cell < cells; cell++) {
    const sifted = siftedIn[cell];
    const f = isKey[cell % K] ? fractions[cell < K ? 0 : 1] : 1;
    const m = Math.round(f * sifted);
    disclose[cell] = m;
    if (m > 0 && m < sifted) maskBits += sifted;
    maskStart[cell] = siftedCount;
    siftedCount += sifted;
    keptStart[cell + 1] = keptStart[cell] + sifted - m;
  }
  const keyLength = keptStart[cells];

  // The disclosed subsets: exactly m of the s sifted bits of each block, uniformly, marked by position.
  const mask = new Uint8Array(siftedCount);
  for (let cell = 0; cell < cells; cell++)
    markSubset(mask.subarray(maskStart[cell], maskStart[cell] + siftedIn[cell]), disclose[cell], rng);

  // Pass 2: split each block into disclosed and kept bits, in pulse order.
  const keyAlice = new Uint8Array(keyLength);
  const keyBob = new Uint8Array(keyLength);
  const keyIndex = new Float64Array(keyLength);
  const seen = maskStart.slice();
  const kept = keptStart.slice(0, cells);
  const errors = new Int32Array(cells);
  for (let i = 0; i < n; i++) {
    if (aliceBasis[i] !== bobBasis[i]) continue;
    const cell = aliceBasis[i] * K + intensity[i];
    if (mask[seen[cell]++] === 1) {
      errors[cell] += aliceBit[i] ^ bobBit[i];
    } else {
      const j = kept[cell]++;
      keyAlice[j] = aliceBit[i];
      keyBob[j] = bobBit[i];
      keyIndex[j] = pulseIndex[i];
    }
  }

  const blocks: [SiftedBlock, SiftedBlock][] = [];
  const gain: number[] = [];
  const gainByBasis: [number, number][] = [];
  const errorRate: [number, number][] = [];
  for (let k = 0; k < K; k++) {
    const pair: SiftedBlock[] = [];
    const rates: number[] = [];
    for (let b = 0; b < 2; b++) {
      const cell = b * K + k;
      const from = keptStart[cell];
      const to = keptStart[cell + 1];
      pair.push({
        intensity: k,
        basis: b as Basis,
        sifted: siftedIn[cell],
        disclosed: disclose[cell],
        disclosedErrors: errors[cell],
        alice: keyAlice.subarray(from, to),
        bob: keyBob.subarray(from, to),
        pulseIndex: keyIndex.subarray(from, to),
      });
      rates.push(disclose[cell] > 0 ? errors[cell] / disclose[cell] : Number.NaN);
    }
    blocks.push([pair[0], pair[1]]);
    errorRate.push([rates[0], rates[1]]);
    const sent = batch.pulsesSent[k];
    const dZ = detectedIn[k];
    const dX = detectedIn[K + k];
    gain.push(sent[0] + sent[1] > 0 ? (dZ + dX) / (sent[0] + sent[1]) : Number.NaN);
    gainByBasis.push([sent[0] > 0 ? dZ / sent[0] : Number.NaN, sent[1] > 0 ? dX / sent[1] : Number.NaN]);
  }

  let disclosedValues = 0;
  for (let cell = 0; cell < cells; cell++) disclosedValues += disclose[cell];
  const classBits = K > 1 ? Math.ceil(Math.log2(K)) : 0;
  const traffic: SiftingTraffic = {
    detectionPositions: positionBits,
    bobBases: n,
    aliceBases: n,
    intensityClasses: n * classBits,
    disclosureMask: maskBits,
    disclosedValues,
    bobToAlice: positionBits + n + disclosedValues,
    aliceToBob: n + n * classBits + maskBits,
  };
  return { blocks, gain, gainByBasis, errorRate, siftedCount, keyAlice, keyBob, traffic };
}
