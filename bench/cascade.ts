import { type Bits, binaryEntropy, hammingDistance, randomBits } from "../src/qkd/bits.js";
import { CascadeCorrector, CascadePlan, type CascadeVariant, KeyParityOracle } from "../src/qkd/cascade.js";
import { Rng } from "../src/sim/rng.js";
import { type Bench, type BenchResult, timeIt } from "./harness.js";

/** Frame length in bits: the benchmark point of the published reference figures. */
const FRAME_BITS = 10_000;
/** Frames per (variant, QBER) point: enough to resolve a frame error rate of 1e-3. */
const FRAMES = 1000;
/** Untimed frames first, so the timed ones run optimized code. */
const WARMUP_FRAMES = 20;
const QBERS = [0.01, 0.02, 0.05, 0.08];
const VARIANTS: CascadeVariant[] = ["original", "optimized"];

/** Bob's copy of `alice` through a binary symmetric channel with crossover probability `q`. */
function noisy(alice: Bits, q: number, rng: Rng): Bits {
  const bob = alice.slice();
  for (let i = rng.geometric(q) - 1; i < bob.length; i += rng.geometric(q)) bob[i] ^= 1;
  return bob;
}

/**
 * One (variant, QBER) point: the mean efficiency f = disclosed / (n·h(actual QBER of the frame)), the
 * frame error rate, the throughput in input bits per second on one core (both parties' work: Bob's
 * corrector and Alice's in-memory oracle, key generation excluded) and the mean round trips. The QBER is
 * given to the plan as the estimate; each frame's actual error count is binomial around it.
 */
function point(variant: CascadeVariant, q: number): BenchResult[] {
  const plan = new CascadePlan(FRAME_BITS, { estimatedQber: q, variant, seed: "bench" });
  const bob = new CascadeCorrector(plan);
  const rng = new Rng(`cascade-${variant}-${q}`);
  let seconds = 0;
  let efficiency = 0;
  let failures = 0;
  let roundTrips = 0;
  for (let f = -WARMUP_FRAMES; f < FRAMES; f++) {
    const alice = randomBits(FRAME_BITS, rng);
    const noisyKey = noisy(alice, q, rng);
    let result: ReturnType<CascadeCorrector["reconcile"]> | undefined;
    const s = timeIt(() => {
      result = bob.reconcile(noisyKey, new KeyParityOracle(alice, plan));
    });
    if (f < 0 || result === undefined) continue;
    seconds += s;
    const errors = hammingDistance(alice, noisyKey);
    efficiency += result.disclosedBits / (FRAME_BITS * binaryEntropy(errors / FRAME_BITS));
    if (hammingDistance(alice, result.corrected) !== 0) failures++;
    roundTrips += result.roundTrips;
  }
  const name = `cascade.${variant}.q${q.toFixed(2)}`;
  return [
    { name: `${name}.efficiency`, value: efficiency / FRAMES, unit: "ratio" },
    { name: `${name}.fer`, value: failures / FRAMES, unit: "fraction" },
    { name: `${name}.throughput`, value: (FRAME_BITS * FRAMES) / seconds / 1e6, unit: "Mbit/s" },
    { name: `${name}.round_trips`, value: roundTrips / FRAMES, unit: "round trips" },
  ];
}

export const benches: Bench[] = [
  {
    name: "cascade",
    run: () => VARIANTS.flatMap((variant) => QBERS.flatMap((q) => point(variant, q))),
  },
];
