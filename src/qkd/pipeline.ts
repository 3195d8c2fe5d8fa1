/**
 * A decoy-state BB84 link end to end, as a real post-processing stack runs it: pulses → sifting →
 * parameter estimation (finite-key decoy bounds, Lim et al., PRA 89, 022307, 2014) → Cascade → error
 * verification → privacy amplification → key, with every classical message authenticated by
 * Wegman–Carter tags paid from a key pool that the link's own output refills. Alice and Bob are kept
 * apart: each stage sees the other party only through what crosses the classical channel, which is
 * counted in bits and charged in simulated time.
 *
 * Conventions: our key basis is Z and the test basis X; in Lim et al. they are called X and Z. Key bits
 * come from all three intensities, as in their analysis.
 */
import { RngStreams } from "../sim/rng.js";
import { KeyPool, KeyPoolExhaustedError, WegmanCarterMac } from "./authentication.js";
import { Basis, Bb84Link, type Bb84Params } from "./bb84.js";
import { type Bits, concatBytes, randomBits } from "./bits.js";
import { reconcileCascade } from "./cascade.js";
import { type ChannelUsage, ClassicalChannel } from "./classical-channel.js";
import { finiteKeyLength, type PerIntensity } from "./decoy-estimation.js";
import { parameterSetFingerprint, type QkdParameterSet, resolveQkdParameters } from "./parameter-set.js";
import { randomToeplitzSeed, toeplitzHash } from "./privacy-amplification.js";
import { sift } from "./sifting.js";
import { polynomialHashCollisionBound } from "./universal-hash.js";
import { randomVerificationSeed, verifyKeys } from "./verification.js";

/** The physical link under a QKD session. */
export interface QkdLinkSpec {
  /** Fiber length, km (≥ 0). */
  lengthKm: number;
  /** Fiber attenuation, dB/km. Default 0.2. */
  attenuationDbPerKm?: number;
  /** Pulse rate, Hz. Default 1e9. */
  sourceRateHz?: number;
  /** Bob's detector efficiency. Default 0.8 (superconducting nanowire detectors). */
  detectorEfficiency?: number;
  /** Dark-count rate per detector, Hz. Default 10. */
  darkCountRateHz?: number;
  /** Detection window per pulse, ns. Default 1 (gated detection). */
  detectionWindowNs?: number;
  /** Optical misalignment error e_det. Default 0.01. */
  misalignment?: number;
  /** Detector dead time, ns. Default 50. */
  deadTimeNs?: number;
  /** One-way latency of the classical channel, ns. Default: light in fiber over `lengthKm`, 4.897 µs/km. */
  classicalLatencyNs?: number;
  /** Classical line rate, bit/s. Default 1e9. */
  classicalBandwidthBitsPerS?: number;
}

/** Deliberate faults, for testing that failures are caught and counted. */
export interface QkdFaults {
  /** Bits of Bob's key to flip after reconciliation, per block index (0: none). */
  flipBitsAfterReconciliation?: (blockIndex: number) => number;
}

export interface QkdSessionOptions {
  link: QkdLinkSpec;
  /** The parameter set both ends use; unset fields take the defaults. */
  parameters?: Partial<QkdParameterSet>;
  /** Seed of every random stream of the session. Default 1. */
  seed?: number | string;
  /**
   * Pre-shared secret bits each end starts its authentication pool with (the hash key is drawn from
   * them first). Default 4096.
   */
  initialAuthenticationKeyBits?: number;
  faults?: QkdFaults;
}

/** Why a block produced no key. */
export type DiscardReason =
  /** The test-basis error rate is too high for any key (above 11 %, where BB84 yields none). */
  | "qber-too-high"
  /** Reconciled keys failed error verification. */
  | "verification-failed"
  /** The finite-key bound left no secret bits after error correction and security costs. */
  | "no-secret-key"
  /** Privacy amplification made less key than the block's authentication consumed. */
  | "below-authentication-cost";

