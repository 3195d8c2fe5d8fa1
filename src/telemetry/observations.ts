/**
 * The observation vocabulary: what the core reports as it happens (a link made attempts, a pair was
 * delivered, a QKD block finished, a pool level changed), as calls on an {@link ObservationSink}
 * passed in by whoever runs it. The core knows nothing of Prometheus: an adapter
 * (src/server/prometheus.ts) turns observations into metrics, a {@link RecordingSink} keeps them for
 * tests, and a {@link NullSink} drops them.
 *
 * Conventions, so that every sink can aggregate without guessing:
 * - Counts are increments since the previous call (the sink adds them up), never running totals: a
 *   reporter that restarts then never makes a counter go backwards.
 * - Levels (`memoryOccupancy`, `keyPool`) are the current value; the sink keeps the latest.
 * - Units are in the parameter names (`latencyS`, `bits`); times are seconds, as Prometheus expects.
 * - IDs are the canonical topology IDs (link, node, KME), exactly as in the topology file, so that
 *   metrics, logs and alerts name the same thing the same way.
 * - No wall clock: a sink that needs a timestamp takes it itself when called.
 *
 * @module
 */
import type { PoolLevel } from "../kms/key-store.js";
import type { DiscardReason, KeyBlock } from "../qkd/pipeline.js";

/** Where a delivered pair went: the request (or job) it served and its end nodes. */
export interface DeliveryRoute {
  /**
   * The request or job ID. Kept in the observation (for event logs and tests) but not used as a metric
   * label: job IDs are unbounded, and one series per job would grow Prometheus without limit.
   */
  requestId: string;
  /** Canonical node IDs of the pair's two ends. */
  srcNodeId: string;
  dstNodeId: string;
}

/** What became of one QKD post-processing block (the counts of a {@link KeyBlock}, no key material). */
export interface QkdBlockObservation {
  status: "delivered" | "discarded";
  /** Why a discarded block made no key; absent when delivered. */
  reason?: DiscardReason;
  /** Sifted key-basis bits of the block (n_Z): the bits error correction works on. */
  siftedBits: number;
  /** Bits disclosed by error correction (Cascade parities); disclosed/sifted is M10's overhead. */
  disclosedBits: number;
  /**
   * Secret key bits the block delivered for use: the finite-key length minus what authentication took
   * back ({@link KeyBlock.deliveredBits}); 0 when discarded. Summed over time this is M6's key rate.
   */
  secretKeyBits: number;
}

/** How a job ended (M7). */
export type JobOutcome =
  /** Everything asked for was delivered (before the deadline, if any). */
  | "succeeded"
  /** The job ran and could not deliver (e.g. no path, a device fault). */
  | "failed"
  /** The deadline passed before completion. */
  | "expired"
  /** Refused at admission (quota, no capacity): it never ran. */
  | "rejected"
  /** Withdrawn by its submitter. */
  | "cancelled";

/**
 * Receives observations from the core. Every method returns at once and never throws for a valid
 * observation; implementations may throw a RangeError for an invalid one (a negative count, a
 * fidelity outside [0, 1]), which is a bug in the reporter.
 */
