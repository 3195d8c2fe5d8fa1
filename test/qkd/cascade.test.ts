import { beforeAll, describe, expect, it } from "vitest";
import { type Bits, binaryEntropy, hammingDistance, randomBits } from "../../src/qkd/bits.js";
import {
  CascadeCorrector,
  type CascadeParams,
  CascadePlan,
  type CascadeVariant,
  cascadeBlockSizes,
  KeyParityOracle,
  type ParityOracle,
  ParityQueries,
  reconcileCascade,
} from "../../src/qkd/cascade.js";
import { Rng } from "../../src/sim/rng.js";

/** Bob's copy of `alice` through a binary symmetric channel: each bit flipped with probability q. */
function noisy(alice: Bits, q: number, rng: Rng): Bits {
  const bob = alice.slice();
  // Geometric gaps between errors: one draw per error instead of one per bit.
  for (let i = rng.geometric(q) - 1; i < bob.length; i += rng.geometric(q)) bob[i] ^= 1;
  return bob;
}

/** An oracle that counts what passes through it, around Alice's in-memory oracle. */
class CountingOracle implements ParityOracle {
  calls = 0;
  answered = 0;
  constructor(private readonly inner: ParityOracle) {}
  parities(queries: ParityQueries): ArrayLike<number> {
    this.calls++;
    this.answered += queries.count;
    return this.inner.parities(queries);
  }
}

const N = 10_000;
const QBERS = [0.01, 0.02, 0.05, 0.08] as const;
const FRAMES = 100;

/*
 * Reference efficiencies for 10^4-bit frames.
 * - published: original Cascade as measured by cascade-cpp (B. Rijsman, github.com/brunorijsman/cascade-cpp,
 *   exact error count, FIFO service of pending blocks), and the best optimized variant of Martinez-Mateo,
 *   Pacher, Peev, Ciurana & Martin, QIC 15 (2015), read off their figures for 2^14-bit frames; both from
 *   /work/shared/reference/physics.md, "Information reconciliation".
 * - ours: this implementation over 20 000 frames per point (binary symmetric channel, other seeds than
 *   below), with the per-frame standard deviation sd.
 */
const REFERENCE: Record<CascadeVariant, { published: number[]; ours: number[]; sd: number[] }> = {
  original: {
    published: [1.143, 1.159, 1.185, 1.217],
    ours: [1.1307, 1.1452, 1.1723, 1.1973],
    sd: [0.0155, 0.0114, 0.0074, 0.0061],
  },
  optimized: {
    published: [1.045, 1.04, 1.045, 1.052],
    ours: [1.0528, 1.0452, 1.0417, 1.0463],
    sd: [0.012, 0.009, 0.0063, 0.0052],
  },
};

/*
 * Systematic allowance between our means and the published ones, on top of the statistical tolerance.
 * original: Brassard & Salvail search the smallest odd block first, as we do; cascade-cpp serves all
 * pending blocks of all passes in arrival order, which searches large blocks for errors that a small
 * one would have found. An arrival-order version of this implementation measured 1-2 % more
 * (1.138/1.156/1.179/1.210, 200 frames each); our means sit 0.012-0.020 below cascade-cpp's figures. optimized: the published points are read off a plot (±0.005)
 * for 2^14-bit frames, and efficiency worsens as frames shrink; ours differ from them by −0.006..+0.008.
 */
const SYSTEMATIC: Record<CascadeVariant, number> = { original: 0.025, optimized: 0.012 };

interface Sample {
  mean: number;
  sd: number;
  failures: number;
  minMargin: number; // min over frames of disclosedBits − n·h(actual QBER)
  meanRoundTrips: number;
  allDisclosedViaOracle: boolean;
}

