import { describe, expect, it } from "vitest";
import { logPoissonPmf, Rng, RngStreams, splitMix64 } from "../../src/sim/rng.js";

const U32 = (1n << 32n) - 1n;
const U64 = (1n << 64n) - 1n;

/** xoshiro128** 1.1 transcribed from the reference C code with BigInt arithmetic, as an oracle. */
function referenceXoshiro(state: readonly number[]): () => number {
  const s = state.map((w) => BigInt(w));
  const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & U32;
  return () => {
    const result = (rotl((s[1] * 5n) & U32, 7n) * 9n) & U32;
    const t = (s[1] << 9n) & U32;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
    return Number(result);
  };
}

/** SplitMix64 with BigInt, as an oracle. */
function referenceSplitMix64(seed: bigint, count: number): bigint[] {
  let x = seed & U64;
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) {
    x = (x + 0x9e3779b97f4a7c15n) & U64;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64;
    out.push(z ^ (z >> 31n));
  }
  return out;
}

const hex = (ws: readonly number[]): string[] => ws.map((w) => w.toString(16).padStart(8, "0"));

describe("xoshiro128** core", () => {
  it("matches the reference implementation's published outputs for state (1, 2, 3, 4)", () => {
    // Test vector of the rand_xoshiro crate, produced with the reference xoshiro128starstar.c (v1.1).
    const r = Rng.fromState([1, 2, 3, 4]);
    const expected = [
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ];
    expect(Array.from({ length: 10 }, () => r.nextUint32())).toEqual(expected);
  });

  it("matches reference outputs, states, jump() and longJump() for a random seed state", () => {
    // Test data generated with the C reference implementation (xoshiro-6502 test ROM data).
    const seed = [0x964d4a0c, 0xd40ab895, 0xad7fdecb, 0x3006f0f0];
    const r = Rng.fromState(seed);
    const outputs: number[] = [];
    const states = [hex(r.getState())];
    for (let i = 0; i < 4; i++) {
      outputs.push(r.nextUint32());
      states.push(hex(r.getState()));
    }
    expect(hex(outputs)).toEqual(["f1391922", "6fe53806", "a5be2840", "f510ee70"]);
    expect(states.slice(1)).toEqual([
      ["72410269", "ef382c52", "2e43bec7", "62432f20"],
      ["ff3a011b", "b33a90fc", "2c5a18ae", "d81b946b"],
      ["941b058c", "605a8949", "a641e1b5", "0824bb59"],
      ["fc65379c", "52006d70", "87487639", "f1908343"],
    ]);

    const j = Rng.fromState(seed);
    const jumps: string[][] = [];
    for (let i = 0; i < 4; i++) {
      j.jump();
      jumps.push(hex(j.getState()));
    }
    expect(jumps).toEqual([
      ["2a6dd50d", "01177499", "d7eb7d01", "ddc48284"],
      ["5efdee5a", "3aa13c3d", "8cc77479", "eb10a58f"],
      ["2ca76937", "14c9006e", "34097ea8", "fdd876ea"],
      ["01b72c9a", "a78174aa", "1cc317be", "888235b2"],
    ]);

    const l = Rng.fromState(seed);
    const longJumps: string[][] = [];
    for (let i = 0; i < 4; i++) {
      l.longJump();
      longJumps.push(hex(l.getState()));
    }
    expect(longJumps).toEqual([
      ["2564e401", "3319cf31", "bdbb52e4", "3401980c"],
      ["9c99646b", "52b8802b", "592cb24e", "8d36d8cc"],
      ["ebc4340c", "85d398cb", "d5f5856b", "0b662ea3"],
      ["aa2620a3", "a137523e", "7d75a27f", "b89be680"],
    ]);
  });

  it("agrees with a BigInt transcription of the reference code over many outputs", () => {
    for (const seed of [1, 2, "x"]) {
      const r = new Rng(seed);
      const ref = referenceXoshiro(r.getState());
      for (let i = 0; i < 2000; i++) expect(r.nextUint32()).toBe(ref());
    }
  });

  it("random() is built from the top 27 + 26 bits of two outputs: multiples of 2^-53 in [0, 1)", () => {
    const r = new Rng(3);
    const c = r.clone();
    for (let i = 0; i < 1000; i++) {
      const x = r.random();
      const a = c.nextUint32() >>> 5;
      const b = c.nextUint32() >>> 6;
      expect(x).toBe((a * 2 ** 26 + b) / 2 ** 53);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      expect(Number.isInteger(x * 2 ** 53)).toBe(true);
    }
  });
});

