/**
 * A durable {@link JobStore} in one SQLite file (better-sqlite3), for an orchestrator on a single host.
 *
 * - Every method is one transaction; methods that write start it with `BEGIN IMMEDIATE`, so two
 *   processes (or two stores) on the same file queue on the write lock instead of failing to upgrade a
 *   read lock: a claim, a transition and a version check are each decided on the latest committed state,
 *   and no job is claimed twice.
 * - WAL journal with `synchronous=FULL`: a transaction is on disk when the method resolves, so a crash
 *   afterwards loses nothing; a crash before leaves the store as it was.
 * - The job's spec, result and path are JSON columns (checked with `json_valid`); the fields that are
 *   filtered or ordered on (state, tenant, kind, priority, times, claim) are columns of their own. The
 *   history is an append-only table written in the same transaction as the state it records.
 * - Table names start with `job` and the version table is `job_schema_version`, so the job store may
 *   share a file with other stores.
 *
 * better-sqlite3 is synchronous: each method does its work at once and returns a settled promise.
 * The schema is documented in docs/orchestrator-jobs.md.
 */
import Database from "better-sqlite3";
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
  TransitionJobArgs,
  UpdateJobArgs,
} from "../control/job-store.js";
import type { JobRecord, JobState } from "../control/jobs.js";
import { newJob, transition } from "../control/jobs.js";
import {
  applyClaim,
  applyTransition,
  applyUpdate,
  checkClaimArgs,
  checkExpireArgs,
  checkQuery,
  checkTransitionArgs,
  checkUpdateArgs,
  closedError,
  collectCounts,
  encodeCursor,
  LIVE_STATES,
} from "../control/memory-job-store.js";
import { type JobRow, jobFromRow } from "./rows.js";

/** The schema version this code writes and reads. */
export const SQLITE_JOB_SCHEMA_VERSION = 1;

