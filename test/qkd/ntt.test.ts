import { describe, expect, it } from "vitest";
import { Rng } from "../../src/sim/rng.js";
import {
  cyclicConvolution,
  forwardLazy,
  inverseLazy,
  mulMod,
  NTT_GENERATOR,
  NTT_MAX_LOG2,
  NTT_MODULUS,
  nttForward,
  nttInverse,
  nttTables,
  powMod,
  reduceMod,
  reduceSigned,
} from "../support/ntt.js";

const P = NTT_MODULUS;
const BP = BigInt(P);
const bmod = (v: bigint): number => Number(((v % BP) + BP) % BP);

/** Direct O(N²) cyclic convolution with exact integer sums (the oracle). */
function naiveCyclic(x: ArrayLike<number>, y: ArrayLike<number>): number[] {
  const n = x.length;
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    if (x[i] === 0) continue;
    for (let j = 0; j < n; j++) out[(i + j) % n] += x[i] * y[j];
  }
  return out;
}

function randomInt32(rng: Rng): number {
  return rng.nextUint32() | 0;
}

describe("modular arithmetic on Numbers", () => {
  it("the modulus is the prime 5·2^25 + 1 and 3 generates its multiplicative group", () => {
    expect(P).toBe(5 * 2 ** 25 + 1);
    // p − 1 = 2^25 · 5: g is a generator iff g^((p−1)/2) ≠ 1 and g^((p−1)/5) ≠ 1.
    expect(powMod(NTT_GENERATOR, (P - 1) / 2)).not.toBe(1);
    expect(powMod(NTT_GENERATOR, (P - 1) / 5)).not.toBe(1);
    expect(powMod(NTT_GENERATOR, P - 1)).toBe(1);
    // Trial division up to √p proves primality.
    let prime = true;
    for (let d = 2; d * d <= P; d++)
      if (P % d === 0) {
        prime = false;
        break;
      }
    expect(prime).toBe(true);
  });

  it("mulMod agrees with BigInt for signed 32-bit operands, including the extremes", () => {
    const rng = new Rng("ntt-mulmod");
    const edge = [0, 1, -1, P - 1, P, P + 1, -P, 2147483647, -2147483648, 123456789, -987654321];
    const pairs: [number, number][] = [];
    for (const a of edge) for (const b of edge) pairs.push([a, b]);
    for (let i = 0; i < 20000; i++) pairs.push([randomInt32(rng), randomInt32(rng)]);
    for (const [a, b] of pairs) expect(mulMod(a, b)).toBe(bmod(BigInt(a) * BigInt(b)));
  });

  it("reduceMod and powMod agree with BigInt", () => {
    const rng = new Rng("ntt-powmod");
    for (let i = 0; i < 2000; i++) {
      const v = randomInt32(rng);
      expect(reduceMod(v)).toBe(bmod(BigInt(v)));
      const e = rng.int(1 << 30);
      let r = 1n;
      let b = BigInt(reduceMod(v));
      for (let k = e; k > 0; k >>= 1) {
        if (k & 1) r = (r * b) % BP;
        b = (b * b) % BP;
      }
      expect(powMod(v, e)).toBe(Number(r));
    }
    expect(() => powMod(2, -1)).toThrow(RangeError);
  });
});

describe("number-theoretic transform", () => {
  it("forward transform evaluates the polynomial at ω^brv(i)", () => {
    const rng = new Rng("ntt-eval");
    for (const log2 of [1, 2, 3, 5, 6]) {
      const n = 2 ** log2;
      const a = Int32Array.from({ length: n }, () => rng.int(P));
      const omega = powMod(NTT_GENERATOR, (P - 1) / n);
      const out = a.slice();
      nttForward(out);
      for (let i = 0; i < n; i++) {
        let brv = 0;
        for (let b = 0; b < log2; b++) brv |= ((i >> b) & 1) << (log2 - 1 - b);
        const z = powMod(omega, brv);
        let acc = 0;
        for (let j = n - 1; j >= 0; j--) acc = (mulMod(acc, z) + a[j]) % P;
        expect(out[i]).toBe(acc);
      }
    }
  });

  it("inverse undoes forward for every length 2^0 … 2^18 with arbitrary signed input", () => {
    const rng = new Rng("ntt-roundtrip");
    for (let log2 = 0; log2 <= 18; log2++) {
      const n = 2 ** log2;
      const a = Int32Array.from({ length: n }, () => randomInt32(rng));
      const b = a.slice();
      nttForward(b);
      nttInverse(b);
      let bad = 0;
      for (let i = 0; i < n; i++) if (b[i] !== reduceMod(a[i])) bad++;
      expect(bad, `length 2^${log2}`).toBe(0);
    }
  });

  it("cyclic convolution of 0/1 sequences is the exact integer convolution", () => {
    const rng = new Rng("ntt-conv");
    for (let log2 = 0; log2 <= 10; log2++) {
      const n = 2 ** log2;
      for (const density of [0.5, 0.05, 1]) {
        const x = Array.from({ length: n }, () => (rng.random() < density ? 1 : 0));
        const y = Array.from({ length: n }, () => (rng.random() < density ? 1 : 0));
        expect(Array.from(cyclicConvolution(x, y))).toEqual(naiveCyclic(x, y));
      }
    }
  });

  it("all-ones inputs of 2^17 values convolve to exactly 2^17 everywhere (worst case for lazy bounds)", () => {
    // Every value of the transform of an all-ones vector is 0 except the first, which is N; the test
    // drives the largest sums through every pass, including the passes above the cache-sized leaves.
    const n = 2 ** 17;
    const ones = new Int32Array(n).fill(1);
    const c = cyclicConvolution(ones, ones);
    expect(c.every((v) => v === n)).toBe(true);
  });

  it("lazy transforms stay within the bounds they report, on extreme input", () => {
    for (const log2 of [17, 18]) {
      const n = 2 ** log2;
      const tables = nttTables(log2);
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = i & 1 ? 2147483647 : -2147483647;
      const bound = forwardLazy(a, tables);
      expect(bound).toBeLessThanOrEqual(2147483647);
      let max = 0;
      for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(a[i]));
      expect(max).toBeLessThanOrEqual(bound);
      reduceSigned(a);
      const back = inverseLazy(a, tables);
      max = 0;
      for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(a[i]));
      expect(max).toBeLessThanOrEqual(back);
      // Reversal and scaling recover the input mod p.
      for (let j = 0; j < n; j += 997) {
        const got = mulMod(a[(n - j) & (n - 1)], tables.inverseSize);
        expect(got).toBe(reduceMod(j & 1 ? 2147483647 : -2147483647));
      }
    }
  });

  it("rejects lengths that are not powers of two or exceed the largest transform", () => {
    expect(() => nttForward(new Int32Array(3))).toThrow(/power of two/);
    expect(() => nttTables(NTT_MAX_LOG2 + 1)).toThrow(RangeError);
    expect(() => cyclicConvolution([1, 0], [1])).toThrow(/lengths/);
    expect(() => forwardLazy(new Int32Array(8), nttTables(4))).toThrow(/does not match/);
  });
});