describe("seeding", () => {
  it("SplitMix64 matches the reference values and a BigInt transcription", () => {
    // First outputs of the reference splitmix64.c for seed 1234567.
    const got = splitMix64(0, 1234567, 5).map(([hi, lo]) => (BigInt(hi) << 32n) | BigInt(lo));
    expect(got).toEqual([
      6457827717110365317n,
      3203168211198807973n,
      9817491932198370423n,
      4593380528125082431n,
      16408922859458223821n,
    ]);
    for (const seed of [0n, 0xffffffffffffffffn, 0x123456789abcdef0n, 0x8000000000000000n]) {
      const mine = splitMix64(Number(seed >> 32n), Number(seed & U32), 8).map(
        ([hi, lo]) => (BigInt(hi) << 32n) | BigInt(lo),
      );
      expect(mine).toEqual(referenceSplitMix64(seed, 8));
    }
  });

  it("equal seeds give equal sequences; different seeds and seed types differ", () => {
    const draw = (r: Rng): number[] => Array.from({ length: 8 }, () => r.nextUint32());
    expect(draw(new Rng(5))).toEqual(draw(new Rng(5)));
    expect(draw(new Rng())).toEqual(draw(new Rng(0)));
    expect(draw(new Rng(5))).not.toEqual(draw(new Rng(6)));
    expect(draw(new Rng(5))).not.toEqual(draw(new Rng("5")));
    expect(draw(new Rng(-1))).not.toEqual(draw(new Rng(2 ** 53 - 1)));
    expect(draw(new Rng("ab"))).not.toEqual(draw(new Rng("ba")));
  });

  it("rejects seeds that are not safe integers or strings", () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => new Rng(bad)).toThrow(RangeError);
      expect(() => new RngStreams(bad)).toThrow(RangeError);
    }
    expect(() => new Rng({} as unknown as number)).toThrow(TypeError);
    expect(() => new RngStreams(1).stream(0.5)).toThrow(RangeError);
  });
});

describe("state, clone and checkpoints", () => {
  it("getState/setState/fromState round-trip and clone() is independent", () => {
    const r = new Rng("checkpoint");
    r.random();
    const saved = r.getState();
    expect(saved.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)).toBe(true);
    const c = r.clone();
    const a = [r.random(), r.random(), r.exponential(2)];
    expect([c.random(), c.random(), c.exponential(2)]).toEqual(a);
    const restored = Rng.fromState(saved);
    expect([restored.random(), restored.random(), restored.exponential(2)]).toEqual(a);
    r.setState(saved);
    expect([r.random(), r.random(), r.exponential(2)]).toEqual(a);
    // Drawing from the clone did not move the original.
    const before = r.getState();
    c.random();
    expect(r.getState()).toEqual(before);
  });

  it("setState rejects malformed states", () => {
    const r = new Rng(1);
    expect(() => r.setState([1, 2, 3])).toThrow(/expected 4 words/);
    expect(() => r.setState([0, 0, 0, 0])).toThrow(/all-zero/);
    expect(() => r.setState([1, 2, 3, 2 ** 32])).toThrow(RangeError);
    expect(() => r.setState([1, 2, 3, -1])).toThrow(RangeError);
    expect(() => r.setState([1, 2, 3, 0.5])).toThrow(RangeError);
  });

  it("jump() moves to a non-overlapping subsequence", () => {
    const a = new Rng(9);
    const b = a.clone();
    b.jump();
    const xs = new Set(Array.from({ length: 1000 }, () => a.nextUint32()));
    let shared = 0;
    for (let i = 0; i < 1000; i++) if (xs.has(b.nextUint32())) shared++;
    expect(shared).toBeLessThan(3); // chance coincidences only: expected 1000²/2^32 ≈ 0.0002
  });
});

