/**
 * The reference {@link KeyStore}: everything in memory, plaintext, lost when the process ends. It
 * defines the behaviour the durable backends (src/store) must match, checked by the one conformance
 * suite in test/store/key-store-conformance.ts; use it in simulations and tests, never for keys that
 * must survive a restart.
 *
 * Also exports the validation and cutting rules that every backend shares, so that they reject the same
 * arguments with the same messages.
 *
 * Core layer: no clock, no randomness, no Node modules (times are passed in as `nowMs`).
 */

import { concatBytes } from "../qkd/bits.js";
import type {
  AuditEvent,
  AuditQuery,
  DeliveredKey,
  Direction,
  IssuedKey,
  IssueLocalArgs,
  KeyStore,
  KeyUnit,
  PoolLevel,
  ReserveMaterialArgs,
  ReservePeerArgs,
  TakeAudit,
  TakeResult,
} from "./key-store.js";

/** Default of {@link AuditQuery.limit}. */
export const DEFAULT_AUDIT_LIMIT = 1000;

/** The audit event kinds, for backends that validate them. */
export const AUDIT_KINDS: readonly AuditEvent["kind"][] = [
  "supplied",
  "issued",
  "reserved",
  "delivered",
  "refused",
  "released",
  "relayed",
  "pqc-fallback",
  "quota-exceeded",
];

/**
 * The first `sizeBits` bits of `material` (most significant bit of each byte first, as `bitsToBytes`
 * packs them): `ceil(sizeBits / 8)` bytes, the unused low bits of the last byte cleared so that no bit
 * beyond the key's size leaves the store. Always a fresh copy.
 * @throws RangeError if `material` holds fewer than `sizeBits` bits.
 */
export function cutToBits(material: Uint8Array, sizeBits: number): Uint8Array {
  if (sizeBits > material.length * 8)
    throw new RangeError(`sizeBits ${sizeBits} exceeds the ${material.length * 8} bits of key material`);
  const out = copyBytes(material.subarray(0, Math.ceil(sizeBits / 8)));
  const rest = sizeBits % 8;
  if (rest !== 0) out[out.length - 1] &= (0xff << (8 - rest)) & 0xff;
  return out;
}

/**
 * A fresh copy of `bytes` as a plain Uint8Array. (`slice` will not do: on a node Buffer it returns a
 * view, so the store and the caller would share memory.)
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes);
}

/** @throws RangeError unless `value` is a positive safe integer. */
export function checkPositiveInt(name: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 1))
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

/** @throws RangeError unless `id` is a non-empty string. */
export function checkId(name: string, id: string): void {
  if (typeof id !== "string" || id.length === 0) throw new RangeError(`${name} must be a non-empty string`);
}

/** @throws RangeError unless `direction` is `local` or `peer`. */
export function checkDirection(direction: Direction): void {
  if (direction !== "local" && direction !== "peer")
    throw new RangeError(`direction must be "local" or "peer", got ${JSON.stringify(direction)}`);
}

/**
 * Validates units for {@link KeyStore.addUnits}: non-empty IDs, non-empty material, no ID twice in the
 * batch. (IDs already in the store are each backend's check.)
 */
export function checkUnits(units: readonly KeyUnit[]): void {
  const seen = new Set<string>();
  for (const u of units) {
    checkId("unitId", u.unitId);
    if (!(u.material instanceof Uint8Array) || u.material.length === 0)
      throw new RangeError(`unit '${u.unitId}' has no key material`);
    if (seen.has(u.unitId)) throw new RangeError(`unit ID '${u.unitId}' appears twice in one addUnits call`);
    seen.add(u.unitId);
  }
}

/**
 * The slaves of a key, each once, in the order first given.
 * @throws RangeError if there are none: a reservation no SAE may take would hold key forever.
 */
export function uniqueSlaves(slaveSaes: readonly string[]): string[] {
  const out = [...new Set(slaveSaes)];
  if (out.length === 0) throw new RangeError("a key needs at least one slave SAE");
  for (const s of out) checkId("slave SAE", s);
  return out;
}

