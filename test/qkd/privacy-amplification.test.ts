import { describe, expect, it } from "vitest";
import { randomBits } from "../../src/qkd/bits.js";
import {
  planToeplitz,
  privacyAmplify,
  randomToeplitzSeed,
  secretKeyLength,
  type ToeplitzOptions,
  toeplitzHash,
  toeplitzHashReference,
  toeplitzSeedLength,
} from "../../src/qkd/privacy-amplification.js";
import { Rng } from "../../src/sim/rng.js";

const same = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

describe("Toeplitz hashing: fast (NTT) against the O(n·ℓ) reference", () => {
  it("matches bit for bit on random sizes, including ℓ = 1, ℓ = n and non-powers of two", () => {
    const rng = new Rng("pa-random-sizes");
    const cases: [number, number][] = [
      [1, 1],
      [2, 1],
      [2, 2],
      [3, 2],
      [5, 5],
      [17, 1],
      [64, 64],
      [65, 33],
      [100, 1],
      [257, 256],
      [1000, 500],
      [1023, 1023],
      [1500, 7],
    ];
    for (let i = 0; i < 12; i++) {
      const n = 1 + rng.int(1200);
      cases.push([n, 1 + rng.int(n)]);
    }
    for (const [n, l] of cases) {
      const x = randomBits(n, rng);
      const s = randomToeplitzSeed(n, l, rng);
      expect(same(toeplitzHash(x, s, l), toeplitzHashReference(x, s, l)), `n=${n} ℓ=${l}`).toBe(true);
    }
  });

  it("matches in every block layout: diagonal and stream, with and without cached input transforms", () => {
    const rng = new Rng("pa-blocks");
    const seen = new Set<string>();
    const cases: [number, number, ToeplitzOptions][] = [
      [300, 150, { maxLog2Size: 6 }],
      [300, 300, { maxLog2Size: 5 }],
      [301, 1, { maxLog2Size: 4 }],
      [1000, 999, { maxLog2Size: 7 }],
      [777, 100, { maxLog2Size: 6, memoryBudgetBytes: 4 * 2 ** 6 * 3.5 }],
      [777, 500, { maxLog2Size: 6, memoryBudgetBytes: 4 * 2 ** 6 * 5.5 }],
      [64, 64, { maxLog2Size: 3 }],
      [1500, 1400, { maxLog2Size: 8, memoryBudgetBytes: 4 * 2 ** 8 * 3.5 }],
      // Several inverse transforms per output block, as inputs beyond p bits need for exactness.
      [900, 400, { maxLog2Size: 6, maxBlocksPerInverse: 2 }],
      [900, 400, { maxLog2Size: 6, maxBlocksPerInverse: 1, memoryBudgetBytes: 4 * 2 ** 6 * 3.5 }],
      [900, 40, { maxLog2Size: 7, maxBlocksPerInverse: 3 }],
    ];
    for (const [n, l, options] of cases) {
      const plan = planToeplitz(n, l, options);
      seen.add(
        `${plan.mode}/${plan.cacheInput}/${plan.inputBlocks > 1}/${plan.outputBlocks > 1}/${plan.blocksPerInverse < plan.inputBlocks}`,
      );
      const x = randomBits(n, rng);
      const s = randomToeplitzSeed(n, l, rng);
      expect(same(toeplitzHash(x, s, l, options), toeplitzHashReference(x, s, l)), `n=${n} ℓ=${l}`).toBe(
        true,
      );
    }
    expect(seen).toContain("diagonal/true/true/true/false");
    expect(seen).toContain("diagonal/true/true/true/true");
    expect(seen).toContain("stream/false/true/false/false");
    expect(seen).toContain("stream/false/true/true/false");
    expect([...seen].some((k) => k.startsWith("stream") && k.endsWith("/true"))).toBe(true);
  });

  it("is exact when every input and seed bit is 1 (largest convolution sums)", () => {
    for (const [n, l, maxLog2Size] of [
      [2000, 1000, 25],
      [2000, 2000, 8],
    ]) {
      const x = new Uint8Array(n).fill(1);
      const s = new Uint8Array(n + l - 1).fill(1);
      // Every output is the parity of n ones.
      const expected = new Uint8Array(l).fill(n & 1);
      expect(same(toeplitzHash(x, s, l, { maxLog2Size }), expected)).toBe(true);
      x[0] = 0;
      expect(same(toeplitzHash(x, s, l, { maxLog2Size }), new Uint8Array(l).fill((n - 1) & 1))).toBe(true);
    }
  });

  it("agrees across block layouts at 2·10^5 bits (one transform against many blocks)", () => {
    const rng = new Rng("pa-large");
    const n = 200_000;
    const l = 120_000;
    const x = randomBits(n, rng);
    const s = randomToeplitzSeed(n, l, rng);
    const whole = toeplitzHash(x, s, l);
    expect(planToeplitz(n, l).outputBlocks).toBe(1);
    const blocked = toeplitzHash(x, s, l, { maxLog2Size: 15 });
    expect(planToeplitz(n, l, { maxLog2Size: 15 }).inputBlocks).toBeGreaterThan(1);
    expect(same(whole, blocked)).toBe(true);
    // Spot-check outputs against the definition.
    for (const i of [0, 1, 4567, l - 1]) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc ^= s[i - j + n - 1] & x[j];
      expect(whole[i]).toBe(acc);
    }
  });

  it("uses the documented matrix convention T[i][j] = s[i − j + n − 1]", () => {
    // n = 3, ℓ = 2, seed s0..s3: T = [[s2 s1 s0], [s3 s2 s1]]. Unit inputs read out the columns.
    const s = Uint8Array.from([1, 0, 1, 1]);
    expect(Array.from(toeplitzHash(Uint8Array.from([1, 0, 0]), s, 2))).toEqual([1, 1]);
    expect(Array.from(toeplitzHash(Uint8Array.from([0, 1, 0]), s, 2))).toEqual([0, 1]);
    expect(Array.from(toeplitzHash(Uint8Array.from([0, 0, 1]), s, 2))).toEqual([1, 0]);
  });
});

