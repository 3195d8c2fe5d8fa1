/**
 * An almost-XOR-universal hash family for error verification and Wegman–Carter authentication:
 * polynomial evaluation over the binary field GF(2^f), f ∈ {8, 16, 32, 64}.
 *
 * The message (n bits) is cut into L = ⌈n/f⌉ blocks m_1 … m_L of f bits (most significant bit first,
 * the last block zero-padded), followed by c = 64/f blocks ℓ_1 … ℓ_c holding n as a 64-bit integer.
 * With key k ∈ GF(2^f) the hash is Horner's rule from zero,
 *
 *     h_k(m) = m_1·k^(L+c) ⊕ m_2·k^(L+c−1) ⊕ … ⊕ m_L·k^(c+1) ⊕ ℓ_1·k^c ⊕ … ⊕ ℓ_c·k.
 *
 * Collision bound: for distinct messages m ≠ m′ of at most n bits and any δ ∈ GF(2^f),
 *
 *     Pr_k[h_k(m) ⊕ h_k(m′) = δ] ≤ (L + c) / 2^f,   L = ⌈n/f⌉, c = 64/f,
 *
 * because h_k(m) ⊕ h_k(m′) ⊕ δ is a polynomial in k of degree ≤ L + c that is not identically zero (equal
 * lengths: some message block differs; different lengths: a length block differs, and those
 * coefficients are never shared with message blocks), so it has at most L + c roots among the 2^f keys.
 * δ = 0 is the collision probability used by error verification; the bound for every δ ("ε-almost
 * XOR-universal") is what makes h_k(m) ⊕ r, with r a fresh one-time pad, ε-almost strongly universal
 * (Carter & Wegman 1979; Wegman & Carter 1981; Krawczyk 1994 for the XOR form). With `lanes`
 * independent keys the tag is the concatenation of the lane values and the bound is raised to the power
 * `lanes`.
 *
 * Arithmetic: the key is fixed, so multiplication by it is precomputed as one 256-entry table per byte
 * of the field element (k·b·x^(8j) for byte value b at byte j); a block then costs f/8 table look-ups
 * and XORs on 32-bit words, with no BigInt.
 *
 * @module
 */
import type { Rng } from "../sim/rng.js";
import { type Bits, randomBits } from "./bits.js";

/** Supported field sizes f, bits; the tag of one lane is f bits. */
export type FieldBits = 8 | 16 | 32 | 64;

/**
 * The low-order terms of the irreducible polynomial defining GF(2^f) (the x^f term is implied):
 * x^8+x^4+x^3+x+1, x^16+x^5+x^3+x+1, x^32+x^7+x^3+x^2+1, x^64+x^4+x^3+x+1.
 */
export const FIELD_POLYNOMIALS: Readonly<Record<FieldBits, number>> = {
  8: 0x1b,
  16: 0x2b,
  32: 0x8d,
  64: 0x1b,
};

/** Shape of a polynomial hash. */
export interface PolynomialHashOptions {
  /** Field size f, bits (default 64). */
  fieldBits?: FieldBits;
  /** Number of independent keys whose values are concatenated (default 1). */
  lanes?: number;
}

interface Shape {
  f: FieldBits;
  lanes: number;
}

function shape(options: PolynomialHashOptions, what: string): Shape {
  const f = options.fieldBits ?? 64;
  const lanes = options.lanes ?? 1;
  if (f !== 8 && f !== 16 && f !== 32 && f !== 64) {
    throw new RangeError(`${what}: fieldBits must be 8, 16, 32 or 64, got ${f}`);
  }
  if (!Number.isInteger(lanes) || lanes < 1 || lanes > 64) {
    throw new RangeError(`${what}: lanes must be an integer in [1, 64], got ${lanes}`);
  }
  return { f, lanes };
}

/** Key bits a hash of this shape needs: f·lanes (each lane key uniform in GF(2^f)). */
export function polynomialHashKeyBits(options: PolynomialHashOptions = {}): number {
  const { f, lanes } = shape(options, "polynomialHashKeyBits");
  return f * lanes;
}

/** Tag bits a hash of this shape outputs: f·lanes. */
export function polynomialHashTagBits(options: PolynomialHashOptions = {}): number {
  return polynomialHashKeyBits(options);
}

/**
 * The bound ((⌈n/f⌉ + 64/f) / 2^f)^lanes on Pr_k[h_k(m) ⊕ h_k(m′) = δ] over a uniformly random key,
 * for any two distinct messages of at most `messageBits` bits and any δ (δ = 0: collision). Capped at 1.
 */
export function polynomialHashCollisionBound(
  messageBits: number,
  options: PolynomialHashOptions = {},
): number {
  const { f, lanes } = shape(options, "polynomialHashCollisionBound");
  if (!Number.isSafeInteger(messageBits) || messageBits < 0) {
    throw new RangeError(
      `polynomialHashCollisionBound: messageBits must be an integer ≥ 0, got ${messageBits}`,
    );
  }
  const degree = Math.ceil(messageBits / f) + 64 / f;
  return Math.min(1, (degree / 2 ** f) ** lanes);
}