export interface ObservationSink {
  /**
   * Entanglement generation attempts on a link since the last call, and how many were heralded as
   * successes (M1 success ratio; the successes' rate is M3's Bell-pair generation rate).
   */
  linkAttempts(linkId: string, attempts: number, successes: number): void;
  /**
   * The link's expected success probability per attempt (from its model or its last calibration): the
   * yardstick of the link success SLO. Report it when the link is set up or recalibrated.
   */
  linkExpectedSuccess(linkId: string, probability: number): void;
  /** Fidelity to Φ+ of one pair as heralded on a link, before storage (M2). */
  pairFidelity(linkId: string, fidelity: number): void;
  /**
   * One end-to-end pair handed to a request's end nodes: its fidelity when they hold it (M2) and the
   * time since the request's previous delivery (or its start), in s.
   */
  pairDelivered(route: DeliveryRoute, fidelity: number, latencyS: number): void;
  /** Qubits of a node's memory holding entanglement now, of its `capacity` (M8 buffer occupancy). */
  memoryOccupancy(nodeId: string, occupied: number, capacity: number): void;
  /** How long one qubit held its half of a pair before it was freed, in s (M5 memory lifetime). */
  memoryStorageTime(nodeId: string, seconds: number): void;
  /** One round trip between the controller and a node's agent, in s (M4 classical control RTT). */
  controlRtt(nodeId: string, seconds: number): void;
  /** One QKD post-processing block on a link finished (M6 key, M10 overhead, F5 discards). */
  qkdBlock(linkId: string, block: QkdBlockObservation): void;
  /** The secret key rate a QKD link is expected to make, bits/s: the yardstick of the key-rate SLO. */
  qkdExpectedKeyRate(linkId: string, bitsPerS: number): void;
  /** Key bits available now in one direction of a KME's pool (pools are named by link ID). */
  keyPool(kmeId: string, pool: string, direction: "local" | "peer", bits: number): void;
  /** Keys handed to an SAE by a KME since the last call, and their total bits. */
  keysServed(kmeId: string, saeId: string, keys: number, bits: number): void;
  /** A job of a tenant ended (M7 job success rate). `kind` is the job type, e.g. "qkd" or "teleport". */
  jobFinished(tenant: string, kind: string, outcome: JobOutcome): void;
  /**
   * How far a calibrated parameter of a link has drifted from its calibrated value, as a ratio
   * (current − calibrated) / calibrated (M9).
   */
  calibrationDrift(linkId: string, parameter: string, ratio: number): void;
  /** A link was taken down or brought up, by an operator or by failure detection. */
  linkState(linkId: string, up: boolean, cause: "operator" | "detected"): void;
  /** How many of a tenant's jobs are in a state now (queue depth and work in progress). */
  jobsInState(tenant: string, state: string, count: number): void;
  /** The share of a link's capacity the scheduler has reserved for running jobs now, in [0, 1] (M8). */
  linkReserved(linkId: string, fraction: number): void;
  /** Memory qubits of a node the scheduler has reserved for running jobs now (M8). */
  memoryReserved(nodeId: string, qubits: number): void;
}

/** One observation as data: the method's name as `kind`, its arguments as fields. */
export type Observation =
  | { kind: "linkAttempts"; linkId: string; attempts: number; successes: number }
  | { kind: "linkExpectedSuccess"; linkId: string; probability: number }
  | { kind: "pairFidelity"; linkId: string; fidelity: number }
  | { kind: "pairDelivered"; route: DeliveryRoute; fidelity: number; latencyS: number }
  | { kind: "memoryOccupancy"; nodeId: string; occupied: number; capacity: number }
  | { kind: "memoryStorageTime"; nodeId: string; seconds: number }
  | { kind: "controlRtt"; nodeId: string; seconds: number }
  | { kind: "qkdBlock"; linkId: string; block: QkdBlockObservation }
  | { kind: "qkdExpectedKeyRate"; linkId: string; bitsPerS: number }
  | { kind: "keyPool"; kmeId: string; pool: string; direction: "local" | "peer"; bits: number }
  | { kind: "keysServed"; kmeId: string; saeId: string; keys: number; bits: number }
  | { kind: "jobFinished"; tenant: string; jobKind: string; outcome: JobOutcome }
  | { kind: "calibrationDrift"; linkId: string; parameter: string; ratio: number }
  | { kind: "linkState"; linkId: string; up: boolean; cause: "operator" | "detected" }
  | { kind: "jobsInState"; tenant: string; state: string; count: number }
  | { kind: "linkReserved"; linkId: string; fraction: number }
  | { kind: "memoryReserved"; nodeId: string; qubits: number };

/** The observations of one kind. */
export type ObservationOf<K extends Observation["kind"]> = Extract<Observation, { kind: K }>;

/**
 * Drops every observation: the default when nobody listens. Extend it to listen to a few kinds only
 * (override those methods).
 */