describe("RngStreams", () => {
  it("a stream's numbers depend only on the seed and its key", () => {
    const first = new RngStreams(2024).stream("node-3");
    const a = Array.from({ length: 100 }, () => first.random());

    // Same key after other streams were created and drew heavily.
    const streams = new RngStreams(2024);
    const others = [streams.stream("node-1"), streams.stream("node-2"), streams.stream(17)];
    for (const o of others) for (let i = 0; i < 10_000; i++) o.random();
    const again = streams.stream("node-3");
    for (const o of others) o.exponential(1);
    expect(Array.from({ length: 100 }, () => again.random())).toEqual(a);
  });

  it("different keys, key types, seeds and namespaces give different streams", () => {
    const s = new RngStreams("experiment-1");
    const first = (r: Rng): number => r.nextUint32();
    const values = [
      first(s.stream("a")),
      first(s.stream("b")),
      first(s.stream(3)),
      first(s.stream("3")),
      first(s.child("a").stream("b")),
      first(s.child("b").stream("a")),
      first(new RngStreams("experiment-2").stream("a")),
      first(new Rng("experiment-1")),
    ];
    expect(new Set(values).size).toBe(values.length);
    expect(first(s.child("a").stream("b"))).toBe(
      first(new RngStreams("experiment-1").child("a").stream("b")),
    );
    expect(s.child("a").seed).toBe("experiment-1");
  });

  it("streams with neighbouring keys are uncorrelated (|r| < 5/sqrt(N))", () => {
    const s = new RngStreams(1);
    const n = 100_000;
    for (const [ka, kb] of [
      [0, 1],
      ["node-1", "node-2"],
    ] as const) {
      const a = s.stream(ka);
      const b = s.stream(kb);
      let sab = 0;
      for (let i = 0; i < n; i++) sab += (a.random() - 0.5) * (b.random() - 0.5);
      const r = sab / n / (1 / 12); // Pearson correlation of two U(0,1) sequences
      expect(Math.abs(r)).toBeLessThan(5 / Math.sqrt(n));
    }
  });
});

/* ------------------------------------------------------------------------------------------ */
/* Distribution checks. Tolerances are 5 standard errors:                                      */
/*   sample mean:     SE = σ / √N                                                              */
/*   sample variance: SE = √((μ4 − σ⁴) / N), with μ4 the sample's fourth central moment        */
/* ------------------------------------------------------------------------------------------ */

interface Moments {
  n: number;
  mean: number;
  variance: number;
  m4: number;
}

function moments(xs: ArrayLike<number>): Moments {
  const n = xs.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += xs[i];
  const mean = s / n;
  let s2 = 0;
  let s4 = 0;
  for (let i = 0; i < n; i++) {
    const d = xs[i] - mean;
    s2 += d * d;
    s4 += d * d * d * d;
  }
  return { n, mean, variance: s2 / (n - 1), m4: s4 / n };
}

function min(xs: ArrayLike<number>): number {
  let m = Number.POSITIVE_INFINITY;
  for (let i = 0; i < xs.length; i++) m = Math.min(m, xs[i]);
  return m;
}

function max(xs: ArrayLike<number>): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]);
  return m;
}

function sample(n: number, draw: () => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = draw();
  return out;
}

/** Checks the sample mean and variance against the exact ones within 5 standard errors. */
function expectMoments(xs: ArrayLike<number>, mean: number, variance: number): void {
  const m = moments(xs);
  const seMean = Math.sqrt(variance / m.n);
  const seVar = Math.sqrt(Math.max(m.m4 - m.variance * m.variance, 0) / m.n);
  expect(Math.abs(m.mean - mean), `mean ${m.mean} vs ${mean} (SE ${seMean})`).toBeLessThanOrEqual(5 * seMean);
  expect(
    Math.abs(m.variance - variance),
    `variance ${m.variance} vs ${variance} (SE ${seVar})`,
  ).toBeLessThanOrEqual(5 * seVar);
}

/**
 * Pearson chi-square goodness of fit of integer samples against `pmf` on 0..kMax (the rest of the mass
 * merged into the last bin); adjacent cells are merged until each expects ≥ 20. The statistic is turned
 * into a normal deviate with the Wilson–Hilferty approximation and must be below 5.
 */
