/**
 * The orchestrator's job store: the one small interface that every storage backend implements (in
 * memory, SQLite, PostgreSQL) and that one conformance suite checks
 * (test/store/job-store-conformance.ts). The job model itself is in ./jobs.ts.
 *
 * Guarantees of every backend:
 * - **Atomic.** Every method is all or nothing; a state change and its history entry are written
 *   together, so the history always ends with the current state.
 * - **Durable** (SQLite, PostgreSQL): when a promise resolves, its effect survives a crash or restart.
 * - **The lifecycle is enforced by the store**, from the state it holds (not the one the caller last
 *   saw): an illegal transition throws `JobTransitionError` (./jobs.ts) and changes nothing.
 * - **Optimistic concurrency.** Every change increases `version` by one. A write given `expectedVersion`
 *   is refused with a `conflict` result (carrying the current record) if the job changed since.
 * - **One worker per job.** However many workers call {@link JobStore.claimNext} at once, across
 *   processes, a job is claimed by at most one of them until the claim lapses or is released.
 * - Records returned are copies: changing one never changes the store.
 *
 * The store never reads a clock: every time is passed in, as ms since the epoch.
 */
import type { ClaimableState, JobClaim, JobKind, JobRecord, JobResult, JobSpec, JobState } from "./jobs.js";

/** Arguments of {@link JobStore.create}. */
export interface CreateJobArgs {
  /** The new job's ID, chosen by the caller (e.g. a UUID): a retried submission reuses it. */
  id: string;
  spec: JobSpec;
  /** Submission time, ms since the epoch. */
  nowMs: number;
  /** Recorded in the first history entry (e.g. "submitted by alice"). */
  reason?: string;
}

/** The outcome of {@link JobStore.create}. */
export type CreateJobResult =
  | { status: "created"; job: JobRecord }
  /** A job with this ID exists already: it is returned unchanged, and nothing is written. */
  | { status: "duplicate"; job: JobRecord };

/** Filters and paging of {@link JobStore.list}; filters combine with AND. */
export interface JobQuery {
  /** Only jobs in this state, or in any of these states. */
  state?: JobState | readonly JobState[];
  tenant?: string;
  kind?: JobKind;
  /** Page size, 1 to {@link MAX_LIST_LIMIT}. Default {@link DEFAULT_LIST_LIMIT}. */
  limit?: number;
  /** The `nextCursor` of the previous page; absent for the first page. */
  cursor?: string;
}

/** One page of {@link JobStore.list}. */
export interface JobPage {
  /** Newest first: by `createdAtMs` descending, jobs created at the same time in reverse creation order. */
  jobs: JobRecord[];
  /**
   * Pass as `cursor` to get the next page; absent on the last page. Paging by cursor (not by offset) is
   * stable while jobs are being created: no job is skipped or shown twice.
   */
  nextCursor?: string;
}

/** Default page size of {@link JobStore.list}. */
export const DEFAULT_LIST_LIMIT = 100;
/** Largest page size of {@link JobStore.list}. */
export const MAX_LIST_LIMIT = 1000;

/** Arguments of {@link JobStore.update}: the fields to change; `null` clears a field. */
export interface UpdateJobArgs {
  id: string;
  /** The version the caller read; the update is refused (`conflict`) if the job has another. */
  expectedVersion: number;
  /** When, ms since the epoch: becomes `updatedAtMs`. */
  nowMs: number;
  result?: JobResult | null;
  path?: readonly string[] | null;
  /** Renew a claim (a later `untilMs`) or, with `null`, release it. */
  claim?: JobClaim | null;
}

/** Arguments of {@link JobStore.transition}. */
export interface TransitionJobArgs {
  id: string;
  to: JobState;
  /** When, ms since the epoch: recorded in the history entry and as `updatedAtMs`. */
  atMs: number;
  reason?: string;
  /** If given, the transition is refused (`conflict`) unless the job still has this version. */
  expectedVersion?: number;
  /** Written in the same transaction, e.g. the result of a job that succeeded. */
  result?: JobResult;
  /** Written in the same transaction, e.g. the path a job was reserved on. */
  path?: readonly string[];
}

/** The outcome of {@link JobStore.update} and {@link JobStore.transition}. */
export type JobWriteResult =
  | { status: "ok"; job: JobRecord }
  /** The job's version is not `expectedVersion`: nothing was written; `job` is the current record. */
  | { status: "conflict"; job: JobRecord }
  | { status: "not-found" };

/** Arguments of {@link JobStore.claimNext}. */
export interface ClaimNextArgs {
  /** Who claims (a scheduler instance's name). */
  worker: string;
  nowMs: number;
  /** How long the claim holds unless renewed or released, ms (> 0). */
  leaseMs: number;
  /** The states to claim from. Default both, `queued` and `admitted`. */
  states?: readonly ClaimableState[];
}

/** Arguments of {@link JobStore.expireOverdue}. */
export interface ExpireOverdueArgs {
  nowMs: number;
  /** Expire at most this many jobs (earliest deadline first). Default {@link MAX_LIST_LIMIT}. */
  limit?: number;
  /** Recorded in each history entry. Default "deadline passed". */
  reason?: string;
}

/** Number of jobs per state: every state present, zero if none. */
export type StateCounts = Record<JobState, number>;

/** The result of {@link JobStore.counts}. */
export interface JobCounts {
  total: number;
  byState: StateCounts;
  /** Per tenant that has at least one job (matching the filter). */
  byTenant: Record<string, StateCounts>;
}

/** Storage of the orchestrator's jobs. See the module documentation for the guarantees. */
export interface JobStore {
  /**
   * Persists a new job, `queued`, version 1, with one history entry.
   * @throws RangeError if the ID, spec or time is invalid (by the rules of validateJobSpec).
   */
  create(args: CreateJobArgs): Promise<CreateJobResult>;

  /** The job with this ID, or null. */
  get(id: string): Promise<JobRecord | null>;

  /** Jobs matching `query`, newest first, one page at a time. */
  list(query?: JobQuery): Promise<JobPage>;

  /**
   * Changes the result, path or claim of a job — never its state (that is {@link transition}) nor its
   * spec, which is fixed at submission.
   * @throws RangeError if no field is given, a field is invalid, or a claim is set on a final job.
   */
  update(args: UpdateJobArgs): Promise<JobWriteResult>;

  /**
   * Moves a job to another state, appending the history entry in the same transaction.
   * @throws JobTransitionError if the lifecycle does not allow the move from the stored state.
   */
  transition(args: TransitionJobArgs): Promise<JobWriteResult>;

  /**
   * For a scheduler: atomically claims the job that should be handled next and returns it (version
   * increased), or null if there is none. Candidates are the jobs in `states` that no live claim holds
   * (none, or one whose `untilMs` ≤ `nowMs`) and whose deadline has not passed (`deadlineAtMs` >
   * `nowMs`); the highest priority wins, then the oldest (`createdAtMs`, then creation order). The
   * claim does not change the job's state: the worker moves it on with {@link transition}.
   */
  claimNext(args: ClaimNextArgs): Promise<JobRecord | null>;

  /**
   * Moves every job that is not final and whose deadline has passed (`deadlineAtMs` ≤ `nowMs`) to
   * `expired`, earliest deadline first, and returns them as they are now.
   */
  expireOverdue(args: ExpireOverdueArgs): Promise<JobRecord[]>;

  /** Jobs per state, in total and per tenant (or for one tenant). */
  counts(filter?: { tenant?: string }): Promise<JobCounts>;

  /** Releases the store's resources; every later call rejects. Idempotent. */
  close(): Promise<void>;
}