/** The error of {@link KeyStore.addUnits} for a unit ID already held (available or part of a key). */
export function duplicateUnitError(unitId: string): Error {
  return new Error(`unit '${unitId}' is already in the key store`);
}

/** The error of every method called after {@link KeyStore.close}. */
export function closedError(): Error {
  return new Error("the key store is closed");
}

/** The full audit event of a take: the caller's fields, the key IDs, their total bits, the time. */
export function takeAuditEvent(
  audit: TakeAudit,
  keyIds: readonly string[],
  nowMs: number,
  sizeBits: (keyId: string) => number,
): AuditEvent {
  return {
    ...audit,
    atMs: nowMs,
    keyIds: [...keyIds],
    bits: keyIds.reduce((s, id) => s + sizeBits(id), 0),
  };
}

/** A copy of an audit event with only the fields that are set, and the given sequence number. */
export function normalizeAudit(event: AuditEvent, seq: number): AuditEvent {
  const out: AuditEvent = { seq, atMs: event.atMs, kind: event.kind, actor: event.actor };
  if (event.pool !== undefined) out.pool = event.pool;
  if (event.keyIds !== undefined) out.keyIds = [...event.keyIds];
  if (event.bits !== undefined) out.bits = event.bits;
  if (event.detail !== undefined) out.detail = event.detail;
  return out;
}

/** Validates an event for {@link KeyStore.appendAudit}. */
export function checkAudit(event: AuditEvent): void {
  if (!AUDIT_KINDS.includes(event.kind))
    throw new RangeError(`unknown audit event kind ${JSON.stringify(event.kind)}`);
  if (!Number.isFinite(event.atMs)) throw new RangeError(`audit event atMs must be a finite number`);
  checkId("audit actor", event.actor);
  if (event.bits !== undefined && !(Number.isSafeInteger(event.bits) && event.bits >= 0))
    throw new RangeError(`audit event bits must be a non-negative integer, got ${event.bits}`);
}

/** The effective limit of an audit query (default {@link DEFAULT_AUDIT_LIMIT}). */
export function auditLimit(query: AuditQuery): number {
  const limit = query.limit ?? DEFAULT_AUDIT_LIMIT;
  if (!(Number.isSafeInteger(limit) && limit >= 0))
    throw new RangeError(`audit query limit must be a non-negative integer, got ${limit}`);
  return limit;
}

/**
 * Whether an event passes an audit query's filters: all that are set must hold. The time window is
 * half-open, `sinceMs <= atMs < untilMs`, so consecutive windows never count an event twice.
 */
export function auditMatches(event: AuditEvent, query: AuditQuery): boolean {
  if (query.actor !== undefined && event.actor !== query.actor) return false;
  if (query.kind !== undefined && event.kind !== query.kind) return false;
  if (query.pool !== undefined && event.pool !== query.pool) return false;
  if (query.keyId !== undefined && !(event.keyIds ?? []).includes(query.keyId)) return false;
  if (query.sinceMs !== undefined && event.atMs < query.sinceMs) return false;
  if (query.untilMs !== undefined && event.atMs >= query.untilMs) return false;
  return true;
}

/**
 * Decides {@link KeyStore.takeReserved} from what the store knows, so that every backend answers alike.
 * `lookup(keyId)` gives the key's slaves and who has taken it, or undefined if no reserved key has that
 * ID here. Unauthorized wins over not-found: a caller naming a key that is not its own is the more
 * serious fault and is the one to report. A key ID named twice in one call counts as already taken.
 */
export function decideTake(
  keyIds: readonly string[],
  sae: string,
  lookup: (keyId: string) => { slaves: readonly string[]; taken: ReadonlySet<string> } | undefined,
): { status: "ok" } | { status: "not-found" | "unauthorized"; keyIds: string[] } {
  const notFound: string[] = [];
  const unauthorized: string[] = [];
  const named = new Set<string>();
  for (const id of keyIds) {
    const k = lookup(id);
    if (k === undefined || named.has(id)) notFound.push(id);
    else if (!k.slaves.includes(sae)) unauthorized.push(id);
    else if (k.taken.has(sae)) notFound.push(id);
    named.add(id);
  }
  if (unauthorized.length > 0) return { status: "unauthorized", keyIds: unauthorized };
  if (notFound.length > 0) return { status: "not-found", keyIds: notFound };
  return { status: "ok" };
}

