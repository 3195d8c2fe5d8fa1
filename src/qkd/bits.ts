/**
 * Bit strings as the QKD stack passes them between stages: a `Uint8Array` holding one bit (0 or 1)
 * per element. Stages that need speed pack them into 32-bit words with `packBits`.
 */
import type { Rng } from "../sim/rng.js";

/** A bit string, one bit (0 or 1) per element. */
export type Bits = Uint8Array;

/** `n` uniformly random bits. */
export function randomBits(n: number, rng: Rng): Bits {
  const out = new Uint8Array(n);
  let i = 0;
  while (i + 32 <= n) {
    const w = rng.nextUint32();
    for (let b = 0; b < 32; b++) out[i + b] = (w >>> b) & 1;
    i += 32;
  }
  if (i < n) {
    const w = rng.nextUint32();
    for (let b = 0; i < n; b++, i++) out[i] = (w >>> b) & 1;
  }
  return out;
}

/** The number of positions where `a` and `b` differ (they must have the same length). */
export function hammingDistance(a: Bits, b: Bits): number {
  if (a.length !== b.length) throw new RangeError(`hammingDistance: lengths ${a.length} and ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i] ^ b[i]) & 1;
  return d;
}

/** Binary entropy h(p) = −p·log2 p − (1−p)·log2(1−p), with h(0) = h(1) = 0. */
export function binaryEntropy(p: number): number {
  if (p <= 0 || p >= 1) return 0;
  return -p * Math.log2(p) - (1 - p) * Math.log2(1 - p);
}

/** Bits to bytes, 8 bits per byte, most significant bit first; a short tail is zero-padded. */
export function bitsToBytes(bits: Bits): Uint8Array {
  const out = new Uint8Array((bits.length + 7) >>> 3);
  for (let i = 0; i < bits.length; i++) out[i >>> 3] |= (bits[i] & 1) << (7 - (i & 7));
  return out;
}

/** The parts one after another in one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
