/**
 * A durable {@link KeyStore} in PostgreSQL (`pg`), for a KME whose key must survive the loss of a host
 * or be served by more than one process.
 *
 * - Every method is one transaction on one pooled connection (READ COMMITTED), committed when the
 *   promise resolves (PostgreSQL's default `synchronous_commit = on` makes that durable).
 * - Concurrency: callers in any number of processes never receive the same unit or key twice.
 *   `issueLocal` locks its pool's row (`SELECT … FOR UPDATE`) so issuers of one pool queue and take
 *   strictly the oldest units; `reservePeer` locks the named unit rows and `takeReserved` the key rows,
 *   each in a fixed order so that two transactions cannot deadlock. Row locks are chosen over
 *   `SKIP LOCKED` on purpose: skipping would let a second issuer jump the FIFO queue or report "too
 *   few units" / "not found" for rows merely locked by a transaction that then rolls back. Serialization
 *   and deadlock failures (40001, 40P01) are retried.
 * - Material is sealed with the injected {@link KeyCipher} exactly as in the SQLite store; deleted rows
 *   stay on disk until VACUUM reclaims them, still sealed.
 *
 * All tables live in one schema (default `qnet_kms`), created by {@link PostgresKeyStore.open}.
 * The schema is documented in docs/kms-storage.md.
 */
import type pg from "pg";
import type {
  AuditEvent,
  AuditQuery,
  DeliveredKey,
  Direction,
  IssuedKey,
  IssueLocalArgs,
  KeyCipher,
  KeyStore,
  KeyUnit,
  PoolLevel,
  ReserveMaterialArgs,
  ReservePeerArgs,
  TakeAudit,
  TakeResult,
} from "../kms/key-store.js";
import {
  auditLimit,
  checkAudit,
  checkDirection,
  checkId,
  checkIssueLocalArgs,
  checkReserveMaterialArgs,
  checkReservePeerArgs,
  checkUnits,
  closedError,
  cutToBits,
  decideTake,
  duplicateUnitError,
  normalizeAudit,
  takeAuditEvent,
} from "../kms/memory-key-store.js";
import { concatBytes } from "../qkd/bits.js";
import { checkMasterKey, keyAad, openSealed, unitAad } from "./cipher.js";
import { ensureSchema, inTransaction, openPool, quotedSchema, Rollback, type Tx } from "./postgres-common.js";
import { collectLevels } from "./rows.js";

/** The schema version this code writes and reads. */
export const POSTGRES_SCHEMA_VERSION = 1;

/** Options of {@link PostgresKeyStore.open}. */
export interface PostgresKeyStoreOptions {
  /** The PostgreSQL schema (namespace) holding the tables; created if missing. Default `qnet_kms`. */
  schema?: string;
  /** Attempts of a transaction that fails with a serialization failure or deadlock. Default 5. */
  maxAttempts?: number;
}

