/**
 * Error verification of reconciled keys: after reconciliation each party hashes its own key with a
 * polynomial hash ({@link "./universal-hash.js"}) whose key is a fresh public random seed, one party
 * announces its tag and the other compares. Equal keys always pass; keys that still differ pass with
 * probability at most ε = ((⌈n/f⌉ + 64/f) / 2^f)^lanes, whatever the differences are, because the seed
 * is drawn after the keys are fixed. The announced tag is public, so its length counts as leaked
 * information in the secret key length. A block that fails must be discarded.
 *
 * @module
 */
import type { Rng } from "../sim/rng.js";
import { type Bits, randomBits } from "./bits.js";
import {
  PolynomialHash,
  type PolynomialHashOptions,
  polynomialHashCollisionBound,
  polynomialHashKeyBits,
} from "./universal-hash.js";

/** Shape of the verification hash: field size and lanes (default GF(2^64), one lane: a 64-bit tag). */
export type VerificationOptions = PolynomialHashOptions;

/** A fresh public verification seed (f·lanes bits) from a public random source. */
export function randomVerificationSeed(rng: Rng, options: VerificationOptions = {}): Bits {
  return randomBits(polynomialHashKeyBits(options), rng);
}

/**
 * One party's verification tag: the polynomial hash of its key under the public seed. Each party runs
 * this on its own key; only the tag crosses the channel.
 *
 * @param key the party's reconciled key, one bit per element
 * @param seed the public seed of f·lanes bits (see {@link randomVerificationSeed})
 * @returns the tag, f·lanes/8 bytes
 */
export function verificationTag(key: Bits, seed: Bits, options: VerificationOptions = {}): Uint8Array {
  return new PolynomialHash(seed, options).hashBits(key);
}

/** The outcome of {@link verifyKeys}. */
export interface VerificationResult {
  /** Whether the tags matched; false means the block must be discarded. */
  passed: boolean;
  /** Alice's tag (announced publicly). */
  aliceTag: Uint8Array;
  /** Bob's tag (computed locally, compared with Alice's). */
  bobTag: Uint8Array;
  /** Bits disclosed: the announced tag length, to count in the reconciliation leakage. */
  leakedBits: number;
  /**
   * Upper bound on the probability that keys which differ pass verification:
   * ((⌈n/f⌉ + 64/f) / 2^f)^lanes for n-bit keys.
   */
  failureProbability: number;
}

/**
 * Verifies that two reconciled keys agree: each party computes its own tag from the same public seed
 * and the tags are compared. Keys must have the same length (a reconciled block always does).
 *
 * @param aliceKey Alice's key
 * @param bobKey Bob's key, same length
 * @param seed public seed of f·lanes bits, drawn after the keys are fixed
 */
export function verifyKeys(
  aliceKey: Bits,
  bobKey: Bits,
  seed: Bits,
  options: VerificationOptions = {},
): VerificationResult {
  if (aliceKey.length !== bobKey.length) {
    throw new RangeError(
      `verifyKeys: keys of one block must have equal lengths, got ${aliceKey.length} and ${bobKey.length}`,
    );
  }
  const aliceTag = verificationTag(aliceKey, seed, options);
  const bobTag = verificationTag(bobKey, seed, options);
  let diff = 0;
  for (let i = 0; i < aliceTag.length; i++) diff |= aliceTag[i] ^ bobTag[i];
  return {
    passed: diff === 0,
    aliceTag,
    bobTag,
    leakedBits: 8 * aliceTag.length,
    failureProbability: polynomialHashCollisionBound(aliceKey.length, options),
  };
}
