/**
 * The orchestrator engine (issue 6, C6; data flow D1–D4 in docs/system-map.md): jobs come from the
 * {@link JobStore}, pass admission control (./admission.ts), wait in the {@link Scheduler} for their
 * reservation, run on the digital twin (the network simulation, BBM92 or per-hop QKD sessions) and end
 * in a final state with their result — every step persisted in the store and emitted as an event.
 *
 * Simulated time and wall time are separate: a job runs synchronously in simulated time inside
 * {@link Orchestrator.step}; the clock (ms) only stamps the lifecycle. See docs/orchestrator.md.
 *
 * Core layer: no clock, no randomness, no Node modules — the clock and the seed are passed in.
 */
import { simulate } from "../network/simulation.js";
import type { LinkSpec, RequestSpec, Topology } from "../network/topology.js";
import { runBbm92OverNetwork } from "../qkd/bbm92-network.js";
import { type QkdLinkSpec, QkdSession } from "../qkd/pipeline.js";
import { Rng } from "../sim/rng.js";
import type { JobOutcome } from "../telemetry/observations.js";
import { type Admitted, admit, type Refused } from "./admission.js";
import { ControlPlane, type ControlPlaneOptions } from "./control-plane.js";
import type { JobPage, JobQuery, JobStore, JobWriteResult } from "./job-store.js";
import {
  type FidelityStats,
  isTerminal,
  type JobRecord,
  type JobResult,
  type JobSpecError,
  type JobState,
  MAX_REASON_LENGTH,
  validateJobSpec,
} from "./jobs.js";
import { LinkEstimator } from "./link-estimates.js";
import { keyBitsPerPair, predictPath } from "./routing.js";
import { Scheduler, type SchedulerOptions, schedulableFromAdmission } from "./scheduler.js";

/** Whether two paths visit the same nodes in the same order. */
function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** What the orchestrator emits: a job changed (state, path) or a link went down or up. */
export type OrchestratorEvent =
  | {
      type: "job";
      job: JobRecord;
      /** Set when the event is a reroute: the link that went down and the old and new paths. */
      reroute?: { linkId: string; from: string[]; to: string[] };
    }
  | {
      type: "link";
      linkId: string;
      up: boolean;
      /** Who changed it: an operator (the API, the default) or failure detection (`LinkMonitor`). */
      cause: LinkChangeCause;
      /** Why, for people, when known. */
      reason?: string;
    };

/** Who took a link down or brought it up. */
export type LinkChangeCause = "operator" | "detected";

/** The part of an `ObservationSink` the orchestrator reports to: M7 job outcomes and M4 control round trips. */
export interface JobFinishedSink {
  jobFinished(tenant: string, kind: string, outcome: JobOutcome): void;
  /** One controller–agent round trip of a job's path setup, s. */
  controlRtt?(nodeId: string, seconds: number): void;
}

/** Settings of an {@link Orchestrator}. */
export interface OrchestratorOptions {
  topology: Topology;
  store: JobStore;
  /** Live link estimates; default: fresh from the topology's link models. */
  estimator?: LinkEstimator;
  scheduler?: SchedulerOptions;
  /** Link share each job reserves (see {@link Scheduler}); default the scheduler's. */
  linkShare?: number;
  /** Wall clock, ms since the epoch: stamps every transition. */
  clock: () => number;
  /** Seed of every twin run; each job's run is seeded with `${seed}:${jobId}`. */
  seed: number | string;
  sink?: JobFinishedSink;
  /** Where the controller sits and how fast agents answer (M4); default: the centre node by latency. */
  controlPlane?: ControlPlaneOptions;
  onEvent?: (event: OrchestratorEvent) => void;
  /**
   * Longest simulated run of a job without a deadline, s. Default: 20 × the predicted completion time,
   * at least 1 s — a generous margin so that only a job the twin cannot finish is cut short.
   */
  maxRunS?: number;
  /**
   * Simulated seconds per wall second. When set, a job stays `running` (holding its reservation) for
   * the wall time its twin run took in simulated time — setup plus run, divided by this scale — and
   * ends in the first {@link Orchestrator.step} after that; a link going down meanwhile reroutes it.
   * Default: none — a job ends in the round it started, as soon as its run is computed.
   */
  timeScale?: number;
}

/** The outcome of {@link Orchestrator.submit}. */
export type SubmitResult =
  | { ok: true; job: JobRecord }
  | { ok: false; errors: JobSpecError[] }
  | { ok: false; refused: { code: Refused["code"]; reason: string }; job: JobRecord };

/** What {@link Orchestrator.recover} did with the jobs it found. */
export interface RecoveryReport {
  /** Jobs admitted (again) and queued in the scheduler. */
  readmitted: string[];
  /** Jobs failed: running when the previous orchestrator stopped, or no longer admissible. */
  failed: string[];
}

/** Reason recorded for a job that was running when its orchestrator stopped. */
export const INTERRUPTED_REASON = "interrupted by restart";

const NS_PER_S = 1e9;

function clip(reason: string): string {
  return reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason;
}

/** Count, mean, min, max and sample standard deviation of `xs` (undefined when empty). */
export function fidelityStats(xs: readonly number[]): FidelityStats | undefined {
  if (xs.length === 0) return undefined;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const x of xs) {
    sum += x;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  const mean = sum / xs.length;
  const out: FidelityStats = { count: xs.length, mean, min, max };
  if (xs.length >= 2) {
    let ss = 0;
    for (const x of xs) ss += (x - mean) ** 2;
    out.stdDev = Math.sqrt(ss / (xs.length - 1));
  }
  return out;
}

