import { describe, expect, it } from "vitest";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import { QkdSession } from "../../src/qkd/pipeline.js";
import {
  dispatch,
  keyBlockObservation,
  NullSink,
  type Observation,
  type ObservationSink,
  observePoolLevel,
  RecordingSink,
} from "../../src/telemetry/observations.js";

// The observation vocabulary is the contract between the core and every telemetry adapter: these tests
// pin what a RecordingSink keeps, that replaying reproduces each call exactly, and how domain objects
// (QKD key blocks, KMS pool levels) map onto observations.

/** One call of every kind, in the order of the ObservationSink interface. */
function reportOneOfEach(sink: ObservationSink): void {
  sink.linkAttempts("link-ab", 1000, 3);
  sink.linkExpectedSuccess("link-ab", 0.003);
  sink.pairFidelity("link-ab", 0.97);
  sink.pairDelivered({ requestId: "req-1", srcNodeId: "alice", dstNodeId: "bob" }, 0.93, 0.012);
  sink.memoryOccupancy("repeater-1", 3, 8);
  sink.memoryStorageTime("repeater-1", 0.0025);
  sink.controlRtt("repeater-1", 0.0011);
  sink.qkdBlock("qkd-ab", {
    status: "discarded",
    reason: "qber-too-high",
    siftedBits: 1000,
    disclosedBits: 0,
    secretKeyBits: 0,
  });
  sink.qkdExpectedKeyRate("qkd-ab", 5000);
  sink.keyPool("kme-a", "qkd-ab", "local", 65536);
  sink.keysServed("kme-a", "sae-1", 2, 512);
  sink.jobFinished("bank", "qkd", "expired");
  sink.calibrationDrift("link-ab", "polarization", -0.02);
  sink.linkState("link-ab", false, "detected");
  sink.jobsInState("bank", "queued", 4);
  sink.linkReserved("link-ab", 0.5);
  sink.memoryReserved("repeater-1", 2);
}

const ALL_KINDS: Observation["kind"][] = [
  "linkAttempts",
  "linkExpectedSuccess",
  "pairFidelity",
  "pairDelivered",
  "memoryOccupancy",
  "memoryStorageTime",
  "controlRtt",
  "qkdBlock",
  "qkdExpectedKeyRate",
  "keyPool",
  "keysServed",
  "jobFinished",
  "calibrationDrift",
  "linkState",
  "jobsInState",
  "linkReserved",
  "memoryReserved",
];

describe("RecordingSink", () => {
  it("keeps every observation in order, as data named after the call", () => {
    const sink = new RecordingSink();
    reportOneOfEach(sink);
    expect(sink.observations.map((o) => o.kind)).toEqual(ALL_KINDS);
    expect(sink.observations[0]).toEqual({
      kind: "linkAttempts",
      linkId: "link-ab",
      attempts: 1000,
      successes: 3,
    });
    expect(sink.of("pairDelivered")).toEqual([
      {
        kind: "pairDelivered",
        route: { requestId: "req-1", srcNodeId: "alice", dstNodeId: "bob" },
        fidelity: 0.93,
        latencyS: 0.012,
      },
    ]);
    expect(sink.of("jobFinished")).toEqual([
      { kind: "jobFinished", tenant: "bank", jobKind: "qkd", outcome: "expired" },
    ]);
    expect(sink.of("keyPool")[0]).toEqual({
      kind: "keyPool",
      kmeId: "kme-a",
      pool: "qkd-ab",
      direction: "local",
      bits: 65536,
    });
  });

  it("copies the objects it is given, so a reporter may reuse them", () => {
    const sink = new RecordingSink();
    const route = { requestId: "req-1", srcNodeId: "alice", dstNodeId: "bob" };
    const block = {
      status: "delivered" as const,
      siftedBits: 100,
      disclosedBits: 12,
      secretKeyBits: 40,
    };
    sink.pairDelivered(route, 0.9, 1);
    sink.qkdBlock("qkd-ab", block);
    route.requestId = "req-2";
    block.secretKeyBits = 0;
    expect(sink.of("pairDelivered")[0].route.requestId).toBe("req-1");
    expect(sink.of("qkdBlock")[0].block.secretKeyBits).toBe(40);
  });

  it("replays into another sink call for call (dispatch covers every kind)", () => {
    const original = new RecordingSink();
    reportOneOfEach(original);
    const copy = new RecordingSink();
    original.replay(copy);
    expect(copy.observations).toEqual(original.observations);
    // And dispatching a single record makes exactly that call.
    const one = new RecordingSink();
    dispatch(one, original.observations[4]);
    expect(one.observations).toEqual([original.observations[4]]);
  });

  it("forgets everything on clear()", () => {
    const sink = new RecordingSink();
    reportOneOfEach(sink);
    sink.clear();
    expect(sink.observations).toEqual([]);
    expect(sink.of("linkAttempts")).toEqual([]);
  });
});