/** One post-processing block and what became of it. */
export interface KeyBlock {
  index: number;
  status: "delivered" | "discarded";
  reason?: DiscardReason;
  /** The parameter set the block was made with. */
  parameterSet: { version: string; fingerprint: string };
  /** Alice's and Bob's copies of the delivered key (empty when discarded); equal when delivered. */
  aliceKey: Bits;
  bobKey: Bits;
  /** Pulses sent for this block. */
  pulses: number;
  /** Sifted key-basis bits (the block n_Z), and test-basis bits used for estimation. */
  siftedBits: number;
  testBits: number;
  /** Observed error rates: test basis (signal), and key basis measured by reconciliation. */
  qberTest: number;
  qberKey: number;
  /** The QBER Cascade sized its blocks for. */
  qberEstimate: number;
  cascade: { disclosedBits: number; roundTrips: number; efficiency: number; errorsCorrected: number };
  /** Bits of the verification tag, and its collision bound. */
  verificationTagBits: number;
  verificationFailureBound: number;
  /** Secret bits from the finite-key bound (ℓ), before authentication costs. */
  secretBits: number;
  /** Pool bits spent authenticating this block's messages (tags of both directions). */
  authenticationBits: number;
  /** Key bits delivered: ℓ minus what went back into the authentication pool. */
  deliveredBits: number;
  /** Classical traffic and time of the block's post-processing. */
  classical: ChannelUsage;
  /** Simulated times, ns: first pulse, last pulse, and the key ready at both ends. */
  startNs: number;
  quantumEndNs: number;
  readyNs: number;
}

/** Totals over a session. */
export interface QkdSessionSummary {
  parameterSet: { version: string; fingerprint: string };
  blocks: number;
  delivered: number;
  discarded: number;
  discardedByReason: Record<DiscardReason, number>;
  pulses: number;
  deliveredBits: number;
  /** Delivered bits per pulse sent and per second of simulated time (to the last key ready). */
  keyRatePerPulse: number;
  keyRateBitsPerS: number;
  /** Authentication pool: bits added (pre-shared and refills), drawn, remaining (same at both ends). */
  authenticationPool: { added: number; drawn: number; remaining: number };
  simulatedNs: number;
}

/** The test-basis error rate above which a block is discarded before reconciliation. */
export const MAX_TEST_QBER = 0.11;

/**
 * A running decoy-state BB84 session between two ends. Each {@link nextBlock} collects pulses until the
 * block's sifted key-basis bits are in, then post-processes them.
 */
export class QkdSession {
  readonly parameters: QkdParameterSet;
  readonly fingerprint: string;
  private readonly link: Bb84Link;
  private readonly streams: RngStreams;
  private readonly channel: ClassicalChannel;
  private readonly rateHz: number;
  private readonly aliceMac: WegmanCarterMac;
  private readonly bobMac: WegmanCarterMac;
  private readonly alicePool: KeyPool;
  private readonly bobPool: KeyPool;
  private readonly faults: QkdFaults;
  private index = 0;
  private pulses = 0;
  private readyNs = 0;
  private lastKeyQber = Number.NaN;
  private readonly blocks: KeyBlock[] = [];

  constructor(options: QkdSessionOptions) {
    this.parameters = resolveQkdParameters(options.parameters);
    this.fingerprint = parameterSetFingerprint(this.parameters);
    const l = options.link;
    if (!(l.lengthKm >= 0 && Number.isFinite(l.lengthKm)))
      throw new RangeError(`QKD link: lengthKm must be a finite number ≥ 0, got ${l.lengthKm}`);
    this.rateHz = l.sourceRateHz ?? 1e9;
    const p = this.parameters;
    const bb84: Bb84Params = {
      intensities: p.intensities,
      intensityProbabilities: p.intensityProbabilities,
      aliceZProbability: p.keyBasisProbability,
      bobZProbability: p.keyBasisProbability,
      sourceRateHz: this.rateHz,
      lengthKm: l.lengthKm,
      attenuationDbPerKm: l.attenuationDbPerKm ?? 0.2,
      misalignment: l.misalignment ?? 0.01,
      detectorEfficiency: l.detectorEfficiency ?? 0.8,
      darkCountRateHz: l.darkCountRateHz ?? 10,
      detectionWindowNs: l.detectionWindowNs ?? 1,
      deadTimeNs: l.deadTimeNs ?? 50,
    };
    this.streams = new RngStreams(options.seed ?? 1);
    this.link = new Bb84Link(bb84, this.streams.stream("pulses"));
    this.channel = new ClassicalChannel({
      latencyNs: l.classicalLatencyNs ?? l.lengthKm * 4897,
      bandwidthBitsPerS: l.classicalBandwidthBitsPerS ?? 1e9,
    });
    const initialBits = options.initialAuthenticationKeyBits ?? 4096;
    if (!(Number.isSafeInteger(initialBits) && initialBits >= 0))
      throw new RangeError(`initialAuthenticationKeyBits must be an integer ≥ 0, got ${initialBits}`);
    const preShared = randomBits(initialBits, this.streams.stream("pre-shared-key"));
    this.alicePool = new KeyPool(preShared);
    this.bobPool = new KeyPool(preShared);
    const mac = macShape(p.authenticationTagBits);
    this.aliceMac = new WegmanCarterMac(this.alicePool, mac);
    this.bobMac = new WegmanCarterMac(this.bobPool, mac);
    this.faults = options.faults ?? {};
  }