/**
 * Fidelity of the state cos(θ/2)|0⟩ + e^{iφ} sin(θ/2)|1⟩ teleported through a Bell-diagonal pair
 * [Φ+, Ψ−, Ψ+, Φ−]: the teleportation channel is then the Pauli channel I, Y, X, Z with those
 * weights, whatever the Bell-measurement outcome, so the fidelity is exact (no sampling):
 * p_I + p_X·n_x² + p_Y·n_y² + p_Z·n_z² for the Bloch vector n. For a Werner pair it is (2F + 1)/3.
 */
export function teleportationFidelity(pair: ArrayLike<number>, thetaRad: number, phiRad: number): number {
  const nx = Math.sin(thetaRad) * Math.cos(phiRad);
  const ny = Math.sin(thetaRad) * Math.sin(phiRad);
  const nz = Math.cos(thetaRad);
  return pair[0] + pair[2] * nx * nx + pair[1] * ny * ny + pair[3] * nz * nz;
}

/** A topology link as a QKD session's link: physical links keep their fiber; abstract ones are short. */
function qkdLink(link: LinkSpec): QkdLinkSpec {
  const q = link.quantum;
  if (q.kind === "physical")
    return {
      lengthKm: q.lengthKm,
      attenuationDbPerKm: q.attenuationDbPerKm,
      detectorEfficiency: q.detectorEfficiency,
      darkCountRateHz: q.darkCountRateHz,
      classicalLatencyNs: link.classical.latencyNs,
    };
  return { lengthKm: q.lengthKm, classicalLatencyNs: link.classical.latencyNs };
}

/** What running a job on the twin achieved, and the state it ends in. */
interface Execution {
  state: "succeeded" | "failed" | "expired";
  result: JobResult;
  reason?: string;
  /** Entanglement and teleportation: each delivered pair's time (ns from the run's start) and fidelity. */
  deliveries?: Delivery[];
  /** Simulated time the run went on, ns: to its last pair, or to its deadline or cap when it fell short. Default `result.durationNs`. */
  simulatedNs?: number;
}

interface Delivery {
  atNs: number;
  fidelity: number;
}

/** What the runs of a job before a link cut them delivered, and the simulated time they took. */
interface Before {
  deliveries: Delivery[];
  /** Time spent running (path setups excluded), ns. */
  runNs: number;
  /** Time spent setting paths up, ns. */
  setupNs: number;
  /** Runs cut so far. */
  runs: number;
}

/** A job whose run is computed but whose wall time has not come yet (with `timeScale`). */
interface InFlight {
  decision: Admitted;
  exec: Execution;
  /** Wall time the current run started (after any reroute), ms. */
  startMs: number;
  /** Wall time the job ends, ms. */
  finishAtMs: number;
  /** Simulated time the current run spans, setup included, ns. */
  spanNs: number;
  /** Setup of the current run, ns. */
  setupNs: number;
  /** What earlier runs on other paths had delivered before their link went down. */
  before?: Before;
  /** Waiting for a reservation on a new path after a link went down. */
  rerouting?: boolean;
}

/**
 * The orchestrator engine. One instance per store: it keeps the admission decisions of the jobs it
 * has queued in its scheduler in memory, and rebuilds them from the store in {@link recover}.
 */
export class Orchestrator {
  readonly topology: Topology;
  readonly estimator: LinkEstimator;
  readonly scheduler: Scheduler;
  /** The controller's position and its message routes to the agents (M4). */
  readonly control: ControlPlane;
  private readonly store: JobStore;
  private readonly clock: () => number;
  private readonly seed: number | string;
  private readonly sink?: JobFinishedSink;
  private readonly onEvent?: (event: OrchestratorEvent) => void;
  private readonly linkShare?: number;
  private readonly maxRunS?: number;
  /** Admission decisions of the jobs waiting in the scheduler, by job ID. */
  private readonly decisions = new Map<string, Admitted>();
  private readonly timeScale?: number;
  /** Links held down, and by whom. */
  private readonly downBy = new Map<string, LinkChangeCause>();
  /** Jobs running in wall time (with `timeScale`), by job ID. */
  private readonly inFlight = new Map<string, InFlight>();
  /** Each link's estimates at the last degradation check that saw them move: fidelity, success probability. */
  private readonly baseline = new Map<string, { fidelity: number; p: number }>();

  constructor(options: OrchestratorOptions) {
    this.topology = options.topology;
    this.store = options.store;
    this.estimator = options.estimator ?? new LinkEstimator(options.topology);
    this.scheduler = new Scheduler(options.topology, options.scheduler);
    this.control = new ControlPlane(options.topology, options.controlPlane);
    for (const id of this.estimator.linkIds())
      this.baseline.set(id, {
        fidelity: this.estimator.fidelity(id),
        p: this.estimator.successProbability(id),
      });
    this.clock = options.clock;
    this.seed = options.seed;
    this.sink = options.sink;
    this.onEvent = options.onEvent;
    this.linkShare = options.linkShare;
    this.maxRunS = options.maxRunS;
    if (options.timeScale !== undefined && !(options.timeScale > 0 && Number.isFinite(options.timeScale)))
      throw new RangeError(`timeScale must be a finite number > 0, got ${options.timeScale}`);
    this.timeScale = options.timeScale;
  }

  /** Constructs an orchestrator and {@link recover}s the store's unfinished jobs. */
  static async open(options: OrchestratorOptions): Promise<Orchestrator> {
    const o = new Orchestrator(options);
    await o.recover();
    return o;
  }

