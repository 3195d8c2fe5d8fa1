import { describe, expect, it } from "vitest";
import { randomBits } from "../../src/qkd/bits.js";
import {
  DEFAULT_TOEPLITZ_MEMORY_BYTES,
  planToeplitz,
  privacyAmplify,
  randomToeplitzSeed,
  secretKeyLength,
  TOEPLITZ_ERROR_TARGET,
  type ToeplitzOptions,
  toeplitzHash,
  toeplitzHashReference,
  toeplitzSeedLength,
} from "../../src/qkd/privacy-amplification.js";
import { Rng } from "../../src/sim/rng.js";
import { cyclicConvolution } from "../support/ntt.js";

const same = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

describe("Toeplitz hashing: fast (FFT) against the O(n·ℓ) reference", () => {
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
      const want = toeplitzHashReference(x, s, l);
      expect(same(toeplitzHash(x, s, l), want), `n=${n} ℓ=${l}`).toBe(true);
      // The same with the TypeScript transforms, and with the other choice of splitting.
      expect(same(toeplitzHash(x, s, l, { accelerate: false }), want), `n=${n} ℓ=${l}, TS`).toBe(true);
      if (n + l > 8) {
        const split = !planToeplitz(n, l).split;
        expect(same(toeplitzHash(x, s, l, { split }), want), `n=${n} ℓ=${l}, split=${split}`).toBe(true);
      }
    }
  });

  it("matches in every block layout: diagonal and stream, split or not, several inverses per block", () => {
    const rng = new Rng("pa-blocks");
    // Each case names the layout it is there to exercise; the planner must still choose it.
    const cases: [string, number, number, ToeplitzOptions][] = [];
    for (const split of [false, true]) {
      cases.push(
        [`diagonal/split=${split}/one pass`, 1000, 999, { split, maxLog2Size: 10 }],
        [
          `diagonal/split=${split}/passes`,
          1000,
          999,
          { split, maxLog2Size: 9, memoryBudgetBytes: split ? 16000 : 32000 },
        ],
        [`diagonal/split=${split}/inverses`, 1000, 999, { split, maxLog2Size: 10, maxBlocksPerInverse: 1 }],
        [`stream/split=${split}/one input block`, 300, 150, { split, maxLog2Size: 9 }],
        [`stream/split=${split}/cached inputs`, 300, 150, { split, maxLog2Size: 8, maxBlocksPerInverse: 2 }],
        [`stream/split=${split}/reloaded inputs`, 777, 100, { split, maxLog2Size: 9 }],
        [`stream/split=${split}/inverses`, 777, 100, { split, maxLog2Size: 9, maxBlocksPerInverse: 1 }],
      );
    }
    cases.push([
      "diagonal/split=true/passes",
      3000,
      2000,
      { split: true, maxLog2Size: 4, memoryBudgetBytes: 4000 },
    ]);
    for (const [layout, n, l, options] of cases) {
      const plan = planToeplitz(n, l, options);
      const [mode, split, what] = layout.split("/");
      expect(`${plan.mode}/split=${plan.split}`, layout).toBe(`${mode}/${split}`);
      const passes = Math.ceil(plan.outputBlocks / plan.outputBlocksPerPass);
      const several = plan.blocksPerInverse < plan.inputBlocks;
      const shape: Record<string, boolean> = {
        "one pass": passes === 1 && !several,
        passes: passes > 1,
        inverses: several,
        "one input block": plan.inputBlocks === 1,
        "cached inputs": plan.cacheInput && plan.inputBlocks > 1,
        "reloaded inputs": !plan.cacheInput && plan.inputBlocks > 1,
      };
      expect(shape[what], `${layout}: ${JSON.stringify(plan)}`).toBe(true);
      expect(plan.errorBound).toBeLessThanOrEqual(TOEPLITZ_ERROR_TARGET);
      const x = randomBits(n, rng);
      const s = randomToeplitzSeed(n, l, rng);
      const want = toeplitzHashReference(x, s, l);
      expect(same(toeplitzHash(x, s, l, options), want), layout).toBe(true);
      expect(same(toeplitzHash(x, s, l, { ...options, accelerate: false }), want), `${layout}, TS`).toBe(
        true,
      );
    }
  });

  it("is exact when every input and seed bit is 1 (largest convolution sums), in every layout", () => {
    for (const [n, l, options] of [
      [2000, 1000, {}],
      [2000, 2000, { maxLog2Size: 8, split: false }],
      [2000, 2000, { maxLog2Size: 9, split: true }],
      [2000, 1999, { maxLog2Size: 7, split: true, maxBlocksPerInverse: 3 }],
      [70_000, 35_000, { split: false }],
      [70_000, 35_000, { split: true }],
    ] as [number, number, ToeplitzOptions][]) {
      const x = new Uint8Array(n).fill(1);
      const s = new Uint8Array(n + l - 1).fill(1);
      // Every output is the parity of n ones.
      expect(same(toeplitzHash(x, s, l, options), new Uint8Array(l).fill(n & 1))).toBe(true);
      x[0] = 0;
      expect(same(toeplitzHash(x, s, l, options), new Uint8Array(l).fill((n - 1) & 1))).toBe(true);
    }
  });

  it("agrees at 2·10^5 bits with an exact NTT convolution (an independent method), in three layouts", () => {
    const rng = new Rng("pa-large");
    const n = 200_000;
    const l = 120_000;
    const x = randomBits(n, rng);
    const s = randomToeplitzSeed(n, l, rng);
    // y_i = (s * x)[i + n − 1] mod 2; a cyclic NTT convolution of length 2^19 ≥ 2n + ℓ − 2 has no wrap.
    const size = 2 ** 19;
    const a = new Int32Array(size);
    const b = new Int32Array(size);
    a.set(x);
    b.set(s);
    const c = cyclicConvolution(a, b);
    const want = new Uint8Array(l);
    for (let i = 0; i < l; i++) want[i] = c[i + n - 1] & 1;
    const plans = new Set<string>();
    for (const options of [
      {},
      { split: true, maxLog2Size: 16 },
      { split: false, maxLog2Size: 15 },
    ] as ToeplitzOptions[]) {
      const plan = planToeplitz(n, l, options);
      plans.add(`${plan.mode}/${plan.split}/${plan.log2Size}`);
      expect(same(toeplitzHash(x, s, l, options), want), JSON.stringify(options)).toBe(true);
    }
    expect(plans.size).toBe(3);
  });

  it("uses the documented matrix convention T[i][j] = s[i − j + n − 1]", () => {
    // n = 3, ℓ = 2, seed s0..s3: T = [[s2 s1 s0], [s3 s2 s1]]. Unit inputs read out the columns.
    const s = Uint8Array.from([1, 0, 1, 1]);
    expect(Array.from(toeplitzHash(Uint8Array.from([1, 0, 0]), s, 2))).toEqual([1, 1]);
    expect(Array.from(toeplitzHash(Uint8Array.from([0, 1, 0]), s, 2))).toEqual([0, 1]);
    expect(Array.from(toeplitzHash(Uint8Array.from([0, 0, 1]), s, 2))).toEqual([1, 0]);
  });

  it("accepts bit arrays at any byte offset (subarrays)", () => {
    const rng = new Rng("pa-offsets");
    const n = 5000;
    const l = 3000;
    const backing = randomBits(n + 3, rng);
    const seedBacking = randomBits(n + l + 6, rng);
    for (const [xo, so] of [
      [1, 3],
      [2, 5],
      [3, 0],
    ]) {
      const x = backing.subarray(xo, xo + n);
      const s = seedBacking.subarray(so, so + n + l - 1);
      const want = toeplitzHashReference(x, s, l);
      expect(same(toeplitzHash(x, s, l, { split: false }), want)).toBe(true);
      expect(same(toeplitzHash(x, s, l, { split: true, maxLog2Size: 12 }), want)).toBe(true);
    }
  });
});

