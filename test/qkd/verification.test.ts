import { describe, expect, it } from "vitest";
import { bitsToBytes, randomBits } from "../../src/qkd/bits.js";
import {
  FIELD_POLYNOMIALS,
  type FieldBits,
  PolynomialHash,
  polynomialHashCollisionBound,
  polynomialHashKeyBits,
} from "../../src/qkd/universal-hash.js";
import { randomVerificationSeed, verificationTag, verifyKeys } from "../../src/qkd/verification.js";
import { Rng } from "../../src/sim/rng.js";

const FIELDS: FieldBits[] = [8, 16, 32, 64];

/* GF(2)[x] arithmetic on BigInt, as an independent oracle. */
const deg = (a: bigint): number => (a === 0n ? -1 : a.toString(2).length - 1);
function polyMod(a: bigint, f: bigint): bigint {
  const df = deg(f);
  while (deg(a) >= df) a ^= f << BigInt(deg(a) - df);
  return a;
}
function polyMulMod(a: bigint, b: bigint, f: bigint): bigint {
  let r = 0n;
  for (; b; b >>= 1n) {
    if (b & 1n) r ^= a;
    a = polyMod(a << 1n, f);
  }
  return r;
}
function polyGcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, polyMod(a, b)];
  return a;
}
const modulus = (f: FieldBits): bigint => (1n << BigInt(f)) | BigInt(FIELD_POLYNOMIALS[f]);

/** Bits (MSB first) to a BigInt. */
function bitsToBig(bits: ArrayLike<number>, from: number, count: number): bigint {
  let v = 0n;
  for (let i = 0; i < count; i++) v = (v << 1n) | BigInt(from + i < bits.length ? bits[from + i] : 0);
  return v;
}

/** The hash straight from its definition: Horner over message blocks, then the 64-bit length. */
function referenceHash(message: Uint8Array, key: Uint8Array, f: FieldBits, lanes: number): bigint[] {
  const F = modulus(f);
  const n = message.length;
  const blocks: bigint[] = [];
  for (let i = 0; i < Math.ceil(n / f); i++) blocks.push(bitsToBig(message, i * f, f));
  const len = BigInt(n);
  for (let j = 64 / f - 1; j >= 0; j--) blocks.push((len >> BigInt(j * f)) & ((1n << BigInt(f)) - 1n));
  const out: bigint[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    const k = bitsToBig(key, lane * f, f);
    let h = 0n;
    for (const b of blocks) h = polyMulMod(h ^ b, k, F);
    out.push(h);
  }
  return out;
}