interface Unit {
  /** Order of arrival in the store: FIFO order, and where a released unit goes back. */
  seq: number;
  unitId: string;
  material: Uint8Array;
}

interface Pool {
  /** Available units this KME allocates, sorted by `seq`. */
  local: Unit[];
  /** Available units the peer allocates, by unit ID (insertion order is `seq` order): the peer names them. */
  peer: Map<string, Unit>;
}

interface PendingKey {
  key: IssuedKey;
  units: Unit[];
}

interface ReservedKey {
  /** The pool its units came from; null for a key that arrived as material. */
  pool: string | null;
  sizeBits: number;
  /** Null once the last slave has taken it. */
  material: Uint8Array | null;
  slaves: string[];
  taken: Set<string>;
}

/** Checks the arguments of `KeyStore.issueLocal`; returns the slaves, each once. */
export function checkIssueLocalArgs(args: IssueLocalArgs): string[] {
  checkId("pool", args.pool);
  checkId("keyId", args.keyId);
  checkPositiveInt("units", args.units);
  checkPositiveInt("sizeBits", args.sizeBits);
  checkId("master SAE", args.masterSae);
  return uniqueSlaves(args.slaveSaes);
}

/** Checks the arguments of `KeyStore.reservePeer` (its audit event too); returns the slaves, each once. */
export function checkReservePeerArgs(args: ReservePeerArgs): string[] {
  checkId("pool", args.pool);
  checkId("keyId", args.keyId);
  checkPositiveInt("sizeBits", args.sizeBits);
  checkId("master SAE", args.masterSae);
  const slaves = uniqueSlaves(args.slaveSaes);
  if (args.unitIds.length === 0) throw new RangeError("reservePeer needs at least one unit");
  if (args.audit) checkAudit(args.audit);
  return slaves;
}

/** Checks the arguments of `KeyStore.reserveMaterial`; returns the slaves and the material cut to size. */
export function checkReserveMaterialArgs(args: ReserveMaterialArgs): {
  slaves: string[];
  material: Uint8Array;
} {
  checkId("keyId", args.keyId);
  checkPositiveInt("sizeBits", args.sizeBits);
  checkId("master SAE", args.masterSae);
  const slaves = uniqueSlaves(args.slaveSaes);
  return { slaves, material: cutToBits(args.material, args.sizeBits) };
}

/** The in-memory {@link KeyStore}. Each method runs to completion without yielding, so it is atomic. */
export class MemoryKeyStore implements KeyStore {
  private readonly pools = new Map<string, Pool>();
  /** Every unit ID held: available, or part of a pending key. */
  private readonly unitIds = new Set<string>();
  private readonly pending = new Map<string, PendingKey>();
  private readonly reserved = new Map<string, ReservedKey>();
  /**
   * Every key ID ever used here (pending, confirmed, reserved, taken), except released ones: a key ID
   * is never reused, so a replayed reservation cannot hand out the same key twice.
   */
  private readonly keyIds = new Set<string>();
  private readonly audit: AuditEvent[] = [];
  private nextSeq = 1;
  private closed = false;

  private open(): void {
    if (this.closed) throw closedError();
  }

  async addUnits(
    pool: string,
    direction: Direction,
    units: readonly KeyUnit[],
    _nowMs: number,
  ): Promise<void> {
    this.open();
    checkId("pool", pool);
    checkDirection(direction);
    checkUnits(units);
    for (const u of units) if (this.unitIds.has(u.unitId)) throw duplicateUnitError(u.unitId);
    const p = this.pool(pool);
    for (const u of units) {
      this.unitIds.add(u.unitId);
      const unit = { seq: this.nextSeq++, unitId: u.unitId, material: copyBytes(u.material) };
      if (direction === "local") p.local.push(unit);
      else p.peer.set(unit.unitId, unit);
    }
  }