describe("Toeplitz hashing as a universal family", () => {
  it("collides with probability 2^−ℓ for a fixed pair of distinct inputs (Carter & Wegman 1979)", () => {
    // Pr_s[T x = T x′] = Pr_s[T (x ⊕ x′) = 0] = 2^−ℓ exactly for random Toeplitz T and x ≠ x′.
    const rng = new Rng("pa-universal");
    const n = 40;
    const l = 4;
    const x = randomBits(n, rng);
    const y = x.slice();
    y[7] ^= 1;
    y[30] ^= 1;
    const trials = 20_000;
    let collisions = 0;
    for (let t = 0; t < trials; t++) {
      const s = randomToeplitzSeed(n, l, rng);
      if (same(toeplitzHash(x, s, l), toeplitzHash(y, s, l))) collisions++;
    }
    const p = 2 ** -l;
    const se = Math.sqrt((p * (1 - p)) / trials);
    expect(Math.abs(collisions / trials - p)).toBeLessThan(4 * se);
  });

  it("outputs of a key with known bits fixed are close to uniform, within the leftover hash lemma", () => {
    // Eve knows 8 of 64 bits and that X is uniform on a set S of 2^14 strings: H_min(X|E) = H_2 = 14.
    // Averaged over seeds the distance from uniform of ℓ output bits is at most ½·2^(−(14 − ℓ)/2)
    // (leftover hash lemma, Renner 2005; Tomamichel et al. 2011). Hashing every element of S gives the
    // exact output distribution for each seed.
    const rng = new Rng("pa-lhl");
    const n = 64;
    const k = 14;
    const fixed = randomBits(8, rng);
    const set: Uint8Array[] = [];
    for (let i = 0; i < 2 ** k; i++) {
      const x = randomBits(n, rng);
      x.set(fixed, 0);
      set.push(x);
    }
    /** Distance from uniform of ℓ output bits for each of `seeds` random seeds. */
    const distances = (l: number, seeds: number): number[] => {
      const out: number[] = [];
      for (let t = 0; t < seeds; t++) {
        const s = randomToeplitzSeed(n, l, rng);
        // The hash is linear over GF(2): hash the unit vectors once and XOR the columns of each x.
        const columns = new Int32Array(n);
        for (let j = 0; j < n; j++) {
          const unit = new Uint8Array(n);
          unit[j] = 1;
          const y = toeplitzHash(unit, s, l);
          for (let b = 0; b < l; b++) columns[j] = (columns[j] << 1) | y[b];
        }
        const counts = new Float64Array(2 ** l);
        for (const x of set) {
          let v = 0;
          for (let j = 0; j < n; j++) if (x[j]) v ^= columns[j];
          counts[v]++;
        }
        let tv = 0;
        for (const c of counts) tv += Math.abs(c / set.length - 2 ** -l);
        out.push(tv / 2);
      }
      return out;
    };
    const l = 4;
    const bound = 0.5 * 2 ** (-(k - l) / 2);
    const tvs = distances(l, 32);
    const mean = tvs.reduce((a, b) => a + b, 0) / tvs.length;
    const sd = Math.sqrt(tvs.reduce((a, b) => a + (b - mean) ** 2, 0) / (tvs.length - 1));
    // The lemma bounds the mean over seeds: the sample mean must sit below it by 3 standard errors.
    expect(mean + (3 * sd) / Math.sqrt(tvs.length)).toBeLessThan(bound);
    // Asking for more bits than the entropy leaves the output far from uniform: at most 2^14 of the
    // 2^16 outcomes can occur, so the distance is at least 1 − 2^14/2^16 = 3/4.
    expect(distances(16, 1)[0]).toBeGreaterThanOrEqual(0.75);
  });
});