  /** Blocks made so far. */
  get history(): readonly KeyBlock[] {
    return this.blocks;
  }

  /**
   * Collects and post-processes one block.
   * @throws KeyPoolExhaustedError when the authentication pool cannot pay for the block's tags; the
   *   session cannot continue without fresh pre-shared key.
   */
  nextBlock(): KeyBlock {
    const p = this.parameters;
    const index = this.index++;
    const startNs = (this.pulses / this.rateHz) * 1e9;
    const rng = this.streams.child(`block:${index}`);
    this.channel.reset();

    // --- Pulses and sifting, batch by batch until the block's key-basis bits are in. ---
    const model = this.link.model;
    const zPerPulse = model.detectionsPerPulse * model.aliceZProbability * model.bobZProbability;
    const zDetections = [0, 0, 0];
    const xDetections = [0, 0, 0];
    const xErrors = [0, 0, 0];
    const aliceParts: Bits[][] = [[], [], []];
    const bobParts: Bits[][] = [[], [], []];
    let blockPulses = 0;
    let zTotal = 0;
    const siftRng = rng.stream("sifting");
    while (zTotal < p.blockBits) {
      const want = Math.ceil(((p.blockBits - zTotal) / Math.max(zPerPulse, 1e-15)) * 1.02) + 1000;
      const batch = this.link.run({ pulses: Math.min(want, 2 ** 40) });
      blockPulses += batch.pulses;
      const s = sift(batch, siftRng, { disclosedFraction: [0, 1], keyClasses: [0, 1, 2] });
      // Bob announces detections and bases, Alice answers with hers and the intensity classes, Bob
      // reveals his test-basis bits and Alice the error count: two round trips.
      const t = s.traffic;
      this.channel.roundTrip("bob", t.detectionPositions + t.bobBases, t.aliceBases + t.intensityClasses);
      this.channel.roundTrip("bob", t.disclosedValues, 32);
      for (let k = 0; k < 3; k++) {
        const z = s.blocks[k][Basis.Z];
        const x = s.blocks[k][Basis.X];
        zDetections[k] += z.sifted;
        xDetections[k] += x.sifted;
        xErrors[k] += x.disclosedErrors;
        // Views into this sift's own arrays (fresh per call): concatBytes copies them once.
        aliceParts[k].push(z.alice);
        bobParts[k].push(z.bob);
        zTotal += z.sifted;
      }
    }
    this.pulses += blockPulses;
    const quantumEndNs = (this.pulses / this.rateHz) * 1e9;
    // The raw key: class 0, then 1, then 2, each in pulse order; classStart marks the boundaries.
    const alice = concatBytes(aliceParts.flat());
    const bob = concatBytes(bobParts.flat());
    const classStart = [0, zDetections[0], zDetections[0] + zDetections[1], zTotal];
    const testBits = xDetections[0] + xDetections[1] + xDetections[2];
    const qberTest = xDetections[0] > 0 ? xErrors[0] / xDetections[0] : 0.5;

    const base = {
      index,
      parameterSet: { version: p.version, fingerprint: this.fingerprint },
      pulses: blockPulses,
      siftedBits: zTotal,
      testBits,
      qberTest,
      startNs,
      quantumEndNs,
    };
    const empty = new Uint8Array(0);
    const finish = (
      status: KeyBlock["status"],
      rest: Partial<KeyBlock> & { reason?: DiscardReason },
    ): KeyBlock => {
      const classical = this.channel.reset();
      this.readyNs = Math.max(this.readyNs, quantumEndNs) + classical.elapsedNs;
      const block: KeyBlock = {
        ...base,
        status,
        aliceKey: empty,
        bobKey: empty,
        qberKey: Number.NaN,
        qberEstimate: Number.NaN,
        cascade: { disclosedBits: 0, roundTrips: 0, efficiency: Number.NaN, errorsCorrected: 0 },
        verificationTagBits: 0,
        verificationFailureBound: 0,
        secretBits: 0,
        authenticationBits: 0,
        deliveredBits: 0,
        ...rest,
        classical,
        readyNs: this.readyNs,
      };
      this.blocks.push(block);
      return block;
    };

    if (qberTest > MAX_TEST_QBER) {
      const auth = this.authenticate(index);
      return finish("discarded", { reason: "qber-too-high", authenticationBits: auth });
    }

    // --- Error correction: Cascade sized for the last block's key QBER, or this block's test QBER. ---
    const qberEstimate = Math.min(
      0.25,
      Math.max(1e-3, Number.isNaN(this.lastKeyQber) ? qberTest : this.lastKeyQber),
    );
    const ec = reconcileCascade(alice, bob, {
      estimatedQber: qberEstimate,
      variant: p.cascade,
      // One public seed per session: the passes' shuffles are drawn once and restricted to each block.
      seed: this.fingerprint,
      permutationCapacity: Math.ceil(1.25 * (zTotal <= 1.25 * p.blockBits ? p.blockBits : zTotal)),
    });
    this.channel.roundTrips(
      "bob",
      ec.roundTrips,
      Math.max(0, ec.bitsSent - ec.disclosedBits),
      ec.disclosedBits,
    );
    const bobKey = ec.corrected;
    const qberKey = ec.errorsCorrected / zTotal;
    this.lastKeyQber = qberKey;
    // Key-basis errors per intensity, as Bob knows them: the bits he flipped.
    const zErrors = [0, 0, 0];
    for (let k = 0; k < 3; k++)
      for (let i = classStart[k]; i < classStart[k + 1]; i++) zErrors[k] += bob[i] ^ bobKey[i];
    const flips = this.faults.flipBitsAfterReconciliation?.(index) ?? 0;
    const faultRng = rng.stream("faults");
    for (let i = 0; i < flips && zTotal > 0; i++) bobKey[faultRng.int(zTotal)] ^= 1;
    const cascade = {
      disclosedBits: ec.disclosedBits,
      roundTrips: ec.roundTrips,
      efficiency: ec.efficiency,
      errorsCorrected: ec.errorsCorrected,
    };

    // --- Error verification: enough tag lanes that differing keys pass with probability ≤ ε_cor. ---
    const vShape = verificationShape(zTotal, p.verificationTagBits, p.epsCor);
    const seed = randomVerificationSeed(rng.stream("verification"), vShape);
    const check = verifyKeys(alice, bobKey, seed, vShape);
    this.channel.send("alice", seed.length + check.leakedBits);
    this.channel.send("bob", 1);
    const verified = {
      qberKey,
      qberEstimate,
      cascade,
      verificationTagBits: check.leakedBits,
      verificationFailureBound: check.failureProbability,
    };
    if (!check.passed) {
      const auth = this.authenticate(index);
      return finish("discarded", { ...verified, reason: "verification-failed", authenticationBits: auth });
    }

    // --- Finite-key length (Lim et al. 2014) with the bits Cascade actually disclosed. ---
    const fk = finiteKeyLength({
      intensities: p.intensities as PerIntensity,
      probabilities: p.intensityProbabilities as PerIntensity,
      x: { detections: triple(zDetections), errors: triple(zErrors) },
      z: { detections: triple(xDetections), errors: triple(xErrors) },
      epsSec: p.epsSec,
      epsCor: p.epsCor,
      lambdaEC: ec.disclosedBits,
      pulses: blockPulses,
    });
    const secretBits = fk.key_length_bits;
    const auth = this.authenticate(index);
    if (secretBits <= 0)
      return finish("discarded", { ...verified, reason: "no-secret-key", authenticationBits: auth });
    if (secretBits <= auth)
      return finish("discarded", {
        ...verified,
        reason: "below-authentication-cost",
        secretBits,
        authenticationBits: auth,
      });

    // --- Privacy amplification: Alice picks the Toeplitz seed and sends it; both hash. ---
    const paSeed = randomToeplitzSeed(zTotal, secretBits, rng.stream("privacy-amplification"));
    this.channel.send("alice", paSeed.length);
    const aliceFinal = toeplitzHash(alice, paSeed, secretBits);
    const bobFinal = toeplitzHash(bobKey, paSeed, secretBits);
    // The authentication pools take back what this block's tags consumed; the rest is delivered.
    this.alicePool.add(aliceFinal.subarray(0, auth));
    this.bobPool.add(bobFinal.subarray(0, auth));
    return finish("delivered", {
      ...verified,
      secretBits,
      authenticationBits: auth,
      deliveredBits: secretBits - auth,
      aliceKey: aliceFinal.slice(auth),
      bobKey: bobFinal.slice(auth),
    });
  }