function expectFits(xs: ArrayLike<number>, pmf: (k: number) => number, kMax: number): void {
  const n = xs.length;
  const counts = new Float64Array(kMax + 2);
  for (let i = 0; i < n; i++) {
    const k = xs[i];
    if (!(Number.isInteger(k) && k >= 0)) throw new Error(`sample ${k} is not a non-negative integer`);
    counts[Math.min(k, kMax + 1)]++;
  }
  const probs = new Float64Array(kMax + 2);
  let total = 0;
  for (let k = 0; k <= kMax; k++) {
    probs[k] = pmf(k);
    total += probs[k];
  }
  probs[kMax + 1] = Math.max(0, 1 - total);
  const tail = new Float64Array(kMax + 3); // tail[k] = Σ_{j ≥ k} probs[j]
  for (let k = kMax + 1; k >= 0; k--) tail[k] = tail[k + 1] + probs[k];
  let chi2 = 0;
  let cells = 0;
  let obs = 0;
  let exp = 0;
  for (let k = 0; k < kMax + 2; k++) {
    obs += counts[k];
    exp += probs[k] * n;
    if (exp >= 20 && (tail[k + 1] * n >= 20 || k === kMax + 1)) {
      chi2 += ((obs - exp) * (obs - exp)) / exp;
      cells++;
      obs = 0;
      exp = 0;
    }
  }
  if (exp > 0) {
    chi2 += ((obs - exp) * (obs - exp)) / exp;
    cells++;
  } else if (obs > 0) {
    throw new Error(`${obs} samples where the distribution has no mass`);
  }
  const dof = cells - 1;
  expect(dof).toBeGreaterThanOrEqual(2);
  expect(wilsonHilferty(chi2, dof), `chi2 = ${chi2} on ${dof} dof`).toBeLessThan(5);
}