function sample(variant: CascadeVariant, q: number, frames: number, seed: number): Sample {
  const plan = new CascadePlan(N, { estimatedQber: q, variant, seed: `test-${seed}` });
  const bob = new CascadeCorrector(plan);
  const rng = new Rng(seed);
  let sum = 0;
  let sum2 = 0;
  let failures = 0;
  let minMargin = Number.POSITIVE_INFINITY;
  let roundTrips = 0;
  let viaOracle = true;
  for (let f = 0; f < frames; f++) {
    const alice = randomBits(N, rng);
    const noisyKey = noisy(alice, q, rng);
    const errors = hammingDistance(alice, noisyKey);
    const oracle = new CountingOracle(new KeyParityOracle(alice, plan));
    const r = bob.reconcile(noisyKey, oracle);
    if (hammingDistance(alice, r.corrected) !== 0) failures++;
    const shannon = N * binaryEntropy(errors / N);
    const f1 = r.disclosedBits / shannon;
    sum += f1;
    sum2 += f1 * f1;
    minMargin = Math.min(minMargin, r.disclosedBits - shannon);
    roundTrips += r.roundTrips;
    viaOracle &&= oracle.answered === r.disclosedBits && oracle.calls === r.roundTrips;
  }
  const mean = sum / frames;
  return {
    mean,
    sd: Math.sqrt(Math.max(0, sum2 / frames - mean * mean) * (frames / (frames - 1))),
    failures,
    minMargin,
    meanRoundTrips: roundTrips / frames,
    allDisclosedViaOracle: viaOracle,
  };
}

describe("Cascade on 10^4-bit frames at QBER 1, 2, 5, 8 %", () => {
  const samples = new Map<string, Sample>();
  beforeAll(() => {
    for (const variant of ["original", "optimized"] as const)
      QBERS.forEach((q, i) => {
        samples.set(`${variant}:${q}`, sample(variant, q, FRAMES, 1000 + i));
      });
  });

  it("corrects every frame: failures consistent with a frame error rate ≤ 1e-3", () => {
    // 400 frames per variant. At FER = 1e-3 the failure count is ~Poisson(0.4): P(≥ 3) = 0.8 %, so more
    // than 2 failures would be evidence against the target. Measured over 20 000 frames per point:
    // optimized 1-2 failures (FER ≈ 1e-4), original 0-4 (FER ≤ 2e-4).
    for (const variant of ["original", "optimized"] as const) {
      let failures = 0;
      for (const q of QBERS) failures += samples.get(`${variant}:${q}`)!.failures;
      expect(failures, variant).toBeLessThanOrEqual(2);
    }
  });

  it("discloses at least n·h(QBER) bits (Shannon), frame by frame and on average", () => {
    // Shannon's source-coding bound binds the mean; a single frame could in principle dip below it,
    // but the per-frame spread (sd ≈ 1 % of the mean) keeps Cascade's frames several sd above it.
    for (const [key, s] of samples) {
      expect(s.minMargin, key).toBeGreaterThan(0);
      expect(s.mean, key).toBeGreaterThan(1);
    }
  });

  it("reaches efficiencies in a band around the published values and our long runs", () => {
    QBERS.forEach((q, i) => {
      for (const variant of ["original", "optimized"] as const) {
        const s = samples.get(`${variant}:${q}`)!;
        const ref = REFERENCE[variant];
        // Statistical tolerance: 4 standard errors of a 100-frame mean, from the spread measured here.
        const se = s.sd / Math.sqrt(FRAMES);
        expect(s.sd, `${variant} q=${q} sd`).toBeLessThan(2 * ref.sd[i]);
        expect(Math.abs(s.mean - ref.published[i]), `${variant} q=${q} vs published`).toBeLessThanOrEqual(
          SYSTEMATIC[variant] + 4 * se,
        );
        // Our 20 000-frame means have standard errors of about 1e-4, small next to 4·se ≈ 0.002-0.006.
        expect(Math.abs(s.mean - ref.ours[i]), `${variant} q=${q} vs long run`).toBeLessThanOrEqual(
          4 * se + 4 * (ref.sd[i] / Math.sqrt(20_000)),
        );
      }
    });
  });

  it("optimized meets f ≤ 1.06 and beats the original by at least 0.07 at every QBER", () => {
    for (const q of QBERS) {
      const opt = samples.get(`optimized:${q}`)!;
      const orig = samples.get(`original:${q}`)!;
      expect(opt.mean + (4 * opt.sd) / Math.sqrt(FRAMES), `q=${q}`).toBeLessThanOrEqual(1.06);
      expect(orig.mean - opt.mean, `q=${q}`).toBeGreaterThan(0.07);
    }
  });

  it("discloses only through the oracle: every disclosed bit and round trip went through it", () => {
    for (const [key, s] of samples) expect(s.allDisclosedViaOracle, key).toBe(true);
  });

  it("needs a number of round trips set by the passes and block sizes, not by the error count", () => {
    for (const q of QBERS) {
      // The original: one round trip for all top-level parities, about log2(block) per pass, and a few
      // back-tracking waves (measured 39-46 per frame).
      const orig = samples.get(`original:${q}`)!;
      const plan = new CascadePlan(N, { estimatedQber: q, variant: "original" });
      const perPass = Math.ceil(Math.log2(Math.max(...plan.blockSizes))) + 1;
      expect(orig.meanRoundTrips, `original q=${q}`).toBeLessThan(1.5 * plan.passCount * perPass);
      // The optimized schedule's long back-tracking chains between its first two passes cost round
      // trips (measured 160-250 per frame), still far fewer than its 800-4300 disclosed bits.
      const opt = samples.get(`optimized:${q}`)!;
      expect(opt.meanRoundTrips, `optimized q=${q}`).toBeLessThan(300);
    }
  });
});

