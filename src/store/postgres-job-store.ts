/**
 * A durable {@link JobStore} in PostgreSQL (`pg`), for an orchestrator whose jobs must survive the loss
 * of a host, or that several processes (API servers, schedulers) share.
 *
 * - Every method is one transaction on one pooled connection (READ COMMITTED), committed when the
 *   promise resolves (PostgreSQL's default `synchronous_commit = on` makes that durable).
 * - `update` and `transition` lock the job's row (`SELECT … FOR UPDATE`) before checking its version
 *   and state, so concurrent writers of one job queue and each decides on the latest committed record.
 * - `claimNext` and `expireOverdue` pick rows with `FOR UPDATE SKIP LOCKED`: a job being claimed or
 *   changed by another transaction is passed over rather than waited for, so schedulers in many
 *   processes never claim one job twice and never block one another. The price: while two claims are
 *   in flight, the second may take the next-best job rather than wait to see whether the best one is
 *   released — claim order is strict only between claims that do not overlap in time.
 * - Serialization and deadlock failures (40001, 40P01) are retried.
 * - Spec, result and path are `jsonb` columns; the history is an append-only table written in the same
 *   transaction as the state it records.
 *
 * All tables live in one schema (default `qnet_jobs`), created by {@link PostgresJobStore.open}.
 * The schema is documented in docs/orchestrator-jobs.md.
 */
import type pg from "pg";
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
import { ensureSchema, inTransaction, openPool, quotedSchema, type Tx } from "./postgres-common.js";
import { jobFromRow } from "./rows.js";

/** The schema version this code writes and reads. */
export const POSTGRES_JOB_SCHEMA_VERSION = 1;

/** Options of {@link PostgresJobStore.open}. */
export interface PostgresJobStoreOptions {
  /** The PostgreSQL schema (namespace) holding the tables; created if missing. Default `qnet_jobs`. */
  schema?: string;
  /** Attempts of a transaction that fails with a serialization failure or deadlock. Default 5. */
  maxAttempts?: number;
}

