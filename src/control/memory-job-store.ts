/**
 * The reference {@link JobStore}: everything in memory, lost when the process ends. It defines the
 * behaviour the durable backends (src/store) must match, checked by the one conformance suite in
 * test/store/job-store-conformance.ts; use it in simulations and tests.
 *
 * Also exports the rules every backend shares — argument checks, how an update or a transition changes
 * a record, the claim order, paging cursors — so that all of them accept, refuse and order alike, with
 * the same messages. A backend loads a record, computes its next value with {@link applyUpdate},
 * {@link applyTransition} or {@link applyClaim}, and writes it back in one transaction.
 *
 * Core layer: no clock, no randomness, no Node modules.
 */
import type {
  ClaimNextArgs,
  CreateJobArgs,
  CreateJobResult,
  ExpireOverdueArgs,
  JobCounts,
  JobPage,
  JobQuery,
  JobStore,
  JobWriteResult,
  StateCounts,
  TransitionJobArgs,
  UpdateJobArgs,
} from "./job-store.js";
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from "./job-store.js";
import {
  type ClaimableState,
  checkJobState,
  checkTimeMs,
  isTerminal,
  JOB_KINDS,
  JOB_STATES,
  type JobClaim,
  type JobKind,
  type JobRecord,
  type JobResult,
  type JobState,
  newJob,
  transition,
} from "./jobs.js";

/** Reason recorded when {@link JobStore.expireOverdue} expires a job without being given one. */
export const DEFAULT_EXPIRE_REASON = "deadline passed";

/** The error of every method called after {@link JobStore.close}. */
export function closedError(): Error {
  return new Error("the job store is closed");
}

/** A deep copy, so that no caller shares an object with the store. */
export function cloneJob(job: JobRecord): JobRecord {
  return copyPlain(job);
}

/**
 * A deep copy of plain data (objects, arrays, primitives), as `structuredClone` makes of a job record
 * but several times faster: records hold nothing else (results are stored as JSON).
 */
function copyPlain<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyPlain) as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = copyPlain((value as Record<string, unknown>)[key]);
  return out as T;
}

/** A JSON value as it comes back from a JSON column: `undefined` fields gone, NaN and ±Infinity null. */
function viaJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** @throws RangeError unless `v` is a version a store can hold (a positive integer). */
export function checkVersion(v: number): void {
  if (!(Number.isSafeInteger(v) && v >= 1))
    throw new RangeError(`expectedVersion must be a positive integer (the version you read); got ${v}`);
}

/** @throws RangeError unless `worker` names a worker. */
export function checkWorker(worker: string): void {
  if (typeof worker !== "string" || worker.length === 0 || worker.length > 200)
    throw new RangeError("worker must be a non-empty string of at most 200 characters");
}

/** @throws RangeError unless `claim` is a valid claim. */
export function checkClaim(claim: JobClaim): void {
  if (typeof claim !== "object" || claim === null)
    throw new RangeError("claim must be {worker, untilMs} or null");
  checkWorker(claim.worker);
  checkTimeMs("claim.untilMs", claim.untilMs);
}

/** @throws RangeError unless `result` is a JSON object. */
export function checkResult(result: JobResult): void {
  if (typeof result !== "object" || result === null || Array.isArray(result))
    throw new RangeError("result must be an object such as {delivered, fidelity, keyBits}");
}

/** @throws RangeError unless `path` runs from the job's `src` to its `dst` through node IDs. */
export function checkPath(job: JobRecord, path: readonly string[]): void {
  if (!Array.isArray(path) || path.length < 2 || !path.every((n) => typeof n === "string" && n.length > 0))
    throw new RangeError("path must list at least two node IDs, from src to dst");
  if (path[0] !== job.spec.src || path[path.length - 1] !== job.spec.dst)
    throw new RangeError(
      `path must run from the job's src '${job.spec.src}' to its dst '${job.spec.dst}'; got ${path.join(" > ")}`,
    );
}

/** Validates the arguments of {@link JobStore.update} that do not depend on the stored job. */
export function checkUpdateArgs(args: UpdateJobArgs): void {
  checkVersion(args.expectedVersion);
  checkTimeMs("nowMs", args.nowMs);
  if (args.result === undefined && args.path === undefined && args.claim === undefined)
    throw new RangeError("update needs at least one of result, path or claim");
  if (args.result != null) checkResult(args.result);
  if (args.claim != null) checkClaim(args.claim);
}