  /** The tail of the queue of state-changing calls: each runs alone, in call order. */
  private lock: Promise<unknown> = Promise.resolve();

  /**
   * Runs `fn` after every state-changing call made before it has finished: `submit`, `step`,
   * `cancel`, `linkDown`, `linkUp` and `recover` change the store, the scheduler and the tables of
   * decisions and runs across awaits, so they must not interleave.
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private emitJob(job: JobRecord, reroute?: { linkId: string; from: string[]; to: string[] }): void {
    this.onEvent?.(reroute === undefined ? { type: "job", job } : { type: "job", job, reroute });
  }

  private finished(job: JobRecord, outcome: JobOutcome): void {
    this.sink?.jobFinished(job.spec.tenant, job.spec.kind, outcome);
  }

  /** Drops everything held for a job that has ended: its reservation, decision and run in flight. */
  private forget(id: string): void {
    this.scheduler.release(id);
    this.decisions.delete(id);
    this.inFlight.delete(id);
  }

  /** A transition that emits its event when it is written; null when the job changed meanwhile. */
  private async move(
    job: JobRecord,
    to: JobState,
    atMs: number,
    extra: { reason?: string; result?: JobResult; path?: readonly string[] } = {},
  ): Promise<JobRecord | null> {
    const r: JobWriteResult = await this.store.transition({
      id: job.id,
      to,
      atMs,
      expectedVersion: job.version,
      ...extra,
      ...(extra.reason === undefined ? {} : { reason: clip(extra.reason) }),
    });
    if (r.status !== "ok") return null;
    this.emitJob(r.job);
    return r.job;
  }

  /**
   * Validates `spec`, persists the job (`queued`) and runs admission at once: a refused job is `failed`
   * with the refusal's code and reason (kept in its history and result); an admitted one is `admitted`
   * with its path and waits in the scheduler. `tenant`, when given (the authenticated caller), overrides
   * the spec's. A resubmission with an existing ID returns the stored job unchanged.
   */
  submit(spec: unknown, opts: { id: string; tenant?: string }): Promise<SubmitResult> {
    return this.exclusive(() => this.submitNow(spec, opts));
  }

  private async submitNow(spec: unknown, opts: { id: string; tenant?: string }): Promise<SubmitResult> {
    const body =
      opts.tenant !== undefined && typeof spec === "object" && spec !== null && !Array.isArray(spec)
        ? { ...spec, tenant: opts.tenant }
        : spec;
    const v = validateJobSpec(body);
    if (!v.ok) return { ok: false, errors: v.errors };
    const nowMs = this.clock();
    const created = await this.store.create({ id: opts.id, spec: v.spec, nowMs });
    if (created.status === "duplicate") return { ok: true, job: created.job };
    this.emitJob(created.job);
    return this.admitJob(created.job, nowMs);
  }

  /** Runs admission on a queued or admitted job and queues it in the scheduler, or fails it. */
  private async admitJob(job: JobRecord, nowMs: number): Promise<SubmitResult> {
    const d = admit(job, this.estimator, this.topology, nowMs);
    if (!d.admitted) {
      const failed = await this.move(job, "failed", nowMs, {
        reason: `refused at admission (${d.code}): ${d.reason}`,
        result: { error: { code: d.code, message: d.reason } },
      });
      if (failed !== null) this.finished(failed, "rejected");
      return { ok: false, refused: { code: d.code, reason: d.reason }, job: failed ?? job };
    }
    let admitted: JobRecord | null = job;
    if (job.state === "queued") {
      admitted = await this.move(job, "admitted", nowMs, {
        reason: `admitted on ${d.path.join("-")} (${d.mode})`,
        path: d.path,
      });
    } else if (job.path === undefined || !samePath(job.path, d.path)) {
      const r = await this.store.update({ id: job.id, expectedVersion: job.version, nowMs, path: d.path });
      admitted = r.status === "ok" ? r.job : null;
      if (admitted !== null) this.emitJob(admitted);
    }
    if (admitted === null) {
      // Someone else (a cancel) changed the job meanwhile: report it as it is now.
      const now = await this.store.get(job.id);
      return { ok: true, job: now ?? job };
    }
    this.scheduler.release(job.id);
    this.scheduler.enqueue(schedulableFromAdmission(admitted, d, this.linkShare));
    this.decisions.set(job.id, d);
    return { ok: true, job: admitted };
  }

  /**
   * Picks up the store's unfinished jobs after a restart (or on first use):
   * - `queued`: admission runs (it was interrupted between persisting and admitting);
   * - `admitted`: admission runs again — the network may have changed — and the job is queued in the
   *   scheduler, possibly on a new path;
   * - `reserved`: its reservation lived in the lost scheduler, so it goes back to `admitted` and is
   *   handled as above;
   * - `running`: **failed** with {@link INTERRUPTED_REASON}. Runs are not checkpointed, and re-running
   *   could hand out pairs or key twice to a client that already took part of them; failing says
   *   plainly what happened and the client may resubmit.
   */
  recover(): Promise<RecoveryReport> {
    return this.exclusive(() => this.recoverNow());
  }