function tagToLanes(tag: Uint8Array, f: FieldBits, lanes: number): bigint[] {
  const out: bigint[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    let v = 0n;
    for (let b = 0; b < f / 8; b++) v = (v << 8n) | BigInt(tag[(lane * f) / 8 + b]);
    out.push(v);
  }
  return out;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

describe("polynomial hash over GF(2^f)", () => {
  it("uses irreducible field polynomials (Rabin's test)", () => {
    // f(x) of degree d is irreducible iff x^(2^d) ≡ x mod f and gcd(x^(2^(d/q)) − x, f) = 1 for every
    // prime q dividing d; all d here are powers of two, so q = 2.
    for (const f of FIELDS) {
      const F = modulus(f);
      const powers: bigint[] = [2n];
      for (let i = 1; i <= f; i++) powers.push(polyMulMod(powers[i - 1], powers[i - 1], F));
      expect(powers[f]).toBe(2n);
      expect(polyGcd(F, powers[f / 2] ^ 2n)).toBe(1n);
    }
  });

  it("matches a BigInt evaluation of its definition for every field, lane count and length", () => {
    const rng = new Rng("uh-reference");
    for (const f of FIELDS) {
      for (const lanes of [1, 2, 3]) {
        for (const n of [0, 1, 7, 8, 9, f - 1, f, f + 1, 3 * f + 5, 200, 1000]) {
          const key = randomBits(f * lanes, rng);
          const message = randomBits(n, rng);
          const h = new PolynomialHash(key, { fieldBits: f, lanes });
          const tag = h.hashBits(message);
          expect(tag.length).toBe((f * lanes) / 8);
          expect(tagToLanes(tag, f, lanes), `f=${f} lanes=${lanes} n=${n}`).toEqual(
            referenceHash(message, key, f, lanes),
          );
          if (n % 8 === 0) expect(sameBytes(h.hashBytes(bitsToBytes(message)), tag)).toBe(true);
        }
      }
    }
  });

  it("tells messages apart by length even when the extra bits are zero", () => {
    const h = PolynomialHash.random(new Rng("uh-length"), { fieldBits: 64 });
    const a = h.hashBits(new Uint8Array(10));
    const b = h.hashBits(new Uint8Array(11));
    expect(sameBytes(a, b)).toBe(false);
    expect(sameBytes(h.hashBytes(new Uint8Array(2)), h.hashBits(new Uint8Array(16)))).toBe(true);
  });

  it("states the bound ((⌈n/f⌉ + 64/f)/2^f)^lanes", () => {
    expect(polynomialHashCollisionBound(1_000_000)).toBeCloseTo(15_626 / 2 ** 64, 30);
    expect(polynomialHashCollisionBound(64, { fieldBits: 8 })).toBe(16 / 256);
    expect(polynomialHashCollisionBound(64, { fieldBits: 8, lanes: 2 })).toBe((16 / 256) ** 2);
    expect(polynomialHashCollisionBound(10_000, { fieldBits: 8 })).toBe(1);
    expect(polynomialHashKeyBits({ fieldBits: 32, lanes: 3 })).toBe(96);
    expect(() => polynomialHashCollisionBound(-1)).toThrow(RangeError);
    expect(() => new PolynomialHash(new Uint8Array(63))).toThrow(/64 bits, got 63/);
    expect(() => new PolynomialHash(new Uint8Array(8), { fieldBits: 12 as FieldBits })).toThrow(/fieldBits/);
    expect(() => new PolynomialHash(new Uint8Array(8), { fieldBits: 8, lanes: 0 })).toThrow(/lanes/);
    const bad = new Uint8Array(5);
    bad[2] = 3;
    expect(() => PolynomialHash.random(new Rng(1)).hashBits(bad)).toThrow(/message\[2\] = 3/);
  });
});

/** GF(2^8) multiplication (the AES field) for building difference polynomials in the tests. */
function gf8Mul(a: number, b: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) {
    if ((b >> i) & 1) r ^= a;
    a = (a << 1) ^ (a & 0x80 ? 0x11b : 0);
  }
  return r;
}

describe("collision probability, measured (Carter & Wegman 1979)", () => {
  // f = 8 makes collisions frequent enough to count. Messages of 64 bits: L = 8 blocks, c = 8 length
  // blocks, so the stated bound is 16/256 = 1/16.
  const f: FieldBits = 8;
  const n = 64;
  const trials = 40_000;
  const withinBinomial = (count: number, p: number): void => {
    const se = Math.sqrt((p * (1 - p)) / trials);
    expect(Math.abs(count / trials - p)).toBeLessThan(4 * se);
  };

  it("is exactly 2^−f when the messages differ in one block, and never above the bound", () => {
    // Then h(m) ⊕ h(m′) = δ·k^j for one j ≥ 1, which vanishes only at k = 0: probability 1/256.
    const rng = new Rng("uh-one-block");
    const m = randomBits(n, rng);
    const m2 = m.slice();
    m2[20] ^= 1;
    m2[22] ^= 1;
    let collisions = 0;
    for (let t = 0; t < trials; t++) {
      const h = PolynomialHash.random(rng, { fieldBits: f });
      if (sameBytes(h.hashBits(m), h.hashBits(m2))) collisions++;
    }
    withinBinomial(collisions, 1 / 256);
    expect(collisions / trials).toBeLessThan(polynomialHashCollisionBound(n, { fieldBits: f }));
  });

  it("reaches L/2^f for a difference polynomial with the most roots, as the root-count argument predicts", () => {
    // Equal lengths: h(m) ⊕ h(m′) = k^(c+1)·Q(k) with Q of degree ≤ L − 1 = 7 built from the block
    // differences. Take Q = ∏ (k − a_i) over 7 distinct nonzero a_i: roots {0, a_1 … a_7}, so the
    // collision probability is exactly 8/256 (the bound for equal lengths, L/2^f).
    const roots = [3, 5, 17, 29, 77, 128, 200];
    let q = [1]; // coefficients, lowest degree first
    for (const a of roots) {
      const next = new Array(q.length + 1).fill(0);
      for (let i = 0; i < q.length; i++) {
        next[i + 1] ^= q[i];
        next[i] ^= gf8Mul(q[i], a);
      }
      q = next;
    }
    // Block i (1-based) multiplies k^(L + c + 1 − i) = k^(c+1) · k^(L − i): its difference is q[L − i].
    const rng = new Rng("uh-many-roots");
    const m = randomBits(n, rng);
    const m2 = m.slice();
    for (let i = 1; i <= 8; i++) {
      const delta = q[8 - i];
      for (let b = 0; b < 8; b++) m2[(i - 1) * 8 + b] ^= (delta >> (7 - b)) & 1;
    }
    let exact = 0;
    for (let k = 0; k < 256; k++) {
      const key = Uint8Array.from({ length: 8 }, (_, b) => (k >> (7 - b)) & 1);
      const h = new PolynomialHash(key, { fieldBits: f });
      if (sameBytes(h.hashBits(m), h.hashBits(m2))) exact++;
    }
    expect(exact).toBe(8);
    let collisions = 0;
    for (let t = 0; t < trials; t++) {
      const h = PolynomialHash.random(rng, { fieldBits: f });
      if (sameBytes(h.hashBits(m), h.hashBits(m2))) collisions++;
    }
    withinBinomial(collisions, 8 / 256);
  });

  it("two lanes multiply the probabilities of independent keys", () => {
    const rng = new Rng("uh-lanes");
    const m = randomBits(n, rng);
    const m2 = m.slice();
    m2[0] ^= 1;
    let collisions = 0;
    const lanesTrials = 100_000;
    for (let t = 0; t < lanesTrials; t++) {
      const h = PolynomialHash.random(rng, { fieldBits: f, lanes: 2 });
      if (sameBytes(h.hashBits(m), h.hashBits(m2))) collisions++;
    }
    // Expected 2^−16 · 10^5 ≈ 1.5 collisions; Poisson, so 0 … 9 covers more than 1 − 10^−5.
    expect(collisions).toBeLessThanOrEqual(9);
  });
});