describe("round trips", () => {
  it("searches all odd blocks of a pass in parallel: one pass costs 1 + log2(block) round trips", () => {
    const rng = new Rng(7);
    const alice = randomBits(N, rng);
    const bob = noisy(alice, 0.05, rng); // ~500 errors in 157 blocks, about half of them odd
    const r = reconcileCascade(alice, bob, { estimatedQber: 0.05, blockSizes: [64] });
    expect(r.roundTrips).toBe(1 + 6);
    expect(r.errorsCorrected).toBeGreaterThan(50);
  });

  it("grow logarithmically with the frame length for the original schedule", () => {
    const rounds = (n: number): number => {
      const plan = new CascadePlan(n, { estimatedQber: 0.08, variant: "original", seed: 1 });
      const bob = new CascadeCorrector(plan);
      const rng = new Rng(n);
      let total = 0;
      for (let f = 0; f < 5; f++) {
        const alice = randomBits(n, rng);
        total += bob.reconcile(noisy(alice, 0.08, rng), new KeyParityOracle(alice, plan)).roundTrips;
      }
      return total / 5;
    };
    // 64 times the errors (80 → 5100); measured 30 → 56 round trips.
    expect(rounds(64_000)).toBeLessThan(2.5 * rounds(1000));
  });
});

describe("edge cases", () => {
  it("a frame without errors: nothing flipped, only top-level parities disclosed, one round trip", () => {
    const alice = randomBits(N, new Rng(3));
    for (const variant of ["original", "optimized"] as const) {
      const plan = new CascadePlan(N, { estimatedQber: 0.02, variant });
      const r = new CascadeCorrector(plan).reconcile(alice, new KeyParityOracle(alice, plan));
      expect(r.corrected).toEqual(alice);
      expect(r.errorsCorrected).toBe(0);
      expect(r.roundTrips).toBe(1);
      expect(r.messages).toBe(2);
      const blocks = plan.blockCounts.reduce((a, b) => a + b, 0);
      // Block parity inference skips the last block of every pass after the first.
      expect(r.disclosedBits).toBe(variant === "optimized" ? blocks - (plan.passCount - 1) : blocks);
      expect(r.efficiency).toBe(Number.POSITIVE_INFINITY);
    }
  });

  it("a single bit", () => {
    const one = Uint8Array.of(1);
    const zero = Uint8Array.of(0);
    const r = reconcileCascade(one, zero, { estimatedQber: 0.1 });
    expect(r.corrected).toEqual(one);
    expect(r.errorsCorrected).toBe(1);
    // The frame parity is the bit itself; every later pass infers its single block.
    expect(r.disclosedBits).toBe(1);
    expect(r.roundTrips).toBe(1);
    const same = reconcileCascade(one, one, { estimatedQber: 0.1, variant: "original" });
    expect(same.corrected).toEqual(one);
    expect(same.disclosedBits).toBe(4);
  });

  it("tiny frames: every pattern of at most n/2 errors in up to 8 bits is corrected", () => {
    // More errors than n/2 is a QBER above ½, outside Cascade's domain: flipping every bit, say, leaves
    // every even-sized block with even parity, which no parity check can see.
    const rng = new Rng(11);
    const weight = (x: number): number => (x === 0 ? 0 : (x & 1) + weight(x >>> 1));
    for (let n = 1; n <= 8; n++) {
      const plan = new CascadePlan(n, { estimatedQber: 0.2, seed: n });
      const bob = new CascadeCorrector(plan);
      for (let pattern = 0; pattern < 1 << n; pattern++) {
        if (weight(pattern) > n / 2) continue;
        const alice = randomBits(n, rng);
        const noisyKey = alice.map((b, i) => b ^ ((pattern >>> i) & 1));
        const r = bob.reconcile(noisyKey, new KeyParityOracle(alice, plan));
        expect(Array.from(r.corrected), `n=${n} pattern=${pattern}`).toEqual(Array.from(alice));
        expect(r.errorsCorrected).toBe(hammingDistance(alice, noisyKey));
      }
    }
  });

  it("short frames of odd lengths at several QBERs", () => {
    const rng = new Rng(12);
    for (const n of [7, 33, 100, 257, 1001]) {
      for (const q of [0.01, 0.05, 0.1]) {
        const plan = new CascadePlan(n, { estimatedQber: q, seed: 5 });
        const bob = new CascadeCorrector(plan);
        for (let f = 0; f < 10; f++) {
          const alice = randomBits(n, rng);
          const r = bob.reconcile(noisy(alice, q, rng), new KeyParityOracle(alice, plan));
          expect(hammingDistance(r.corrected, alice), `n=${n} q=${q}`).toBe(0);
        }
      }
    }
  });

  it("derives block sizes from the estimated QBER, and still corrects when the estimate is off", () => {
    expect(cascadeBlockSizes(N, 0.01, "original")).toEqual([73, 146, 292, 584]);
    const opt = cascadeBlockSizes(N, 0.01);
    expect(opt.slice(0, 3)).toEqual([128, 512, 4096]);
    expect(opt).toHaveLength(14);
    expect(opt.slice(3).every((k) => k === 5000)).toBe(true);
    expect(cascadeBlockSizes(N, 0.08).slice(0, 2)).toEqual([16, 64]);
    expect(cascadeBlockSizes(10, 0.001)).toEqual(new Array(14).fill(10).fill(5, 2));
    // True QBER 4 %, estimated 2 %: the plan follows the estimate; more back-tracking, still corrected.
    const rng = new Rng(13);
    const plan = new CascadePlan(N, { estimatedQber: 0.02 });
    expect(plan.blockSizes[0]).toBe(64);
    const bob = new CascadeCorrector(plan);
    for (let f = 0; f < 5; f++) {
      const alice = randomBits(N, rng);
      const r = bob.reconcile(noisy(alice, 0.04, rng), new KeyParityOracle(alice, plan));
      expect(hammingDistance(r.corrected, alice)).toBe(0);
    }
  });
});