  private async recoverNow(): Promise<RecoveryReport> {
    const report: RecoveryReport = { readmitted: [], failed: [] };
    const nowMs = this.clock();
    const jobs: JobRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.list({ state: ["queued", "admitted", "reserved", "running"], cursor });
      jobs.push(...page.jobs);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    // Oldest first, so that the scheduler's FIFO order within a tenant is the submission order.
    jobs.reverse();
    const runningHere = new Set(this.scheduler.runningIds());
    for (let job of jobs) {
      if (this.decisions.has(job.id) || runningHere.has(job.id)) continue;
      if (job.state === "running") {
        const f = await this.move(job, "failed", nowMs, {
          reason: INTERRUPTED_REASON,
          result: { ...job.result, error: { code: "INTERRUPTED", message: INTERRUPTED_REASON } },
        });
        if (f !== null) {
          this.finished(f, "failed");
          report.failed.push(job.id);
        }
        continue;
      }
      if (job.state === "reserved") {
        const back = await this.move(job, "admitted", nowMs, {
          reason: "reservation lost in a restart: waiting for resources again",
        });
        if (back === null) continue;
        job = back;
      }
      const r = await this.admitJob(job, nowMs);
      (r.ok ? report.readmitted : report.failed).push(job.id);
    }
    return report;
  }

  /**
   * One scheduling round at `nowMs` (default: the clock): expires overdue jobs, then starts every job
   * the scheduler lets start — `reserved`, `running`, run on the twin, and `succeeded`, `failed` or
   * `expired` with its result — releasing each reservation when its job ends. Returns the jobs that
   * reached a final state in this round, in order.
   */
  step(nowMs?: number): Promise<JobRecord[]> {
    return this.exclusive(() => this.stepNow(nowMs ?? this.clock()));
  }

  private async stepNow(nowMs: number): Promise<JobRecord[]> {
    // Runs that ended in time end first: a rate job's run ends exactly at its deadline.
    const done: JobRecord[] = await this.finishInFlight(nowMs);
    for (const job of await this.store.expireOverdue({ nowMs })) {
      this.forget(job.id);
      this.emitJob(job);
      this.finished(job, "expired");
      done.push(job);
    }
    await this.reconsiderDegraded(nowMs);
    for (let d = this.scheduler.next(nowMs); d !== null; d = this.scheduler.next(nowMs)) {
      const id = d.job.id;
      const decision = this.decisions.get(id)!;
      this.decisions.delete(id);
      let holding = false;
      try {
        const final = this.inFlight.get(id)?.rerouting
          ? await this.continueRun(id, decision, nowMs)
          : await this.runOne(id, decision, nowMs);
        if (final !== null) done.push(final);
        holding = this.inFlight.has(id);
      } finally {
        if (!holding) this.scheduler.release(id);
      }
    }
    return done;
  }

  /**
   * Waiting jobs on links whose estimates fell — fidelity by more than 0.005, or success probability by
   * more than 10 % since the last change seen — are checked against their job again: one that its path
   * can no longer serve (fidelity below its minimum, deadline or rate out of reach, no key) moves to the
   * path admission now picks, with a reroute event naming the degraded link. A job with no better path
   * keeps its own: the run decides. Small fluctuations move no job. Returns the jobs moved.
   */
  private async reconsiderDegraded(nowMs: number): Promise<JobRecord[]> {
    const degraded = new Set<string>();
    for (const id of this.estimator.linkIds()) {
      const now = { fidelity: this.estimator.fidelity(id), p: this.estimator.successProbability(id) };
      const seen = this.baseline.get(id);
      if (seen === undefined) this.baseline.set(id, now);
      else if (now.fidelity < seen.fidelity - 0.005 || now.p < seen.p * 0.9) {
        degraded.add(id);
        this.baseline.set(id, now);
      } else if (now.fidelity > seen.fidelity + 0.005 || now.p > seen.p * 1.1) this.baseline.set(id, now);
    }
    const out: JobRecord[] = [];
    if (degraded.size === 0) return out;
    for (const [id, d] of [...this.decisions]) {
      const weak = d.links.find((l) => degraded.has(l));
      if (weak === undefined || this.inFlight.has(id)) continue;
      const job = await this.store.get(id);
      if (job === null || job.state !== "admitted" || this.pathStillServes(job, d, nowMs)) continue;
      const decision = admit(job, this.estimator, this.topology, nowMs);
      if (!decision.admitted || samePath(decision.path, d.path)) continue;
      const moved = await this.moveToPath(job, decision, nowMs, weak, d.path);
      if (moved !== null) out.push(moved);
    }
    return out;
  }

  /** Whether a repeater path still serves a job on the current estimates (trusted paths: assumed so). */
  private pathStillServes(job: JobRecord, d: Admitted, nowMs: number): boolean {
    if (d.mode === "trusted") return true;
    const spec = job.spec;
    const p = predictPath(this.topology, this.estimator, d.path, d.links);
    if (!(p.pairRateHz > 0)) return false;
    const leftS =
      job.deadlineAtMs === undefined ? Number.POSITIVE_INFINITY : (job.deadlineAtMs - nowMs) / 1000;
    if (spec.kind === "qkd") {
      const rate = p.pairRateHz * keyBitsPerPair(p.fidelity);
      return rate > 0 && spec.keyBits / rate <= leftS;
    }
    if (spec.kind === "teleportation") return p.timePerPairS <= leftS;
    if (spec.minFidelity !== undefined && p.fidelity < spec.minFidelity) return false;
    if (spec.rateHz !== undefined) return p.pairRateHz >= spec.rateHz;
    return (spec.pairs ?? 1) * p.timePerPairS <= leftS;
  }

  /**
   * Saves a job's new path, queues it there in place of its old one and emits the reroute (`linkId`
   * is the link that made it move). Null when the job changed meanwhile.
   */
  private async moveToPath(
    job: JobRecord,
    decision: Admitted,
    nowMs: number,
    linkId: string,
    from: string[],
  ): Promise<JobRecord | null> {
    const r = await this.store.update({
      id: job.id,
      expectedVersion: job.version,
      nowMs,
      path: decision.path,
    });
    if (r.status !== "ok") return null;
    this.scheduler.release(job.id);
    this.scheduler.enqueue(schedulableFromAdmission(r.job, decision, this.linkShare));
    this.decisions.set(job.id, decision);
    this.emitJob(r.job, { linkId, from, to: decision.path });
    return r.job;
  }