function schemaSql(s: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.job_schema_version (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.jobs (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  kind text NOT NULL,
  tenant text NOT NULL,
  priority smallint NOT NULL,
  state text NOT NULL CHECK (state IN ('queued', 'admitted', 'reserved', 'running', 'succeeded', 'failed', 'expired', 'cancelled')),
  created_at_ms double precision NOT NULL,
  updated_at_ms double precision NOT NULL,
  deadline_at_ms double precision,
  claim_worker text,
  claim_until_ms double precision,
  version integer NOT NULL,
  spec jsonb NOT NULL,
  result jsonb,
  path jsonb
);
CREATE INDEX IF NOT EXISTS jobs_newest ON ${s}.jobs (created_at_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_state ON ${s}.jobs (state, created_at_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_tenant ON ${s}.jobs (tenant, created_at_ms, seq);
CREATE INDEX IF NOT EXISTS jobs_claimable ON ${s}.jobs (priority DESC, created_at_ms, seq)
  WHERE state IN ('queued', 'admitted');
CREATE INDEX IF NOT EXISTS jobs_deadline ON ${s}.jobs (deadline_at_ms, seq)
  WHERE deadline_at_ms IS NOT NULL AND state IN ('queued', 'admitted', 'reserved', 'running');
CREATE TABLE IF NOT EXISTS ${s}.job_history (
  job_id text NOT NULL REFERENCES ${s}.jobs (id),
  n integer NOT NULL,
  state text NOT NULL,
  at_ms double precision NOT NULL,
  reason text,
  PRIMARY KEY (job_id, n)
);
`;
}

interface Row {
  seq: string;
  id: string;
  state: JobState;
  created_at_ms: number;
  updated_at_ms: number;
  deadline_at_ms: number | null;
  claim_worker: string | null;
  claim_until_ms: number | null;
  version: number;
  spec: unknown;
  result: unknown;
  path: unknown;
}

/** The PostgreSQL {@link JobStore}. Open with {@link PostgresJobStore.open}. */
export class PostgresJobStore implements JobStore {
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    /** The quoted schema name, prefixed to every table. */
    private readonly s: string,
    private readonly maxAttempts: number,
  ) {}

  /**
   * Connects (a `pg.Pool` on `config`: a connection string or pool options) and creates the schema if
   * needed.
   * @throws if the database is unreachable, the schema name is not a plain identifier, or the schema
   * holds another version of the job store.
   */
  static async open(
    config: string | pg.PoolConfig,
    options: PostgresJobStoreOptions = {},
  ): Promise<PostgresJobStore> {
    const name = options.schema ?? "qnet_jobs";
    const quoted = quotedSchema(name);
    const pool = openPool(config);
    const store = new PostgresJobStore(pool, quoted, Math.max(1, options.maxAttempts ?? 5));
    try {
      await store.tx((c) =>
        ensureSchema(c, {
          name,
          quoted,
          versionTable: "job_schema_version",
          version: POSTGRES_JOB_SCHEMA_VERSION,
          ddl: schemaSql(quoted),
          what: "job store",
        }),
      );
    } catch (e) {
      await pool.end();
      throw e;
    }
    return store;
  }

  /** Runs `fn` in one transaction on one connection, retrying on serialization failure or deadlock. */
  private tx<T>(fn: (c: Tx) => Promise<T>): Promise<T> {
    return inTransaction(
      this.pool,
      this.maxAttempts,
      () => {
        if (this.closed) throw closedError();
      },
      fn,
    );
  }

  /** Records for rows, with their histories (one query for all of them). */
  private async withHistory(c: Tx, rows: readonly Row[]): Promise<JobRecord[]> {
    if (rows.length === 0) return [];
    const hist = await c.query<{ job_id: string; state: JobState; at_ms: number; reason: string | null }>(
      `SELECT job_id, state, at_ms, reason FROM ${this.s}.job_history WHERE job_id = ANY($1::text[])
       ORDER BY job_id, n`,
      [rows.map((r) => r.id)],
    );
    const byJob = new Map<string, (typeof hist.rows)[number][]>();
    for (const h of hist.rows) {
      const list = byJob.get(h.job_id) ?? [];
      list.push(h);
      byJob.set(h.job_id, list);
    }
    return rows.map((r) => jobFromRow(r, byJob.get(r.id) ?? []));
  }

  private async load(c: Tx, id: string, lock: boolean): Promise<JobRecord | null> {
    const r = await c.query<Row>(`SELECT * FROM ${this.s}.jobs WHERE id = $1${lock ? " FOR UPDATE" : ""}`, [
      id,
    ]);
    return r.rows.length === 0 ? null : (await this.withHistory(c, r.rows))[0];
  }

  /** Writes `next` over `prev` (same job, row locked): the changed columns and the new history entries. */
  private async save(c: Tx, prev: JobRecord, next: JobRecord): Promise<void> {
    const r = await c.query(
      `UPDATE ${this.s}.jobs SET state = $1, updated_at_ms = $2, claim_worker = $3, claim_until_ms = $4,
         version = $5, result = $6::jsonb, path = $7::jsonb
       WHERE id = $8 AND version = $9`,
      [
        next.state,
        next.updatedAtMs,
        next.claim?.worker ?? null,
        next.claim?.untilMs ?? null,
        next.version,
        next.result === undefined ? null : JSON.stringify(next.result),
        next.path === undefined ? null : JSON.stringify(next.path),
        prev.id,
        prev.version,
      ],
    );
    // Cannot happen under the row lock; checked so that a logic error can never lose a write.
    if (r.rowCount !== 1) throw new Error(`job '${prev.id}' changed during a write transaction`);
    for (let n = prev.history.length; n < next.history.length; n++) {
      const h = next.history[n];
      await c.query(
        `INSERT INTO ${this.s}.job_history (job_id, n, state, at_ms, reason) VALUES ($1, $2, $3, $4, $5)`,
        [prev.id, n, h.state, h.atMs, h.reason ?? null],
      );
    }
  }

  async create(args: CreateJobArgs): Promise<CreateJobResult> {
    if (this.closed) throw closedError();
    const job = newJob(args.id, args.spec, args.nowMs, args.reason);
    return this.tx(async (c): Promise<CreateJobResult> => {
      // ON CONFLICT waits for a concurrent insert of the same ID to commit, then does nothing.
      const ins = await c.query(
        `INSERT INTO ${this.s}.jobs (id, kind, tenant, priority, state, created_at_ms, updated_at_ms,
           deadline_at_ms, version, spec)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) ON CONFLICT (id) DO NOTHING`,
        [
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
        ],
      );
      if (ins.rowCount === 0) {
        const existing = await this.load(c, job.id, false);
        // Only a job deleted in between could be missing, and jobs are never deleted.
        if (existing === null) throw new Error(`job '${job.id}' exists but could not be read`);
        return { status: "duplicate", job: existing };
      }
      const h = job.history[0];
      await c.query(
        `INSERT INTO ${this.s}.job_history (job_id, n, state, at_ms, reason) VALUES ($1, 0, $2, $3, $4)`,
        [job.id, h.state, h.atMs, h.reason ?? null],
      );
      return { status: "created", job };
    });
  }

  async get(id: string): Promise<JobRecord | null> {
    return this.tx((c) => this.load(c, id, false));
  }

  async list(query: JobQuery = {}): Promise<JobPage> {
    if (this.closed) throw closedError();
    const f = checkQuery(query);
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (f.states !== undefined) where.push(`state = ANY(${p(f.states)}::text[])`);
    if (f.tenant !== undefined) where.push(`tenant = ${p(f.tenant)}`);
    if (f.kind !== undefined) where.push(`kind = ${p(f.kind)}`);
    if (f.after !== undefined) {
      const at = p(f.after.createdAtMs);
      where.push(
        `(created_at_ms < ${at}::float8 OR (created_at_ms = ${at}::float8 AND seq < ${p(f.after.seq)}))`,
      );
    }
    const limit = p(f.limit + 1);
    return this.tx(async (c) => {
      const rows = (
        await c.query<Row>(
          `SELECT * FROM ${this.s}.jobs ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
           ORDER BY created_at_ms DESC, seq DESC LIMIT ${limit}`,
          params,
        )
      ).rows;
      const page = rows.slice(0, f.limit);
      const out: JobPage = { jobs: await this.withHistory(c, page) };
      if (rows.length > f.limit) {
        const last = page[page.length - 1];
        out.nextCursor = encodeCursor({ createdAtMs: last.created_at_ms, seq: Number(last.seq) });
      }
      return out;
    });
  }

  /** The shared steps of update and transition: lock, check the version, compute, save. */
  private change(
    id: string,
    expectedVersion: number | undefined,
    next: (job: JobRecord) => JobRecord,
  ): Promise<JobWriteResult> {
    return this.tx(async (c): Promise<JobWriteResult> => {
      const job = await this.load(c, id, true);
      if (job === null) return { status: "not-found" };
      if (expectedVersion !== undefined && job.version !== expectedVersion)
        return { status: "conflict", job };
      const after = next(job);
      await this.save(c, job, after);
      return { status: "ok", job: after };
    });
  }

  async update(args: UpdateJobArgs): Promise<JobWriteResult> {
    if (this.closed) throw closedError();
    checkUpdateArgs(args);
    return this.change(args.id, args.expectedVersion, (job) => applyUpdate(job, args));
  }

  async transition(args: TransitionJobArgs): Promise<JobWriteResult> {
    if (this.closed) throw closedError();
    checkTransitionArgs(args);
    return this.change(args.id, args.expectedVersion, (job) => applyTransition(job, args));
  }

  async claimNext(args: ClaimNextArgs): Promise<JobRecord | null> {
    if (this.closed) throw closedError();
    const states = checkClaimArgs(args);
    return this.tx(async (c) => {
      const r = await c.query<Row>(
        `SELECT * FROM ${this.s}.jobs
         WHERE state = ANY($1::text[])
           AND (claim_worker IS NULL OR claim_until_ms <= $2)
           AND (deadline_at_ms IS NULL OR deadline_at_ms > $2)
         ORDER BY priority DESC, created_at_ms, seq LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [states, args.nowMs],
      );
      if (r.rows.length === 0) return null;
      const job = (await this.withHistory(c, r.rows))[0];
      const next = applyClaim(job, args);
      await this.save(c, job, next);
      return next;
    });
  }

  async expireOverdue(args: ExpireOverdueArgs): Promise<JobRecord[]> {
    if (this.closed) throw closedError();
    const { limit, reason } = checkExpireArgs(args);
    return this.tx(async (c) => {
      const r = await c.query<Row>(
        `SELECT * FROM ${this.s}.jobs
         WHERE deadline_at_ms IS NOT NULL AND deadline_at_ms <= $1 AND state = ANY($2::text[])
         ORDER BY deadline_at_ms, seq LIMIT $3 FOR UPDATE SKIP LOCKED`,
        [args.nowMs, LIVE_STATES, limit],
      );
      const out: JobRecord[] = [];
      for (const job of await this.withHistory(c, r.rows)) {
        const next = transition(job, "expired", args.nowMs, reason);
        await this.save(c, job, next);
        out.push(next);
      }
      return out;
    });
  }

  async counts(filter: { tenant?: string } = {}): Promise<JobCounts> {
    return this.tx(async (c) => {
      const r = await c.query<{ tenant: string; state: JobState; count: string }>(
        `SELECT tenant, state, count(*) AS count FROM ${this.s}.jobs
         WHERE $1::text IS NULL OR tenant = $1 GROUP BY tenant, state`,
        [filter.tenant ?? null],
      );
      return collectCounts(r.rows.map((x) => ({ ...x, count: Number(x.count) })));
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