describe("error verification of reconciled keys", () => {
  it("passes equal keys and reports the disclosed tag length and the failure bound", () => {
    const rng = new Rng("verify-equal");
    const key = randomBits(10_000, rng);
    const seed = randomVerificationSeed(new Rng("public"));
    const r = verifyKeys(key, key.slice(), seed);
    expect(r.passed).toBe(true);
    expect(r.leakedBits).toBe(64);
    expect(r.failureProbability).toBe(polynomialHashCollisionBound(10_000));
    expect(r.failureProbability).toBeLessThan(1e-15);
    // Each party computes its own tag from the public seed; only the tag is exchanged.
    expect(sameBytes(r.aliceTag, verificationTag(key, seed))).toBe(true);
    const two = verifyKeys(key, key.slice(), randomVerificationSeed(rng, { lanes: 2 }), { lanes: 2 });
    expect(two.leakedBits).toBe(128);
  });

  it("reports a block with a residual error as failed, so the pipeline discards it", () => {
    const rng = new Rng("verify-differ");
    for (let t = 0; t < 50; t++) {
      const alice = randomBits(5_000, rng);
      const bob = alice.slice();
      bob[rng.int(bob.length)] ^= 1;
      const r = verifyKeys(alice, bob, randomVerificationSeed(rng));
      expect(r.passed).toBe(false);
      expect(sameBytes(r.aliceTag, r.bobTag)).toBe(false);
    }
  });

  it("lets differing keys through at a rate within the bound, with 8-bit tags", () => {
    const rng = new Rng("verify-rate");
    const trials = 40_000;
    const n = 64;
    let passed = 0;
    for (let t = 0; t < trials; t++) {
      const alice = randomBits(n, rng);
      const bob = alice.slice();
      for (let e = 0; e < 3; e++) bob[rng.int(n)] ^= 1;
      if (bob.every((v, i) => v === alice[i])) bob[0] ^= 1;
      if (verifyKeys(alice, bob, randomVerificationSeed(rng, { fieldBits: 8 }), { fieldBits: 8 }).passed)
        passed++;
    }
    const bound = polynomialHashCollisionBound(n, { fieldBits: 8 });
    const se = Math.sqrt((bound * (1 - bound)) / trials);
    expect(passed / trials).toBeLessThan(bound + 4 * se);
    // Random differences have about one nonzero root on average: close to 2^−8, far below 1/16.
    expect(passed / trials).toBeLessThan(3 / 256);
  });

  it("rejects keys of different lengths", () => {
    expect(() => verifyKeys(new Uint8Array(10), new Uint8Array(11), new Uint8Array(64))).toThrow(
      /equal lengths/,
    );
    expect(() => verifyKeys(new Uint8Array(10), new Uint8Array(10), new Uint8Array(32))).toThrow(/64 bits/);
  });
});
