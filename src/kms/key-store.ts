/**
 * The key store behind one KME (key management entity, one per site): the one small interface that
 * every storage backend implements (in memory, SQLite, PostgreSQL) and that one conformance suite
 * checks (test/store/key-store-conformance.ts).
 *
 * The model:
 * - A **pool** is the key a QKD link shares between two neighbouring KMEs, named by the link's
 *   canonical ID. Both ends hold the same key, cut into **units** (e.g. 64 bits each) with the same
 *   unit IDs at both ends, in the same order.
 * - Each pool is split into two **directions** so that both ends can hand out keys at once without
 *   conflict: units in direction `local` are allocated by this KME (for its master SAEs); units in
 *   direction `peer` are allocated by the KME at the other end, which names them when it asks this KME
 *   to reserve them. The supplier gives each unit to `local` at one end and `peer` at the other.
 * - An **issued key** is what an SAE sees: a key ID (UUID) made of one or more units of one pool. At the
 *   master's KME the key is handed to the master at once and its material deleted there; at the slave's
 *   KME it is reserved for the named slave SAE(s) and deleted when the last of them takes it.
 *
 * Every method is atomic and durable when its promise resolves: a crash at any moment leaves each
 * unit either available or part of exactly one issued key, and never lets two callers take the same
 * key. A backend may commit the writes of calls in flight at the same time together (group commit);
 * each call still succeeds or fails on its own, and none resolves before its commit is durable. Key material never appears in errors or logs. Backends store material encrypted at rest (the
 * `KeyCipher` passed to them); this interface deals in plaintext.
 */

/** Who allocates a unit: this KME (`local`) or the KME at the pool's other end (`peer`). */
export type Direction = "local" | "peer";

/** A unit of key as supplied by a QKD link. */
export interface KeyUnit {
  /** Unique within the store; the same at both ends of the pool. */
  unitId: string;
  /** The key bits, as bytes. */
  material: Uint8Array;
}

/** Available units of a pool, per direction, and their total bits. */
export interface PoolLevel {
  pool: string;
  local: { units: number; bits: number };
  peer: { units: number; bits: number };
}

/** Arguments of {@link KeyStore.issueLocal}. */
export interface IssueLocalArgs {
  pool: string;
  /** The new key's ID (a UUID chosen by the caller). */
  keyId: string;
  /** Units to take: the oldest available in direction `local`. */
  units: number;
  /** The key's size in bits (≤ the units' total; the material returned is cut to it). */
  sizeBits: number;
  masterSae: string;
  /** The slave SAE and any additional slaves. */
  slaveSaes: readonly string[];
  /** Wall-clock time, ms since the epoch (passed in: the store never reads a clock). */
  nowMs: number;
}

/** A key issued by this KME to a master, while its reservation at the peer KME is being made. */
export interface IssuedKey {
  keyId: string;
  pool: string;
  unitIds: string[];
  sizeBits: number;
  masterSae: string;
  slaveSaes: string[];
  createdAtMs: number;
}

/** Arguments of {@link KeyStore.reservePeer}: the peer KME names the units it allocated. */
export interface ReservePeerArgs {
  pool: string;
  keyId: string;
  unitIds: readonly string[];
  sizeBits: number;
  masterSae: string;
  /** Slaves served by this KME, each of which may take the key once. */
  slaveSaes: readonly string[];
  nowMs: number;
  /**
   * Appended to the audit log in the reservation's own transaction when the answer is `ok` (nothing
   * is appended otherwise): a reservation is never committed without its record.
   */
  audit?: AuditEvent;
}

/** Arguments of {@link KeyStore.reserveMaterial}: a key relayed hop by hop arrives as material. */
export interface ReserveMaterialArgs {
  keyId: string;
  material: Uint8Array;
  sizeBits: number;
  masterSae: string;
  slaveSaes: readonly string[];
  /** Where it came from, for the audit trail (e.g. "relay:siteA>siteB>siteC"). */
  origin: string;
  nowMs: number;
}

/** A key as handed to an SAE. */
export interface DeliveredKey {
  keyId: string;
  sizeBits: number;
  material: Uint8Array;
}

/** The outcome of {@link KeyStore.takeReserved}; nothing is taken unless it is `ok`. */
export type TakeResult =
  | { status: "ok"; keys: DeliveredKey[] }
  /** At least one key ID is unknown here, or was already taken by this SAE. */
  | { status: "not-found"; keyIds: string[] }
  /** At least one key exists but `sae` is not among its slaves. */
  | { status: "unauthorized"; keyIds: string[] };

/** The audit record of a take, completed by the store with the key IDs and bits. */
export type TakeAudit = Pick<AuditEvent, "kind" | "actor" | "detail">;