export class NullSink implements ObservationSink {
  linkAttempts(_linkId: string, _attempts: number, _successes: number): void {}
  linkExpectedSuccess(_linkId: string, _probability: number): void {}
  pairFidelity(_linkId: string, _fidelity: number): void {}
  pairDelivered(_route: DeliveryRoute, _fidelity: number, _latencyS: number): void {}
  memoryOccupancy(_nodeId: string, _occupied: number, _capacity: number): void {}
  memoryStorageTime(_nodeId: string, _seconds: number): void {}
  controlRtt(_nodeId: string, _seconds: number): void {}
  qkdBlock(_linkId: string, _block: QkdBlockObservation): void {}
  qkdExpectedKeyRate(_linkId: string, _bitsPerS: number): void {}
  keyPool(_kmeId: string, _pool: string, _direction: "local" | "peer", _bits: number): void {}
  keysServed(_kmeId: string, _saeId: string, _keys: number, _bits: number): void {}
  jobFinished(_tenant: string, _kind: string, _outcome: JobOutcome): void {}
  calibrationDrift(_linkId: string, _parameter: string, _ratio: number): void {}
  linkState(_linkId: string, _up: boolean, _cause: "operator" | "detected"): void {}
  jobsInState(_tenant: string, _state: string, _count: number): void {}
  linkReserved(_linkId: string, _fraction: number): void {}
  memoryReserved(_nodeId: string, _qubits: number): void {}
}

/**
 * Keeps every observation in memory, in order, as {@link Observation} records: for tests, and for
 * replaying a run into another sink ({@link RecordingSink.replay}). Arguments are copied, so a
 * reporter may reuse its objects.
 */
export class RecordingSink implements ObservationSink {
  /** Everything observed so far, oldest first. */
  readonly observations: Observation[] = [];

  /** The observations of one kind, oldest first. */
  of<K extends Observation["kind"]>(kind: K): ObservationOf<K>[] {
    return this.observations.filter((o): o is ObservationOf<K> => o.kind === kind);
  }

  /** Forgets everything observed. */
  clear(): void {
    this.observations.length = 0;
  }

  /** Sends every observation kept, in order, to another sink. */
  replay(into: ObservationSink): void {
    for (const o of this.observations) dispatch(into, o);
  }

  linkAttempts(linkId: string, attempts: number, successes: number): void {
    this.observations.push({ kind: "linkAttempts", linkId, attempts, successes });
  }
  linkExpectedSuccess(linkId: string, probability: number): void {
    this.observations.push({ kind: "linkExpectedSuccess", linkId, probability });
  }
  pairFidelity(linkId: string, fidelity: number): void {
    this.observations.push({ kind: "pairFidelity", linkId, fidelity });
  }
  pairDelivered(route: DeliveryRoute, fidelity: number, latencyS: number): void {
    this.observations.push({ kind: "pairDelivered", route: { ...route }, fidelity, latencyS });
  }
  memoryOccupancy(nodeId: string, occupied: number, capacity: number): void {
    this.observations.push({ kind: "memoryOccupancy", nodeId, occupied, capacity });
  }
  memoryStorageTime(nodeId: string, seconds: number): void {
    this.observations.push({ kind: "memoryStorageTime", nodeId, seconds });
  }
  controlRtt(nodeId: string, seconds: number): void {
    this.observations.push({ kind: "controlRtt", nodeId, seconds });
  }
  qkdBlock(linkId: string, block: QkdBlockObservation): void {
    this.observations.push({ kind: "qkdBlock", linkId, block: { ...block } });
  }
  qkdExpectedKeyRate(linkId: string, bitsPerS: number): void {
    this.observations.push({ kind: "qkdExpectedKeyRate", linkId, bitsPerS });
  }
  keyPool(kmeId: string, pool: string, direction: "local" | "peer", bits: number): void {
    this.observations.push({ kind: "keyPool", kmeId, pool, direction, bits });
  }
  keysServed(kmeId: string, saeId: string, keys: number, bits: number): void {
    this.observations.push({ kind: "keysServed", kmeId, saeId, keys, bits });
  }
  jobFinished(tenant: string, kind: string, outcome: JobOutcome): void {
    // `kind` names the observation, so the job's kind is recorded as `jobKind`.
    this.observations.push({ kind: "jobFinished", tenant, jobKind: kind, outcome });
  }
  calibrationDrift(linkId: string, parameter: string, ratio: number): void {
    this.observations.push({ kind: "calibrationDrift", linkId, parameter, ratio });
  }
  linkState(linkId: string, up: boolean, cause: "operator" | "detected"): void {
    this.observations.push({ kind: "linkState", linkId, up, cause });
  }
  jobsInState(tenant: string, state: string, count: number): void {
    this.observations.push({ kind: "jobsInState", tenant, state, count });
  }
  linkReserved(linkId: string, fraction: number): void {
    this.observations.push({ kind: "linkReserved", linkId, fraction });
  }
  memoryReserved(nodeId: string, qubits: number): void {
    this.observations.push({ kind: "memoryReserved", nodeId, qubits });
  }
}