/** Multiplies the element (hi, lo) of GF(2^f) by x in place. */
function mulX(e: Uint32Array, f: FieldBits): void {
  const poly = FIELD_POLYNOMIALS[f];
  if (f === 64) {
    const carry = e[0] >>> 31;
    e[0] = ((e[0] << 1) | (e[1] >>> 31)) >>> 0;
    e[1] = ((e[1] << 1) ^ (carry ? poly : 0)) >>> 0;
  } else {
    const carry = (e[1] >>> (f - 1)) & 1;
    const mask = f === 32 ? 0xffffffff : (1 << f) - 1;
    e[1] = (((e[1] << 1) & mask) ^ (carry ? poly : 0)) >>> 0;
  }
}

/**
 * Tables for multiplication by the key k: entry (j, b) is k·b·x^(8j) for byte position j (0 = least
 * significant) and byte value b; two words (high, low) per entry for f = 64, one (low) otherwise.
 */
function keyTables(khi: number, klo: number, f: FieldBits): Uint32Array {
  const bytes = f / 8;
  const words = f === 64 ? 2 : 1;
  const table = new Uint32Array(bytes * 256 * words);
  const e = Uint32Array.of(khi, klo);
  for (let j = 0; j < bytes; j++) {
    const base = j * 256 * words;
    for (let bit = 0; bit < 8; bit++) {
      const at = base + (1 << bit) * words;
      if (words === 2) {
        table[at] = e[0];
        table[at + 1] = e[1];
      } else table[at] = e[1];
      mulX(e, f);
    }
    for (let b = 3; b < 256; b++) {
      const low = b & -b;
      if (low === b) continue;
      const at = base + b * words;
      const x = base + (b ^ low) * words;
      const y = base + low * words;
      table[at] = table[x] ^ table[y];
      if (words === 2) table[at + 1] = table[x + 1] ^ table[y + 1];
    }
  }
  return table;
}

/** Packs bits into 32-bit words, most significant bit first (bit i at position 31 − i % 32), zero tail. */
function packBitsBigEndian(bits: Bits, what: string): Uint32Array {
  const n = bits.length;
  const words = new Uint32Array((n + 31) >>> 5);
  let i = 0;
  for (let q = 0; q < words.length; q++) {
    let w = 0;
    const end = Math.min(i + 32, n);
    const shift = 32 - (end - i);
    for (; i < end; i++) {
      const b = bits[i];
      if (b > 1) throw new RangeError(`${what}: message[${i}] = ${b} is not a bit (0 or 1)`);
      w = (w << 1) | b;
    }
    words[q] = shift === 32 ? 0 : (w << shift) >>> 0;
  }
  return words;
}

/** Packs bytes into big-endian 32-bit words with a zero tail (the same bit order as {@link packBitsBigEndian}). */
function packBytesBigEndian(bytes: Uint8Array): Uint32Array {
  const n = bytes.length;
  const words = new Uint32Array((n + 3) >>> 2);
  const full = n >>> 2;
  for (let q = 0; q < full; q++) {
    const i = q << 2;
    words[q] = ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0;
  }
  if (full < words.length) {
    let w = 0;
    for (let i = full << 2, s = 24; i < n; i++, s -= 8) w |= bytes[i] << s;
    words[full] = w >>> 0;
  }
  return words;
}

/**
 * A member of the polynomial hash family over GF(2^f) with `lanes` keys (see the module comment for
 * the definition and the collision bound). Tags are byte strings of f·lanes/8 bytes: lane by lane,
 * each value most significant byte first.
 */
export class PolynomialHash {
  /** Field size f, bits. */
  readonly fieldBits: FieldBits;
  /** Independent lanes. */
  readonly lanes: number;
  /** Tag length, bits (f·lanes). */
  readonly tagBits: number;
  /** Key length, bits (f·lanes). */
  readonly keyBits: number;
  private readonly tables: Uint32Array[];

  /**
   * @param key f·lanes key bits, lane by lane, each lane's key most significant bit first; any value is
   *   a valid key (k = 0 included: the bound counts it)
   */
  constructor(key: Bits, options: PolynomialHashOptions = {}) {
    const { f, lanes } = shape(options, "PolynomialHash");
    this.fieldBits = f;
    this.lanes = lanes;
    this.tagBits = f * lanes;
    this.keyBits = f * lanes;
    if (key.length !== this.keyBits) {
      throw new RangeError(
        `PolynomialHash: the key must have f·lanes = ${this.keyBits} bits, got ${key.length}`,
      );
    }
    const words = packBitsBigEndian(key, "PolynomialHash key");
    this.tables = [];
    for (let lane = 0; lane < lanes; lane++) {
      let hi = 0;
      let lo = 0;
      if (f === 64) {
        hi = words[2 * lane];
        lo = words[2 * lane + 1];
      } else {
        // Lane keys of f ≤ 32 bits sit at bit offset lane·f.
        const at = lane * f;
        const w = words[at >>> 5];
        lo = f === 32 ? w : (w >>> (32 - f - (at & 31))) & ((1 << f) - 1);
      }
      this.tables.push(keyTables(hi, lo, f));
    }
  }