/** One entry of the append-only audit log. */
export interface AuditEvent {
  /** Assigned by the store, increasing. */
  seq?: number;
  atMs: number;
  /** What happened. */
  kind:
    | "supplied"
    | "issued"
    | "reserved"
    | "delivered"
    | "refused"
    | "released"
    | "relayed"
    | "pqc-fallback"
    | "quota-exceeded";
  /** The SAE or KME that asked. */
  actor: string;
  pool?: string;
  keyIds?: string[];
  /** Bits involved. */
  bits?: number;
  /** Free-form, never key material. */
  detail?: string;
}

/** Filters of {@link KeyStore.queryAudit}; all optional, combined with AND. */
export interface AuditQuery {
  actor?: string;
  kind?: AuditEvent["kind"];
  keyId?: string;
  pool?: string;
  sinceMs?: number;
  untilMs?: number;
  /** Newest first, at most this many. Default 1000. */
  limit?: number;
}

/** Storage of one KME. See the module documentation for the model and the guarantees. */
export interface KeyStore {
  /** Appends units to a pool's direction (FIFO). Rejects a unit ID already present. */
  addUnits(pool: string, direction: Direction, units: readonly KeyUnit[], nowMs: number): Promise<void>;

  /** Available units and bits of every pool (or of one). */
  poolLevels(pool?: string): Promise<PoolLevel[]>;

  /**
   * Takes the `units` oldest available units of the pool's `local` direction and records the key as
   * pending (not yet confirmed to the master). Returns the key and its material, or null if the pool
   * has too few units (nothing is taken).
   */
  issueLocal(args: IssueLocalArgs): Promise<{ key: IssuedKey; material: Uint8Array } | null>;

  /**
   * Confirms pending keys once the peer KME holds their reservations: their material is deleted here.
   * All or nothing over `keyIds` (one ID or several). A key already confirmed is left as it is (a
   * retry). When `audit` is given it is appended in the same transaction: the keys are never
   * confirmed without their record (e.g. the master's `issued` event), nor the record written without
   * the confirmation.
   */
  confirmIssued(keyIds: string | readonly string[], nowMs: number, audit?: AuditEvent): Promise<void>;

  /**
   * Cancels a pending key (the peer refused or failed): its units become available again, in order.
   * When `audit` is given it is appended in the same transaction (also when the call is a retry that
   * finds the key already released).
   */
  releaseIssued(keyId: string, nowMs: number, audit?: AuditEvent): Promise<void>;

  /** Keys still pending, e.g. after a crash, to be confirmed or released on restart. */
  pendingIssued(): Promise<IssuedKey[]>;

  /**
   * At the slave's KME: takes the named units from the pool's `peer` direction and reserves the key
   * made of them for the slaves. `missing-units` if any unit is not available (nothing is taken);
   * `duplicate-key` if the key ID exists.
   */
  reservePeer(args: ReservePeerArgs): Promise<"ok" | "missing-units" | "duplicate-key">;

  /**
   * At the slave's KME, for the master's KME that does not know whether its reservation of `keyId`
   * arrived (a timeout, a crash): true if a key of that ID was reserved here from `pool`
   * ({@link reservePeer}), whether or not its slaves have taken it since. Otherwise false, and the key
   * ID is **voided** here in the same transaction: a reservation of it that arrives later answers
   * `duplicate-key` and takes nothing, so the master may safely put the key's units back in its pool.
   * A voided key ID is known like a confirmed one: never reused, nothing to confirm or take. A key ID
   * already known here for anything else is left as it is (false).
   */
  voidUnlessReserved(pool: string, keyId: string, nowMs: number): Promise<boolean>;

  /** Reserves a key that arrived as material (trusted-node relay) for the slaves. */
  reserveMaterial(args: ReserveMaterialArgs): Promise<"ok" | "duplicate-key">;

  /**
   * A slave takes reserved keys: all or nothing. Each slave may take a key once; the key's material is
   * deleted when its last slave has taken it. When `audit` is given and the take succeeds, an audit
   * event with its fields, the key IDs and their total bits, at `nowMs`, is appended in the same
   * transaction: a delivery is never committed without its record.
   */
  takeReserved(keyIds: readonly string[], sae: string, nowMs: number, audit?: TakeAudit): Promise<TakeResult>;

  /** Keys reserved here that `sae` may still take. */
  reservedCount(sae?: string): Promise<number>;

  appendAudit(event: AuditEvent): Promise<void>;
  queryAudit(query?: AuditQuery): Promise<AuditEvent[]>;

  close(): Promise<void>;
}

/**
 * Encryption of key material at rest (AES-256-GCM in the adapters). `aad` binds a ciphertext to its
 * row (e.g. the unit ID), so material cannot be moved between rows unnoticed.
 */
export interface KeyCipher {
  encrypt(plain: Uint8Array, aad: string): Uint8Array;
  /** @throws if the ciphertext was altered or belongs to another row. */
  decrypt(sealed: Uint8Array, aad: string): Uint8Array;
}
