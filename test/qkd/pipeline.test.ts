import { describe, expect, it } from "vitest";
import { bb84Model } from "../../src/qkd/bb84.js";
import { finiteKeyLength, type PerIntensity } from "../../src/qkd/decoy-estimation.js";
import { resolveQkdParameters } from "../../src/qkd/parameter-set.js";
import { KeyPoolExhaustedError, QkdSession } from "../../src/qkd/pipeline.js";

// Decoy-state BB84 end to end: sifting, finite-key decoy estimation (Lim, Curty, Walenta, Xu, Zbinden,
// PRA 89, 022307, 2014), Cascade, verification, Toeplitz privacy amplification and Wegman–Carter
// authentication, the two parties talking only through the counted classical channel.

describe("a 10 km decoy-state BB84 session with default parameters", () => {
  const session = new QkdSession({ link: { lengthKm: 10 }, seed: 7 });
  const blocks = [0, 1, 2, 3].map(() => session.nextBlock());

  it("delivers identical keys at both ends, of the length the finite-key bound allows", () => {
    for (const b of blocks) {
      expect(b.status).toBe("delivered");
      expect(b.aliceKey.length).toBe(b.deliveredBits);
      expect(b.deliveredBits).toBe(b.secretBits - b.authenticationBits);
      expect(Buffer.from(b.bobKey).equals(Buffer.from(b.aliceKey))).toBe(true);
      expect(b.siftedBits).toBeGreaterThanOrEqual(resolveQkdParameters().blockBits);
    }
  });

  it("produces the key length that the finite-key bound gives on the link's expected counts", () => {
    // The bound evaluated on the exact expected detection and error counts of a block (bb84Model), with
    // the mean λ_EC Cascade disclosed. Per-block lengths scatter because the counts do; the mean of the
    // blocks must lie within 5 standard errors (from the blocks' own spread) of the expected value, plus
    // 1 % for the bias of a concave function of noisy counts (Jensen: E[ℓ(n)] ≤ ℓ(E[n])).
    const p = resolveQkdParameters();
    const m = bb84Model({
      intensities: p.intensities,
      intensityProbabilities: p.intensityProbabilities,
      aliceZProbability: p.keyBasisProbability,
      bobZProbability: p.keyBasisProbability,
      sourceRateHz: 1e9,
      lengthKm: 10,
      misalignment: 0.01,
      detectorEfficiency: 0.8,
      darkCountRateHz: 10,
      detectionWindowNs: 1,
      deadTimeNs: 50,
    });
    const pulses = blocks.reduce((s, b) => s + b.pulses, 0) / blocks.length;
    const perClass = (k: number) =>
      p.intensityProbabilities[k] * m.gain[k] * (m.detectionsPerPulse / m.clickProbability) * pulses;
    const pz = p.keyBasisProbability ** 2;
    const px = (1 - p.keyBasisProbability) ** 2;
    const counts = (w: number) => [0, 1, 2].map((k) => perClass(k) * w) as unknown as PerIntensity;
    const errors = (c: PerIntensity) => c.map((v, k) => v * m.errorRate[k]) as unknown as PerIntensity;
    const lambdaEC = blocks.reduce((s, b) => s + b.cascade.disclosedBits, 0) / blocks.length;
    const expected = finiteKeyLength({
      intensities: p.intensities,
      probabilities: p.intensityProbabilities,
      x: { detections: counts(pz), errors: errors(counts(pz)) },
      z: { detections: counts(px), errors: errors(counts(px)) },
      epsSec: p.epsSec,
      epsCor: p.epsCor,
      lambdaEC,
    }).key_length_bits;
    const lengths = blocks.map((b) => b.secretBits);
    const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
    const sd = Math.sqrt(lengths.reduce((s, x) => s + (x - mean) ** 2, 0) / (lengths.length - 1));
    expect(expected).toBeGreaterThan(100_000);
    expect(mean).toBeLessThan(expected + 5 * (sd / Math.sqrt(lengths.length)));
    expect(mean).toBeGreaterThan(0.99 * expected - 5 * (sd / Math.sqrt(lengths.length)));
  });

  it("records the parameter set with every block and accounts every bit the channel carried", () => {
    const p = resolveQkdParameters();
    for (const b of blocks) {
      expect(b.parameterSet).toEqual({ version: p.version, fingerprint: session.fingerprint });
      // Cascade's questions and answers cost two latencies each: 10 km at 4.897 µs/km.
      expect(b.classical.elapsedNs).toBeGreaterThanOrEqual(b.cascade.roundTrips * 2 * 10 * 4897);
      expect(b.classical.bitsBobToAlice).toBeGreaterThan(b.siftedBits); // detection positions and bases
      expect(b.cascade.efficiency).toBeGreaterThan(1);
      expect(b.cascade.efficiency).toBeLessThan(1.1);
      expect(b.readyNs).toBeGreaterThanOrEqual(b.quantumEndNs);
    }
    const s = session.summary();
    expect(s.delivered).toBe(4);
    expect(s.deliveredBits).toBe(blocks.reduce((a, b) => a + b.deliveredBits, 0));
    // Authentication: a 64-bit hash key, then one 64-bit pad per tag, two tags per block at each end,
    // refilled from each block's key.
    expect(s.authenticationPool.drawn).toBe(64 + 4 * 2 * 64);
    expect(s.authenticationPool.added).toBe(4096 + 4 * 2 * 64);
  });

  it("is reproducible from its seed", () => {
    const again = new QkdSession({ link: { lengthKm: 10 }, seed: 7 }).nextBlock();
    expect(Buffer.from(again.aliceKey).equals(Buffer.from(blocks[0].aliceKey))).toBe(true);
  });
});

