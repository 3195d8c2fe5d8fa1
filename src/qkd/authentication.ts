/**
 * Wegman–Carter authentication of the classical channel with a pool of pre-shared or QKD-generated key.
 *
 * A MAC draws its polynomial-hash key (f·lanes bits) from the pool once and reuses it; every tag is the
 * hash of the message XOR a fresh one-time pad of f·lanes pool bits, so tags reveal nothing about the
 * hash key and each forgery attempt succeeds with probability at most ε = ((⌈n/f⌉ + 64/f) / 2^f)^lanes
 * for messages of up to n bits (Wegman & Carter, J. Comput. Syst. Sci. 22, 265 (1981); the hash is
 * ε-almost XOR-universal, see {@link "./universal-hash.js"}). Sender and receiver hold identical pools
 * and draw from them in the same order: every tag made by one side is verified exactly once by the
 * other, which consumes the same pad, so the two stay in step. A pad is spent even when verification
 * fails, since it must never be used twice.
 *
 * @module
 */
import type { Bits } from "./bits.js";
import {
  PolynomialHash,
  type PolynomialHashOptions,
  polynomialHashCollisionBound,
  polynomialHashKeyBits,
} from "./universal-hash.js";

/** Thrown when a pool holds fewer bits than a draw needs. Nothing is drawn in that case. */
export class KeyPoolExhaustedError extends Error {
  /** Bits the draw needed. */
  readonly needed: number;
  /** Bits the pool held. */
  readonly remaining: number;

  constructor(needed: number, remaining: number, drawn: number) {
    super(
      `key pool exhausted: ${needed} bits needed, ${remaining} remain (${drawn} drawn so far); add fresh key before authenticating more messages`,
    );
    this.name = "KeyPoolExhaustedError";
    this.needed = needed;
    this.remaining = remaining;
  }
}

/**
 * A first-in first-out pool of secret key bits. Bits are handed out once, in the order they were
 * added; the pool counts what it has handed out.
 */
export class KeyPool {
  private buffer: Uint8Array;
  private start = 0;
  private end: number;
  private total: number;
  private taken = 0;

  /** @param initial the initial secret bits, one per element (copied) */
  constructor(initial: Bits = new Uint8Array(0)) {
    checkBits(initial, "KeyPool");
    this.buffer = initial.slice();
    this.end = initial.length;
    this.total = initial.length;
  }

  /** Bits ever added to the pool, including the initial ones. */
  get added(): number {
    return this.total;
  }

  /** Bits handed out so far. */
  get drawn(): number {
    return this.taken;
  }

  /** Bits still available. */
  get remaining(): number {
    return this.end - this.start;
  }

  /** Appends fresh secret bits (e.g. from QKD output) to the pool. */
  add(bits: Bits): void {
    checkBits(bits, "KeyPool.add");
    if (this.end + bits.length > this.buffer.length) {
      const live = this.buffer.subarray(this.start, this.end);
      const grown = new Uint8Array(Math.max(2 * live.length, live.length + bits.length));
      grown.set(live);
      this.buffer = grown;
      this.end = live.length;
      this.start = 0;
    }
    this.buffer.set(bits, this.end);
    this.end += bits.length;
    this.total += bits.length;
  }

  /**
   * The next `count` bits, removed from the pool.
   *
   * @throws KeyPoolExhaustedError if fewer than `count` remain (the pool is left unchanged)
   */
  draw(count: number): Bits {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`KeyPool.draw: count must be an integer ≥ 0, got ${count}`);
    }
    if (count > this.remaining) throw new KeyPoolExhaustedError(count, this.remaining, this.taken);
    const out = this.buffer.slice(this.start, this.start + count);
    // Spent key is overwritten so it does not linger in memory.
    this.buffer.fill(0, this.start, this.start + count);
    this.start += count;
    this.taken += count;
    return out;
  }
}

function checkBits(bits: Bits, what: string): void {
  for (let i = 0; i < bits.length; i++) {
    if (bits[i] > 1) throw new RangeError(`${what}: bits[${i}] = ${bits[i]} is not a bit (0 or 1)`);
  }
}

/** Shape of the MAC's hash (default GF(2^64), one lane: 64-bit tags). */
export type WegmanCarterOptions = PolynomialHashOptions;

/**
 * A Wegman–Carter MAC on one side of a link. Construct one on each side from pools with identical
 * contents; construction draws the hash key (f·lanes bits), every {@link tag} and every
 * {@link verify} draws one pad (f·lanes bits).
 */
export class WegmanCarterMac {
  /** Tag length, bits (f·lanes); also the pad drawn per tag. */
  readonly tagBits: number;
  /** Length of the reused hash key, bits (f·lanes), drawn once at construction. */
  readonly hashKeyBits: number;
  private readonly hash: PolynomialHash;
  private readonly pool: KeyPool;
  private readonly options: WegmanCarterOptions;
  private made = 0;
  private checked = 0;
  private rejected = 0;

  /** @throws KeyPoolExhaustedError if the pool cannot supply the hash key */
  constructor(pool: KeyPool, options: WegmanCarterOptions = {}) {
    this.hashKeyBits = polynomialHashKeyBits(options);
    this.tagBits = this.hashKeyBits;
    this.options = { ...options };
    this.pool = pool;
    this.hash = new PolynomialHash(pool.draw(this.hashKeyBits), options);
  }

  /** Tags made by {@link tag}. */
  get tagsMade(): number {
    return this.made;
  }

  /** Tags checked by {@link verify}. */
  get tagsVerified(): number {
    return this.checked;
  }

  /** Tags that {@link verify} rejected. */
  get tagsRejected(): number {
    return this.rejected;
  }

  /** Pad bits drawn so far: tagBits per tag made or verified. */
  get padBitsDrawn(): number {
    return (this.made + this.checked) * this.tagBits;
  }

  /** All pool bits this MAC has consumed: the hash key plus the pads. */
  get bitsDrawn(): number {
    return this.hashKeyBits + this.padBitsDrawn;
  }

  /** Bits left in the pool (shared with anything else drawing from it). */
  get poolRemaining(): number {
    return this.pool.remaining;
  }

  /** Upper bound on the success probability of one forgery attempt on messages of up to `messageBytes` bytes. */
  forgeryBound(messageBytes: number): number {
    return polynomialHashCollisionBound(8 * messageBytes, this.options);
  }

  /**
   * The tag of `message` (tagBits/8 bytes). Draws one pad.
   *
   * @throws KeyPoolExhaustedError if the pool has fewer than tagBits bits (nothing is drawn)
   */
  tag(message: Uint8Array): Uint8Array {
    const out = this.compute(message);
    this.made++;
    return out;
  }

  /**
   * Whether `tag` authenticates `message`. Draws one pad whether or not the tag is accepted, to stay in
   * step with the sender.
   *
   * @throws KeyPoolExhaustedError if the pool has fewer than tagBits bits (nothing is drawn)
   */
  verify(message: Uint8Array, tag: Uint8Array): boolean {
    const expected = this.compute(message);
    this.checked++;
    let diff = tag.length ^ expected.length;
    for (let i = 0; i < expected.length; i++) diff |= expected[i] ^ (tag[i] ?? 0);
    if (diff !== 0) this.rejected++;
    return diff === 0;
  }

  private compute(message: Uint8Array): Uint8Array {
    const pad = this.pool.draw(this.tagBits);
    const out = this.hash.hashBytes(message);
    for (let i = 0; i < pad.length; i++) out[i >>> 3] ^= pad[i] << (7 - (i & 7));
    return out;
  }
}