describe("the classical channel", () => {
  it("works when Alice and Bob build their plans apart and talk through a serialized channel", () => {
    const rng = new Rng(21);
    const alice = randomBits(4000, rng);
    const bob = noisy(alice, 0.03, rng);
    const params: CascadeParams = { estimatedQber: 0.03, seed: "session-42" };
    // Alice's side: her own plan and oracle; Bob's requests reach her only as copied plain arrays.
    const alicePlan = new CascadePlan(alice.length, params);
    const aliceOracle = new KeyParityOracle(alice, alicePlan);
    const channel: ParityOracle = {
      parities(q: ParityQueries) {
        const wire = JSON.parse(
          JSON.stringify({
            pass: Array.from(q.pass.subarray(0, q.count)),
            start: Array.from(q.start.subarray(0, q.count)),
            end: Array.from(q.end.subarray(0, q.count)),
          }),
        ) as { pass: number[]; start: number[]; end: number[] };
        const received = new ParityQueries(1);
        for (let i = 0; i < wire.pass.length; i++)
          received.addRange(wire.pass[i], wire.start[i], wire.end[i]);
        return Array.from(aliceOracle.parities(received).subarray(0, received.count));
      },
    };
    const r = new CascadeCorrector(new CascadePlan(bob.length, params)).reconcile(bob, channel);
    expect(hammingDistance(r.corrected, alice)).toBe(0);
    expect(aliceOracle.answered).toBe(r.disclosedBits);
    expect(aliceOracle.calls).toBe(r.roundTrips);
    expect(r.messages).toBe(2 * r.roundTrips);
    expect(r.bitsSent).toBeGreaterThan(r.disclosedBits);
  });

  it("answers explicit index lists as well as ranges of a pass order", () => {
    const rng = new Rng(22);
    const alice = randomBits(100, rng);
    const plan = new CascadePlan(100, { estimatedQber: 0.05 });
    const oracle = new KeyParityOracle(alice, plan);
    const q = new ParityQueries(1); // grows as needed
    q.addList([3, 5, 7]);
    q.addRange(1, 10, 20);
    q.addList([]);
    q.addList(Array.from({ length: 40 }, (_, i) => 2 * i));
    const a = oracle.parities(q);
    const perm = plan.permutations[1];
    let range = 0;
    for (let j = 10; j < 20; j++) range ^= alice[perm[j]];
    let evens = 0;
    for (let i = 0; i < 40; i++) evens ^= alice[2 * i];
    expect(Array.from(a.subarray(0, 4))).toEqual([alice[3] ^ alice[5] ^ alice[7], range, 0, evens]);
  });

  it("is deterministic under the same seeds, and the permutation seed changes the transcript", () => {
    const rng = new Rng(23);
    const alice = randomBits(N, rng);
    const bob = noisy(alice, 0.05, rng);
    const run = (seed: number) => reconcileCascade(alice, bob, { estimatedQber: 0.05, seed });
    const a = run(1);
    const b = run(1);
    expect(b).toEqual(a);
    const c = run(2);
    expect(hammingDistance(c.corrected, alice)).toBe(0);
    expect([c.disclosedBits, c.roundTrips]).not.toEqual([a.disclosedBits, a.roundTrips]);
    expect(a.efficiency).toBeCloseTo(a.disclosedBits / (N * binaryEntropy(a.errorsCorrected / N)), 12);
  });
});