  /** Ends the in-flight jobs whose wall time has come, in the order they end. */
  private async finishInFlight(nowMs: number): Promise<JobRecord[]> {
    const due = [...this.inFlight]
      .filter(([, f]) => !f.rerouting && f.finishAtMs <= nowMs)
      .sort((x, y) => x[1].finishAtMs - y[1].finishAtMs);
    const done: JobRecord[] = [];
    for (const [id, f] of due) {
      this.forget(id);
      const job = await this.store.get(id);
      if (job === null || job.state !== "running") continue; // cancelled or expired meanwhile
      const final = await this.move(job, f.exec.state, nowMs, {
        reason: f.exec.reason,
        result: f.exec.result,
      });
      if (final === null) continue;
      this.finished(final, f.exec.state);
      done.push(final);
    }
    return done;
  }

  /** Holds a computed run in flight for `simNs` of simulated time, or returns false when it takes none. */
  private hold(id: string, f: Omit<InFlight, "finishAtMs" | "spanNs">, simNs: number): boolean {
    if (this.timeScale === undefined) return false;
    const finishAtMs = f.startMs + simNs / 1e6 / this.timeScale;
    if (!(finishAtMs > f.startMs)) return false;
    this.inFlight.set(id, { ...f, finishAtMs, spanNs: simNs });
    return true;
  }

  /**
   * Runs the rest of a job that a link cut off while it ran, on the new path it waited for: the pairs
   * (or states) still missing, a rate job's remaining time, or a QKD job afresh. Merges the result with
   * what the earlier runs delivered and holds it in flight again.
   */
  private async continueRun(id: string, decision: Admitted, nowMs: number): Promise<JobRecord | null> {
    const f = this.inFlight.get(id)!;
    const before = f.before!;
    const job = await this.store.get(id);
    if (job === null || job.state !== "running") {
      this.inFlight.delete(id);
      return null;
    }
    const spec = job.spec;
    const tag = `:reroute${before.runs}`;
    const kept = before.deliveries;
    let exec: Execution;
    let setupNs = 0;
    try {
      setupNs = this.setUpPath(job, decision, tag);
      if (spec.kind === "entanglement" && spec.rateHz === undefined) {
        const rest = { ...job, spec: { ...spec, pairs: spec.pairs! - kept.length } };
        exec = this.execute(rest, decision, nowMs, setupNs, tag);
      } else exec = this.execute(job, decision, nowMs, setupNs, tag);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      exec = { state: "failed", result: { error: { code: "TWIN_ERROR", message } }, reason: message };
    }
    const runNs = exec.simulatedNs ?? exec.result.durationNs ?? 0;
    const merged = this.mergeRuns(job, before, exec, setupNs);
    if (
      exec.result.error?.code !== "TWIN_ERROR" &&
      this.hold(id, { decision, exec: merged, startMs: nowMs, setupNs }, setupNs + runNs)
    )
      return null;
    this.forget(id);
    const final = await this.move(job, merged.state, nowMs, { reason: merged.reason, result: merged.result });
    if (final !== null) this.finished(final, merged.state);
    return final;
  }

  /** The outcome of a job over its runs: what earlier paths delivered before their cut, then `exec`. */
  private mergeRuns(job: JobRecord, before: Before, exec: Execution, setupNs: number): Execution {
    const spec = job.spec;
    const result: JobResult = { ...exec.result, setupNs: before.setupNs + setupNs };
    // Running time over every run, path setups excluded, as for a job run once.
    result.durationNs = before.runNs + (exec.result.durationNs ?? 0);
    const note = `rerouted ${before.runs} time(s) after a link went down`;
    if (spec.kind === "qkd")
      return { ...exec, result, ...(exec.reason ? { reason: `${exec.reason}; ${note}` } : {}) };
    const deliveries = [...before.deliveries, ...(exec.deliveries ?? [])];
    result.delivered = deliveries.length;
    const stats = fidelityStats(deliveries.map((d) => d.fidelity));
    if (stats !== undefined) result.fidelity = stats;
    if (spec.kind === "entanglement" && spec.rateHz !== undefined) {
      const seconds = result.durationNs / NS_PER_S;
      result.rateHz = seconds > 0 ? deliveries.length / seconds : 0;
      if (result.rateHz >= 0.9 * spec.rateHz) {
        delete result.error;
        return { state: "succeeded", result, deliveries };
      }
      const message = `sustained ${result.rateHz.toPrecision(3)} Hz of the ${spec.rateHz} Hz asked for; ${note}`;
      return {
        state: "failed",
        result: { ...result, error: { code: "RATE", message } },
        reason: message,
        deliveries,
      };
    }
    const wanted = spec.kind === "teleportation" ? 1 : spec.pairs!;
    if (deliveries.length >= wanted) {
      delete result.error;
      return { state: "succeeded", result, deliveries };
    }
    const what = spec.kind === "teleportation" ? "states" : "pairs";
    const message = `delivered ${deliveries.length} of ${wanted} ${what}; ${note}`;
    const code = exec.result.error?.code ?? "INCOMPLETE";
    return {
      state: exec.state === "succeeded" ? "failed" : exec.state,
      result: { ...result, error: { code, message } },
      reason: message,
      deliveries,
    };
  }