/** Validates the arguments of {@link JobStore.transition} that do not depend on the stored job. */
export function checkTransitionArgs(args: TransitionJobArgs): void {
  checkJobState(args.to);
  checkTimeMs("atMs", args.atMs);
  if (args.expectedVersion !== undefined) checkVersion(args.expectedVersion);
  if (args.result !== undefined) checkResult(args.result);
}

/**
 * The job after {@link JobStore.update}: fields set or cleared, `updatedAtMs` and version moved on.
 * @throws RangeError if a path does not fit the job, or a claim is set on a final job.
 */
export function applyUpdate(job: JobRecord, args: UpdateJobArgs): JobRecord {
  const next: JobRecord = { ...job, updatedAtMs: args.nowMs, version: job.version + 1 };
  if (args.result === null) delete next.result;
  else if (args.result !== undefined) next.result = viaJson(args.result);
  if (args.path === null) delete next.path;
  else if (args.path !== undefined) {
    checkPath(job, args.path);
    next.path = [...args.path];
  }
  if (args.claim === null) delete next.claim;
  else if (args.claim !== undefined) {
    if (isTerminal(job.state))
      throw new RangeError(`job '${job.id}' is ${job.state}, which is final: it cannot be claimed`);
    next.claim = { worker: args.claim.worker, untilMs: args.claim.untilMs };
  }
  return next;
}

/**
 * The job after {@link JobStore.transition}: the lifecycle step of `transition` (./jobs.ts), plus the
 * result and path written with it.
 * @throws JobTransitionError if the lifecycle does not allow it; RangeError if the path does not fit.
 */
export function applyTransition(job: JobRecord, args: TransitionJobArgs): JobRecord {
  const next = transition(job, args.to, args.atMs, args.reason);
  if (args.result !== undefined) next.result = viaJson(args.result);
  if (args.path !== undefined) {
    checkPath(job, args.path);
    next.path = [...args.path];
  }
  return next;
}

/** Validates {@link ClaimNextArgs}; returns the states to claim from. */
export function checkClaimArgs(args: ClaimNextArgs): ClaimableState[] {
  checkWorker(args.worker);
  checkTimeMs("nowMs", args.nowMs);
  if (!(typeof args.leaseMs === "number" && Number.isFinite(args.leaseMs) && args.leaseMs > 0))
    throw new RangeError(`leaseMs must be a positive number of milliseconds; got ${args.leaseMs}`);
  const states: ClaimableState[] = [...new Set(args.states ?? (["queued", "admitted"] as const))];
  if (states.length === 0) throw new RangeError("claimNext needs at least one state to claim from");
  for (const s of states)
    if (s !== "queued" && s !== "admitted")
      throw new RangeError(`claimNext claims from queued or admitted jobs only; got ${JSON.stringify(s)}`);
  return states;
}

/** The job after being claimed by `worker` at `nowMs` for `leaseMs`. */
export function applyClaim(job: JobRecord, args: ClaimNextArgs): JobRecord {
  return {
    ...job,
    claim: { worker: args.worker, untilMs: args.nowMs + args.leaseMs },
    updatedAtMs: args.nowMs,
    version: job.version + 1,
  };
}

/** Whether `job` may be claimed now: in one of `states`, no live claim, deadline not passed. */
export function isClaimable(job: JobRecord, states: readonly JobState[], nowMs: number): boolean {
  return (
    states.includes(job.state) &&
    (job.claim === undefined || job.claim.untilMs <= nowMs) &&
    (job.deadlineAtMs === undefined || job.deadlineAtMs > nowMs)
  );
}

/** Validates {@link ExpireOverdueArgs}; returns the limit and the reason. */
export function checkExpireArgs(args: ExpireOverdueArgs): { limit: number; reason: string } {
  checkTimeMs("nowMs", args.nowMs);
  return { limit: pageLimit(args.limit ?? MAX_LIST_LIMIT), reason: args.reason ?? DEFAULT_EXPIRE_REASON };
}