  /** Runs blocks until `predicate` says stop (checked after each block) and returns the summary. */
  runUntil(predicate: (last: KeyBlock, session: QkdSession) => boolean): QkdSessionSummary {
    for (;;) {
      const b = this.nextBlock();
      if (predicate(b, this)) return this.summary();
    }
  }

  summary(): QkdSessionSummary {
    const discardedByReason: Record<DiscardReason, number> = {
      "qber-too-high": 0,
      "verification-failed": 0,
      "no-secret-key": 0,
      "below-authentication-cost": 0,
    };
    let delivered = 0;
    let deliveredBits = 0;
    for (const b of this.blocks) {
      if (b.status === "delivered") {
        delivered++;
        deliveredBits += b.deliveredBits;
      } else if (b.reason) discardedByReason[b.reason]++;
    }
    return {
      parameterSet: { version: this.parameters.version, fingerprint: this.fingerprint },
      blocks: this.blocks.length,
      delivered,
      discarded: this.blocks.length - delivered,
      discardedByReason,
      pulses: this.pulses,
      deliveredBits,
      keyRatePerPulse: this.pulses > 0 ? deliveredBits / this.pulses : 0,
      keyRateBitsPerS: this.readyNs > 0 ? deliveredBits / (this.readyNs / 1e9) : 0,
      authenticationPool: {
        added: this.alicePool.added,
        drawn: this.alicePool.drawn,
        remaining: this.alicePool.remaining,
      },
      simulatedNs: this.readyNs,
    };
  }