describe("input validation", () => {
  const plan = new CascadePlan(10, { estimatedQber: 0.05 });
  const key = new Uint8Array(10);

  it("rejects bad frame lengths, QBERs, variants and block sizes", () => {
    expect(() => new CascadePlan(0, { estimatedQber: 0.05 })).toThrow(/frame length must be an integer >= 1/);
    expect(() => new CascadePlan(2.5, { estimatedQber: 0.05 })).toThrow(RangeError);
    for (const q of [0, 0.5, -0.1, 0.7, Number.NaN]) {
      expect(() => new CascadePlan(10, { estimatedQber: q })).toThrow(/estimatedQber must be in \(0, 0\.5\)/);
      expect(() => cascadeBlockSizes(10, q)).toThrow(RangeError);
    }
    expect(() => new CascadePlan(10, { estimatedQber: 0.05, variant: "turbo" as CascadeVariant })).toThrow(
      /variant must be "original" or "optimized"/,
    );
    expect(() => new CascadePlan(10, { estimatedQber: 0.05, blockSizes: [] })).toThrow(/must not be empty/);
    expect(() => new CascadePlan(10, { estimatedQber: 0.05, blockSizes: [4, 0] })).toThrow(
      /blockSizes\[1\] must be an integer >= 1/,
    );
  });

  it("rejects keys of the wrong length or with values other than 0 and 1", () => {
    const bob = new CascadeCorrector(plan);
    const oracle = new KeyParityOracle(key, plan);
    expect(() => bob.reconcile(new Uint8Array(9), oracle)).toThrow(
      /bobKey has 9 bits but the plan is for 10/,
    );
    expect(() => bob.reconcile(Uint8Array.of(0, 1, 2, 0, 0, 0, 0, 0, 0, 0), oracle)).toThrow(
      /only 0s and 1s/,
    );
    expect(() => new KeyParityOracle(new Uint8Array(11), plan)).toThrow(/aliceKey has 11 bits/);
    expect(() => reconcileCascade(new Uint8Array(5), new Uint8Array(6), { estimatedQber: 0.05 })).toThrow(
      /key lengths differ \(Alice 5, Bob 6\)/,
    );
  });

  it("rejects malformed queries and short or inconsistent answers", () => {
    const oracle = new KeyParityOracle(key, plan);
    const bad = new ParityQueries();
    bad.addRange(plan.passCount, 0, 1);
    expect(() => oracle.parities(bad)).toThrow(/names pass/);
    const outside = new ParityQueries();
    outside.addRange(0, 5, 11);
    expect(() => oracle.parities(outside)).toThrow(/range \[5, 11\) of 10 bits/);
    const listed = new ParityQueries();
    listed.addList([10]);
    expect(() => oracle.parities(listed)).toThrow(/position 10 of 10/);

    const bob = new CascadeCorrector(plan);
    expect(() => bob.reconcile(key, { parities: () => new Uint8Array(0) })).toThrow(/answered 0 of/);
    // Random answers contradict each other sooner or later; the corrector stops instead of looping.
    const rng = new Rng(31);
    const big = new CascadePlan(2000, { estimatedQber: 0.05 });
    const liar: ParityOracle = {
      parities: (q) => Uint8Array.from({ length: q.count }, () => rng.nextUint32() & 1),
    };
    expect(() => new CascadeCorrector(big).reconcile(new Uint8Array(2000), liar)).toThrow(/inconsistent/);
  });
});