/** The states that are not final: those a deadline can still expire. */
export const LIVE_STATES: readonly JobState[] = JOB_STATES.filter((s) => !isTerminal(s));

/** @returns `limit` if it is a page size from 1 to {@link MAX_LIST_LIMIT}. */
export function pageLimit(limit: number): number {
  if (!(Number.isSafeInteger(limit) && limit >= 1 && limit <= MAX_LIST_LIMIT))
    throw new RangeError(`limit must be a whole number from 1 to ${MAX_LIST_LIMIT}; got ${limit}`);
  return limit;
}

/** A decoded paging cursor: the position of the last job of the previous page. */
export interface Cursor {
  createdAtMs: number;
  seq: number;
}

/** The validated filters of a {@link JobQuery}. */
export interface ListFilter {
  states?: JobState[];
  tenant?: string;
  kind?: JobKind;
  limit: number;
  after?: Cursor;
}

/** Validates a {@link JobQuery}. */
export function checkQuery(query: JobQuery): ListFilter {
  const out: ListFilter = { limit: pageLimit(query.limit ?? DEFAULT_LIST_LIMIT) };
  if (query.state !== undefined) {
    const states = typeof query.state === "string" ? [query.state] : [...new Set(query.state)];
    for (const s of states) checkJobState(s);
    out.states = states;
  }
  if (query.tenant !== undefined) {
    if (typeof query.tenant !== "string") throw new RangeError("tenant must be a string");
    out.tenant = query.tenant;
  }
  if (query.kind !== undefined) {
    if (!JOB_KINDS.includes(query.kind))
      throw new RangeError(`unknown job kind ${JSON.stringify(query.kind)}: one of ${JOB_KINDS.join(", ")}`);
    out.kind = query.kind;
  }
  if (query.cursor !== undefined) out.after = decodeCursor(query.cursor);
  return out;
}

/** The cursor after a job created at `createdAtMs` with creation sequence number `seq`. */
export function encodeCursor(c: Cursor): string {
  return `${c.seq}_${c.createdAtMs}`;
}