/** Makes the sink call that an {@link Observation} records. */
export function dispatch(sink: ObservationSink, o: Observation): void {
  switch (o.kind) {
    case "linkAttempts":
      sink.linkAttempts(o.linkId, o.attempts, o.successes);
      break;
    case "linkExpectedSuccess":
      sink.linkExpectedSuccess(o.linkId, o.probability);
      break;
    case "pairFidelity":
      sink.pairFidelity(o.linkId, o.fidelity);
      break;
    case "pairDelivered":
      sink.pairDelivered(o.route, o.fidelity, o.latencyS);
      break;
    case "memoryOccupancy":
      sink.memoryOccupancy(o.nodeId, o.occupied, o.capacity);
      break;
    case "memoryStorageTime":
      sink.memoryStorageTime(o.nodeId, o.seconds);
      break;
    case "controlRtt":
      sink.controlRtt(o.nodeId, o.seconds);
      break;
    case "qkdBlock":
      sink.qkdBlock(o.linkId, o.block);
      break;
    case "qkdExpectedKeyRate":
      sink.qkdExpectedKeyRate(o.linkId, o.bitsPerS);
      break;
    case "keyPool":
      sink.keyPool(o.kmeId, o.pool, o.direction, o.bits);
      break;
    case "keysServed":
      sink.keysServed(o.kmeId, o.saeId, o.keys, o.bits);
      break;
    case "jobFinished":
      sink.jobFinished(o.tenant, o.jobKind, o.outcome);
      break;
    case "calibrationDrift":
      sink.calibrationDrift(o.linkId, o.parameter, o.ratio);
      break;
    case "linkState":
      sink.linkState(o.linkId, o.up, o.cause);
      break;
    case "jobsInState":
      sink.jobsInState(o.tenant, o.state, o.count);
      break;
    case "linkReserved":
      sink.linkReserved(o.linkId, o.fraction);
      break;
    case "memoryReserved":
      sink.memoryReserved(o.nodeId, o.qubits);
      break;
  }
}

/**
 * The counts of a QKD key block as an observation. Only counts are copied: the block's keys must never
 * reach a metrics or logging path.
 */
export function keyBlockObservation(block: KeyBlock): QkdBlockObservation {
  return {
    status: block.status,
    ...(block.reason ? { reason: block.reason } : {}),
    siftedBits: block.siftedBits,
    disclosedBits: block.cascade.disclosedBits,
    secretKeyBits: block.status === "delivered" ? block.deliveredBits : 0,
  };
}

/** Reports both directions of a KME's pool level (as `KeyStore.poolLevels` returns them). */
export function observePoolLevel(
  sink: Pick<ObservationSink, "keyPool">,
  kmeId: string,
  level: PoolLevel,
): void {
  sink.keyPool(kmeId, level.pool, "local", level.local.bits);
  sink.keyPool(kmeId, level.pool, "peer", level.peer.bits);
}
