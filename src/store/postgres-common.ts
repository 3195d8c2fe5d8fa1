/**
 * What every PostgreSQL store of qnet does the same way: schema names, the connection pool, transactions
 * retried on serialization failures and deadlocks, and a versioned schema created once under a lock.
 */
import pg from "pg";

export type Tx = pg.PoolClient;

/** Retryable SQLSTATEs: serialization_failure, deadlock_detected. */
const RETRY_CODES = new Set(["40001", "40P01"]);

/** Marks a transaction result that must roll the transaction back although it is not an error. */
export class Rollback<T> {
  constructor(readonly value: T) {}
}

/**
 * Checks a schema name (it is spliced into SQL, so only plain identifiers are accepted) and returns it
 * quoted, ready to prefix table names.
 */
export function quotedSchema(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name))
    throw new RangeError(
      `schema name '${name}' must be lowercase letters, digits and underscores, starting with a letter or underscore`,
    );
  return `"${name}"`;
}

/** A connection pool on a connection string or pool options. */
export function openPool(config: string | pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(typeof config === "string" ? { connectionString: config } : config);
  // An idle pooled connection that the server drops would otherwise crash the process.
  pool.on("error", () => {});
  return pool;
}

/**
 * Runs `fn` in one transaction on one connection, retrying up to `maxAttempts` times on serialization
 * failure or deadlock. A {@link Rollback} result rolls back and returns its value. `closed` is checked
 * before every attempt so that a closed store fails with its own error.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  maxAttempts: number,
  checkOpen: () => void,
  fn: (c: Tx) => Promise<T | Rollback<T>>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    checkOpen();
    const c = await pool.connect();
    let broken = false;
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      if (out instanceof Rollback) {
        await c.query("ROLLBACK");
        return out.value;
      }
      await c.query("COMMIT");
      return out;
    } catch (e) {
      try {
        await c.query("ROLLBACK");
      } catch {
        broken = true; // the connection is unusable: drop it rather than return it to the pool
      }
      const code = (e as { code?: string }).code;
      if (code !== undefined && RETRY_CODES.has(code) && attempt < maxAttempts) continue;
      throw e;
    } finally {
      c.release(broken);
    }
  }
}

/** How {@link ensureSchema} creates and checks one store's tables. */
export interface SchemaSpec {
  /** The plain schema name (for the lock and messages) and its quoted form. */
  name: string;
  quoted: string;
  /** Table holding the one-row schema version, unquoted (e.g. `schema_version`). */
  versionTable: string;
  version: number;
  /** The DDL creating every table of the schema. */
  ddl: string;
  /** What the store is, for messages and the lock key (e.g. "key store"). */
  what: string;
}

/**
 * Creates the schema's tables if they do not exist and checks its version, in transaction `c`. Two
 * processes opening a new database at once take turns on an advisory lock; an existing store needs no
 * CREATE privilege, only row access.
 */
export async function ensureSchema(c: Tx, spec: SchemaSpec): Promise<void> {
  await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`qnet:${spec.what}:${spec.name}`]);
  const table = `${spec.quoted}.${spec.versionTable}`;
  const exists = await c.query<{ t: string | null }>("SELECT to_regclass($1)::text AS t", [table]);
  if (exists.rows[0].t === null) await c.query(spec.ddl);
  const v = await c.query<{ version: number }>(`SELECT version FROM ${table}`);
  if (v.rows.length === 0) await c.query(`INSERT INTO ${table} (version) VALUES ($1)`, [spec.version]);
  else if (v.rows[0].version !== spec.version)
    throw new Error(
      `${spec.what} schema '${spec.name}' has version ${v.rows[0].version}; this qnet reads version ${spec.version}`,
    );
}