  /**
   * Authenticates the block's transcript in both directions: Alice tags hers and Bob checks it, then
   * the reverse. Each tag draws one pad at both ends. Returns the pool bits spent at each end.
   */
  private authenticate(index: number): number {
    const transcript = new TextEncoder().encode(
      `${this.fingerprint}:${index}:${JSON.stringify(this.channel.used)}`,
    );
    const before = this.alicePool.drawn;
    const aliceTag = this.aliceMac.tag(transcript);
    if (!this.bobMac.verify(transcript, aliceTag))
      throw new Error("authentication of Alice's transcript failed");
    const bobTag = this.bobMac.tag(transcript);
    if (!this.aliceMac.verify(transcript, bobTag))
      throw new Error("authentication of Bob's transcript failed");
    this.channel.send("alice", 8 * aliceTag.length);
    this.channel.send("bob", 8 * bobTag.length);
    return this.alicePool.drawn - before;
  }
}

/** A polynomial-hash shape for tags of `bits` bits (a multiple of 32). */
function macShape(bits: number): { fieldBits: 32 | 64; lanes: number } {
  return bits % 64 === 0 ? { fieldBits: 64, lanes: bits / 64 } : { fieldBits: 32, lanes: bits / 32 };
}

/** The least lanes of a 64-bit polynomial hash, from `minBits`, whose collision bound on n bits is ≤ ε. */
function verificationShape(n: number, minBits: number, eps: number): { fieldBits: 32 | 64; lanes: number } {
  const s = macShape(minBits);
  while (polynomialHashCollisionBound(n, s) > eps && s.lanes < 64) s.lanes++;
  return s;
}

function triple(a: number[]): PerIntensity {
  return [a[0], a[1], a[2]];
}

export { KeyPoolExhaustedError };
