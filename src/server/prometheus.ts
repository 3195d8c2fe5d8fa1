/**
 * Turns the core's observations (src/telemetry/observations.ts) into Prometheus metrics, and serves
 * them at `GET /metrics`. This adapter is the only place that imports prom-client: the physics reports
 * to an {@link ObservationSink} and never learns how it is exported.
 *
 * Every metric is named `qnet_…` with its unit in the name (Prometheus naming conventions) and every
 * series carries the canonical topology IDs as labels (`link_id`, `node_id`, `kme_id`, …), so that
 * dashboards and alerts (ops/prometheus/rules.yml) can join, group and deduplicate by them. The full
 * list, with the M-number each metric serves and example PromQL, is docs/observability.md.
 *
 * Ratios (M1 success ratio, M8 occupancy, M10 overhead) are not exported as gauges: the counters and
 * levels they are made of are, and PromQL divides them over whatever window is asked for
 * (`rate(successes[5m]) / rate(attempts[5m])`). A ratio computed here would fix one window, could not
 * be summed over links or instances, and would hide how many attempts it rests on.
 *
 * @module
 */
import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type {
  DeliveryRoute,
  JobOutcome,
  ObservationSink,
  QkdBlockObservation,
} from "../telemetry/observations.js";

/**
 * Fidelity histogram buckets: finest near 1, where working links and SLO thresholds are; a pair at or
 * below 0.5 is useless for entanglement (no better than a classical mixture), so one bucket suffices there.
 */
export const FIDELITY_BUCKETS: readonly number[] = [
  0.25, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
];

/** 1-2.5-5 steps from `lo` to `hi` (powers of ten), in s: a resolution of about ×2 over many decades. */
function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.round(Math.log10(lo)); e <= Math.round(Math.log10(hi)); e++)
    for (const m of [1, 2.5, 5]) {
      // Rounded to 12 significant digits so that the `le` labels read 0.0001, not 0.00009999999999999999.
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo && v <= hi) out.push(v);
    }
  return out;
}

/** Delivery latency buckets, s: from a fast link (100 µs) to a long repeater chain (100 s). */
export const LATENCY_BUCKETS_S: readonly number[] = decades(1e-4, 100);
/** Memory storage time buckets, s: from 1 µs (a swap right after the herald) to 10 s (long-lived memories). */
export const STORAGE_BUCKETS_S: readonly number[] = decades(1e-6, 10);
/** Control RTT buckets, s: from a metro fiber (100 µs) to a congested wide-area path (10 s). */
export const RTT_BUCKETS_S: readonly number[] = decades(1e-4, 10);

/** Options of a {@link PrometheusSink}. */
export interface PrometheusSinkOptions {
  /**
   * Also export prom-client's process metrics (CPU, memory, event loop lag, `process_…`, `nodejs_…`).
   * Default false: they describe the host process, not the network, and tests want only qnet's.
   */
  processMetrics?: boolean;
}

/**
 * An {@link ObservationSink} that keeps Prometheus metrics in its own {@link Registry} (never the
 * global one, so that several sinks — e.g. one per test or per simulated site — do not collide).
 * Invalid observations (negative counts, non-finite values, fidelities outside [0, 1]) throw a
 * RangeError naming the metric: they are bugs in the reporter, and a silently skewed SLO is worse.
 */
export class PrometheusSink implements ObservationSink {
  /** The registry holding every metric of this sink. */
  readonly registry = new Registry();

  private readonly linkAttemptsTotal: Counter<"link_id">;
  private readonly linkSuccessesTotal: Counter<"link_id">;
  private readonly linkExpectedSuccessRatio: Gauge<"link_id">;
  private readonly linkPairFidelity: Histogram<"link_id">;
  private readonly pairsDeliveredTotal: Counter<"src_node_id" | "dst_node_id">;
  private readonly deliveredPairFidelity: Histogram<"src_node_id" | "dst_node_id">;
  private readonly deliveryLatency: Histogram<"src_node_id" | "dst_node_id">;
  private readonly memoryOccupied: Gauge<"node_id">;
  private readonly memoryQubits: Gauge<"node_id">;
  private readonly memoryStorage: Histogram<"node_id">;
  private readonly controlRttSeconds: Histogram<"node_id">;
  private readonly qkdSiftedBits: Counter<"link_id">;
  private readonly qkdDisclosedBits: Counter<"link_id">;
  private readonly qkdSecretKeyBits: Counter<"link_id">;
  private readonly qkdBlocks: Counter<"link_id" | "status" | "reason">;
  private readonly qkdExpectedRate: Gauge<"link_id">;
  private readonly kmsPoolBits: Gauge<"kme_id" | "pool" | "direction">;
  private readonly kmsKeysServed: Counter<"kme_id" | "sae_id">;
  private readonly kmsKeyBitsServed: Counter<"kme_id" | "sae_id">;
  private readonly jobsTotal: Counter<"tenant" | "kind" | "outcome">;
  private readonly calibrationDriftRatio: Gauge<"link_id" | "parameter">;
  private readonly linkUp: Gauge<"link_id">;
  private readonly linkDownEvents: Counter<"link_id" | "cause">;
  private readonly jobsNow: Gauge<"tenant" | "state">;
  private readonly linkReservedRatio: Gauge<"link_id">;
  private readonly memoryReservedQubits: Gauge<"node_id">;