  private async runOne(id: string, decision: Admitted, nowMs: number): Promise<JobRecord | null> {
    const stored = await this.store.get(id);
    if (stored === null || stored.state !== "admitted") return null; // cancelled or expired meanwhile
    const reserved = await this.move(stored, "reserved", nowMs, {
      reason: `reserved ${decision.links.join(", ")}`,
      path: decision.path,
    });
    if (reserved === null) return null;
    const running = await this.move(reserved, "running", nowMs, { reason: "running on the digital twin" });
    if (running === null) return null;
    let exec: Execution;
    let setupNs = 0;
    try {
      setupNs = this.setUpPath(running, decision);
      exec = this.execute(running, decision, nowMs, setupNs);
      exec.result.setupNs = setupNs;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      exec = { state: "failed", result: { error: { code: "TWIN_ERROR", message } }, reason: message };
    }
    if (
      exec.result.error?.code !== "TWIN_ERROR" &&
      this.hold(
        id,
        { decision, exec, startMs: nowMs, setupNs },
        setupNs + (exec.simulatedNs ?? exec.result.durationNs ?? 0),
      )
    )
      return null;
    const final = await this.move(running, exec.state, nowMs, { reason: exec.reason, result: exec.result });
    if (final === null) return null; // cancelled while it ran: the cancel stands, the result is dropped
    this.finished(final, exec.state);
    return final;
  }

  /**
   * The controller tells every node on the path to set up and waits for all answers (M4): returns the
   * longest of the round trips, ns, each drawn from the job's own seeded stream and reported to the sink.
   */
  private setUpPath(job: JobRecord, decision: Admitted, tag = ""): number {
    const rng = new Rng(`${this.seed}:${job.id}${tag}:control`);
    let setupNs = 0;
    for (const { nodeId, rttNs } of this.control.roundTrips(decision.path, rng)) {
      this.sink?.controlRtt?.(nodeId, rttNs / NS_PER_S);
      if (rttNs > setupNs) setupNs = rttNs;
    }
    return setupNs;
  }

  /**
   * Simulated time the job may run, ns: until its deadline less the path setup, else the run cap. At
   * least 1 ns, so that a job whose deadline passed during setup runs nothing and expires.
   */
  private budget(
    job: JobRecord,
    decision: Admitted,
    nowMs: number,
    setupNs: number,
  ): { untilNs: number; byDeadline: boolean } {
    const capS = this.maxRunS ?? Math.max(1, 20 * decision.predicted.completionS);
    if (job.deadlineAtMs !== undefined) {
      // With a time scale, the wall time left is worth that many simulated seconds.
      const leftNs = ((job.deadlineAtMs - nowMs) / 1000) * NS_PER_S * (this.timeScale ?? 1) - setupNs;
      if (leftNs <= capS * NS_PER_S) return { untilNs: Math.max(1, leftNs), byDeadline: true };
    }
    return { untilNs: capS * NS_PER_S, byDeadline: false };
  }

  /** Runs a job on the twin, synchronously in simulated time. */
  private execute(job: JobRecord, decision: Admitted, nowMs: number, setupNs: number, tag = ""): Execution {
    const spec = job.spec;
    const seed = `${this.seed}:${job.id}${tag}`;
    const { untilNs, byDeadline } = this.budget(job, decision, nowMs, setupNs);
    const short = (what: string): Execution => {
      const code = byDeadline ? "DEADLINE" : "INCOMPLETE";
      const message = byDeadline
        ? `deadline passed in simulated time: ${what}`
        : `the twin did not finish within ${untilNs / NS_PER_S} simulated s: ${what}`;
      return {
        state: byDeadline ? "expired" : "failed",
        result: { error: { code, message } },
        reason: message,
      };
    };

    if (spec.kind === "qkd") return this.executeQkd(job, decision, seed, untilNs, short);

    const request: RequestSpec = {
      id: job.id,
      src: spec.src,
      dst: spec.dst,
      pairs:
        spec.kind === "teleportation"
          ? 1
          : spec.rateHz !== undefined
            ? Number.POSITIVE_INFINITY
            : spec.pairs!,
      rateHz: spec.kind === "entanglement" ? (spec.rateHz ?? 0) : 0,
      minFidelity: spec.kind === "entanglement" ? (spec.minFidelity ?? 0) : 0,
      deadlineNs: untilNs,
      path: decision.path,
    };
    // A teleported state's fidelity follows exactly from the delivered pair (teleportationFidelity), so
    // the twin runs no teleportation circuit of its own.
    const deliveries: Delivery[] = [];
    let lastNs = 0;
    const report = simulate({ ...this.topology, requests: [request] }, untilNs, {
      seed,
      onPairDelivered: (rid, state, t) => {
        if (rid !== job.id) return;
        const fidelity =
          spec.kind === "teleportation" ? teleportationFidelity(state, spec.thetaRad, spec.phiRad) : state[0];
        deliveries.push({ atNs: t, fidelity });
        lastNs = t;
      },
    });
    const r = report.requests[0];
    const simulatedNs = report.simulated_time_s * NS_PER_S;
    const result: JobResult = { delivered: r.delivered, durationNs: lastNs };
    const stats = fidelityStats(deliveries.map((d) => d.fidelity));
    if (stats !== undefined) result.fidelity = stats;
    if (spec.kind === "entanglement" && spec.rateHz !== undefined) {
      // A rate job runs to its deadline; it succeeds if it sustained 90 % of the rate, a margin for the
      // Poisson spread of a rate met on average.
      const s = report.simulated_time_s;
      result.durationNs = s * NS_PER_S;
      result.rateHz = s > 0 ? r.delivered / s : 0;
      if (result.rateHz >= 0.9 * spec.rateHz) return { state: "succeeded", result, deliveries, simulatedNs };
      const message = `sustained ${result.rateHz.toPrecision(3)} Hz of the ${spec.rateHz} Hz asked for`;
      return {
        state: "failed",
        result: { ...result, error: { code: "RATE", message } },
        reason: message,
        deliveries,
        simulatedNs,
      };
    }
    const wanted = request.pairs;
    if (r.delivered >= wanted) return { state: "succeeded", result, deliveries, simulatedNs };
    const e = short(
      `delivered ${r.delivered} of ${wanted} ${spec.kind === "teleportation" ? "states" : "pairs"}`,
    );
    return { ...e, result: { ...result, ...e.result }, deliveries, simulatedNs };
  }

