import { describe, expect, it } from "vitest";
import { type Bb84Params, bb84Model, type DetectionBatch, simulateBb84 } from "../../src/qkd/bb84.js";
import { hammingDistance } from "../../src/qkd/bits.js";
import { eliasGammaLength, sift } from "../../src/qkd/sifting.js";
import { RngStreams } from "../../src/sim/rng.js";

/** Tolerances are 5 binomial standard errors; seeds are fixed. */
const streams = new RngStreams("sifting-test");

function within5Sigma(x: number, mean: number, sd: number, what: string): void {
  expect(Math.abs(x - mean), `${what}: observed ${x}, expected ${mean} ± ${sd}`).toBeLessThanOrEqual(5 * sd);
}

/** Efficient BB84 with decoys: Z chosen 90% of the time by both parties. */
const PARAMS: Bb84Params = {
  intensities: [0.5, 0.1, 0],
  intensityProbabilities: [0.7, 0.2, 0.1],
  aliceZProbability: 0.9,
  bobZProbability: 0.9,
  sourceRateHz: 1e9,
  lengthKm: 25,
  detectorEfficiency: 0.5,
  misalignment: 0.02,
  darkCountProbability: 1e-4,
};
const model = bb84Model(PARAMS);
const batch: DetectionBatch = simulateBb84(PARAMS, { pulses: 5_000_000 }, streams.stream("batch"));
/** Whether two bit strings are equal (one assertion instead of a deep comparison per element). */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe("sifting", () => {
  const result = sift(batch, streams.stream("alice"));

  it("keeps the detections whose bases agree: p_Z² + p_X² of them", () => {
    const expected = 0.9 * 0.9 + 0.1 * 0.1;
    const n = batch.count;
    within5Sigma(
      result.siftedCount / n,
      expected,
      Math.sqrt((expected * (1 - expected)) / n),
      "sifted fraction",
    );
    let agree = 0;
    for (let i = 0; i < n; i++) agree += batch.aliceBasis[i] === batch.bobBasis[i] ? 1 : 0;
    expect(result.siftedCount).toBe(agree);
    let blocks = 0;
    for (const pair of result.blocks) for (const b of pair) blocks += b.sifted;
    expect(blocks).toBe(agree);
  });

  it("discloses exactly the configured share and keeps the rest as the raw key", () => {
    for (let k = 0; k < 3; k++) {
      for (let b = 0; b < 2; b++) {
        const block = result.blocks[k][b];
        expect(block.intensity).toBe(k);
        expect(block.basis).toBe(b);
        // Defaults: signal class discloses 10% of Z and all of X; decoy and vacuum classes everything.
        const f = k === 0 ? (b === 0 ? 0.1 : 1) : 1;
        expect(block.disclosed).toBe(Math.round(f * block.sifted));
        expect(block.alice.length).toBe(block.sifted - block.disclosed);
        expect(block.bob.length).toBe(block.alice.length);
        expect(block.pulseIndex.length).toBe(block.alice.length);
      }
    }
    const z = result.blocks[0][0];
    expect(result.keyAlice.length).toBe(z.alice.length);
    expect(same(result.keyAlice, z.alice)).toBe(true);
    expect(same(result.keyBob, z.bob)).toBe(true);
    // Alice and Bob hold separate copies.
    expect(result.keyAlice.buffer).not.toBe(result.keyBob.buffer);
    // The kept bits are in pulse order and come from Z-basis signal detections.
    let ordered = true;
    for (let j = 1; j < z.pulseIndex.length; j++) ordered &&= z.pulseIndex[j] > z.pulseIndex[j - 1];
    expect(ordered).toBe(true);
  });

  it("estimates gains and QBERs per class and basis consistent with the model", () => {
    for (let k = 0; k < 3; k++) {
      const sent = batch.pulsesSent[k][0] + batch.pulsesSent[k][1];
      expect(result.gain[k]).toBe(batch.detections[k] / sent);
      const q = model.gain[k];
      within5Sigma(result.gain[k], q, Math.sqrt((q * (1 - q)) / sent), `Q_${k}`);
      for (let b = 0; b < 2; b++) {
        const nb = batch.pulsesSent[k][b];
        within5Sigma(result.gainByBasis[k][b], q, Math.sqrt((q * (1 - q)) / nb), `Q_${k},${b}`);
        const block = result.blocks[k][b];
        if (block.disclosed < 100) continue;
        const e = model.errorRate[k];
        expect(result.errorRate[k][b]).toBe(block.disclosedErrors / block.disclosed);
        within5Sigma(result.errorRate[k][b], e, Math.sqrt((e * (1 - e)) / block.disclosed), `E_${k},${b}`);
      }
    }
    // The kept key's true error rate agrees with the estimate from the disclosed sample.
    const e = model.errorRate[0];
    const n = result.keyAlice.length;
    within5Sigma(
      hammingDistance(result.keyAlice, result.keyBob) / n,
      e,
      Math.sqrt((e * (1 - e)) / n),
      "key QBER",
    );
  });

  it("counts the classical traffic", () => {
    const n = batch.count;
    const t = result.traffic;
    expect(t.bobBases).toBe(n);
    expect(t.aliceBases).toBe(n);
    expect(t.intensityClasses).toBe(2 * n); // ⌈log2 3⌉ = 2 bits per detection
    let positions = 0;
    let previous = -1;
    for (let i = 0; i < n; i++) {
      positions += 2 * Math.floor(Math.log2(batch.pulseIndex[i] - previous)) + 1;
      previous = batch.pulseIndex[i];
    }
    expect(t.detectionPositions).toBe(positions);
    expect(t.disclosureMask).toBe(result.blocks[0][0].sifted); // the only partly disclosed block
    let disclosed = 0;
    for (const pair of result.blocks) for (const b of pair) disclosed += b.disclosed;
    expect(t.disclosedValues).toBe(disclosed);
    expect(t.bobToAlice).toBe(t.detectionPositions + t.bobBases + t.disclosedValues);
    expect(t.aliceToBob).toBe(t.aliceBases + t.intensityClasses + t.disclosureMask);
  });

  it("Elias-gamma lengths", () => {
    expect([1, 2, 3, 4, 7, 8, 2 ** 31, 2 ** 32, 2 ** 40].map(eliasGammaLength)).toEqual([
      1, 3, 3, 5, 5, 7, 63, 65, 81,
    ]);
  });

  it("honours key classes and disclosure fractions", () => {
    const r = sift(batch, streams.stream("options"), { keyClasses: [0, 1], disclosedFraction: [0, 0.5] });
    expect(r.blocks[0][0].disclosed).toBe(0);
    expect(Number.isNaN(r.errorRate[0][0])).toBe(true);
    expect(r.blocks[1][1].disclosed).toBe(Math.round(0.5 * r.blocks[1][1].sifted));
    expect(r.blocks[2][0].disclosed).toBe(r.blocks[2][0].sifted);
    const keyLength = r.blocks[0][0].alice.length + r.blocks[1][0].alice.length;
    expect(r.keyAlice.length).toBe(keyLength + r.blocks[0][1].alice.length + r.blocks[1][1].alice.length);
    // Z blocks first, in class order.
    expect(same(r.keyAlice.subarray(0, r.blocks[0][0].alice.length), r.blocks[0][0].alice)).toBe(true);
  });

  it("chooses a uniformly random disclosed subset", () => {
    // Each sifted signal Z bit is disclosed with probability 0.1 across seeds: check the first 64.
    const hits = new Array<number>(64).fill(0);
    const runs = 400;
    const small = simulateBb84(PARAMS, { pulses: 20_000 }, streams.stream("small"));
    const z = sift(small, streams.stream("small-sift")).blocks[0][0];
    const firstSifted: number[] = [];
    for (let i = 0; i < small.count && firstSifted.length < 64; i++)
      if (small.intensity[i] === 0 && small.aliceBasis[i] === 0 && small.bobBasis[i] === 0)
        firstSifted.push(small.pulseIndex[i]);
    for (let r = 0; r < runs; r++) {
      const kept = new Set(
        sift(small, streams.stream(`subset-${r}`)).blocks[0][0].pulseIndex.subarray(0, 80),
      );
      firstSifted.forEach((p, j) => {
        if (!kept.has(p)) hits[j]++;
      });
    }
    expect(z.sifted).toBeGreaterThan(500);
    const total = hits.reduce((s, h) => s + h, 0);
    const n = 64 * runs;
    within5Sigma(total / n, 0.1, Math.sqrt(0.09 / n), "disclosure frequency");
    for (const h of hits) within5Sigma(h / runs, 0.1, Math.sqrt(0.09 / runs), "per position");
  });

  it("rejects invalid options, naming them", () => {
    const rng = streams.stream("bad");
    expect(() => sift(batch, rng, { disclosedFraction: [1.5, 1] })).toThrow(/disclosedFraction\[0\]/);
    expect(() => sift(batch, rng, { keyClasses: [3] })).toThrow(/keyClasses/);
  });

  it("is deterministic under a seed", () => {
    const a = sift(batch, new RngStreams(4).stream("s"));
    const b = sift(batch, new RngStreams(4).stream("s"));
    expect(same(b.keyAlice, a.keyAlice)).toBe(true);
    expect(b.errorRate).toEqual(a.errorRate);
  });
});
