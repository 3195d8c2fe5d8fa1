/**
 * A durable {@link KeyStore} in one SQLite file (better-sqlite3), for a KME on a single host.
 *
 * - **Group commit.** A method that writes does not commit on its own: its work is queued, and the
 *   writes queued while the event loop was busy run together in one transaction (`BEGIN IMMEDIATE`,
 *   so two processes or two stores on one file queue on the write lock instead of failing to upgrade a
 *   read lock), each inside its own savepoint, then one `COMMIT` makes them all durable with one fsync.
 *   A write that throws is rolled back to its savepoint and rejects alone; the others commit. No
 *   promise resolves, and no key material leaves the store, before its batch's `COMMIT` has returned;
 *   if the `BEGIN` or `COMMIT` fails, every write of the batch rejects and none took effect.
 * - WAL journal with `synchronous=FULL`: a transaction is on disk when the method resolves, so a crash
 *   afterwards loses nothing; a crash before leaves the store as it was.
 * - Reads are single statements, each a consistent snapshot of what has been committed.
 * - Statements are prepared once per store and reused.
 * - `secure_delete=ON`: deleted material is overwritten in the file, so a master key that leaks later
 *   cannot open key that was already consumed (old pages may still linger in the WAL until the next
 *   checkpoint).
 * - Material is sealed with the injected {@link KeyCipher}, the AAD binding it to its row
 *   ({@link unitAad}, {@link keyAad}); IDs, sizes, SAE names and the audit log are stored in clear.
 *
 * better-sqlite3 is synchronous: a batch runs to completion (its fsync included) in one turn of the
 * event loop, scheduled with `setImmediate` after the write that started it. The schema is documented
 * in docs/kms-storage.md.
 */
import Database from "better-sqlite3";
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
import { collectLevels } from "./rows.js";

/** The schema version this code writes and reads. */
export const SQLITE_SCHEMA_VERSION = 1;

/** Most writes committed together; more wait for the next batch (in the same turn of the loop). */
const MAX_BATCH = 512;

/** One write waiting for the next group commit. */
interface QueuedWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Counters of a store's writes since it was opened (see {@link SqliteKeyStore.stats}). */
export interface SqliteWriteStats {
  /** Write calls that reached the database (whether they succeeded or threw). */
  writes: number;
  /** Transactions committed (one fsync each). */
  commits: number;
  /** Batches that failed as a whole (`BEGIN` or `COMMIT` failed): none of their writes took effect. */
  failedBatches: number;
}

/** Options of {@link SqliteKeyStore.open}. */
export interface SqliteKeyStoreOptions {
  /** How long a write waits for another connection's write lock before failing, ms. Default 5000. */
  busyTimeoutMs?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pools (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS units (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  unit_id TEXT NOT NULL UNIQUE,
  pool TEXT NOT NULL REFERENCES pools (name),
  direction TEXT NOT NULL CHECK (direction IN ('local', 'peer')),
  bits INTEGER NOT NULL,
  material BLOB NOT NULL,
  key_id TEXT
);
CREATE INDEX IF NOT EXISTS units_available ON units (pool, direction, seq) WHERE key_id IS NULL;
CREATE INDEX IF NOT EXISTS units_by_key ON units (key_id) WHERE key_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS keys (
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'reserved', 'taken')),
  pool TEXT,
  unit_ids TEXT,
  size_bits INTEGER NOT NULL,
  master_sae TEXT NOT NULL,
  slave_saes TEXT NOT NULL,
  origin TEXT,
  created_at_ms REAL NOT NULL,
  material BLOB
);
CREATE INDEX IF NOT EXISTS keys_pending ON keys (n) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS key_slaves (
  key_id TEXT NOT NULL REFERENCES keys (key_id),
  sae TEXT NOT NULL,
  taken_at_ms REAL,
  PRIMARY KEY (key_id, sae)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS key_slaves_open ON key_slaves (sae) WHERE taken_at_ms IS NULL;
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at_ms REAL NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL,
  pool TEXT,
  key_ids TEXT,
  bits INTEGER,
  detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor, seq);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at_ms);
