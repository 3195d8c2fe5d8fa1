import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import type { JobStore } from "../../src/control/job-store.js";
import { SqliteJobStore } from "../../src/store/sqlite-job-store.js";
import { describeJobStoreConformance, spec } from "./job-store-conformance.js";

const dir = mkdtempSync(join(tmpdir(), "qnet-sqlite-jobs-"));
const paths = new WeakMap<JobStore, string>();
let n = 0;
const T0 = 1_700_000_000_000;

function openAt(path: string): JobStore {
  const s = SqliteJobStore.open(path);
  paths.set(s, path);
  return s;
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeJobStoreConformance("SQLite", async () => openAt(join(dir, `jobs-${n++}.db`)), {
  reopen: async (s) => {
    await s.close();
    return openAt(paths.get(s)!);
  },
});

describe("SqliteJobStore specifics", () => {
  it("uses WAL with synchronous=FULL and records its schema version", async () => {
    const path = join(dir, "pragmas.db");
    const s = SqliteJobStore.open(path);
    await s.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(raw.prepare("SELECT version FROM job_schema_version").pluck().all()).toEqual([1]);
    raw.close();
    const newer = new Database(path);
    newer.prepare("UPDATE job_schema_version SET version = 99").run();
    newer.close();
    expect(() => SqliteJobStore.open(path)).toThrow(/schema version 99; this qnet reads version 1/);
  });

  it("keeps spec, result and path as JSON columns and the history as rows", async () => {
    const path = join(dir, "columns.db");
    const s = SqliteJobStore.open(path);
    await s.create({ id: "j", spec: spec({ tenant: "lab" }), nowMs: T0 });
    await s.transition({ id: "j", to: "admitted", atMs: T0 + 1, reason: "ok", path: ["a", "b"] });
    await s.update({ id: "j", expectedVersion: 2, nowMs: T0 + 2, result: { keyBits: 8 } });
    await s.close();
    const raw = new Database(path, { readonly: true });
    const row = raw.prepare("SELECT * FROM jobs").get() as Record<string, unknown>;
    expect(JSON.parse(row.spec as string)).toMatchObject({ kind: "qkd", keyBits: 1024, tenant: "lab" });
    expect(JSON.parse(row.path as string)).toEqual(["a", "b"]);
    expect(JSON.parse(row.result as string)).toEqual({ keyBits: 8 });
    expect(row).toMatchObject({ state: "admitted", tenant: "lab", priority: 5, version: 3 });
    expect(raw.prepare("SELECT n, state, at_ms, reason FROM job_history ORDER BY n").all()).toEqual([
      { n: 0, state: "queued", at_ms: T0, reason: null },
      { n: 1, state: "admitted", at_ms: T0 + 1, reason: "ok" },
    ]);
    raw.close();
  });

  it("shares a file with the key store's tables without a clash", async () => {
    const path = join(dir, "shared-file.db");
    const raw = new Database(path);
    raw.exec(
      "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (7);",
    );
    raw.close();
    const s = SqliteJobStore.open(path);
    await s.create({ id: "j", spec: spec(), nowMs: T0 });
    await s.close();
  });

  it("two stores on one file never claim the same job", async () => {
    const path = join(dir, "two-stores.db");
    const a = SqliteJobStore.open(path);
    const b = SqliteJobStore.open(path);
    for (let i = 0; i < 20; i++) await a.create({ id: `j${i}`, spec: spec(), nowMs: T0 + i });
    const got = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 === 0 ? a : b).claimNext({ worker: `w${i}`, nowMs: T0 + 100, leaseMs: 1000 }),
      ),
    );
    const claimed = got.filter((j) => j !== null);
    expect(claimed.length).toBe(20);
    expect(new Set(claimed.map((j) => j.id)).size).toBe(20);
    // Each store sees the other's writes at once.
    expect((await b.get("j0"))!.claim).toBeDefined();
    await a.close();
    await b.close();
  });
});