describe("shared shuffles across frames (permutationCapacity)", () => {
  it("restricts one shuffle per pass to each frame: valid permutations, consistent across lengths, same results", () => {
    const a = new CascadePlan(1000, { estimatedQber: 0.02, seed: "session", permutationCapacity: 1300 });
    const b = new CascadePlan(1200, { estimatedQber: 0.02, seed: "session", permutationCapacity: 1300 });
    for (let p = 0; p < a.passCount; p++) {
      const pa = a.permutations[p];
      expect([...pa].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      // The shorter frame's order is the longer frame's order with the positions ≥ 1000 left out.
      expect([...pa]).toEqual([...b.permutations[p]].filter((v) => v < 1000));
      for (let i = 0; i < 1000; i++) expect(a.inverses[p][pa[i]]).toBe(i);
    }
    expect(() => new CascadePlan(1000, { estimatedQber: 0.02, permutationCapacity: 999 })).toThrow(
      /permutationCapacity must be an integer ≥ the frame length 1000/,
    );
  });

  it("corrects frames as well as fresh shuffles do (Brassard–Salvail 1993: any uniform shuffle)", () => {
    const rng = new Rng(77);
    let disclosed = 0;
    for (let f = 0; f < 20; f++) {
      const alice = randomBits(10_000, rng);
      const bob = alice.slice();
      for (let i = 0; i < 10_000; i++) if (rng.random() < 0.03) bob[i] ^= 1;
      const r = reconcileCascade(alice, bob, { estimatedQber: 0.03, seed: "s", permutationCapacity: 12_500 });
      expect(hammingDistance(alice, r.corrected)).toBe(0);
      disclosed += r.disclosedBits;
    }
    // Mean efficiency near the optimized variant's measured 1.04–1.05 (bench): 20 frames of ~300 errors
    // put the mean within about ±0.01 of it, so 1.08 leaves room without hiding a regression.
    const f = disclosed / 20 / (10_000 * binaryEntropy(0.03));
    expect(f).toBeGreaterThan(1);
    expect(f).toBeLessThan(1.08);
  });
});