/** A chi-square statistic as an approximately standard normal deviate (Wilson–Hilferty). */
function wilsonHilferty(chi2: number, dof: number): number {
  return ((chi2 / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / Math.sqrt(2 / (9 * dof));
}

function lnFactorials(n: number): Float64Array {
  const lf = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) lf[i] = lf[i - 1] + Math.log(i);
  return lf;
}

function binomialPmf(n: number, p: number): (k: number) => number {
  const lf = lnFactorials(n);
  return (k) =>
    k > n ? 0 : Math.exp(lf[n] - lf[k] - lf[n - k] + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

function poissonPmf(lambda: number, kMax: number): (k: number) => number {
  const lf = lnFactorials(kMax);
  return (k) => Math.exp(-lambda + k * Math.log(lambda) - lf[k]);
}

describe("distributions", () => {
  const streams = new RngStreams("distribution-tests");
  const N = 200_000;

  it("random(): uniform on [0,1), mean 1/2, variance 1/12", () => {
    const r = streams.stream("random");
    expectMoments(
      sample(N, () => r.random()),
      1 / 2,
      1 / 12,
    );
  });

  it("uniform(a, b): mean (a+b)/2, variance (b−a)²/12", () => {
    const r = streams.stream("uniform");
    const xs = sample(N, () => r.uniform(-3, 5));
    expectMoments(xs, 1, 64 / 12);
    expect(min(xs)).toBeGreaterThanOrEqual(-3);
    expect(max(xs)).toBeLessThan(5);
    expect(r.uniform(2, 2)).toBe(2);
  });

  it("int(n): unbiased on [0, n): mean (n−1)/2, variance (n²−1)/12, chi-square uniform", () => {
    const r = streams.stream("int");
    const six = sample(N, () => r.int(6));
    expectMoments(six, 5 / 2, 35 / 12);
    expectFits(six, () => 1 / 6, 5);
    expect(r.int(1)).toBe(0);
    // 2^32 mod 3·2^30 = 2^30: plain `x % n` would make [0, 2^30) twice as likely (1/2 instead of 1/3).
    const n = 3 * 2 ** 30;
    let low = 0;
    for (let i = 0; i < N; i++) if (r.int(n) < 2 ** 30) low++;
    expect(Math.abs(low / N - 1 / 3)).toBeLessThan(5 * Math.sqrt(((1 / 3) * (2 / 3)) / N));
    // The 53-bit path.
    const big = 2 ** 52 + 12345;
    const xs = sample(N, () => r.int(big));
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x < big)).toBe(true);
    expectMoments(xs, (big - 1) / 2, (big * big - 1) / 12);
    expect(r.int(2 ** 53)).toBeLessThan(2 ** 53);
  });

  it("bernoulli(p): mean p, variance p(1−p)", () => {
    const r = streams.stream("bernoulli");
    expectMoments(
      sample(N, () => (r.bernoulli(0.3) ? 1 : 0)),
      0.3,
      0.21,
    );
    expect(r.bernoulli(0)).toBe(false);
    expect(r.bernoulli(1)).toBe(true);
  });

  it("exponential(rate): mean 1/rate, variance 1/rate², and the CDF 1 − e^(−rate·x) (Kolmogorov–Smirnov)", () => {
    const r = streams.stream("exponential");
    const rate = 2.5;
    const xs = sample(N, () => r.exponential(rate));
    expectMoments(xs, 1 / rate, 1 / rate ** 2);
    // KS statistic: √N·D exceeds 2.7 with probability ≈ 2e^(−2·2.7²) ≈ 9e-7.
    const sorted = Float64Array.from(xs).sort();
    let d = 0;
    for (let i = 0; i < N; i++) {
      const f = 1 - Math.exp(-rate * sorted[i]);
      d = Math.max(d, Math.abs(f - i / N), Math.abs(f - (i + 1) / N));
    }
    expect(Math.sqrt(N) * d).toBeLessThan(2.7);
    // Chi-square on 200 equiprobable cells with 4 million draws: sensitive enough to notice a
    // ziggurat table built with a layer area off by 0.2% (z ≈ 8), which the checks above miss.
    const bins = new Float64Array(200);
    const m4 = 4_000_000;
    for (let i = 0; i < m4; i++) bins[Math.min(199, Math.floor((1 - Math.exp(-r.exponential(1))) * 200))]++;
    let chi2 = 0;
    for (const c of bins) chi2 += (c - m4 / 200) ** 2 / (m4 / 200);
    expect(wilsonHilferty(chi2, 199), `chi2 = ${chi2} on 199 dof`).toBeLessThan(5);
    // The ziggurat's tail (x > R = 7.697 for rate 1): P(X > 8) = e^-8, binomial SE.
    const tail = streams.stream("exponential-tail");
    const m = 2_000_000;
    let beyond = 0;
    for (let i = 0; i < m; i++) if (tail.exponential(1) > 8) beyond++;
    const p8 = Math.exp(-8);
    expect(Math.abs(beyond / m - p8)).toBeLessThan(5 * Math.sqrt((p8 * (1 - p8)) / m));
  });

  it("normal(mean, sd): mean and variance sd²", () => {
    const r = streams.stream("normal");
    expectMoments(
      sample(N, () => r.normal(3, 2)),
      3,
      4,
    );
    expectMoments(
      sample(N, () => r.normal()),
      0,
      1,
    );
    expect(r.normal(1, 0)).toBe(1);
  });

  it("geometric(p): trials to first success, mean 1/p, variance (1−p)/p², pmf p(1−p)^(k−1)", () => {
    const r = streams.stream("geometric");
    for (const p of [0.9, 0.2, 0.01]) {
      const xs = sample(N, () => r.geometric(p));
      expectMoments(xs, 1 / p, (1 - p) / p ** 2);
      expect(min(xs)).toBeGreaterThanOrEqual(1);
      if (p >= 0.2) expectFits(xs, (k) => (k === 0 ? 0 : p * (1 - p) ** (k - 1)), 60);
    }
    expect(r.geometric(1)).toBe(1);
    const tiny = r.geometric(1e-12);
    expect(Number.isInteger(tiny) && tiny >= 1).toBe(true);
  });

  it("binomial(n, p): mean np, variance np(1−p), in the inversion and BTPE regimes", () => {
    const r = streams.stream("binomial");
    const cases: Array<[number, number]> = [
      [20, 0.3], // inversion
      [1_000_000, 1e-5], // inversion, large n
      [50, 0.9], // inversion of the complement
      [100, 0.4], // BTPE
      [1000, 0.7], // BTPE of the complement
      [1_000_000, 0.3], // BTPE, large n
      [1e12, 0.5], // BTPE, huge n
    ];
    for (const [n, p] of cases) {
      const xs = sample(50_000, () => r.binomial(n, p));
      expectMoments(xs, n * p, n * p * (1 - p));
      expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x <= n)).toBe(true);
    }
    expect(r.binomial(0, 0.5)).toBe(0);
    expect(r.binomial(10, 0)).toBe(0);
    expect(r.binomial(10, 1)).toBe(10);
  });

  // One million samples for the rejection samplers: enough to notice, e.g., PTRS's quick-acceptance
  // bound moved from 0.07 to 0.05 (z ≈ 7 at λ = 80, 11 at λ = 1000), which 200,000 samples miss.
  const BIG = 1_000_000;

  it("binomial(n, p) follows the exact pmf (chi-square) on both sides of the algorithm switch", () => {
    const r = streams.stream("binomial-gof");
    for (const [n, p, size] of [
      [40, 0.25, N], // n·p = 10: inversion
      [100, 0.3, N], // n·p = 30: inversion (boundary)
      [101, 0.3, BIG], // n·p = 30.3: BTPE (boundary)
      [200, 0.45, BIG], // BTPE, many explicit-ratio evaluations
      [5000, 0.2, BIG], // BTPE, squeeze and Stirling paths
      [300, 0.85, N], // complement through BTPE
    ] as const) {
      expectFits(
        sample(size, () => r.binomial(n, p)),
        binomialPmf(n, p),
        n,
      );
    }
  });

  it("poisson(λ): mean λ, variance λ, for inversion (λ < 10) and PTRS (λ ≥ 10), up to λ = 1e13", () => {
    const r = streams.stream("poisson");
    for (const lambda of [0.05, 3, 9.99, 10, 47.5, 1000, 1e6, 1e9, 1e13]) {
      const xs = sample(50_000, () => r.poisson(lambda));
      expectMoments(xs, lambda, lambda);
      expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    }
    expect(r.poisson(0)).toBe(0);
  });

  it("poisson(λ) follows the exact pmf (chi-square) on both sides of the algorithm switch", () => {
    const r = streams.stream("poisson-gof");
    for (const lambda of [0.7, 4, 9.5, 10, 15.5, 80, 1000]) {
      const kMax = Math.ceil(lambda + 15 * Math.sqrt(lambda) + 20);
      expectFits(
        sample(lambda < 10 ? N : BIG, () => r.poisson(lambda)),
        poissonPmf(lambda, kMax),
        kMax,
      );
    }
  });

  it("logPoissonPmf agrees with the direct formula and stays finite for huge λ", () => {
    for (const lambda of [0.5, 20, 300]) {
      let lnFact = 0;
      for (let k = 0; k < 600; k++) {
        if (k > 0) lnFact += Math.log(k);
        const direct = -lambda + k * Math.log(lambda) - lnFact;
        expect(Math.abs(logPoissonPmf(k, lambda) - direct)).toBeLessThan(
          1e-11 * Math.max(1, Math.abs(direct)),
        );
      }
    }
    // At the mode of Poisson(1e15), ln P ≈ −½ ln(2π·1e15).
    expect(logPoissonPmf(1e15, 1e15)).toBeCloseTo(-0.5 * Math.log(2 * Math.PI * 1e15), 6);
  });

  it("rejects invalid parameters with RangeError", () => {
    const r = new Rng(1);
    const bad: Array<[string, () => unknown]> = [
      ["uniform", () => r.uniform(1, 0)],
      ["uniform", () => r.uniform(0, Number.POSITIVE_INFINITY)],
      ["int", () => r.int(0)],
      ["int", () => r.int(2.5)],
      ["int", () => r.int(2 ** 53 + 2)],
      ["bernoulli", () => r.bernoulli(1.1)],
      ["bernoulli", () => r.bernoulli(Number.NaN)],
      ["exponential", () => r.exponential(0)],
      ["exponential", () => r.exponential(-1)],
      ["exponential", () => r.exponential(Number.POSITIVE_INFINITY)],
      ["normal", () => r.normal(0, -1)],
      ["normal", () => r.normal(Number.NaN, 1)],
      ["geometric", () => r.geometric(0)],
      ["geometric", () => r.geometric(1.5)],
      ["binomial", () => r.binomial(-1, 0.5)],
      ["binomial", () => r.binomial(2.5, 0.5)],
      ["binomial", () => r.binomial(10, -0.1)],
      ["poisson", () => r.poisson(-1)],
      ["poisson", () => r.poisson(Number.NaN)],
      ["poisson", () => r.poisson(Number.POSITIVE_INFINITY)],
    ];
    for (const [method, call] of bad) {
      expect(call).toThrow(RangeError);
      expect(call).toThrow(new RegExp(`Rng\\.${method}`));
    }
  });
});