CREATE TABLE IF NOT EXISTS audit_keys (
  key_id TEXT NOT NULL,
  seq INTEGER NOT NULL REFERENCES audit (seq),
  PRIMARY KEY (key_id, seq)
) WITHOUT ROWID;
`;

interface UnitRow {
  seq: number;
  unit_id: string;
  pool: string;
  bits: number;
  material: Buffer;
}

interface KeyRow {
  key_id: string;
  state: "pending" | "confirmed" | "reserved" | "taken";
  pool: string | null;
  unit_ids: string | null;
  size_bits: number;
  master_sae: string;
  slave_saes: string;
  created_at_ms: number;
  material: Buffer | null;
}

interface AuditRow {
  seq: number;
  at_ms: number;
  kind: AuditEvent["kind"];
  actor: string;
  pool: string | null;
  key_ids: string | null;
  bits: number | null;
  detail: string | null;
}

/** The SQLite {@link KeyStore}. Open with {@link SqliteKeyStore.open}. */
export class SqliteKeyStore implements KeyStore {
  private closed = false;
  private readonly statements = new Map<string, Database.Statement>();
  private queue: QueuedWrite[] = [];
  private scheduled = false;
  private readonly counters: SqliteWriteStats = { writes: 0, commits: 0, failedBatches: 0 };

  private constructor(
    private readonly db: Database.Database,
    private readonly cipher: KeyCipher,
  ) {}

  /**
   * Opens (creating if needed) the store in file `path` (`:memory:` for a throwaway store), creates the
   * schema, and checks that `cipher` holds the master key the store was created with.
   * @throws if the file is not a qnet key store of a known schema version, or the master key is wrong.
   */
  static open(path: string, cipher: KeyCipher, options: SqliteKeyStoreOptions = {}): SqliteKeyStore {
    const db = new Database(path);
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      db.pragma("secure_delete = ON");
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      db.transaction(() => {
        db.exec(SCHEMA);
        const v = db.prepare("SELECT version FROM schema_version").get() as { version: number } | undefined;
        if (v === undefined)
          db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(SQLITE_SCHEMA_VERSION);
        else if (v.version !== SQLITE_SCHEMA_VERSION)
          throw new Error(
            `key store '${path}' has schema version ${v.version}; this qnet reads version ${SQLITE_SCHEMA_VERSION}`,
          );
        checkMasterKey(
          cipher,
          db.prepare("SELECT value FROM meta WHERE name = 'master-key-check'").get() as
            | { value: Buffer }
            | undefined,
          (sealed) => db.prepare("INSERT INTO meta (name, value) VALUES ('master-key-check', ?)").run(sealed),
          `key store '${path}'`,
        );
      }).immediate();
    } catch (e) {
      db.close();
      throw e;
    }
    return new SqliteKeyStore(db, cipher);
  }

  /** Writes and commits so far: with group commit, `commits` grows more slowly than `writes`. */
  get stats(): Readonly<SqliteWriteStats> {
    return { ...this.counters };
  }

  /** The statement for `sql`, prepared on first use and reused. */
  private sql(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /**
   * Queues `fn` for the next group commit (module documentation). Resolves with its result once the
   * batch is durable; rejects with its error (its writes rolled back), or with the batch's error.
   */
  private write<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every queued write, in batches of at most {@link MAX_BATCH}. */
  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) this.commitBatch(this.queue.splice(0, MAX_BATCH));
  }

  /** One transaction for `batch`, one savepoint per write; settles the writes after the commit. */
  private commitBatch(batch: readonly QueuedWrite[]): void {
    const failAll = (error: unknown) => {
      this.counters.failedBatches++;
      for (const w of batch) w.reject(error);
    };
    try {
      this.sql("BEGIN IMMEDIATE").run();
    } catch (error) {
      failAll(error);
      return;
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      for (const w of batch) {
        this.counters.writes++;
        this.sql("SAVEPOINT write").run();
        try {
          const value = w.run();
          this.sql("RELEASE write").run();
          outcomes.push({ ok: true, value });
        } catch (error) {
          // Some errors (a full disk, I/O) make SQLite roll back the whole transaction itself: then
          // the writes before this one are gone too, and the batch fails as a whole.
          if (!this.db.inTransaction) throw error;
          this.sql("ROLLBACK TO write").run();
          this.sql("RELEASE write").run();
          outcomes.push({ ok: false, error });
        }
      }
      if (outcomes.some((o) => o.ok)) {
        this.sql("COMMIT").run();
        this.counters.commits++;
      } else {
        this.sql("ROLLBACK").run(); // nothing to commit
      }
    } catch (error) {
      try {
        if (this.db.inTransaction) this.sql("ROLLBACK").run();
      } catch {
        // The transaction is gone either way; the batch's error is the one to report.
      }
      failAll(error);
      return;
    }
    // COMMIT has returned: with synchronous=FULL the batch is on disk.
    batch.forEach((w, i) => {
      const o = outcomes[i];
      if (o.ok) w.resolve(o.value);
      else w.reject(o.error);
    });
  }

  /** Runs a read at once: one statement, a consistent snapshot of what is committed (and durable). */
  private read<T>(fn: () => T): T {
    if (this.closed) throw closedError();
    return fn();
  }

  private openUnit(row: UnitRow): Uint8Array {
    return openSealed(this.cipher, row.material, unitAad(row.pool, row.unit_id), `unit '${row.unit_id}'`);
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
    // Seal outside the transaction: the write lock is held only for the inserts.
    const sealed = units.map((u) => this.cipher.encrypt(u.material, unitAad(pool, u.unitId)));
    await this.write(() => {
      const exists = this.sql("SELECT 1 FROM units WHERE unit_id = ?").pluck();
      for (const u of units) if (exists.get(u.unitId) !== undefined) throw duplicateUnitError(u.unitId);
      this.sql("INSERT OR IGNORE INTO pools (name) VALUES (?)").run(pool);
      const insert = this.sql(
        "INSERT INTO units (unit_id, pool, direction, bits, material) VALUES (?, ?, ?, ?, ?)",
      );
      units.forEach((u, i) => {
        insert.run(u.unitId, pool, direction, u.material.length * 8, sealed[i]);
      });
    });
  }

  async poolLevels(pool?: string): Promise<PoolLevel[]> {
    return this.read(() => {
      const rows = this.sql(
        `SELECT p.name AS pool, u.direction AS direction, count(u.seq) AS units, coalesce(sum(u.bits), 0) AS bits
           FROM pools p LEFT JOIN units u ON u.pool = p.name AND u.key_id IS NULL
           WHERE (? IS NULL OR p.name = ?)
           GROUP BY p.name, u.direction ORDER BY p.name`,
      ).all(pool ?? null, pool ?? null) as {
        pool: string;
        direction: Direction | null;
        units: number;
        bits: number;
      }[];
      return collectLevels(rows);
    });
  }

  async issueLocal(args: IssueLocalArgs): Promise<{ key: IssuedKey; material: Uint8Array } | null> {
    const slaves = checkIssueLocalArgs(args);
    return this.write(() => {
      if (this.keyState(args.keyId) !== undefined) throw new Error(`key '${args.keyId}' already exists`);
      const rows = this.sql(
        `SELECT seq, unit_id, pool, bits, material FROM units
           WHERE pool = ? AND direction = 'local' AND key_id IS NULL ORDER BY seq LIMIT ?`,
      ).all(args.pool, args.units) as UnitRow[];
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
      this.sql(
        `INSERT INTO keys (key_id, state, pool, unit_ids, size_bits, master_sae, slave_saes, created_at_ms)
           VALUES (?, 'pending', ?, ?, ?, ?, ?, ?)`,
      ).run(
        key.keyId,
        key.pool,
        JSON.stringify(key.unitIds),
        key.sizeBits,
        key.masterSae,
        JSON.stringify(slaves),
        key.createdAtMs,
      );
      const hold = this.sql("UPDATE units SET key_id = ? WHERE seq = ?");
      for (const r of rows) hold.run(args.keyId, r.seq);
      return { key, material };
    });
  }

  async confirmIssued(keyIds: string | readonly string[], _nowMs: number, audit?: AuditEvent): Promise<void> {
    const ids = typeof keyIds === "string" ? [keyIds] : [...keyIds];
    if (audit) checkAudit(audit);
    await this.write(() => {
      const todo: string[] = [];
      for (const id of ids) {
        const state = this.keyState(id);
        if (state === "confirmed") continue; // a retry after a crash
        if (state !== "pending") throw new Error(`no pending key '${id}' to confirm`);
        todo.push(id);
      }
      for (const id of todo) {
        this.sql("DELETE FROM units WHERE key_id = ?").run(id);
        this.sql("UPDATE keys SET state = 'confirmed' WHERE key_id = ?").run(id);
      }
      if (audit) this.insertAudit(audit);
    });
  }

  async releaseIssued(keyId: string, _nowMs: number, audit?: AuditEvent): Promise<void> {
    if (audit) checkAudit(audit);
    await this.write(() => {
      const state = this.keyState(keyId);
      if (state !== undefined) {
        if (state !== "pending") throw new Error(`key '${keyId}' is not pending and cannot be released`);
        // The units keep their sequence numbers, so they return to their places at the head of the queue.
        this.sql("UPDATE units SET key_id = NULL WHERE key_id = ?").run(keyId);
        this.sql("DELETE FROM keys WHERE key_id = ?").run(keyId);
      } // else already released: a retry
      if (audit) this.insertAudit(audit);
    });
  }

  private keyState(keyId: string): KeyRow["state"] | undefined {
    return this.sql("SELECT state FROM keys WHERE key_id = ?").pluck().get(keyId) as
      | KeyRow["state"]
      | undefined;
  }

  async pendingIssued(): Promise<IssuedKey[]> {
    return this.read(() =>
      (this.sql("SELECT * FROM keys WHERE state = 'pending' ORDER BY n").all() as KeyRow[]).map((r) => ({
        keyId: r.key_id,
        pool: r.pool!,
        unitIds: JSON.parse(r.unit_ids!) as string[],
        sizeBits: r.size_bits,
        masterSae: r.master_sae,
        slaveSaes: JSON.parse(r.slave_saes) as string[],
        createdAtMs: r.created_at_ms,
      })),
    );
  }

  async reservePeer(args: ReservePeerArgs): Promise<"ok" | "missing-units" | "duplicate-key"> {
    const slaves = checkReservePeerArgs(args);
    const audit = args.audit;
    return this.write(() => {
      if (this.keyState(args.keyId) !== undefined) return "duplicate-key";
      if (new Set(args.unitIds).size !== args.unitIds.length) return "missing-units";
      const get = this.sql(
        `SELECT seq, unit_id, pool, bits, material FROM units
         WHERE unit_id = ? AND pool = ? AND direction = 'peer' AND key_id IS NULL`,
      );
      const rows: UnitRow[] = [];
      for (const id of args.unitIds) {
        const r = get.get(id, args.pool) as UnitRow | undefined;
        if (r === undefined) return "missing-units";
        rows.push(r);
      }
      const material = cutToBits(concatBytes(rows.map((r) => this.openUnit(r))), args.sizeBits);
      this.insertReserved(
        args.keyId,
        args.pool,
        args.sizeBits,
        args.masterSae,
        slaves,
        "peer",
        args.nowMs,
        material,
      );
      const del = this.sql("DELETE FROM units WHERE seq = ?");
      for (const r of rows) del.run(r.seq);
      if (audit) this.insertAudit(audit);
      return "ok";
    });
  }

  async voidUnlessReserved(pool: string, keyId: string, nowMs: number): Promise<boolean> {
    checkId("pool", pool);
    checkId("keyId", keyId);
    return this.write(() => {
      const row = this.sql("SELECT state, pool FROM keys WHERE key_id = ?").get(keyId) as
        | Pick<KeyRow, "state" | "pool">
        | undefined;
      if (row !== undefined) return (row.state === "reserved" || row.state === "taken") && row.pool === pool;
      // A voided key ID is kept as a confirmed key of no units: known, never reused, nothing to take.
      this.sql(
        `INSERT INTO keys (key_id, state, pool, size_bits, master_sae, slave_saes, origin, created_at_ms)
         VALUES (?, 'confirmed', ?, 0, '', '[]', 'void', ?)`,
      ).run(keyId, pool, nowMs);
      return false;
    });
  }

  async reserveMaterial(args: ReserveMaterialArgs): Promise<"ok" | "duplicate-key"> {
    const { slaves, material } = checkReserveMaterialArgs(args);
    return this.write(() => {
      if (this.keyState(args.keyId) !== undefined) return "duplicate-key";
      this.insertReserved(
        args.keyId,
        null,
        args.sizeBits,
        args.masterSae,
        slaves,
        args.origin,
        args.nowMs,
        material,
      );
      return "ok";
    });
  }

  private insertReserved(
    keyId: string,
    pool: string | null,
    sizeBits: number,
    masterSae: string,
    slaves: string[],
    origin: string,
    nowMs: number,
    material: Uint8Array,
  ): void {
    this.sql(
      `INSERT INTO keys (key_id, state, pool, size_bits, master_sae, slave_saes, origin, created_at_ms, material)
         VALUES (?, 'reserved', ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      keyId,
      pool,
      sizeBits,
      masterSae,
      JSON.stringify(slaves),
      origin,
      nowMs,
      this.cipher.encrypt(material, keyAad(keyId)),
    );
    const slave = this.sql("INSERT INTO key_slaves (key_id, sae) VALUES (?, ?)");
    for (const s of slaves) slave.run(keyId, s);
  }

  async takeReserved(
    keyIds: readonly string[],
    sae: string,
    nowMs: number,
    audit?: TakeAudit,
  ): Promise<TakeResult> {
    checkId("SAE", sae);
    return this.write((): TakeResult => {
      const keyRow = this.sql("SELECT * FROM keys WHERE key_id = ? AND state IN ('reserved', 'taken')");
      const slaveRows = this.sql("SELECT sae, taken_at_ms FROM key_slaves WHERE key_id = ?");
      const found = new Map<string, { row: KeyRow; slaves: string[]; taken: Set<string> }>();
      for (const id of new Set(keyIds)) {
        const row = keyRow.get(id) as KeyRow | undefined;
        if (row === undefined) continue;
        const s = slaveRows.all(id) as { sae: string; taken_at_ms: number | null }[];
        found.set(id, {
          row,
          slaves: s.map((x) => x.sae),
          taken: new Set(s.filter((x) => x.taken_at_ms !== null).map((x) => x.sae)),
        });
      }
      const decision = decideTake(keyIds, sae, (id) => found.get(id));
      if (decision.status !== "ok") return decision;
      // Open everything before writing anything: a decryption failure must take nothing.
      const keys: DeliveredKey[] = keyIds.map((id) => {
        const { row } = found.get(id)!;
        const material = openSealed(this.cipher, row.material!, keyAad(id), `key '${id}'`);
        return { keyId: id, sizeBits: row.size_bits, material };
      });
      const mark = this.sql("UPDATE key_slaves SET taken_at_ms = ? WHERE key_id = ? AND sae = ?");
      const finish = this.sql("UPDATE keys SET state = 'taken', material = NULL WHERE key_id = ?");
      for (const id of keyIds) {
        const k = found.get(id)!;
        mark.run(nowMs, id, sae);
        if (k.taken.size + 1 === k.slaves.length) finish.run(id);
      }
      if (audit) this.insertAudit(takeAuditEvent(audit, keyIds, nowMs, (id) => found.get(id)!.row.size_bits));
      return { status: "ok", keys };
    });
  }

  async reservedCount(sae?: string): Promise<number> {
    return this.read(() =>
      sae === undefined
        ? (this.sql("SELECT count(*) FROM keys WHERE state = 'reserved'").pluck().get() as number)
        : (this.sql(
            `SELECT count(*) FROM key_slaves s JOIN keys k ON k.key_id = s.key_id
               WHERE s.sae = ? AND s.taken_at_ms IS NULL AND k.state = 'reserved'`,
          )
            .pluck()
            .get(sae) as number),
    );
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    checkAudit(event);
    await this.write(() => this.insertAudit(event));
  }

  /** Inserts an audit event in the current transaction. */
  private insertAudit(event: AuditEvent): void {
    checkAudit(event);
    const seq = this.sql(
      `INSERT INTO audit (at_ms, kind, actor, pool, key_ids, bits, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      event.atMs,
      event.kind,
      event.actor,
      event.pool ?? null,
      event.keyIds === undefined ? null : JSON.stringify(event.keyIds),
      event.bits ?? null,
      event.detail ?? null,
    ).lastInsertRowid;
    const link = this.sql("INSERT OR IGNORE INTO audit_keys (key_id, seq) VALUES (?, ?)");
    for (const k of event.keyIds ?? []) link.run(k, seq);
  }

  async queryAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    const limit = auditLimit(query);
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      where.push(sql);
      params.push(value);
    };
    if (query.actor !== undefined) add("actor = ?", query.actor);
    if (query.kind !== undefined) add("kind = ?", query.kind);
    if (query.pool !== undefined) add("pool = ?", query.pool);
    if (query.keyId !== undefined) add("seq IN (SELECT seq FROM audit_keys WHERE key_id = ?)", query.keyId);
    if (query.sinceMs !== undefined) add("at_ms >= ?", query.sinceMs);
    if (query.untilMs !== undefined) add("at_ms < ?", query.untilMs);
    return this.read(() =>
      (
        this.sql(
          `SELECT * FROM audit ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`,
        ).all(...params, limit) as AuditRow[]
      ).map((r) =>
        normalizeAudit(
          {
            atMs: r.at_ms,
            kind: r.kind,
            actor: r.actor,
            pool: r.pool ?? undefined,
            keyIds: r.key_ids === null ? undefined : (JSON.parse(r.key_ids) as string[]),
            bits: r.bits ?? undefined,
            detail: r.detail ?? undefined,
          },
          r.seq,
        ),
      ),
    );
  }

  /** Commits the writes already queued, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    this.db.close();
  }
}