  private pool(name: string): Pool {
    let p = this.pools.get(name);
    if (p === undefined) {
      p = { local: [], peer: new Map() };
      this.pools.set(name, p);
    }
    return p;
  }

  async poolLevels(pool?: string): Promise<PoolLevel[]> {
    this.open();
    const names = [...this.pools.keys()].filter((n) => pool === undefined || n === pool).sort();
    const level = (units: Iterable<Unit>) => {
      let count = 0;
      let bits = 0;
      for (const u of units) {
        count++;
        bits += u.material.length * 8;
      }
      return { units: count, bits };
    };
    return names.map((n) => {
      const p = this.pools.get(n)!;
      return { pool: n, local: level(p.local), peer: level(p.peer.values()) };
    });
  }

  async issueLocal(args: IssueLocalArgs): Promise<{ key: IssuedKey; material: Uint8Array } | null> {
    this.open();
    const slaves = checkIssueLocalArgs(args);
    if (this.keyIds.has(args.keyId)) throw new Error(`key '${args.keyId}' already exists`);
    const p = this.pools.get(args.pool);
    if (p === undefined || p.local.length < args.units) return null;
    const units = p.local.slice(0, args.units);
    // Cut (and so check sizeBits) before taking anything: a throw must leave the pool as it was.
    const material = cutToBits(concatBytes(units.map((u) => u.material)), args.sizeBits);
    p.local.splice(0, args.units);
    const key: IssuedKey = {
      keyId: args.keyId,
      pool: args.pool,
      unitIds: units.map((u) => u.unitId),
      sizeBits: args.sizeBits,
      masterSae: args.masterSae,
      slaveSaes: slaves,
      createdAtMs: args.nowMs,
    };
    this.pending.set(args.keyId, { key, units });
    this.keyIds.add(args.keyId);
    return { key: copyIssued(key), material };
  }

  async confirmIssued(keyIds: string | readonly string[], _nowMs: number, audit?: AuditEvent): Promise<void> {
    this.open();
    if (audit) checkAudit(audit);
    const ids = typeof keyIds === "string" ? [keyIds] : [...keyIds];
    // Check every key before changing any: the call is all or nothing.
    for (const keyId of ids) {
      if (this.pending.has(keyId)) continue;
      // Confirming twice (a retry after a crash) is harmless; confirming what was never issued is a bug.
      if (this.keyIds.has(keyId) && !this.reserved.has(keyId)) continue;
      throw new Error(`no pending key '${keyId}' to confirm`);
    }
    for (const keyId of ids) {
      const k = this.pending.get(keyId);
      if (k === undefined) continue;
      this.pending.delete(keyId);
      for (const u of k.units) {
        u.material.fill(0);
        this.unitIds.delete(u.unitId);
      }
    }
    if (audit) this.appendNow(audit);
  }

  async releaseIssued(keyId: string, _nowMs: number, audit?: AuditEvent): Promise<void> {
    this.open();
    if (audit) checkAudit(audit);
    const k = this.pending.get(keyId);
    if (k === undefined) {
      if (this.keyIds.has(keyId)) throw new Error(`key '${keyId}' is not pending and cannot be released`);
      // Already released: a retry.
    } else {
      this.pending.delete(keyId);
      this.keyIds.delete(keyId);
      const p = this.pool(k.key.pool);
      p.local = [...p.local, ...k.units].sort((a, b) => a.seq - b.seq);
    }
    if (audit) this.appendNow(audit);
  }

  async pendingIssued(): Promise<IssuedKey[]> {
    this.open();
    return [...this.pending.values()].map((k) => copyIssued(k.key));
  }