describe("NullSink", () => {
  it("accepts every observation and keeps nothing", () => {
    expect(() => reportOneOfEach(new NullSink())).not.toThrow();
  });

  it("can be extended to listen to one kind only", () => {
    const seen: number[] = [];
    class FidelityOnly extends NullSink {
      override pairFidelity(_linkId: string, fidelity: number): void {
        seen.push(fidelity);
      }
    }
    reportOneOfEach(new FidelityOnly());
    expect(seen).toEqual([0.97]);
  });
});

describe("keyBlockObservation", () => {
  // Two real post-processing blocks of a 10 km BB84 link; the second has 3 bits flipped after
  // reconciliation, so verification must fail and the block be discarded (pipeline.ts, QkdFaults).
  const session = new QkdSession({
    link: { lengthKm: 10 },
    seed: 7,
    faults: { flipBitsAfterReconciliation: (i) => (i === 1 ? 3 : 0) },
  });
  const delivered = session.nextBlock();
  const discarded = session.nextBlock();

  it("reports a delivered block's sifted, disclosed and delivered secret bits (M6, M10)", () => {
    expect(delivered.status).toBe("delivered");
    expect(keyBlockObservation(delivered)).toEqual({
      status: "delivered",
      siftedBits: delivered.siftedBits,
      disclosedBits: delivered.cascade.disclosedBits,
      // After authentication costs: the key that reaches the pool, not the finite-key length ℓ.
      secretKeyBits: delivered.deliveredBits,
    });
    expect(delivered.deliveredBits).toBeLessThan(delivered.secretBits);
  });

  it("reports a discarded block with its reason and no secret bits", () => {
    expect(discarded.status).toBe("discarded");
    expect(keyBlockObservation(discarded)).toEqual({
      status: "discarded",
      reason: "verification-failed",
      siftedBits: discarded.siftedBits,
      disclosedBits: discarded.cascade.disclosedBits,
      secretKeyBits: 0,
    });
  });

  it("carries no key material", () => {
    const fields = Object.values(keyBlockObservation(delivered));
    expect(fields.every((v) => typeof v === "string" || typeof v === "number")).toBe(true);
  });
});

describe("observePoolLevel", () => {
  it("reports both directions of a KME's pool, as the key store counts them", async () => {
    const store = new MemoryKeyStore();
    const unit = (id: string) => ({ unitId: id, material: new Uint8Array(8) });
    await store.addUnits("qkd-ab", "local", [unit("u1"), unit("u2")], 0);
    await store.addUnits("qkd-ab", "peer", [unit("u3")], 0);
    const sink = new RecordingSink();
    for (const level of await store.poolLevels()) observePoolLevel(sink, "kme-a", level);
    expect(sink.of("keyPool")).toEqual([
      { kind: "keyPool", kmeId: "kme-a", pool: "qkd-ab", direction: "local", bits: 128 },
      { kind: "keyPool", kmeId: "kme-a", pool: "qkd-ab", direction: "peer", bits: 64 },
    ]);
  });
});