  /** A hash with a key of f·lanes bits drawn from `rng`. */
  static random(rng: Rng, options: PolynomialHashOptions = {}): PolynomialHash {
    return new PolynomialHash(randomBits(polynomialHashKeyBits(options), rng), options);
  }

  /** The hash of a bit string (one bit per element). Equal to `hashBytes` of the packed bytes when n % 8 = 0. */
  hashBits(message: Bits): Uint8Array {
    return this.hashWords(packBitsBigEndian(message, "PolynomialHash.hashBits"), message.length);
  }

  /** The hash of a byte string, read as 8·length bits, most significant bit of each byte first. */
  hashBytes(message: Uint8Array): Uint8Array {
    return this.hashWords(packBytesBigEndian(message), 8 * message.length);
  }

  /** {@link polynomialHashCollisionBound} for this shape. */
  collisionBound(messageBits: number): number {
    return polynomialHashCollisionBound(messageBits, { fieldBits: this.fieldBits, lanes: this.lanes });
  }

  private hashWords(words: Uint32Array, n: number): Uint8Array {
    const f = this.fieldBits;
    const bytes = f / 8;
    const tag = new Uint8Array(this.tagBits / 8);
    const lenHi = Math.floor(n / 2 ** 32) >>> 0;
    const lenLo = n >>> 0;
    for (let lane = 0; lane < this.lanes; lane++) {
      const t = this.tables[lane];
      let hi = 0;
      let lo = 0;
      if (f === 64) {
        const blocks = Math.ceil(n / 64);
        for (let i = 0; i < blocks; i++) {
          const vh = hi ^ words[2 * i];
          const vl = lo ^ (2 * i + 1 < words.length ? words[2 * i + 1] : 0);
          let a = (vl & 255) << 1;
          let rh = t[a];
          let rl = t[a + 1];
          a = 512 + (((vl >>> 8) & 255) << 1);
          rh ^= t[a];
          rl ^= t[a + 1];
          a = 1024 + (((vl >>> 16) & 255) << 1);
          rh ^= t[a];
          rl ^= t[a + 1];
          a = 1536 + ((vl >>> 24) << 1);
          rh ^= t[a];
          rl ^= t[a + 1];
          a = 2048 + ((vh & 255) << 1);
          rh ^= t[a];
          rl ^= t[a + 1];
          a = 2560 + (((vh >>> 8) & 255) << 1);
          rh ^= t[a];
          rl ^= t[a + 1];
          a = 3072 + (((vh >>> 16) & 255) << 1);
          rh ^= t[a];
          rl ^= t[a + 1];
          a = 3584 + ((vh >>> 24) << 1);
          hi = rh ^ t[a];
          lo = rl ^ t[a + 1];
        }
        [hi, lo] = mul64(t, hi ^ lenHi, lo ^ lenLo);
      } else {
        const blocks = Math.ceil(n / f);
        const perWord = 32 / f;
        const mask = f === 32 ? 0xffffffff : (1 << f) - 1;
        for (let i = 0; i < blocks; i++) {
          const w = words[(i / perWord) | 0];
          const m = f === 32 ? w : (w >>> (32 - f * ((i % perWord) + 1))) & mask;
          lo = mulSmall(t, (lo ^ m) >>> 0, bytes);
        }
        // The 64-bit length in 64/f blocks, most significant first.
        for (let j = 64 / f - 1; j >= 0; j--) {
          const bit = j * f;
          const m = bit >= 32 ? (lenHi >>> (bit - 32)) & mask : (lenLo >>> bit) & mask;
          lo = mulSmall(t, (lo ^ m) >>> 0, bytes);
        }
      }
      const at = lane * bytes;
      for (let b = 0; b < bytes; b++) {
        const bit = 8 * (bytes - 1 - b);
        tag[at + b] = (bit >= 32 ? hi >>> (bit - 32) : lo >>> bit) & 255;
      }
    }
    return tag;
  }
}

/** (hi, lo) · k in GF(2^64) with the key tables of f = 64. */
function mul64(t: Uint32Array, vh: number, vl: number): [number, number] {
  let rh = 0;
  let rl = 0;
  for (let j = 0; j < 8; j++) {
    const byte = j < 4 ? (vl >>> (8 * j)) & 255 : (vh >>> (8 * (j - 4))) & 255;
    const a = (j * 256 + byte) << 1;
    rh ^= t[a];
    rl ^= t[a + 1];
  }
  return [rh >>> 0, rl >>> 0];
}

/** v · k in GF(2^f), f ≤ 32, with the key tables (one word per entry). */
function mulSmall(t: Uint32Array, v: number, bytes: number): number {
  let r = t[v & 255];
  if (bytes > 1) r ^= t[256 + ((v >>> 8) & 255)];
  if (bytes > 2) r ^= t[512 + ((v >>> 16) & 255)] ^ t[768 + (v >>> 24)];
  return r >>> 0;
}