/** @throws RangeError unless `cursor` is one that {@link encodeCursor} made. */
export function decodeCursor(cursor: string): Cursor {
  const m = typeof cursor === "string" ? /^(\d{1,15})_(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/.exec(cursor) : null;
  const seq = m ? Number(m[1]) : Number.NaN;
  const createdAtMs = m ? Number(m[2]) : Number.NaN;
  if (!(Number.isSafeInteger(seq) && Number.isFinite(createdAtMs)))
    throw new RangeError(
      `cursor ${JSON.stringify(cursor)} is not one this store gave: pass the nextCursor of the previous page`,
    );
  return { seq, createdAtMs };
}

/** Whether a job at `pos` comes after `after` in newest-first order. */
export function isAfter(pos: Cursor, after: Cursor): boolean {
  return (
    pos.createdAtMs < after.createdAtMs || (pos.createdAtMs === after.createdAtMs && pos.seq < after.seq)
  );
}

/** Counts with every state at zero. */
export function zeroCounts(): StateCounts {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as StateCounts;
}

/** Sums grouped (tenant, state, count) rows into {@link JobCounts}. */
export function collectCounts(
  rows: readonly { tenant: string; state: JobState; count: number }[],
): JobCounts {
  const out: JobCounts = { total: 0, byState: zeroCounts(), byTenant: {} };
  const tenants = [...new Set(rows.map((r) => r.tenant))].sort();
  for (const t of tenants) out.byTenant[t] = zeroCounts();
  for (const r of rows) {
    const n = Number(r.count);
    out.total += n;
    out.byState[r.state] += n;
    out.byTenant[r.tenant][r.state] += n;
  }
  return out;
}

interface Entry {
  seq: number;
  job: JobRecord;
}

/** The in-memory {@link JobStore}. */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, Entry>();
  private seq = 0;
  private closed = false;

  private check(): void {
    if (this.closed) throw closedError();
  }

  async create(args: CreateJobArgs): Promise<CreateJobResult> {
    this.check();
    const job = newJob(args.id, args.spec, args.nowMs, args.reason);
    const existing = this.jobs.get(args.id);
    if (existing !== undefined) return { status: "duplicate", job: cloneJob(existing.job) };
    this.jobs.set(job.id, { seq: ++this.seq, job });
    return { status: "created", job: cloneJob(job) };
  }

  async get(id: string): Promise<JobRecord | null> {
    this.check();
    const e = this.jobs.get(id);
    return e === undefined ? null : cloneJob(e.job);
  }

  async list(query: JobQuery = {}): Promise<JobPage> {
    this.check();
    const f = checkQuery(query);
    const rows = [...this.jobs.values()]
      .filter(
        ({ seq, job }) =>
          (f.states === undefined || f.states.includes(job.state)) &&
          (f.tenant === undefined || job.spec.tenant === f.tenant) &&
          (f.kind === undefined || job.spec.kind === f.kind) &&
          (f.after === undefined || isAfter({ createdAtMs: job.createdAtMs, seq }, f.after)),
      )
      .sort((a, b) => b.job.createdAtMs - a.job.createdAtMs || b.seq - a.seq);
    const page = rows.slice(0, f.limit);
    const out: JobPage = { jobs: page.map((e) => cloneJob(e.job)) };
    if (rows.length > f.limit) {
      const last = page[page.length - 1];
      out.nextCursor = encodeCursor({ createdAtMs: last.job.createdAtMs, seq: last.seq });
    }
    return out;
  }

  /** The shared steps of update and transition: find, check the version, compute, store. */
  private write(id: string, expectedVersion: number | undefined, next: (job: JobRecord) => JobRecord) {
    this.check();
    const e = this.jobs.get(id);
    if (e === undefined) return { status: "not-found" } as const;
    if (expectedVersion !== undefined && e.job.version !== expectedVersion)
      return { status: "conflict", job: cloneJob(e.job) } as const;
    e.job = next(e.job);
    return { status: "ok", job: cloneJob(e.job) } as const;
  }

  async update(args: UpdateJobArgs): Promise<JobWriteResult> {
    this.check();
    checkUpdateArgs(args);
    return this.write(args.id, args.expectedVersion, (job) => applyUpdate(job, args));
  }

  async transition(args: TransitionJobArgs): Promise<JobWriteResult> {
    this.check();
    checkTransitionArgs(args);
    return this.write(args.id, args.expectedVersion, (job) => applyTransition(job, args));
  }

  async claimNext(args: ClaimNextArgs): Promise<JobRecord | null> {
    this.check();
    const states = checkClaimArgs(args);
    let best: Entry | undefined;
    for (const e of this.jobs.values()) {
      if (!isClaimable(e.job, states, args.nowMs)) continue;
      if (
        best === undefined ||
        e.job.spec.priority > best.job.spec.priority ||
        (e.job.spec.priority === best.job.spec.priority &&
          (e.job.createdAtMs < best.job.createdAtMs ||
            (e.job.createdAtMs === best.job.createdAtMs && e.seq < best.seq)))
      )
        best = e;
    }
    if (best === undefined) return null;
    best.job = applyClaim(best.job, args);
    return cloneJob(best.job);
  }

  async expireOverdue(args: ExpireOverdueArgs): Promise<JobRecord[]> {
    this.check();
    const { limit, reason } = checkExpireArgs(args);
    const due = [...this.jobs.values()]
      .filter(
        (e) =>
          LIVE_STATES.includes(e.job.state) &&
          e.job.deadlineAtMs !== undefined &&
          e.job.deadlineAtMs <= args.nowMs,
      )
      .sort((a, b) => a.job.deadlineAtMs! - b.job.deadlineAtMs! || a.seq - b.seq)
      .slice(0, limit);
    for (const e of due) e.job = transition(e.job, "expired", args.nowMs, reason);
    return due.map((e) => cloneJob(e.job));
  }

  async counts(filter: { tenant?: string } = {}): Promise<JobCounts> {
    this.check();
    const rows = new Map<string, { tenant: string; state: JobState; count: number }>();
    for (const { job } of this.jobs.values()) {
      if (filter.tenant !== undefined && job.spec.tenant !== filter.tenant) continue;
      const key = `${job.spec.tenant}\u0000${job.state}`;
      const r = rows.get(key) ?? { tenant: job.spec.tenant, state: job.state, count: 0 };
      r.count++;
      rows.set(key, r);
    }
    return collectCounts([...rows.values()]);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