  private executeQkd(
    job: JobRecord,
    decision: Admitted,
    seed: string,
    untilNs: number,
    short: (what: string) => Execution,
  ): Execution {
    const spec = job.spec;
    if (spec.kind !== "qkd") throw new Error("executeQkd needs a QKD job");
    if (decision.mode === "trusted") {
      // Each hop runs its own session, all at once; the relayed key is as long as the shortest hop's.
      let bits = Number.POSITIVE_INFINITY;
      let endNs = 0;
      for (let i = 0; i < decision.links.length; i++) {
        const link = this.topology.links.find((l) => l.id === decision.links[i])!;
        const session = new QkdSession({ link: qkdLink(link), seed: `${seed}:hop${i}` });
        const s = session.runUntil(
          (_b, sess) => sess.summary().deliveredBits >= spec.keyBits || sess.summary().simulatedNs >= untilNs,
        );
        bits = Math.min(bits, s.deliveredBits);
        endNs = Math.max(endNs, s.simulatedNs);
      }
      const result: JobResult = { keyBits: Math.floor(bits), durationNs: endNs };
      if (bits >= spec.keyBits && endNs <= untilNs) return { state: "succeeded", result };
      const e = short(`relayed ${Math.floor(bits)} of ${spec.keyBits} key bits`);
      return { ...e, result: { ...result, ...e.result } };
    }
    // BBM92 over the repeater path: ask for the pairs the predicted fidelity needs (with a margin for
    // sifting: only matching Z bases make key), and ask for more if the sample fell short.
    const perPair = Math.max(1e-6, keyBitsPerPair(decision.predicted.fidelity ?? 1));
    let pairs = Math.ceil((1.5 * spec.keyBits) / perPair) + 64;
    let last: ReturnType<typeof runBbm92OverNetwork> | undefined;
    for (let attempt = 0; attempt < 4; attempt++) {
      const request: RequestSpec = {
        id: job.id,
        src: spec.src,
        dst: spec.dst,
        pairs,
        rateHz: 0,
        minFidelity: 0,
        deadlineNs: untilNs,
        path: decision.path,
      };
      last = runBbm92OverNetwork({ ...this.topology, requests: [request] }, { untilNs, seed });
      if (last.secret_bits >= spec.keyBits || last.network.requests[0].expired) break;
      pairs *= 2;
    }
    const r = last!;
    const result: JobResult = {
      keyBits: Math.floor(r.secret_bits),
      delivered: r.pairs,
      durationNs: r.simulated_time_s * NS_PER_S,
    };
    if (r.secret_bits >= spec.keyBits) return { state: "succeeded", result };
    const e = short(
      `made ${Math.floor(r.secret_bits)} of ${spec.keyBits} key bits (QBER Z ${r.qber.z.toFixed(3)})`,
    );
    return { ...e, result: { ...result, ...e.result } };
  }

  /**
   * Cancels a job in any non-final state, giving back its reservation. Returns the job as it is now,
   * or null if there is no such job.
   * @throws JobTransitionError if the job is already final.
   */
  cancel(id: string, reason = "cancelled by client"): Promise<JobRecord | null> {
    return this.exclusive(() => this.cancelNow(id, reason));
  }

  private async cancelNow(id: string, reason: string): Promise<JobRecord | null> {
    for (;;) {
      const job = await this.store.get(id);
      if (job === null) return null;
      const c = await this.move(job, "cancelled", this.clock(), { reason });
      if (c === null) continue; // changed meanwhile: read again and retry
      this.forget(id);
      this.finished(c, "cancelled");
      return c;
    }
  }

  /** Who holds a link down (`operator` or `detected`), or undefined while it is up. */
  linkHold(linkId: string): LinkChangeCause | undefined {
    return this.downBy.get(linkId);
  }

  /** The job with this ID, or null. */
  get(id: string): Promise<JobRecord | null> {
    return this.store.get(id);
  }

  /** Jobs matching `query`, newest first (see `JobStore.list`). */
  list(query?: JobQuery): Promise<JobPage> {
    return this.store.list(query);
  }

  /**
   * Marks a link down and re-admits every waiting job whose path uses it: onto another path (its new
   * path saved and a `job` event with `reroute` emitted) or, if none is left, `failed` with admission's
   * reason. Returns the jobs affected, as they are now.
   */
  linkDown(linkId: string, cause: LinkChangeCause = "operator", reason?: string): Promise<JobRecord[]> {
    return this.exclusive(() => this.linkDownNow(linkId, cause, reason));
  }