/** Options of {@link SqliteJobStore.open}. */
export interface SqliteJobStoreOptions {
  /** How long a write waits for another connection's write lock before failing, ms. Default 5000. */
  busyTimeoutMs?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS job_schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  tenant TEXT NOT NULL,
  priority INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'admitted', 'reserved', 'running', 'succeeded', 'failed', 'expired', 'cancelled')),
  created_at_ms REAL NOT NULL,
  updated_at_ms REAL NOT NULL,
  deadline_at_ms REAL,
  claim_worker TEXT,
  claim_until_ms REAL,
  version INTEGER NOT NULL,
  spec TEXT NOT NULL CHECK (json_valid(spec)),
  result TEXT CHECK (result IS NULL OR json_valid(result)),
  path TEXT CHECK (path IS NULL OR json_valid(path))
);
CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (created_at_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs (tenant, created_at_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_claimable ON jobs (priority DESC, created_at_ms, seq)
  WHERE state IN ('queued', 'admitted');
CREATE INDEX IF NOT EXISTS jobs_deadline ON jobs (deadline_at_ms, seq)
  WHERE deadline_at_ms IS NOT NULL AND state IN ('queued', 'admitted', 'reserved', 'running');
CREATE TABLE IF NOT EXISTS job_history (
  job_id TEXT NOT NULL REFERENCES jobs (id),
  n INTEGER NOT NULL,
  state TEXT NOT NULL,
  at_ms REAL NOT NULL,
  reason TEXT,
  PRIMARY KEY (job_id, n)
) WITHOUT ROWID;
`;

interface HistoryRow {
  job_id: string;
  state: JobState;
  at_ms: number;
  reason: string | null;
}

/** The SQLite {@link JobStore}. Open with {@link SqliteJobStore.open}. */
export class SqliteJobStore implements JobStore {
  private closed = false;

  private constructor(private readonly db: Database.Database) {}

  /**
   * Opens (creating if needed) the store in the file at `path` (`:memory:` for a throwaway one).
   * @throws if the file holds another schema version of the job store.
   */
  static open(path: string, options: SqliteJobStoreOptions = {}): SqliteJobStore {
    const db = new Database(path);
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      db.transaction(() => {
        db.exec(SCHEMA);
        const v = db.prepare("SELECT version FROM job_schema_version").get() as
          | { version: number }
          | undefined;
        if (v === undefined)
          db.prepare("INSERT INTO job_schema_version (version) VALUES (?)").run(SQLITE_JOB_SCHEMA_VERSION);
        else if (v.version !== SQLITE_JOB_SCHEMA_VERSION)
          throw new Error(
            `job store '${path}' has schema version ${v.version}; this qnet reads version ${SQLITE_JOB_SCHEMA_VERSION}`,
          );
      }).immediate();
    } catch (e) {
      db.close();
      throw e;
    }
    return new SqliteJobStore(db);
  }

  private check(): void {
    if (this.closed) throw closedError();
  }

  /** Runs `fn` as one write transaction (BEGIN IMMEDIATE). */
  private write<T>(fn: () => T): T {
    this.check();
    return this.db.transaction(fn).immediate();
  }

  /** Runs `fn` as one read transaction: a consistent snapshot. */
  private read<T>(fn: () => T): T {
    this.check();
    return this.db.transaction(fn).deferred();
  }

  /** Records for rows, with their histories (one query for all of them). */
  private withHistory(rows: readonly JobRow[]): JobRecord[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const hist = this.db
      .prepare(
        `SELECT job_id, state, at_ms, reason FROM job_history
         WHERE job_id IN (SELECT value FROM json_each(?)) ORDER BY job_id, n`,
      )
      .all(JSON.stringify(ids)) as HistoryRow[];
    const byJob = new Map<string, HistoryRow[]>();
    for (const h of hist) {
      const list = byJob.get(h.job_id) ?? [];
      list.push(h);
      byJob.set(h.job_id, list);
    }
    return rows.map((r) => jobFromRow(r, byJob.get(r.id) ?? []));
  }

  private load(id: string): JobRecord | null {
    const row = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
    return row === undefined ? null : this.withHistory([row])[0];
  }

  /** Writes `next` over `prev` (same job): the changed columns and the new history entries. */
  private save(prev: JobRecord, next: JobRecord): void {
    const r = this.db
      .prepare(
        `UPDATE jobs SET state = ?, updated_at_ms = ?, claim_worker = ?, claim_until_ms = ?, version = ?,
           result = ?, path = ?
         WHERE id = ? AND version = ?`,
      )
      .run(
        next.state,
        next.updatedAtMs,
        next.claim?.worker ?? null,
        next.claim?.untilMs ?? null,
        next.version,
        next.result === undefined ? null : JSON.stringify(next.result),
        next.path === undefined ? null : JSON.stringify(next.path),
        prev.id,
        prev.version,
      );
    // Cannot happen inside BEGIN IMMEDIATE; checked so that a logic error can never lose a write.
    if (r.changes !== 1) throw new Error(`job '${prev.id}' changed during a write transaction`);
    const insert = this.db.prepare(
      "INSERT INTO job_history (job_id, n, state, at_ms, reason) VALUES (?, ?, ?, ?, ?)",
    );
    for (let n = prev.history.length; n < next.history.length; n++) {
      const h = next.history[n];
      insert.run(prev.id, n, h.state, h.atMs, h.reason ?? null);
    }
  }

  async create(args: CreateJobArgs): Promise<CreateJobResult> {
    this.check();
    const job = newJob(args.id, args.spec, args.nowMs, args.reason);
    return this.write((): CreateJobResult => {
      const existing = this.load(job.id);
      if (existing !== null) return { status: "duplicate", job: existing };
      this.db
        .prepare(
          `INSERT INTO jobs (id, kind, tenant, priority, state, created_at_ms, updated_at_ms, deadline_at_ms,
             version, spec)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          job.id,
          job.spec.kind,
          job.spec.tenant,
          job.spec.priority,
          job.state,
          job.createdAtMs,
          job.updatedAtMs,
          job.deadlineAtMs ?? null,
          job.version,
          JSON.stringify(job.spec),
        );
      const h = job.history[0];
      this.db
        .prepare("INSERT INTO job_history (job_id, n, state, at_ms, reason) VALUES (?, 0, ?, ?, ?)")
        .run(job.id, h.state, h.atMs, h.reason ?? null);
      return { status: "created", job };
    });
  }

  async get(id: string): Promise<JobRecord | null> {
    return this.read(() => this.load(id));
  }

  async list(query: JobQuery = {}): Promise<JobPage> {
    const f = checkQuery(query);
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.states !== undefined) {
      where.push(`state IN (${f.states.map(() => "?").join(", ")})`);
      params.push(...f.states);
    }
    if (f.tenant !== undefined) {
      where.push("tenant = ?");
      params.push(f.tenant);
    }
    if (f.kind !== undefined) {
      where.push("kind = ?");
      params.push(f.kind);
    }
    if (f.after !== undefined) {
      where.push("(created_at_ms < ? OR (created_at_ms = ? AND seq < ?))");
      params.push(f.after.createdAtMs, f.after.createdAtMs, f.after.seq);
    }
    return this.read(() => {
      const rows = this.db
        .prepare(
          `SELECT * FROM jobs ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
           ORDER BY created_at_ms DESC, seq DESC LIMIT ?`,
        )
        .all(...params, f.limit + 1) as JobRow[];
      const page = rows.slice(0, f.limit);
      const out: JobPage = { jobs: this.withHistory(page) };
      if (rows.length > f.limit) {
        const last = page[page.length - 1];
        out.nextCursor = encodeCursor({ createdAtMs: last.created_at_ms, seq: last.seq });
      }
      return out;
    });
  }

  /** The shared steps of update and transition: find, check the version, compute, save. */
  private change(
    id: string,
    expectedVersion: number | undefined,
    next: (job: JobRecord) => JobRecord,
  ): JobWriteResult {
    return this.write((): JobWriteResult => {
      const job = this.load(id);
      if (job === null) return { status: "not-found" };
      if (expectedVersion !== undefined && job.version !== expectedVersion)
        return { status: "conflict", job };
      const after = next(job);
      this.save(job, after);
      return { status: "ok", job: after };
    });
  }

  async update(args: UpdateJobArgs): Promise<JobWriteResult> {
    this.check();
    checkUpdateArgs(args);
    return this.change(args.id, args.expectedVersion, (job) => applyUpdate(job, args));
  }

  async transition(args: TransitionJobArgs): Promise<JobWriteResult> {
    this.check();
    checkTransitionArgs(args);
    return this.change(args.id, args.expectedVersion, (job) => applyTransition(job, args));
  }

  async claimNext(args: ClaimNextArgs): Promise<JobRecord | null> {
    this.check();
    const states = checkClaimArgs(args);
    return this.write(() => {
      const row = this.db
        .prepare(
          `SELECT * FROM jobs
           WHERE state IN (${states.map(() => "?").join(", ")})
             AND (claim_worker IS NULL OR claim_until_ms <= ?)
             AND (deadline_at_ms IS NULL OR deadline_at_ms > ?)
           ORDER BY priority DESC, created_at_ms, seq LIMIT 1`,
        )
        .get(...states, args.nowMs, args.nowMs) as JobRow | undefined;
      if (row === undefined) return null;
      const job = this.withHistory([row])[0];
      const next = applyClaim(job, args);
      this.save(job, next);
      return next;
    });
  }

  async expireOverdue(args: ExpireOverdueArgs): Promise<JobRecord[]> {
    this.check();
    const { limit, reason } = checkExpireArgs(args);
    return this.write(() => {
      const rows = this.db
        .prepare(
          `SELECT * FROM jobs
           WHERE deadline_at_ms IS NOT NULL AND deadline_at_ms <= ?
             AND state IN (${LIVE_STATES.map(() => "?").join(", ")})
           ORDER BY deadline_at_ms, seq LIMIT ?`,
        )
        .all(args.nowMs, ...LIVE_STATES, limit) as JobRow[];
      return this.withHistory(rows).map((job) => {
        const next = transition(job, "expired", args.nowMs, reason);
        this.save(job, next);
        return next;
      });
    });
  }

  async counts(filter: { tenant?: string } = {}): Promise<JobCounts> {
    return this.read(() =>
      collectCounts(
        this.db
          .prepare(
            `SELECT tenant, state, count(*) AS count FROM jobs WHERE (? IS NULL OR tenant = ?)
             GROUP BY tenant, state`,
          )
          .all(filter.tenant ?? null, filter.tenant ?? null) as {
          tenant: string;
          state: JobState;
          count: number;
        }[],
      ),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