describe("failures are caught, counted and never delivered", () => {
  it("a block whose keys still differ after reconciliation fails verification and is discarded", () => {
    const s = new QkdSession({
      link: { lengthKm: 5 },
      seed: 3,
      parameters: { blockBits: 200_000 },
      faults: { flipBitsAfterReconciliation: (i) => (i === 0 ? 1 : 0) },
    });
    const first = s.nextBlock();
    expect(first.status).toBe("discarded");
    expect(first.reason).toBe("verification-failed");
    expect(first.aliceKey.length).toBe(0);
    expect(first.deliveredBits).toBe(0);
    const summary = s.summary();
    expect(summary.discardedByReason["verification-failed"]).toBe(1);
    expect(summary.deliveredBits).toBe(0);
  });

  it("a link whose error rate is beyond BB84's limit yields nothing and says why", () => {
    const s = new QkdSession({ link: { lengthKm: 5, misalignment: 0.2 }, parameters: { blockBits: 20_000 } });
    const b = s.nextBlock();
    expect(b.status).toBe("discarded");
    expect(b.reason).toBe("qber-too-high");
    expect(b.qberTest).toBeGreaterThan(0.15);
  });

  it("a block too small for the finite-key bound is discarded as no-secret-key", () => {
    const s = new QkdSession({ link: { lengthKm: 5 }, parameters: { blockBits: 5_000 } });
    const b = s.nextBlock();
    expect(b.status).toBe("discarded");
    expect(b.reason).toBe("no-secret-key");
  });

  it("an authentication pool without enough pre-shared key stops the session with a clear error", () => {
    const s = new QkdSession({
      link: { lengthKm: 5 },
      parameters: { blockBits: 5_000 },
      initialAuthenticationKeyBits: 100,
    });
    expect(() => s.nextBlock()).toThrow(KeyPoolExhaustedError);
    expect(() => new QkdSession({ link: { lengthKm: 5 }, initialAuthenticationKeyBits: 10 })).toThrow(
      /key pool exhausted: 64 bits needed, 10 remain/,
    );
  });

  it("rejects bad link settings", () => {
    expect(() => new QkdSession({ link: { lengthKm: -1 } })).toThrow(/lengthKm must be a finite number ≥ 0/);
    expect(() => new QkdSession({ link: { lengthKm: 1, misalignment: 0.7 } })).toThrow(/misalignment/);
  });
});
