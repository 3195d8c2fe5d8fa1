/**
 * Rows of the SQL stores as records: what the SQLite and PostgreSQL backends share once a query has
 * run (they differ in SQL and drivers, not in how a row reads).
 */
import type { JobHistoryEntry, JobRecord, JobState } from "../control/jobs.js";
import type { Direction, PoolLevel } from "../kms/key-store.js";

/** A row of `jobs`. */
export interface JobRow {
  seq: number;
  id: string;
  state: JobState;
  created_at_ms: number;
  updated_at_ms: number;
  deadline_at_ms: number | null;
  claim_worker: string | null;
  claim_until_ms: number | null;
  version: number;
  spec: string;
  result: string | null;
  path: string | null;
}

/** A record from its row and its history rows (oldest first). JSON columns may come parsed (PostgreSQL). */
export function jobFromRow(
  row: Omit<JobRow, "seq" | "spec" | "result" | "path"> & { spec: unknown; result: unknown; path: unknown },
  history: readonly { state: JobState; at_ms: number; reason: string | null }[],
): JobRecord {
  const json = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : v);
  const job: JobRecord = {
    id: row.id,
    spec: json(row.spec),
    state: row.state,
    history: history.map((h): JobHistoryEntry => {
      const e: JobHistoryEntry = { state: h.state, atMs: Number(h.at_ms) };
      if (h.reason !== null) e.reason = h.reason;
      return e;
    }),
    createdAtMs: Number(row.created_at_ms),
    updatedAtMs: Number(row.updated_at_ms),
    version: Number(row.version),
  };
  if (row.deadline_at_ms !== null) job.deadlineAtMs = Number(row.deadline_at_ms);
  if (row.result !== null) job.result = json(row.result);
  if (row.path !== null) job.path = json(row.path);
  if (row.claim_worker !== null)
    job.claim = { worker: row.claim_worker, untilMs: Number(row.claim_until_ms) };
  return job;
}

/** Turns grouped (pool, direction) counts into levels, pools with no available units at zero. */
export function collectLevels(
  rows: readonly { pool: string; direction: Direction | null; units: number; bits: number }[],
): PoolLevel[] {
  const out = new Map<string, PoolLevel>();
  for (const r of rows) {
    let level = out.get(r.pool);
    if (level === undefined) {
      level = { pool: r.pool, local: { units: 0, bits: 0 }, peer: { units: 0, bits: 0 } };
      out.set(r.pool, level);
    }
    if (r.direction !== null) level[r.direction] = { units: Number(r.units), bits: Number(r.bits) };
  }
  return [...out.values()];
}