  private async linkDownNow(linkId: string, cause: LinkChangeCause, reason?: string): Promise<JobRecord[]> {
    const holder = this.downBy.get(linkId);
    if (holder !== undefined) {
      // Already down: an operator's hold outranks detection's; nothing else changes.
      if (cause === "operator") this.downBy.set(linkId, "operator");
      return [];
    }
    this.downBy.set(linkId, cause);
    this.estimator.markDown(linkId);
    this.onEvent?.({ type: "link", linkId, up: false, cause, ...(reason ? { reason } : {}) });
    const nowMs = this.clock();
    const out: JobRecord[] = await this.rerouteRunning(linkId, nowMs);
    for (const [id, d] of [...this.decisions]) {
      if (!d.links.includes(linkId) || this.inFlight.has(id)) continue;
      const job = await this.store.get(id);
      if (job === null || isTerminal(job.state)) continue;
      const decision = admit(job, this.estimator, this.topology, nowMs);
      if (!decision.admitted) {
        const f = await this.move(job, "failed", nowMs, {
          reason: `link ${linkId} went down and no other path is admissible (${decision.code}): ${decision.reason}`,
          result: { error: { code: decision.code, message: decision.reason } },
        });
        if (f === null) continue; // changed meanwhile (cancelled): its own writer cleaned up
        this.forget(id);
        this.finished(f, "failed");
        out.push(f);
        continue;
      }
      const moved = await this.moveToPath(job, decision, nowMs, linkId, d.path);
      if (moved !== null) out.push(moved);
    }
    return out;
  }

  /**
   * Jobs running in wall time over a link that went down: what they delivered before the cut is kept,
   * and the rest waits for a reservation on a new path ({@link continueRun}), or the job fails with
   * its partial result when no path is left.
   */
  private async rerouteRunning(linkId: string, nowMs: number): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    for (const [id, f] of [...this.inFlight]) {
      if (!f.decision.links.includes(linkId)) continue;
      const job = await this.store.get(id);
      if (job === null || job.state !== "running") {
        this.forget(id);
        continue;
      }
      let before: Before;
      if (f.rerouting)
        before = f.before!; // cut again before its rest could start: nothing new delivered
      else {
        // Simulated time the current run had reached (its setup included) when the link went down.
        const reachedNs = Math.max(0, (nowMs - f.startMs) * 1e6 * (this.timeScale ?? 1));
        if (reachedNs >= f.spanNs) continue; // done in simulated time: it ends as computed
        const prior = f.before ?? { deliveries: [], runNs: 0, setupNs: 0, runs: 0 };
        const fresh = (f.exec.deliveries ?? []).slice(prior.deliveries.length);
        const kept = job.spec.kind === "qkd" ? [] : fresh.filter((d) => f.setupNs + d.atNs <= reachedNs);
        before = {
          deliveries: [...prior.deliveries, ...kept],
          runNs: prior.runNs + Math.max(0, reachedNs - f.setupNs),
          setupNs: prior.setupNs + Math.min(reachedNs, f.setupNs),
          runs: prior.runs + 1,
        };
      }
      const decision = admit(job, this.estimator, this.topology, nowMs);
      if (!decision.admitted) {
        const message = `link ${linkId} went down while the job ran and no other path is admissible (${decision.code}): ${decision.reason}`;
        const partial: JobResult = {
          ...(job.spec.kind === "qkd" ? {} : { delivered: before.deliveries.length }),
          durationNs: before.runNs,
          setupNs: before.setupNs,
          error: { code: decision.code, message },
        };
        const stats = fidelityStats(before.deliveries.map((d) => d.fidelity));
        if (stats !== undefined) partial.fidelity = stats;
        const failed = await this.move(job, "failed", nowMs, { reason: message, result: partial });
        if (failed === null) continue; // changed meanwhile (cancelled): its own writer cleaned up
        this.forget(id);
        this.finished(failed, "failed");
        out.push(failed);
        continue;
      }
      const moved = await this.moveToPath(job, decision, nowMs, linkId, f.decision.path);
      if (moved === null) continue;
      this.inFlight.set(id, { ...f, decision, before, rerouting: true });
      out.push(moved);
    }
    return out;
  }

  /**
   * Marks a link up again. New jobs may use it at once, and a waiting job that admission would now
   * route through it moves there (its new path saved, a `job` event with `reroute` emitted). Returns
   * the jobs moved.
   */
  linkUp(linkId: string, cause: LinkChangeCause = "operator", reason?: string): Promise<JobRecord[]> {
    return this.exclusive(() => this.linkUpNow(linkId, cause, reason));
  }

  private async linkUpNow(linkId: string, cause: LinkChangeCause, reason?: string): Promise<JobRecord[]> {
    const holder = this.downBy.get(linkId);
    // Up already; or held down by an operator, whom detection does not overrule.
    if (holder === undefined || (holder === "operator" && cause === "detected")) return [];
    this.downBy.delete(linkId);
    this.estimator.markUp(linkId);
    this.onEvent?.({ type: "link", linkId, up: true, cause, ...(reason ? { reason } : {}) });
    // Waiting jobs that admission would now put on a path through the link move to it.
    const nowMs = this.clock();
    const out: JobRecord[] = [];
    for (const [id, d] of [...this.decisions]) {
      if (d.links.includes(linkId) || this.inFlight.has(id)) continue;
      const job = await this.store.get(id);
      if (job === null || job.state !== "admitted") continue;
      const decision = admit(job, this.estimator, this.topology, nowMs);
      if (!decision.admitted || !decision.links.includes(linkId)) continue;
      const moved = await this.moveToPath(job, decision, nowMs, linkId, d.path);
      if (moved !== null) out.push(moved);
    }
    return out;
  }
}