describe("planning", () => {
  it("keeps every plan's proved rounding-error bound at most 1/4 and its memory within budget", () => {
    for (const [n, l] of [
      [10_000, 5000],
      [1_000_000, 500_000],
      [100_000_000, 50_000_000],
      [100_000_000, 100_000_000],
      [1_000_000_000, 500_000_000],
    ]) {
      const plan = planToeplitz(n, l);
      expect(plan.errorBound, `n=${n}`).toBeLessThanOrEqual(TOEPLITZ_ERROR_TARGET);
      expect(plan.memoryBytes, `n=${n}`).toBeLessThanOrEqual(DEFAULT_TOEPLITZ_MEMORY_BYTES);
      expect(plan.blocksPerInverse * plan.inputBlock * (plan.split ? 2 : 1)).toBeLessThanOrEqual(2 ** 30);
    }
    // At 10^8 bits the default layout needs about 1 GiB.
    expect(planToeplitz(100_000_000, 50_000_000).memoryBytes).toBeLessThan(1.2 * 2 ** 30);
    const lean = planToeplitz(100_000_000, 50_000_000, { memoryBudgetBytes: 256 * 2 ** 20 });
    expect(lean.memoryBytes).toBeLessThanOrEqual(256 * 2 ** 20);
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
    expect(() => planToeplitz(10, 5, { maxLog2Size: 27 })).toThrow(/maxLog2Size/);
    expect(() => planToeplitz(10, 5, { maxLog2Size: 1 })).toThrow(/maxLog2Size/);
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