function schemaSql(s: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.schema_version (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.meta (name text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.pools (name text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ${s}.units (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  unit_id text NOT NULL UNIQUE,
  pool text NOT NULL REFERENCES ${s}.pools (name),
  direction text NOT NULL CHECK (direction IN ('local', 'peer')),
  bits integer NOT NULL,
  material bytea NOT NULL,
  key_id text
);
CREATE INDEX IF NOT EXISTS units_available ON ${s}.units (pool, direction, seq) WHERE key_id IS NULL;
CREATE INDEX IF NOT EXISTS units_by_key ON ${s}.units (key_id) WHERE key_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${s}.keys (
  n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key_id text NOT NULL UNIQUE,
  state text NOT NULL CHECK (state IN ('pending', 'confirmed', 'reserved', 'taken')),
  pool text,
  unit_ids text[],
  size_bits integer NOT NULL,
  master_sae text NOT NULL,
  slave_saes text[] NOT NULL,
  origin text,
  created_at_ms double precision NOT NULL,
  material bytea
);
CREATE INDEX IF NOT EXISTS keys_pending ON ${s}.keys (n) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS ${s}.key_slaves (
  key_id text NOT NULL REFERENCES ${s}.keys (key_id),
  sae text NOT NULL,
  taken_at_ms double precision,
  PRIMARY KEY (key_id, sae)
);
CREATE INDEX IF NOT EXISTS key_slaves_open ON ${s}.key_slaves (sae) WHERE taken_at_ms IS NULL;
CREATE TABLE IF NOT EXISTS ${s}.audit (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at_ms double precision NOT NULL,
  kind text NOT NULL,
  actor text NOT NULL,
  pool text,
  key_ids text[],
  bits bigint,
  detail text
);
CREATE INDEX IF NOT EXISTS audit_actor ON ${s}.audit (actor, seq);
CREATE INDEX IF NOT EXISTS audit_at ON ${s}.audit (at_ms);
CREATE INDEX IF NOT EXISTS audit_key_ids ON ${s}.audit USING gin (key_ids);
`;
}

interface UnitRow {
  seq: string;
  unit_id: string;
  pool: string;
  material: Buffer;
}

interface KeyRow {
  key_id: string;
  state: "pending" | "confirmed" | "reserved" | "taken";
  pool: string | null;
  unit_ids: string[] | null;
  size_bits: number;
  master_sae: string;
  slave_saes: string[];
  created_at_ms: number;
  material: Buffer | null;
}

/** The PostgreSQL {@link KeyStore}. Open with {@link PostgresKeyStore.open}. */
export class PostgresKeyStore implements KeyStore {
  private closed = false;
  /** Transactions started and not yet settled: close() waits for them before ending the pool. */
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(
    private readonly pool: pg.Pool,
    private readonly cipher: KeyCipher,
    /** The quoted schema name, prefixed to every table. */
    private readonly s: string,
    private readonly maxAttempts: number,
  ) {}

  /**
   * Connects (a `pg.Pool` on `config`: a connection string or pool options), creates the schema if
   * needed, and checks that `cipher` holds the master key the store was created with.
   * @throws if the database is unreachable, holds another schema version, or the master key is wrong.
   */
  static async open(
    config: string | pg.PoolConfig,
    cipher: KeyCipher,
    options: PostgresKeyStoreOptions = {},
  ): Promise<PostgresKeyStore> {
    const name = options.schema ?? "qnet_kms";
    const quoted = quotedSchema(name);
    const pool = openPool(config);
    const store = new PostgresKeyStore(pool, cipher, quoted, Math.max(1, options.maxAttempts ?? 5));
    try {
      await store.tx(async (c) => {
        await ensureSchema(c, {
          name,
          quoted,
          versionTable: "schema_version",
          version: POSTGRES_SCHEMA_VERSION,
          ddl: schemaSql(quoted),
          what: "key store",
        });
        const stored = await c.query<{ value: Buffer }>(
          `SELECT value FROM ${store.s}.meta WHERE name = 'master-key-check'`,
        );
        let sealed: Uint8Array | undefined;
        checkMasterKey(cipher, stored.rows[0], (v) => (sealed = v), `key store schema '${name}'`);
        if (sealed !== undefined)
          await c.query(`INSERT INTO ${store.s}.meta (name, value) VALUES ('master-key-check', $1)`, [
            sealed,
          ]);
      });
    } catch (e) {
      await pool.end();
      throw e;
    }
    return store;
  }

  /**
   * Runs `fn` in one transaction on one connection, retrying on serialization failure or deadlock.
   * A {@link Rollback} result rolls back and returns its value.
   */
  private tx<T>(fn: (c: Tx) => Promise<T | Rollback<T>>): Promise<T> {
    const running = inTransaction(
      this.pool,
      this.maxAttempts,
      () => {
        if (this.closed) throw closedError();
      },
      fn,
    );
    this.inFlight.add(running);
    const done = () => {
      this.inFlight.delete(running);
    };
    running.then(done, done);
    return running;
  }

  private openUnit(row: UnitRow): Uint8Array {
    return openSealed(this.cipher, row.material, unitAad(row.pool, row.unit_id), `unit '${row.unit_id}'`);
  }

  private async keyState(c: Tx, keyId: string, lock = false): Promise<KeyRow["state"] | undefined> {
    const r = await c.query<{ state: KeyRow["state"] }>(
      `SELECT state FROM ${this.s}.keys WHERE key_id = $1${lock ? " FOR UPDATE" : ""}`,
      [keyId],
    );
    return r.rows[0]?.state;
  }

  async addUnits(
    pool: string,
    direction: Direction,
    units: readonly KeyUnit[],
    _nowMs: number,
  ): Promise<void> {
    checkId("pool", pool);
    checkDirection(direction);
    checkUnits(units);
    const ids = units.map((u) => u.unitId);
    const sealed = units.map((u) => Buffer.from(this.cipher.encrypt(u.material, unitAad(pool, u.unitId))));
    await this.tx(async (c) => {
      const dup = await c.query<{ unit_id: string }>(
        `SELECT unit_id FROM ${this.s}.units WHERE unit_id = ANY($1) LIMIT 1`,
        [ids],
      );
      if (dup.rows.length > 0) throw duplicateUnitError(dup.rows[0].unit_id);
      await c.query(`INSERT INTO ${this.s}.pools (name) VALUES ($1) ON CONFLICT DO NOTHING`, [pool]);
      if (units.length === 0) return;
      try {
        // One statement for the batch; ORDER BY the array position gives sequence numbers in FIFO order.
        await c.query(
          `INSERT INTO ${this.s}.units (unit_id, pool, direction, bits, material)
           SELECT u.id, $1, $2, u.bits, u.material
           FROM unnest($3::text[], $4::integer[], $5::bytea[]) WITH ORDINALITY AS u (id, bits, material, i)
           ORDER BY u.i`,
          [pool, direction, ids, units.map((u) => u.material.length * 8), sealed],
        );
      } catch (e) {
        // Another transaction added the same unit ID since the check above.
        if ((e as { code?: string }).code === "23505")
          throw new Error("a unit in this batch was added to the key store concurrently");
        throw e;
      }
    });
  }

  async poolLevels(pool?: string): Promise<PoolLevel[]> {
    return this.tx(async (c) => {
      const r = await c.query<{ pool: string; direction: Direction | null; units: string; bits: string }>(
        `SELECT p.name AS pool, u.direction, count(u.seq) AS units, coalesce(sum(u.bits), 0) AS bits
         FROM ${this.s}.pools p LEFT JOIN ${this.s}.units u ON u.pool = p.name AND u.key_id IS NULL
         WHERE $1::text IS NULL OR p.name = $1
         GROUP BY p.name, u.direction ORDER BY p.name COLLATE "C"`,
        [pool ?? null],
      );
      return collectLevels(r.rows.map((x) => ({ ...x, units: Number(x.units), bits: Number(x.bits) })));
    });
  }

  async issueLocal(args: IssueLocalArgs): Promise<{ key: IssuedKey; material: Uint8Array } | null> {
    const slaves = checkIssueLocalArgs(args);
    return this.tx(async (c) => {
      // Issuers of one pool queue here, so each takes strictly the oldest units left.
      const p = await c.query(`SELECT 1 FROM ${this.s}.pools WHERE name = $1 FOR UPDATE`, [args.pool]);
      if ((await this.keyState(c, args.keyId)) !== undefined)
        throw new Error(`key '${args.keyId}' already exists`);
      if (p.rows.length === 0) return null;
      const rows = (
        await c.query<UnitRow>(
          `SELECT seq, unit_id, pool, material FROM ${this.s}.units
           WHERE pool = $1 AND direction = 'local' AND key_id IS NULL ORDER BY seq LIMIT $2 FOR UPDATE`,
          [args.pool, args.units],
        )
      ).rows;
      if (rows.length < args.units) return null;
      const material = cutToBits(concatBytes(rows.map((r) => this.openUnit(r))), args.sizeBits);
      const key: IssuedKey = {
        keyId: args.keyId,
        pool: args.pool,
        unitIds: rows.map((r) => r.unit_id),
        sizeBits: args.sizeBits,
        masterSae: args.masterSae,
        slaveSaes: slaves,
        createdAtMs: args.nowMs,
      };
      try {
        await c.query(
          `INSERT INTO ${this.s}.keys (key_id, state, pool, unit_ids, size_bits, master_sae, slave_saes, created_at_ms)
           VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7)`,
          [key.keyId, key.pool, key.unitIds, key.sizeBits, key.masterSae, slaves, key.createdAtMs],
        );
      } catch (e) {
        if ((e as { code?: string }).code === "23505") throw new Error(`key '${args.keyId}' already exists`);
        throw e;
      }
      await c.query(`UPDATE ${this.s}.units SET key_id = $1 WHERE seq = ANY($2::bigint[])`, [
        args.keyId,
        rows.map((r) => r.seq),
      ]);
      return { key, material };
    });
  }

  async confirmIssued(keyIds: string | readonly string[], _nowMs: number, audit?: AuditEvent): Promise<void> {
    const ids = typeof keyIds === "string" ? [keyIds] : [...new Set(keyIds)];
    if (audit) checkAudit(audit);
    await this.tx(async (c) => {
      // Locked in key ID order, so two confirmations of overlapping sets cannot deadlock.
      const rows = (
        await c.query<{ key_id: string; state: KeyRow["state"] }>(
          `SELECT key_id, state FROM ${this.s}.keys WHERE key_id = ANY($1) ORDER BY key_id FOR UPDATE`,
          [ids],
        )
      ).rows;
      const state = new Map(rows.map((r) => [r.key_id, r.state]));
      const todo: string[] = [];
      for (const id of ids) {
        const st = state.get(id);
        if (st === "confirmed") continue; // a retry after a crash
        if (st !== "pending") throw new Error(`no pending key '${id}' to confirm`);
        todo.push(id);
      }
      if (todo.length > 0) {
        await c.query(`DELETE FROM ${this.s}.units WHERE key_id = ANY($1)`, [todo]);
        await c.query(`UPDATE ${this.s}.keys SET state = 'confirmed' WHERE key_id = ANY($1)`, [todo]);
      }
      if (audit) await this.insertAudit(c, audit);
    });
  }

  async releaseIssued(keyId: string, _nowMs: number, audit?: AuditEvent): Promise<void> {
    if (audit) checkAudit(audit);
    await this.tx(async (c) => {
      const state = await this.keyState(c, keyId, true);
      if (state !== undefined) {
        if (state !== "pending") throw new Error(`key '${keyId}' is not pending and cannot be released`);
        // The units keep their sequence numbers, so they return to their places at the head of the queue.
        await c.query(`UPDATE ${this.s}.units SET key_id = NULL WHERE key_id = $1`, [keyId]);
        await c.query(`DELETE FROM ${this.s}.keys WHERE key_id = $1`, [keyId]);
      } // else already released: a retry
      if (audit) await this.insertAudit(c, audit);
    });
  }

  async pendingIssued(): Promise<IssuedKey[]> {
    return this.tx(async (c) =>
      (await c.query<KeyRow>(`SELECT * FROM ${this.s}.keys WHERE state = 'pending' ORDER BY n`)).rows.map(
        (r) => ({
          keyId: r.key_id,
          pool: r.pool!,
          unitIds: r.unit_ids!,
          sizeBits: r.size_bits,
          masterSae: r.master_sae,
          slaveSaes: r.slave_saes,
          createdAtMs: r.created_at_ms,
        }),
      ),
    );
  }

  async reservePeer(args: ReservePeerArgs): Promise<"ok" | "missing-units" | "duplicate-key"> {
    const slaves = checkReservePeerArgs(args);
    const audit = args.audit;
    type Out = "ok" | "missing-units" | "duplicate-key";
    return this.tx<Out>(async (c) => {
      if ((await this.keyState(c, args.keyId)) !== undefined) return "duplicate-key";
      if (new Set(args.unitIds).size !== args.unitIds.length) return "missing-units";
      // Locked in seq order (a fixed order: no deadlock); a unit another reservation took meanwhile
      // fails the re-check after the lock wait and drops out, so the count comes up short.
      const rows = (
        await c.query<UnitRow>(
          `SELECT seq, unit_id, pool, material FROM ${this.s}.units
           WHERE unit_id = ANY($1) AND pool = $2 AND direction = 'peer' AND key_id IS NULL
           ORDER BY seq FOR UPDATE`,
          [args.unitIds, args.pool],
        )
      ).rows;
      if (rows.length !== args.unitIds.length) return "missing-units";
      const byId = new Map(rows.map((r) => [r.unit_id, r]));
      const material = cutToBits(
        concatBytes(args.unitIds.map((id) => this.openUnit(byId.get(id)!))),
        args.sizeBits,
      );
      if (
        !(await this.insertReserved(
          c,
          args.keyId,
          args.pool,
          args.sizeBits,
          args.masterSae,
          slaves,
          "peer",
          args.nowMs,
          material,
        ))
      )
        return new Rollback<Out>("duplicate-key");
      await c.query(`DELETE FROM ${this.s}.units WHERE seq = ANY($1::bigint[])`, [rows.map((r) => r.seq)]);
      if (audit) await this.insertAudit(c, audit);
      return "ok";
    });
  }

  async voidUnlessReserved(pool: string, keyId: string, nowMs: number): Promise<boolean> {
    checkId("pool", pool);
    checkId("keyId", keyId);
    return this.tx(async (c) => {
      // A voided key ID is kept as a confirmed key of no units: known, never reused, nothing to take.
      // ON CONFLICT waits for a concurrent insert of the same key ID (a reservation) and then does
      // nothing, so the row read below is the one that won.
      const voided = await c.query(
        `INSERT INTO ${this.s}.keys (key_id, state, pool, size_bits, master_sae, slave_saes, origin, created_at_ms)
         VALUES ($1, 'confirmed', $2, 0, '', '{}', 'void', $3) ON CONFLICT (key_id) DO NOTHING`,
        [keyId, pool, nowMs],
      );
      if (voided.rowCount === 1) return false;
      const row = (
        await c.query<Pick<KeyRow, "state" | "pool">>(
          `SELECT state, pool FROM ${this.s}.keys WHERE key_id = $1`,
          [keyId],
        )
      ).rows[0];
      return row !== undefined && (row.state === "reserved" || row.state === "taken") && row.pool === pool;
    });
  }

  async reserveMaterial(args: ReserveMaterialArgs): Promise<"ok" | "duplicate-key"> {
    const { slaves, material } = checkReserveMaterialArgs(args);
    return this.tx(async (c) =>
      (await this.insertReserved(
        c,
        args.keyId,
        null,
        args.sizeBits,
        args.masterSae,
        slaves,
        args.origin,
        args.nowMs,
        material,
      ))
        ? "ok"
        : "duplicate-key",
    );
  }

  /** Inserts a reserved key and its slaves; false (nothing written) if the key ID exists. */
  private async insertReserved(
    c: Tx,
    keyId: string,
    pool: string | null,
    sizeBits: number,
    masterSae: string,
    slaves: string[],
    origin: string,
    nowMs: number,
    material: Uint8Array,
  ): Promise<boolean> {
    // ON CONFLICT waits for a concurrent insert of the same key ID and then does nothing.
    const r = await c.query(
      `INSERT INTO ${this.s}.keys (key_id, state, pool, size_bits, master_sae, slave_saes, origin, created_at_ms, material)
       VALUES ($1, 'reserved', $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key_id) DO NOTHING`,
      [
        keyId,
        pool,
        sizeBits,
        masterSae,
        slaves,
        origin,
        nowMs,
        Buffer.from(this.cipher.encrypt(material, keyAad(keyId))),
      ],
    );
    if (r.rowCount === 0) return false;
    await c.query(`INSERT INTO ${this.s}.key_slaves (key_id, sae) SELECT $1, unnest($2::text[])`, [
      keyId,
      slaves,
    ]);
    return true;
  }

  async takeReserved(
    keyIds: readonly string[],
    sae: string,
    nowMs: number,
    audit?: TakeAudit,
  ): Promise<TakeResult> {
    checkId("SAE", sae);
    return this.tx<TakeResult>(async (c) => {
      // Lock the keys in key ID order, so two takers of overlapping sets cannot deadlock; a second taker
      // of the same key waits here and then sees the first one's take.
      const rows = (
        await c.query<KeyRow>(
          `SELECT * FROM ${this.s}.keys WHERE key_id = ANY($1) AND state IN ('reserved', 'taken')
           ORDER BY key_id FOR UPDATE`,
          [[...new Set(keyIds)]],
        )
      ).rows;
      const slaveRows = (
        await c.query<{ key_id: string; sae: string; taken_at_ms: number | null }>(
          `SELECT key_id, sae, taken_at_ms FROM ${this.s}.key_slaves WHERE key_id = ANY($1)`,
          [rows.map((r) => r.key_id)],
        )
      ).rows;
      const found = new Map<string, { row: KeyRow; slaves: string[]; taken: Set<string> }>();
      for (const row of rows) found.set(row.key_id, { row, slaves: [], taken: new Set() });
      for (const s of slaveRows) {
        const k = found.get(s.key_id)!;
        k.slaves.push(s.sae);
        if (s.taken_at_ms !== null) k.taken.add(s.sae);
      }
      const decision = decideTake(keyIds, sae, (id) => found.get(id));
      if (decision.status !== "ok") return decision;
      // Open everything before writing anything: a decryption failure must take nothing.
      const keys: DeliveredKey[] = keyIds.map((id) => {
        const { row } = found.get(id)!;
        return {
          keyId: id,
          sizeBits: row.size_bits,
          material: openSealed(this.cipher, row.material!, keyAad(id), `key '${id}'`),
        };
      });
      await c.query(`UPDATE ${this.s}.key_slaves SET taken_at_ms = $1 WHERE key_id = ANY($2) AND sae = $3`, [
        nowMs,
        [...keyIds],
        sae,
      ]);
      const finished = keyIds.filter((id) => {
        const k = found.get(id)!;
        return k.taken.size + 1 === k.slaves.length;
      });
      if (finished.length > 0)
        await c.query(`UPDATE ${this.s}.keys SET state = 'taken', material = NULL WHERE key_id = ANY($1)`, [
          finished,
        ]);
      if (audit)
        await this.insertAudit(
          c,
          takeAuditEvent(audit, keyIds, nowMs, (id) => found.get(id)!.row.size_bits),
        );
      return { status: "ok", keys };
    });
  }

  async reservedCount(sae?: string): Promise<number> {
    return this.tx(async (c) => {
      const r =
        sae === undefined
          ? await c.query<{ n: number }>(
              `SELECT count(*)::integer AS n FROM ${this.s}.keys WHERE state = 'reserved'`,
            )
          : await c.query<{ n: number }>(
              `SELECT count(*)::integer AS n FROM ${this.s}.key_slaves s JOIN ${this.s}.keys k ON k.key_id = s.key_id
               WHERE s.sae = $1 AND s.taken_at_ms IS NULL AND k.state = 'reserved'`,
              [sae],
            );
      return r.rows[0].n;
    });
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    checkAudit(event);
    await this.tx((c) => this.insertAudit(c, event));
  }

  /** Inserts an audit event in the transaction of client `c`. */
  private async insertAudit(c: pg.PoolClient, event: AuditEvent): Promise<void> {
    checkAudit(event);
    await c.query(
      `INSERT INTO ${this.s}.audit (at_ms, kind, actor, pool, key_ids, bits, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        event.atMs,
        event.kind,
        event.actor,
        event.pool ?? null,
        event.keyIds === undefined ? null : [...event.keyIds],
        event.bits ?? null,
        event.detail ?? null,
      ],
    );
  }

  async queryAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    const limit = auditLimit(query);
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: (p: string) => string, value: unknown) => {
      params.push(value);
      where.push(sql(`$${params.length}`));
    };
    if (query.actor !== undefined) add((p) => `actor = ${p}`, query.actor);
    if (query.kind !== undefined) add((p) => `kind = ${p}`, query.kind);
    if (query.pool !== undefined) add((p) => `pool = ${p}`, query.pool);
    if (query.keyId !== undefined) add((p) => `key_ids @> ARRAY[${p}::text]`, query.keyId);
    if (query.sinceMs !== undefined) add((p) => `at_ms >= ${p}`, query.sinceMs);
    if (query.untilMs !== undefined) add((p) => `at_ms < ${p}`, query.untilMs);
    params.push(limit);
    const sql = `SELECT * FROM ${this.s}.audit ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
                 ORDER BY seq DESC LIMIT $${params.length}`;
    return this.tx(async (c) =>
      (
        await c.query<{
          seq: string;
          at_ms: number;
          kind: AuditEvent["kind"];
          actor: string;
          pool: string | null;
          key_ids: string[] | null;
          bits: string | null;
          detail: string | null;
        }>(sql, params)
      ).rows.map((r) =>
        normalizeAudit(
          {
            atMs: r.at_ms,
            kind: r.kind,
            actor: r.actor,
            pool: r.pool ?? undefined,
            keyIds: r.key_ids ?? undefined,
            bits: r.bits === null ? undefined : Number(r.bits),
            detail: r.detail ?? undefined,
          },
          Number(r.seq),
        ),
      ),
    );
  }

  /** Ends the connection pool, after the transactions in flight (they commit or fail first). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.pool.end();
  }
}