  constructor(options: PrometheusSinkOptions = {}) {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Gauge<L>({ name, help, labelNames, registers });
    const histogram = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      buckets: readonly number[],
    ) => new Histogram<L>({ name, help, labelNames, buckets: [...buckets], registers });

    this.linkAttemptsTotal = counter(
      "qnet_link_attempts_total",
      "Entanglement generation attempts made on the link (M1).",
      ["link_id"],
    );
    this.linkSuccessesTotal = counter(
      "qnet_link_successes_total",
      "Attempts heralded as successful on the link: Bell pairs generated (M1, M3).",
      ["link_id"],
    );
    this.linkExpectedSuccessRatio = gauge(
      "qnet_link_expected_success_ratio",
      "Success probability per attempt the link is expected to reach (model or last calibration).",
      ["link_id"],
    );
    this.linkPairFidelity = histogram(
      "qnet_link_pair_fidelity",
      "Fidelity to Phi+ of pairs as heralded on the link, before storage (M2).",
      ["link_id"],
      FIDELITY_BUCKETS,
    );
    this.pairsDeliveredTotal = counter(
      "qnet_pairs_delivered_total",
      "End-to-end pairs handed to the end nodes of a request (M3).",
      ["src_node_id", "dst_node_id"],
    );
    this.deliveredPairFidelity = histogram(
      "qnet_delivered_pair_fidelity",
      "Fidelity to Phi+ of delivered pairs when the end nodes hold them (M2).",
      ["src_node_id", "dst_node_id"],
      FIDELITY_BUCKETS,
    );
    this.deliveryLatency = histogram(
      "qnet_delivery_latency_seconds",
      "Time from a request's previous delivery (or its start) to the next delivered pair.",
      ["src_node_id", "dst_node_id"],
      LATENCY_BUCKETS_S,
    );
    this.memoryOccupied = gauge(
      "qnet_memory_qubits_occupied",
      "Memory qubits of the node holding entanglement now (M8 buffer occupancy).",
      ["node_id"],
    );
    this.memoryQubits = gauge("qnet_memory_qubits", "Memory qubits of the node (M8 capacity).", ["node_id"]);
    this.memoryStorage = histogram(
      "qnet_memory_storage_seconds",
      "How long a qubit held its half of a pair before being freed (M5 memory lifetime).",
      ["node_id"],
      STORAGE_BUCKETS_S,
    );
    this.controlRttSeconds = histogram(
      "qnet_control_rtt_seconds",
      "Round trip between the controller and the node's agent (M4).",
      ["node_id"],
      RTT_BUCKETS_S,
    );
    this.qkdSiftedBits = counter(
      "qnet_qkd_sifted_bits_total",
      "Sifted key-basis bits entering error correction on the QKD link (M10 denominator).",
      ["link_id"],
    );
    this.qkdDisclosedBits = counter(
      "qnet_qkd_disclosed_bits_total",
      "Bits disclosed by error correction on the QKD link (M10 numerator).",
      ["link_id"],
    );
    this.qkdSecretKeyBits = counter(
      "qnet_qkd_secret_key_bits_total",
      "Secret key bits delivered by the QKD link after authentication costs (M6: rate() is the key rate).",
      ["link_id"],
    );
    this.qkdBlocks = counter(
      "qnet_qkd_blocks_total",
      "QKD post-processing blocks finished, by status and discard reason (reason none when delivered).",
      ["link_id", "status", "reason"],
    );
    this.qkdExpectedRate = gauge(
      "qnet_qkd_expected_secret_key_rate_bits_per_second",
      "Secret key rate the QKD link is expected to make (model or last calibration).",
      ["link_id"],
    );
    this.kmsPoolBits = gauge(
      "qnet_kms_pool_bits",
      "Key bits available in one direction of a KME's pool (pools are named by QKD link ID).",
      ["kme_id", "pool", "direction"],
    );
    this.kmsKeysServed = counter("qnet_kms_keys_served_total", "Keys handed by the KME to the SAE.", [
      "kme_id",
      "sae_id",
    ]);
    this.kmsKeyBitsServed = counter(
      "qnet_kms_key_bits_served_total",
      "Key bits handed by the KME to the SAE.",
      ["kme_id", "sae_id"],
    );
    this.jobsTotal = counter("qnet_jobs_total", "Jobs finished, by tenant, job kind and outcome (M7).", [
      "tenant",
      "kind",
      "outcome",
    ]);
    this.linkUp = gauge(
      "qnet_link_up",
      "1 while the orchestrator holds the link up, 0 while it is down (taken down by an operator or by failure detection).",
      ["link_id"],
    );
    this.linkDownEvents = counter(
      "qnet_link_down_events_total",
      "Times a link was taken down, by cause: operator (the API) or detected (it stopped heralding).",
      ["link_id", "cause"],
    );
    this.jobsNow = gauge("qnet_jobs", "Jobs of a tenant in each state now (queue depth, work in progress).", [
      "tenant",
      "state",
    ]);
    this.linkReservedRatio = gauge(
      "qnet_link_reserved_ratio",
      "Share of the link's capacity the scheduler has reserved for running jobs (M8).",
      ["link_id"],
    );
    this.memoryReservedQubits = gauge(
      "qnet_memory_qubits_reserved",
      "Memory qubits of the node the scheduler has reserved for running jobs (M8).",
      ["node_id"],
    );
    this.calibrationDriftRatio = gauge(
      "qnet_calibration_drift_ratio",
      "Relative drift of a calibrated link parameter from its calibrated value (M9).",
      ["link_id", "parameter"],
    );
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** The Content-Type of {@link metricsText} (the Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text exposition format. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  linkAttempts(linkId: string, attempts: number, successes: number): void {
    nonNegative("qnet_link_attempts_total", attempts);
    nonNegative("qnet_link_successes_total", successes);
    if (successes > attempts)
      throw new RangeError(`link ${linkId}: ${successes} successes reported for ${attempts} attempts`);
    // inc(0) too: a link whose attempts all fail must show a successes series at 0, not none, or the
    // success ratio would be undefined rather than 0.
    this.linkAttemptsTotal.inc({ link_id: linkId }, attempts);
    this.linkSuccessesTotal.inc({ link_id: linkId }, successes);
  }

  linkExpectedSuccess(linkId: string, probability: number): void {
    this.linkExpectedSuccessRatio.set(
      { link_id: linkId },
      unitInterval("qnet_link_expected_success_ratio", probability),
    );
  }

  pairFidelity(linkId: string, fidelity: number): void {
    this.linkPairFidelity.observe({ link_id: linkId }, unitInterval("qnet_link_pair_fidelity", fidelity));
  }

  pairDelivered(route: DeliveryRoute, fidelity: number, latencyS: number): void {
    const labels = { src_node_id: route.srcNodeId, dst_node_id: route.dstNodeId };
    unitInterval("qnet_delivered_pair_fidelity", fidelity);
    nonNegative("qnet_delivery_latency_seconds", latencyS);
    this.pairsDeliveredTotal.inc(labels);
    this.deliveredPairFidelity.observe(labels, fidelity);
    this.deliveryLatency.observe(labels, latencyS);
  }

  memoryOccupancy(nodeId: string, occupied: number, capacity: number): void {
    nonNegative("qnet_memory_qubits_occupied", occupied);
    nonNegative("qnet_memory_qubits", capacity);
    if (occupied > capacity)
      throw new RangeError(`node ${nodeId}: ${occupied} qubits occupied of a capacity of ${capacity}`);
    this.memoryOccupied.set({ node_id: nodeId }, occupied);
    this.memoryQubits.set({ node_id: nodeId }, capacity);
  }

  memoryStorageTime(nodeId: string, seconds: number): void {
    this.memoryStorage.observe({ node_id: nodeId }, nonNegative("qnet_memory_storage_seconds", seconds));
  }

  controlRtt(nodeId: string, seconds: number): void {
    this.controlRttSeconds.observe({ node_id: nodeId }, nonNegative("qnet_control_rtt_seconds", seconds));
  }

  qkdBlock(linkId: string, block: QkdBlockObservation): void {
    nonNegative("qnet_qkd_sifted_bits_total", block.siftedBits);
    nonNegative("qnet_qkd_disclosed_bits_total", block.disclosedBits);
    nonNegative("qnet_qkd_secret_key_bits_total", block.secretKeyBits);
    const link = { link_id: linkId };
    this.qkdSiftedBits.inc(link, block.siftedBits);
    this.qkdDisclosedBits.inc(link, block.disclosedBits);
    this.qkdSecretKeyBits.inc(link, block.secretKeyBits);
    this.qkdBlocks.inc({ link_id: linkId, status: block.status, reason: block.reason ?? "none" });
  }

  qkdExpectedKeyRate(linkId: string, bitsPerS: number): void {
    nonNegative("qnet_qkd_expected_secret_key_rate_bits_per_second", bitsPerS);
    this.qkdExpectedRate.set({ link_id: linkId }, bitsPerS);
    // A link expected to make key but making none must show a key counter at 0 (shortfall 100 %), not
    // no series at all, which the key-rate SLO could not tell from a link nobody watches.
    this.qkdSecretKeyBits.inc({ link_id: linkId }, 0);
  }

  keyPool(kmeId: string, pool: string, direction: "local" | "peer", bits: number): void {
    this.kmsPoolBits.set({ kme_id: kmeId, pool, direction }, nonNegative("qnet_kms_pool_bits", bits));
  }

  keysServed(kmeId: string, saeId: string, keys: number, bits: number): void {
    nonNegative("qnet_kms_keys_served_total", keys);
    nonNegative("qnet_kms_key_bits_served_total", bits);
    this.kmsKeysServed.inc({ kme_id: kmeId, sae_id: saeId }, keys);
    this.kmsKeyBitsServed.inc({ kme_id: kmeId, sae_id: saeId }, bits);
  }

  jobFinished(tenant: string, kind: string, outcome: JobOutcome): void {
    this.jobsTotal.inc({ tenant, kind, outcome });
  }

  calibrationDrift(linkId: string, parameter: string, ratio: number): void {
    if (!Number.isFinite(ratio))
      throw new RangeError(`qnet_calibration_drift_ratio: ${ratio} is not a finite number`);
    this.calibrationDriftRatio.set({ link_id: linkId, parameter }, ratio);
  }

  linkState(linkId: string, up: boolean, cause: "operator" | "detected"): void {
    this.linkUp.set({ link_id: linkId }, up ? 1 : 0);
    if (!up) this.linkDownEvents.inc({ link_id: linkId, cause });
  }

  jobsInState(tenant: string, state: string, count: number): void {
    this.jobsNow.set({ tenant, state }, nonNegative("qnet_jobs", count));
  }

  linkReserved(linkId: string, fraction: number): void {
    this.linkReservedRatio.set({ link_id: linkId }, unitInterval("qnet_link_reserved_ratio", fraction));
  }

  memoryReserved(nodeId: string, qubits: number): void {
    this.memoryReservedQubits.set({ node_id: nodeId }, nonNegative("qnet_memory_qubits_reserved", qubits));
  }
}

/** Checks a count, level or duration: finite and ≥ 0. */
function nonNegative(metric: string, x: number): number {
  if (!(Number.isFinite(x) && x >= 0)) throw new RangeError(`${metric}: ${x} is not a finite number ≥ 0`);
  return x;
}

/** Checks a fidelity or probability: in [0, 1]. */
function unitInterval(metric: string, x: number): number {
  if (!(x >= 0 && x <= 1)) throw new RangeError(`${metric}: ${x} is not in [0, 1]`);
  return x;
}

/** Options of {@link registerMetricsRoute}. */
export interface MetricsRouteOptions {
  /** The path to serve. Default `/metrics`, where Prometheus scrapes by default. */
  path?: string;
  /**
   * Called before each scrape, to bring gauges that are costly to keep current (e.g. counts over a
   * store) up to date. A failure is logged by the server and the scrape still answers.
   */
  beforeScrape?: () => Promise<void>;
}

/**
 * Serves the sink's metrics at `GET /metrics` (text format 0.0.4, the Content-Type Prometheus expects).
 * Serve it on a listener of its own (e.g. 127.0.0.1 or an operations network), not on the key delivery
 * API's: the metrics name links, KMEs and SAEs, and must not need an SAE's client certificate.
 */
export function registerMetricsRoute(
  app: FastifyInstance,
  sink: PrometheusSink,
  options: MetricsRouteOptions = {},
): void {
  app.get(options.path ?? "/metrics", async (request, reply) => {
    try {
      await options.beforeScrape?.();
    } catch (e) {
      request.log.error({ err: e }, "updating gauges before a scrape failed");
    }
    const text = await sink.metricsText();
    return reply.header("content-type", sink.contentType).send(text);
  });
}