describe("privacy amplification", () => {
  it("both parties get the same key from the same seed", () => {
    const rng = new Rng("pa-parties");
    const key = randomBits(5000, rng);
    const alice = privacyAmplify(key, 3000, new Rng("public-seed"));
    expect(alice.seed.length).toBe(toeplitzSeedLength(5000, 3000));
    const bob = toeplitzHash(key.slice(), alice.seed, 3000);
    expect(same(alice.key, bob)).toBe(true);
    expect(alice.key.length).toBe(3000);
  });

  it("rejects malformed input with clear RangeErrors", () => {
    const x = new Uint8Array(10);
    expect(() => toeplitzHash(x, new Uint8Array(13), 5)).toThrow(
      /seed must have n \+ ℓ − 1 = 10 \+ 5 − 1 = 14 bits, got 13/,
    );
    expect(() => toeplitzHash(x, new Uint8Array(9), 0)).toThrow(/outputBits must be an integer in \[1, 10\]/);
    expect(() => toeplitzHash(x, new Uint8Array(20), 11)).toThrow(/outputBits/);
    expect(() => toeplitzHash(new Uint8Array(0), new Uint8Array(0), 1)).toThrow(/at least 1 bit/);
    const bad = new Uint8Array(10);
    bad[3] = 2;
    expect(() => toeplitzHash(bad, new Uint8Array(14), 5)).toThrow(/input\[3\] = 2 is not a bit/);
    const badSeed = new Uint8Array(14);
    badSeed[13] = 7;
    expect(() => toeplitzHash(x, badSeed, 5)).toThrow(/seed\[13\] = 7 is not a bit/);
    expect(() => planToeplitz(10, 5, { memoryBudgetBytes: 1 })).toThrow(/no block layout/);
    expect(() => planToeplitz(10, 5, { maxLog2Size: 26 })).toThrow(/maxLog2Size/);
    expect(() => planToeplitz(10, 5, { maxBlocksPerInverse: 0 })).toThrow(/maxBlocksPerInverse/);
  });
});

describe("secret key length from the leftover hash lemma (Tomamichel et al. 2011)", () => {
  it("subtracts every disclosed bit and 2·log2(1/(2ε_PA))", () => {
    // 2·log2(1/(2·1e-10)) = 2·log2(5e9) = 64.439…
    expect(secretKeyLength({ minEntropy: 1000, reconciliationLeak: 200, epsilonPA: 1e-10 })).toBe(735);
    expect(
      secretKeyLength({
        minEntropy: 1000,
        reconciliationLeak: 200,
        verificationLeak: 64,
        authenticationCost: 10,
        epsilonPA: 1e-10,
      }),
    ).toBe(661);
    // ε_PA = 1/2 costs nothing; ε_PA = 2^−21 costs exactly 40 bits.
    expect(secretKeyLength({ minEntropy: 100.5, reconciliationLeak: 0, epsilonPA: 0.5 })).toBe(100);
    expect(secretKeyLength({ minEntropy: 100, reconciliationLeak: 0, epsilonPA: 2 ** -21 })).toBe(60);
  });

  it("is clamped at zero and validates its inputs", () => {
    expect(secretKeyLength({ minEntropy: 50, reconciliationLeak: 60, epsilonPA: 1e-9 })).toBe(0);
    expect(() => secretKeyLength({ minEntropy: -1, reconciliationLeak: 0, epsilonPA: 1e-9 })).toThrow(
      /minEntropy/,
    );
    expect(() =>
      secretKeyLength({ minEntropy: 10, reconciliationLeak: Number.NaN, epsilonPA: 1e-9 }),
    ).toThrow(/reconciliationLeak/);
    expect(() => secretKeyLength({ minEntropy: 10, reconciliationLeak: 0, epsilonPA: 0 })).toThrow(
      /epsilonPA/,
    );
    expect(() => secretKeyLength({ minEntropy: 10, reconciliationLeak: 0, epsilonPA: 0.6 })).toThrow(
      /epsilonPA/,
    );
  });
});