  async reservePeer(args: ReservePeerArgs): Promise<"ok" | "missing-units" | "duplicate-key"> {
    this.open();
    const slaves = checkReservePeerArgs(args);
    if (this.keyIds.has(args.keyId)) return "duplicate-key";
    const p = this.pools.get(args.pool);
    if (p === undefined) return "missing-units";
    const units: Unit[] = [];
    const named = new Set<string>();
    for (const id of args.unitIds) {
      const u = p.peer.get(id);
      if (u === undefined || named.has(id)) return "missing-units"; // a unit named twice: its second use is missing
      named.add(id);
      units.push(u);
    }
    const material = cutToBits(concatBytes(units.map((u) => u.material)), args.sizeBits);
    for (const id of named) p.peer.delete(id);
    for (const u of units) {
      u.material.fill(0);
      this.unitIds.delete(u.unitId);
    }
    this.keyIds.add(args.keyId);
    this.reserved.set(args.keyId, {
      pool: args.pool,
      sizeBits: args.sizeBits,
      material,
      slaves,
      taken: new Set(),
    });
    if (args.audit) this.appendNow(args.audit);
    return "ok";
  }

  async voidUnlessReserved(pool: string, keyId: string, _nowMs: number): Promise<boolean> {
    this.open();
    checkId("pool", pool);
    checkId("keyId", keyId);
    const r = this.reserved.get(keyId);
    if (r !== undefined) return r.pool === pool;
    // Unknown: remember the ID, so that a late reservation of it is a duplicate. Known: leave it.
    this.keyIds.add(keyId);
    return false;
  }

  async reserveMaterial(args: ReserveMaterialArgs): Promise<"ok" | "duplicate-key"> {
    this.open();
    const { slaves, material } = checkReserveMaterialArgs(args);
    if (this.keyIds.has(args.keyId)) return "duplicate-key";
    this.keyIds.add(args.keyId);
    this.reserved.set(args.keyId, {
      pool: null,
      sizeBits: args.sizeBits,
      material,
      slaves,
      taken: new Set(),
    });
    return "ok";
  }

  async takeReserved(
    keyIds: readonly string[],
    sae: string,
    nowMs: number,
    audit?: TakeAudit,
  ): Promise<TakeResult> {
    this.open();
    checkId("SAE", sae);
    const decision = decideTake(keyIds, sae, (id) => this.reserved.get(id));
    if (decision.status !== "ok") return decision;
    const event = audit && takeAuditEvent(audit, keyIds, nowMs, (id) => this.reserved.get(id)!.sizeBits);
    if (event) checkAudit(event);
    const keys: DeliveredKey[] = [];
    for (const id of keyIds) {
      const k = this.reserved.get(id)!;
      keys.push({ keyId: id, sizeBits: k.sizeBits, material: copyBytes(k.material!) });
      k.taken.add(sae);
      if (k.taken.size === k.slaves.length) {
        k.material!.fill(0);
        k.material = null;
      }
    }
    if (event) this.appendNow(event);
    return { status: "ok", keys };
  }

  async reservedCount(sae?: string): Promise<number> {
    this.open();
    let n = 0;
    for (const k of this.reserved.values()) {
      if (k.material === null) continue;
      if (sae === undefined || (k.slaves.includes(sae) && !k.taken.has(sae))) n++;
    }
    return n;
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    this.open();
    checkAudit(event);
    this.appendNow(event);
  }

  /** Appends a checked event, as part of the call in progress. */
  private appendNow(event: AuditEvent): void {
    this.audit.push(normalizeAudit(event, this.audit.length + 1));
  }

  async queryAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    this.open();
    const limit = auditLimit(query);
    const out: AuditEvent[] = [];
    for (let i = this.audit.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.audit[i];
      if (auditMatches(e, query)) out.push(normalizeAudit(e, e.seq!));
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Best effort: overwrite what this store held (the JS heap may still keep copies).
    for (const p of this.pools.values()) for (const u of [...p.local, ...p.peer.values()]) u.material.fill(0);
    for (const k of this.pending.values()) for (const u of k.units) u.material.fill(0);
    for (const k of this.reserved.values()) k.material?.fill(0);
  }
}

function copyIssued(k: IssuedKey): IssuedKey {
  return { ...k, unitIds: [...k.unitIds], slaveSaes: [...k.slaveSaes] };
}
