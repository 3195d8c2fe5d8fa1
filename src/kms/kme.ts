/**
 * A KME (key management entity, one per site) as ETSI GS QKD 014 defines it: it serves its local SAEs
 * (applications) keys shared with SAEs at other sites, drawn from the pools of the QKD links it has.
 *
 * How a key is issued (Get key, called by the master SAE):
 * 1. the caller must be an SAE registered at this KME, the slave an SAE registered at a KME this one
 *    shares a pool with (a QKD link); anyone else is refused with 401;
 * 2. the request is validated ({@link validateKeyRequest}) and the caller's quota is charged;
 * 3. each key takes ⌈size / unitBits⌉ units of the pool's `local` direction (`KeyStore.issueLocal`),
 *    pending until the slave's KME has reserved the same units for the slave(s) (`PeerKmes.reserve`);
 * 4. once every key is reserved there, the keys are confirmed (material deleted here) and returned.
 *    All keys of a request or none: any failure releases or discards every key of the request.
 *
 * The slave then calls Get key with key IDs at its own KME, which hands it the reserved keys
 * ({@link Kme.getKeyWithIds}) and deletes them. {@link Kme.reserveForPeer} is the slave-side half of
 * step 3, called by the master's KME over the KME-to-KME channel.
 *
 * The core layer: no Node modules, no wall clock, no host randomness. Time comes from the injected
 * `clock`, key IDs from the injected `random`. Key material never appears in errors, logs or the
 * audit trail.
 *
 * @module
 */

import type { ObservationSink } from "../telemetry/observations.js";
import {
  badRequest,
  type ErrorBody,
  type Etsi014Response,
  encodeBase64,
  type Key,
  type KeyContainer,
  keysNotFound,
  type RequestLimits,
  type Status,
  serviceUnavailable,
  uuidV4,
  type ValidKeyRequest,
  validateKeyIds,
  validateKeyRequest,
} from "./etsi014.js";
import type { AuditEvent, IssuedKey, KeyStore } from "./key-store.js";

/**
 * What an SAE accepts when QKD key runs short. `qkd-only`: never anything but QKD key.
 * `hybrid` and `pqc-allowed`: the post-quantum fallback may supply keys (how `hybrid` keys combine
 * both secrets is the fallback module's business: it receives the policies).
 */
export type SaePolicy = "qkd-only" | "hybrid" | "pqc-allowed";

/** Usage limits of one SAE as master, enforced as token buckets on the KME's clock. */
export interface SaeQuota {
  /** Keys per minute (bucket of this many keys, refilled continuously). Unset: no limit. */
  keysPerMinute?: number;
  /** Key bits per day (bucket of this many bits, refilled continuously). Unset: no limit. */
  bitsPerDay?: number;
}

/** An SAE of the network and the site (KME) that serves it. */
export interface SaeRegistration {
  saeId: string;
  /** The KME (site) the SAE connects to. */
  kmeId: string;
  policy: SaePolicy;
  quota?: SaeQuota;
}

/** A pool (QKD link) this KME shares with a neighbouring KME. At most one per neighbour. */
export interface KmePool {
  /** The pool's name in the key store (the link's canonical ID). */
  pool: string;
  /** The KME at the link's other end. */
  peerKmeId: string;
  /** Bits per unit in this pool (a positive multiple of 8). */
  unitBits: number;
}

/**
 * Limits of a KME; each is reported by Get status under the standard's name given in its TSDoc.
 * All sizes are bits and multiples of 8.
 */
export interface KmeLimits extends RequestLimits {
  /** `max_key_count`: the most keys of `key_size` a pool is meant to hold (the supplier's cap). */
  maxKeyCount: number;
}

/** Defaults: key_size 256, min 64, max 8192 bits, 128 keys per request, multicast to 4 more slaves. */
export const DEFAULT_KME_LIMITS: Readonly<KmeLimits> = Object.freeze({
  keySize: 256,
  minKeySize: 64,
  maxKeySize: 8192,
  maxKeyPerRequest: 128,
  maxKeyCount: 100_000,
  maxSaeIdCount: 4,
});

/** What the master's KME asks the slave's KME to reserve: one key, named by its units. */
export interface PeerReservation {
  pool: string;
  keyId: string;
  /** Units of the pool, allocated from the master KME's `local` direction (the peer's `peer`). */
  unitIds: readonly string[];
  sizeBits: number;
  masterSae: string;
  /** The slave and any additional slaves, all served by the peer KME. */
  slaveSaes: readonly string[];
}

/**
 * The slave KME's answer to a reservation. `ok`: reserved. `missing-units`: some unit is not available
 * there (e.g. its supply has not arrived yet). `duplicate-key`: the key ID exists there. `refused`:
 * the peer does not accept the reservation (unknown pool, SAEs not served there, inconsistent sizes).
 * In every case but `ok` the peer took nothing.
 */
export type PeerReserveOutcome = "ok" | "missing-units" | "duplicate-key" | "refused";

/**
 * The channel to neighbouring KMEs (mutual-TLS HTTPS between sites; an in-process object in tests).
 * A rejected promise means the outcome is unknown (timeout, connection lost).
 */
export interface PeerKmes {
  reserve(peerKmeId: string, reservation: PeerReservation): Promise<PeerReserveOutcome>;
  /**
   * Whether the peer holds (or has delivered) a reservation for the key. A peer that answers false
   * voids the key ID there ({@link Kme.peerKeyExists}), so a reservation still in flight cannot
   * succeed afterwards and the units may be released. Optional: without it, keys whose reservation
   * outcome is unknown are discarded rather than released (see {@link Kme.recover}).
   */
  exists?(peerKmeId: string, key: { pool: string; keyId: string }): Promise<boolean>;
}

/** What the post-quantum fallback is asked for: one key, when the QKD pool cannot serve a request. */
export interface FallbackContext {
  keyId: string;
  sizeBits: number;
  masterSae: string;
  slaveSaes: readonly string[];
  /** The slaves' KME, which must end up holding the same key for them. */
  slaveKmeId: string;
  /** The QKD pool that ran short, or null when the slaves are reached by relay. */
  pool: string | null;
  /** Policies of the master and each slave (all allow a fallback, or the hook is not called). */
  policies: readonly SaePolicy[];
  /**
   * QKD bits available in this KME's direction of `pool` when the request was found short (0 when
   * there is no pool), for the fallback's own decision (e.g. `fallbackDecision` in pqc.ts).
   */
  qkdAvailableBits: number;
  nowMs: number;
}

/** A fallback key: its material (exactly sizeBits / 8 bytes) and the `key_extension` marking it. */
export interface FallbackKey {
  material: Uint8Array;
  extension: Record<string, unknown>;
}

/**
 * The post-quantum fallback (src/kms/pqc.ts). It must make the same key available to the slaves at
 * their KME (e.g. `KeyStore.reserveMaterial` there) before resolving; null when it cannot.
 */
export type FallbackHook = (ctx: FallbackContext) => Promise<FallbackKey | null>;

/** A request for keys to slaves whose KME shares no pool with this one. */
export interface RelayContext {
  masterSae: string;
  slaveSaes: readonly string[];
  slaveKmeId: string;
  /** Key IDs chosen by this KME, one per key wanted. */
  keyIds: readonly string[];
  sizeBits: number;
  nowMs: number;
}

/**
 * Trusted-node relay (not implemented here): reaching a KME with no direct QKD link by forwarding
 * keys hop by hop. Without it, such requests are answered 400.
 */
export interface TrustedNodeRelay {
  /** Keys of `keySizeBits` that could be relayed to `slaveKmeId` now (for Get status). */
  storedKeyCount(ctx: {
    masterSae: string;
    slaveSae: string;
    slaveKmeId: string;
    keySizeBits: number;
  }): Promise<number>;
  /**
   * Delivers all keys to the slaves' KME (reserved there) and returns their material here, in the
   * order of `ctx.keyIds`; null when it cannot deliver them all (nothing usable was delivered).
   */
  getKeys(ctx: RelayContext): Promise<Uint8Array[] | null>;
}

/** How a KME is built. */
export interface KmeOptions {
  /** This KME's ID (unique in the network). */
  kmeId: string;
  store: KeyStore;
  /** Every SAE of the network that this KME must know: its own and those it shares keys with. */
  saes: readonly SaeRegistration[];
  /** The pools this KME has, at most one per neighbouring KME. */
  pools: readonly KmePool[];
  /** Overrides of {@link DEFAULT_KME_LIMITS}. */
  limits?: Partial<KmeLimits>;
  peers: PeerKmes;
  /** Wall-clock time, ms since the epoch. */
  clock: () => number;
  /** `n` cryptographically secure random bytes (key IDs). */
  random: (n: number) => Uint8Array;
  /** Post-quantum fallback, called when a pool runs short and every SAE's policy allows it. */
  fallback?: FallbackHook;
  /** Trusted-node relay, for slaves whose KME shares no pool with this one. */
  relay?: TrustedNodeRelay;
  /**
   * Told of failures the API answers with a bare 503 (store or peer errors, audit writes that
   * failed), for the adapter to log. Errors from the store never carry key material.
   */
  onInternalError?: (error: unknown, context: string) => void;
  /** Told of every key handed to an SAE (keys and bits per SAE), for metrics. Default: none. */
  sink?: Pick<ObservationSink, "keysServed">;
}

/**
 * Audit kinds, written through {@link Kme.audit}, that hand keys to a master SAE. Deliveries to slaves
 * are audited by the store in the take's own transaction and reported to the sink where they happen.
 */
const SERVED_KINDS: ReadonlySet<AuditEvent["kind"]> = new Set(["issued", "relayed", "pqc-fallback"]);

/** What {@link Kme.recover} did with each pending key. */
export interface RecoverySummary {
  /** Reserved at the peer, or outcome unknown: units deleted here too, so both ends stay in step. */
  discarded: string[];
  /** Not reserved at the peer: units returned to the pool. */
  released: string[];
  /** The peer could not be asked: left pending, for a later `recover()`. */
  pending: string[];
}

type Outcome<T> = Etsi014Response<T>;
type Refusal = { status: 400; body: ErrorBody } | { status: 401; body?: undefined };

interface Bucket {
  tokens: number;
  lastMs: number;
}

const MS_PER_MINUTE = 60_000;
const MS_PER_DAY = 86_400_000;

/** An audit actor for a caller that may be unidentified, or claim an ID of any length. */
function actorName(sae: string | null): string {
  if (sae === null || sae.length === 0) return "(unidentified)";
  return sae.length > 256 ? `${sae.slice(0, 256)}…` : sae;
}

function isMultipleOf8(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && n % 8 === 0;
}

/** One site's KME. See the module documentation. */
export class Kme {
  readonly kmeId: string;
  /** The limits in force (defaults merged with the options). */
  readonly limits: Readonly<KmeLimits>;
  private readonly store: KeyStore;
  private readonly peers: PeerKmes;
  private readonly clock: () => number;
  private readonly random: (n: number) => Uint8Array;
  private readonly fallback?: FallbackHook;
  private readonly relay?: TrustedNodeRelay;
  private readonly onInternalError: (error: unknown, context: string) => void;
  private readonly sink: Pick<ObservationSink, "keysServed"> | undefined;
  private readonly saes = new Map<string, SaeRegistration>();
  private readonly poolByPeer = new Map<string, KmePool>();
  private readonly poolByName = new Map<string, KmePool>();
  private readonly keyBuckets = new Map<string, Bucket>();
  private readonly bitBuckets = new Map<string, Bucket>();

  /** @throws Error on an inconsistent configuration (duplicate IDs, limits out of order, bad unit size). */
  constructor(options: KmeOptions) {
    this.kmeId = options.kmeId;
    this.store = options.store;
    this.peers = options.peers;
    this.clock = options.clock;
    this.random = options.random;
    this.fallback = options.fallback;
    this.relay = options.relay;
    this.onInternalError = options.onInternalError ?? (() => {});
    this.sink = options.sink;
    const limits = { ...DEFAULT_KME_LIMITS, ...options.limits };
    for (const k of ["keySize", "minKeySize", "maxKeySize"] as const)
      if (!isMultipleOf8(limits[k]))
        throw new Error(`KME ${this.kmeId}: ${k} must be a positive multiple of 8`);
    if (!(limits.minKeySize <= limits.keySize && limits.keySize <= limits.maxKeySize))
      throw new Error(`KME ${this.kmeId}: limits must satisfy minKeySize ≤ keySize ≤ maxKeySize`);
    for (const k of ["maxKeyPerRequest", "maxKeyCount"] as const)
      if (!Number.isSafeInteger(limits[k]) || limits[k] < 1)
        throw new Error(`KME ${this.kmeId}: ${k} must be a positive integer`);
    if (!Number.isSafeInteger(limits.maxSaeIdCount) || limits.maxSaeIdCount < 0)
      throw new Error(`KME ${this.kmeId}: maxSaeIdCount must be a non-negative integer`);
    this.limits = Object.freeze(limits);
    for (const sae of options.saes) {
      if (this.saes.has(sae.saeId))
        throw new Error(`KME ${this.kmeId}: SAE ${sae.saeId} is registered twice`);
      for (const [name, v] of Object.entries(sae.quota ?? {}))
        if (v !== undefined && !(typeof v === "number" && v > 0 && Number.isFinite(v)))
          throw new Error(`KME ${this.kmeId}: quota ${name} of SAE ${sae.saeId} must be a positive number`);
      this.saes.set(sae.saeId, sae);
    }
    for (const p of options.pools) {
      if (!isMultipleOf8(p.unitBits))
        throw new Error(`KME ${this.kmeId}: unitBits of pool ${p.pool} must be a positive multiple of 8`);
      if (p.peerKmeId === this.kmeId)
        throw new Error(`KME ${this.kmeId}: pool ${p.pool} leads back to itself`);
      if (this.poolByPeer.has(p.peerKmeId))
        throw new Error(`KME ${this.kmeId}: more than one pool with KME ${p.peerKmeId}`);
      if (this.poolByName.has(p.pool)) throw new Error(`KME ${this.kmeId}: pool ${p.pool} is listed twice`);
      this.poolByPeer.set(p.peerKmeId, p);
      this.poolByName.set(p.pool, p);
    }
  }

  /**
   * True when `saeId` is an SAE served by this KME, the only callers of the SAE API. Adapters use it
   * to answer 401 before reading a body.
   */
  isLocalSae(saeId: string | null): boolean {
    return saeId !== null && this.saes.get(saeId)?.kmeId === this.kmeId;
  }

  /**
   * Records a request an adapter refused with 401 before calling this KME: the client could not be
   * identified (`callerSae` null) or is not an SAE served here.
   */
  async auditUnauthorised(callerSae: string | null, what: string): Promise<void> {
    await this.refused(callerSae, { status: 401 }, this.clock(), what);
  }

  /** Get status (§ 5.1): what the caller, as master, may obtain for `slaveSae`. */
  async status(callerSae: string | null, slaveSae: string): Promise<Outcome<Status>> {
    const now = this.clock();
    const pair = this.authorise(callerSae, slaveSae);
    if ("status" in pair) return this.refused(callerSae, pair, now, "status");
    const { caller, slave } = pair;
    const route = this.route(caller, slave);
    if ("status" in route) return this.refused(callerSae, route, now, "status");
    let stored: number;
    try {
      if (route.pool) {
        stored = Math.floor(
          (await this.localUnits(route.pool)) / this.unitsPerKey(this.limits.keySize, route.pool),
        );
      } else {
        const relayed = await this.relay!.storedKeyCount({
          masterSae: caller.saeId,
          slaveSae: slave.saeId,
          slaveKmeId: slave.kmeId,
          keySizeBits: this.limits.keySize,
        });
        stored = Number.isFinite(relayed) ? Math.max(0, Math.floor(relayed)) : 0;
      }
    } catch (error) {
      return this.internalError(caller.saeId, error, "status", now);
    }
    return {
      status: 200,
      body: {
        source_KME_ID: this.kmeId,
        target_KME_ID: slave.kmeId,
        master_SAE_ID: caller.saeId,
        slave_SAE_ID: slave.saeId,
        key_size: this.limits.keySize,
        stored_key_count: stored,
        max_key_count: this.limits.maxKeyCount,
        max_key_per_request: this.limits.maxKeyPerRequest,
        max_key_size: this.limits.maxKeySize,
        min_key_size: this.limits.minKeySize,
        max_SAE_ID_count: this.limits.maxSaeIdCount,
      },
    };
  }

  /**
   * Get key (§ 5.2): new keys shared with `slaveSae` (and any additional slaves), all or none.
   * @param request the Key request body as received (validated here; `{}` for defaults)
   */
  async getKey(callerSae: string | null, slaveSae: string, request: unknown): Promise<Outcome<KeyContainer>> {
    const now = this.clock();
    const pair = this.authorise(callerSae, slaveSae);
    if ("status" in pair) return this.refused(callerSae, pair, now, "enc_keys");
    const { caller, slave } = pair;
    const parsed = validateKeyRequest(request, this.limits);
    if (!parsed.ok) return this.refused(callerSae, parsed.response, now, "enc_keys");
    const req = parsed.value;

    const slaves: SaeRegistration[] = [slave];
    for (const id of req.additionalSlaveSaeIds) {
      const extra = this.saes.get(id);
      if (!extra) return this.refused(callerSae, { status: 401 }, now, `enc_keys: unknown additional slave`);
      if (id === slave.saeId || id === caller.saeId)
        return this.refused(
          callerSae,
          badRequest("additional_slave_SAE_IDs must not name the slave of the path or the master itself"),
          now,
          "enc_keys",
        );
      if (extra.kmeId !== slave.kmeId)
        return this.refused(
          callerSae,
          badRequest(
            `additional slave SAE ${extra.saeId} is served by KME ${extra.kmeId}, not by the slave's KME ${slave.kmeId}: all slaves of a multicast key must be served by one KME`,
          ),
          now,
          "enc_keys",
        );
      slaves.push(extra);
    }
    const route = this.route(caller, slave);
    if ("status" in route) return this.refused(callerSae, route, now, "enc_keys");

    const charge = this.chargeQuota(caller, req.number, req.number * req.sizeBits, now);
    if (!charge.ok) {
      await this.audit({
        atMs: now,
        kind: "quota-exceeded",
        actor: caller.saeId,
        pool: route.pool?.pool,
        bits: req.number * req.sizeBits,
        detail: charge.response.body.message,
      });
      return charge.response;
    }
    let result: Outcome<KeyContainer>;
    try {
      result = route.pool
        ? await this.issueFromPool(caller, slaves, route.pool, req, now)
        : await this.issueByRelay(caller, slaves, req, now);
    } catch (error) {
      result = await this.internalError(caller.saeId, error, "enc_keys", now);
    }
    if (result.status !== 200) charge.refund();
    return result;
  }

  /**
   * Get key with key IDs (§ 5.3): the caller, a slave, takes keys a master obtained for it. Only an
   * SAE named as slave when the keys were issued may take them (401 otherwise); unknown IDs, or keys
   * this SAE already took, are answered with the standard's "not found" 400. All or none.
   *
   * The key store does not return which master obtained a key, so `masterSae` is checked to be a
   * known SAE but not matched against the keys.
   *
   * @param keyIds the Key IDs body as received (validated here)
   */
  async getKeyWithIds(
    callerSae: string | null,
    masterSae: string,
    keyIds: unknown,
  ): Promise<Outcome<KeyContainer>> {
    const now = this.clock();
    if (!this.isLocalSae(callerSae) || !this.saes.has(masterSae))
      return this.refused(callerSae, { status: 401 }, now, "dec_keys");
    const caller = callerSae as string;
    const parsed = validateKeyIds(keyIds, this.limits.maxKeyPerRequest);
    if (!parsed.ok) return this.refused(caller, parsed.response, now, "dec_keys");
    let taken: Awaited<ReturnType<KeyStore["takeReserved"]>>;
    try {
      // The delivery and its audit record commit together.
      taken = await this.store.takeReserved(parsed.value, caller, now, {
        kind: "delivered",
        actor: caller,
        detail: `master=${masterSae}`,
      });
    } catch (error) {
      return this.internalError(caller, error, "dec_keys", now);
    }
    if (taken.status === "not-found")
      return this.refused(caller, keysNotFound(taken.keyIds), now, "dec_keys", taken.keyIds);
    if (taken.status === "unauthorized")
      return this.refused(caller, { status: 401 }, now, "dec_keys: not a slave of these keys", taken.keyIds);
    this.sink?.keysServed(
      this.kmeId,
      caller,
      taken.keys.length,
      taken.keys.reduce((s, k) => s + k.sizeBits, 0),
    );
    return {
      status: 200,
      body: {
        keys: taken.keys.map((k) => ({
          key_ID: k.keyId,
          key: encodeBase64(this.cut(k.material, k.sizeBits)),
        })),
      },
    };
  }

  /**
   * The slave side of issuing: the master's KME (`peerKmeId`, authenticated by the KME-to-KME
   * channel) names the units of one key and the slaves it is for. Refused unless the pool is the one
   * shared with that KME, the master is served there and every slave here, and the units match the size.
   */
  async reserveForPeer(peerKmeId: string, reservation: PeerReservation): Promise<PeerReserveOutcome> {
    const now = this.clock();
    const r = reservation;
    const pool = this.poolByName.get(r.pool);
    const problem =
      !pool || pool.peerKmeId !== peerKmeId
        ? `pool ${r.pool} is not shared with KME ${peerKmeId}`
        : this.saes.get(r.masterSae)?.kmeId !== peerKmeId
          ? `master SAE ${r.masterSae} is not served by KME ${peerKmeId}`
          : r.slaveSaes.length === 0 || new Set(r.slaveSaes).size !== r.slaveSaes.length
            ? "the slaves must be a non-empty list of distinct SAEs"
            : r.slaveSaes.some((s) => !this.isLocalSae(s))
              ? "a slave SAE is not served by this KME"
              : !isMultipleOf8(r.sizeBits) || r.unitIds.length !== Math.ceil(r.sizeBits / pool.unitBits)
                ? `${r.unitIds.length} units do not make a key of ${r.sizeBits} bits`
                : null;
    const event = (kind: "refused" | "reserved", detail: string) => ({
      atMs: now,
      kind,
      actor: peerKmeId,
      pool: r.pool,
      keyIds: [r.keyId],
      bits: r.sizeBits,
      detail,
    });
    if (problem !== null) {
      await this.audit(event("refused", `reservation refused: ${problem}`));
      return "refused";
    }
    // A reservation commits with its "reserved" record (the peer's `exists` answer does not depend on
    // it, but the audit trail must not miss a key that can be delivered).
    const outcome = await this.store.reservePeer({
      ...r,
      nowMs: now,
      audit: event("reserved", `master=${r.masterSae} slaves=${r.slaveSaes.join(",")}`),
    });
    if (outcome !== "ok") await this.audit(event("refused", `reservation: ${outcome}`));
    return outcome;
  }

  /**
   * The slave side of {@link PeerKmes.exists}: whether the master's KME `peerKmeId` reserved key
   * `keyId` of `pool` here. A key not reserved here is voided in the same step
   * ({@link KeyStore.voidUnlessReserved}), so a reservation of it still in flight is refused when it
   * arrives, and the master may put the key's units back in its pool. False, voiding nothing, when the
   * pool is not the one shared with `peerKmeId`.
   */
  async peerKeyExists(peerKmeId: string, key: { pool: string; keyId: string }): Promise<boolean> {
    if (this.poolByName.get(key.pool)?.peerKmeId !== peerKmeId) return false;
    return this.store.voidUnlessReserved(key.pool, key.keyId, this.clock());
  }

  /**
   * Settles the keys left pending by a crash, to be called once on start before serving. A pending
   * key was never returned to its master (keys are confirmed before they are returned), so it is
   * never delivered; what matters is that both ends of the pool agree on which units are gone:
   * - with `PeerKmes.exists`: reserved at the peer → discarded here too; not reserved → released
   *   (units back to the pool, in order); the peer cannot be reached → left pending;
   * - without it: discarded. Releasing a key the peer did reserve would hand its units out again,
   *   which the peer would refuse forever ("missing-units" at the head of the pool), whereas
   *   discarding only leaves some units unused at the peer.
   */
  async recover(): Promise<RecoverySummary> {
    const summary: RecoverySummary = { discarded: [], released: [], pending: [] };
    const now = this.clock();
    for (const key of await this.store.pendingIssued()) {
      const verdict = await this.settleUnknown(key);
      if (verdict === "pending") {
        summary.pending.push(key.keyId);
        continue;
      }
      const event: AuditEvent = {
        atMs: now,
        kind: "released",
        actor: this.kmeId,
        pool: key.pool,
        keyIds: [key.keyId],
        bits: key.sizeBits,
        detail: `recovery: ${verdict === "discard" ? "discarded (units deleted at both ends)" : "released to the pool"}`,
      };
      // Each settlement commits with its record.
      if (verdict === "discard") {
        await this.store.confirmIssued(key.keyId, now, event);
        summary.discarded.push(key.keyId);
      } else {
        await this.store.releaseIssued(key.keyId, now, event);
        summary.released.push(key.keyId);
      }
    }
    return summary;
  }

  /** Whether a key whose peer reservation is unknown must be discarded or released. */
  private async settleUnknown(key: IssuedKey): Promise<"discard" | "release" | "pending"> {
    const pool = this.poolByName.get(key.pool);
    if (!pool || !this.peers.exists) return "discard";
    try {
      return (await this.peers.exists(pool.peerKmeId, { pool: key.pool, keyId: key.keyId }))
        ? "discard"
        : "release";
    } catch (error) {
      this.onInternalError(error, `recover: asking KME ${pool.peerKmeId} about key ${key.keyId}`);
      return "pending";
    }
  }

  /** The caller (served here) and the slave (known), or 401. */
  private authorise(
    callerSae: string | null,
    slaveSae: string,
  ): { caller: SaeRegistration; slave: SaeRegistration } | Refusal {
    const slave = this.saes.get(slaveSae);
    if (!this.isLocalSae(callerSae) || !slave) return { status: 401 };
    return { caller: this.saes.get(callerSae as string)!, slave };
  }

  /** The pool to the slave's KME, the relay when there is none, or 400. */
  private route(
    caller: SaeRegistration,
    slave: SaeRegistration,
  ): { pool: KmePool } | { pool: null } | { status: 400; body: ErrorBody } {
    if (slave.kmeId === this.kmeId)
      return badRequest(
        `slave SAE ${slave.saeId} is served by this KME (${this.kmeId}), like the master ${caller.saeId}: keys are only issued between SAEs of different KMEs`,
      );
    const pool = this.poolByPeer.get(slave.kmeId);
    if (pool) return { pool };
    if (this.relay) return { pool: null };
    return badRequest(
      `no QKD link between this KME (${this.kmeId}) and KME ${slave.kmeId}, which serves slave SAE ${slave.saeId}, and trusted-node relay is not available`,
    );
  }

  /** Units available in this KME's (`local`) direction of the pool. */
  private async localUnits(pool: KmePool): Promise<number> {
    const level = (await this.store.poolLevels(pool.pool)).find((l) => l.pool === pool.pool);
    return level?.local.units ?? 0;
  }

  private unitsPerKey(sizeBits: number, pool: KmePool): number {
    return Math.ceil(sizeBits / pool.unitBits);
  }

  /** Steps 3–4 of issuing from a direct pool (module documentation). */
  private async issueFromPool(
    caller: SaeRegistration,
    slaves: readonly SaeRegistration[],
    pool: KmePool,
    req: ValidKeyRequest,
    now: number,
  ): Promise<Outcome<KeyContainer>> {
    const unitsPerKey = this.unitsPerKey(req.sizeBits, pool);
    const slaveIds = slaves.map((s) => s.saeId);
    // A request of several keys first checks the level, so that a short pool costs no writes; a single
    // key is simply asked for (issueLocal takes nothing when the pool is short).
    if (req.number > 1) {
      const available = await this.localUnits(pool);
      if (available < unitsPerKey * req.number)
        return this.poolShort(caller, slaves, pool, req, available, now);
    }

    // All keys are asked for at once: a store with group commit writes them in one transaction. The
    // calls are made in order, so the keys take the pool's units in order.
    const attempts = await Promise.allSettled(
      Array.from({ length: req.number }, () =>
        this.store.issueLocal({
          pool: pool.pool,
          keyId: this.newKeyId(),
          units: unitsPerKey,
          sizeBits: req.sizeBits,
          masterSae: caller.saeId,
          slaveSaes: slaveIds,
          nowMs: now,
        }),
      ),
    );
    const issued: { key: IssuedKey; material: Uint8Array }[] = [];
    for (const a of attempts) if (a.status === "fulfilled" && a.value) issued.push(a.value);
    const failure = attempts.find((a): a is PromiseRejectedResult => a.status === "rejected");
    if (failure) {
      await this.releaseAll(issued, now).catch((e) =>
        this.onInternalError(e, "enc_keys: releasing after a failure"),
      );
      throw failure.reason;
    }
    if (issued.length < req.number) {
      // The pool is short (another request may have taken the units since the level was read): undo.
      await this.releaseAll(issued, now);
      return this.poolShort(caller, slaves, pool, req, await this.localUnits(pool), now);
    }

    const outcomes = await Promise.allSettled(
      issued.map(({ key }) =>
        this.peers.reserve(pool.peerKmeId, {
          pool: pool.pool,
          keyId: key.keyId,
          unitIds: key.unitIds,
          sizeBits: key.sizeBits,
          masterSae: caller.saeId,
          slaveSaes: slaveIds,
        }),
      ),
    );
    const keyIds = issued.map((i) => i.key.keyId);
    if (outcomes.every((o) => o.status === "fulfilled" && o.value === "ok")) {
      // The confirmation and its audit record commit together, before the master is answered.
      const bits = req.number * req.sizeBits;
      await this.store.confirmIssued(keyIds, now, {
        atMs: now,
        kind: "issued",
        actor: caller.saeId,
        pool: pool.pool,
        keyIds,
        bits,
        detail: `slaves=${slaveIds.join(",")}`,
      });
      this.sink?.keysServed(this.kmeId, caller.saeId, keyIds.length, bits);
      return {
        status: 200,
        body: { keys: issued.map(({ key, material }) => this.key(key.keyId, material, key.sizeBits)) },
      };
    }

    // All or none: undo every key. A key the peer reserved cannot be unreserved there, so its units
    // are deleted here too (discarded); a refused key's units go back to the pool; an unknown outcome
    // is settled as on recovery.
    const reasons = new Set<string>();
    for (let i = 0; i < issued.length; i++) {
      const o = outcomes[i];
      const key = issued[i].key;
      let verdict: "discard" | "release" | "pending";
      if (o.status === "fulfilled") {
        verdict = o.value === "ok" ? "discard" : "release";
        if (o.value !== "ok") reasons.add(o.value);
      } else {
        reasons.add("no answer");
        this.onInternalError(o.reason, `enc_keys: reserving key ${key.keyId} at KME ${pool.peerKmeId}`);
        verdict = await this.settleUnknown(key);
      }
      const event: AuditEvent = {
        atMs: now,
        kind: "released",
        actor: caller.saeId,
        pool: pool.pool,
        keyIds: [key.keyId],
        bits: key.sizeBits,
        detail: `request failed at KME ${pool.peerKmeId}: ${verdict === "discard" ? "discarded" : verdict === "release" ? "released to the pool" : "left pending"}`,
      };
      // Each undo commits with its record; "pending" is left for recover(), which asks the peer again.
      if (verdict === "discard") await this.store.confirmIssued(key.keyId, now, event);
      else if (verdict === "release") await this.store.releaseIssued(key.keyId, now, event);
      else await this.audit(event);
    }
    const why = [...reasons].join(", ");
    const response = serviceUnavailable(
      `the slave's KME (${pool.peerKmeId}) could not reserve the keys (${why}); no key was issued, retry later`,
    );
    await this.audit({
      atMs: now,
      kind: "refused",
      actor: caller.saeId,
      pool: pool.pool,
      keyIds,
      bits: req.number * req.sizeBits,
      detail: `503 enc_keys: ${response.body.message}`,
    });
    return response;
  }

  /** The pool cannot serve the whole request: the post-quantum fallback if allowed, else 503. */
  private async poolShort(
    caller: SaeRegistration,
    slaves: readonly SaeRegistration[],
    pool: KmePool,
    req: ValidKeyRequest,
    availableUnits: number,
    now: number,
  ): Promise<Outcome<KeyContainer>> {
    const policies = [caller, ...slaves].map((s) => s.policy);
    if (this.fallback && policies.every((p) => p !== "qkd-only")) {
      const qkdBits = availableUnits * pool.unitBits;
      const fromFallback = await this.useFallback(caller, slaves, pool.pool, qkdBits, req, policies, now);
      if (fromFallback) return fromFallback;
    }
    const needed = this.unitsPerKey(req.sizeBits, pool) * req.number;
    const response = serviceUnavailable(
      `not enough QKD key towards KME ${pool.peerKmeId}: ${req.number} key(s) of ${req.sizeBits} bits need ${needed} units of ${pool.unitBits} bits, ${availableUnits} available; retry later`,
    );
    await this.audit({
      atMs: now,
      kind: "refused",
      actor: caller.saeId,
      pool: pool.pool,
      bits: req.number * req.sizeBits,
      detail: `503 enc_keys: ${response.body.message}`,
    });
    return response;
  }

  /** Asks the fallback for every key of the request; null (nothing returned) if any is missing. */
  private async useFallback(
    caller: SaeRegistration,
    slaves: readonly SaeRegistration[],
    pool: string | null,
    qkdAvailableBits: number,
    req: ValidKeyRequest,
    policies: readonly SaePolicy[],
    now: number,
  ): Promise<Outcome<KeyContainer> | null> {
    const keys: Key[] = [];
    const keyIds: string[] = [];
    for (let i = 0; i < req.number; i++) {
      const keyId = this.newKeyId();
      let got: FallbackKey | null;
      try {
        got = await this.fallback!({
          keyId,
          sizeBits: req.sizeBits,
          masterSae: caller.saeId,
          slaveSaes: slaves.map((s) => s.saeId),
          slaveKmeId: slaves[0].kmeId,
          pool,
          policies,
          qkdAvailableBits,
          nowMs: now,
        });
      } catch (error) {
        this.onInternalError(error, "enc_keys: post-quantum fallback");
        got = null;
      }
      if (!got || got.material.length !== req.sizeBits / 8) {
        // Keys already made for this request are abandoned: their IDs never reach the master.
        if (keyIds.length > 0)
          await this.audit({
            atMs: now,
            kind: "released",
            actor: caller.saeId,
            keyIds,
            bits: keyIds.length * req.sizeBits,
            detail: "post-quantum fallback keys abandoned: the fallback could not supply the whole request",
          });
        return null;
      }
      keyIds.push(keyId);
      keys.push({ key_ID: keyId, key: encodeBase64(got.material), key_extension: got.extension });
    }
    await this.audit({
      atMs: now,
      kind: "pqc-fallback",
      actor: caller.saeId,
      pool: pool ?? undefined,
      keyIds,
      bits: req.number * req.sizeBits,
      detail: `slaves=${slaves.map((s) => s.saeId).join(",")}`,
    });
    return { status: 200, body: { keys } };
  }

  /** Issuing to slaves with no direct pool, through the relay hook. */
  private async issueByRelay(
    caller: SaeRegistration,
    slaves: readonly SaeRegistration[],
    req: ValidKeyRequest,
    now: number,
  ): Promise<Outcome<KeyContainer>> {
    const keyIds = Array.from({ length: req.number }, () => this.newKeyId());
    const slaveIds = slaves.map((s) => s.saeId);
    const materials = await this.relay!.getKeys({
      masterSae: caller.saeId,
      slaveSaes: slaveIds,
      slaveKmeId: slaves[0].kmeId,
      keyIds,
      sizeBits: req.sizeBits,
      nowMs: now,
    });
    if (
      !materials ||
      materials.length !== keyIds.length ||
      materials.some((m) => m.length < req.sizeBits / 8)
    ) {
      const response = serviceUnavailable(
        `trusted-node relay to KME ${slaves[0].kmeId} could not deliver the keys; no key was issued, retry later`,
      );
      await this.audit({
        atMs: now,
        kind: "refused",
        actor: caller.saeId,
        bits: req.number * req.sizeBits,
        detail: `503 enc_keys: ${response.body.message}`,
      });
      return response;
    }
    await this.audit({
      atMs: now,
      kind: "relayed",
      actor: caller.saeId,
      keyIds,
      bits: req.number * req.sizeBits,
      detail: `to KME ${slaves[0].kmeId}; slaves=${slaveIds.join(",")}`,
    });
    return { status: 200, body: { keys: keyIds.map((id, i) => this.key(id, materials[i], req.sizeBits)) } };
  }

  /**
   * Charges a request of `keys` keys and `bits` bits to the master's buckets. Both buckets are
   * checked before either is charged; `refund` gives the tokens back when the request then fails.
   */
  private chargeQuota(
    sae: SaeRegistration,
    keys: number,
    bits: number,
    now: number,
  ): { ok: true; refund: () => void } | { ok: false; response: { status: 400; body: ErrorBody } } {
    const q = sae.quota ?? {};
    const limits: [Map<string, Bucket>, number | undefined, number, number, string, string][] = [
      [this.keyBuckets, q.keysPerMinute, MS_PER_MINUTE, keys, "keysPerMinute", "keys per minute"],
      [this.bitBuckets, q.bitsPerDay, MS_PER_DAY, bits, "bitsPerDay", "key bits per day"],
    ];
    const charged: [Bucket, number, number][] = [];
    for (const [buckets, capacity, periodMs, amount, name, unit] of limits) {
      if (capacity === undefined) continue;
      let b = buckets.get(sae.saeId);
      if (!b) {
        b = { tokens: capacity, lastMs: now };
        buckets.set(sae.saeId, b);
      }
      // Continuous refill at capacity per period; a clock that steps back refills nothing.
      b.tokens = Math.min(capacity, b.tokens + (Math.max(0, now - b.lastMs) * capacity) / periodMs);
      b.lastMs = Math.max(b.lastMs, now);
      if (amount > b.tokens) {
        const message =
          amount > capacity
            ? `quota exceeded: SAE ${sae.saeId} may take at most ${capacity} ${unit} (${name}); this request alone needs ${amount}`
            : `quota exceeded: SAE ${sae.saeId} may take ${capacity} ${unit} (${name}); ${amount} requested, ${Math.floor(b.tokens)} available now; retry in ${Math.ceil(((amount - b.tokens) * periodMs) / capacity / 1000)} s`;
        return { ok: false, response: badRequest(message, [{ [name]: capacity }]) };
      }
      charged.push([b, amount, capacity]);
    }
    for (const [b, amount] of charged) b.tokens -= amount;
    return {
      ok: true,
      refund: () => {
        for (const [b, amount, capacity] of charged) b.tokens = Math.min(capacity, b.tokens + amount);
      },
    };
  }

  private async releaseAll(issued: readonly { key: IssuedKey }[], now: number): Promise<void> {
    for (const { key } of issued) await this.store.releaseIssued(key.keyId, now);
  }

  private key(keyId: string, material: Uint8Array, sizeBits: number): Key {
    return { key_ID: keyId, key: encodeBase64(this.cut(material, sizeBits)) };
  }

  /** Material cut to whole bytes of `sizeBits` (sizes are multiples of 8). */
  private cut(material: Uint8Array, sizeBits: number): Uint8Array {
    const bytes = sizeBits / 8;
    return material.length === bytes ? material : material.subarray(0, bytes);
  }

  private newKeyId(): string {
    return uuidV4(this.random(16));
  }

  /** Audits a refusal (400/401) and returns it. */
  private async refused<T extends Refusal>(
    actor: string | null,
    response: T,
    now: number,
    what: string,
    keyIds?: string[],
  ): Promise<T> {
    await this.audit({
      atMs: now,
      kind: "refused",
      actor: actorName(actor),
      keyIds,
      detail: `${response.status} ${what}${response.body ? `: ${response.body.message}` : ""}`,
    });
    return response;
  }

  private async internalError(
    actor: string,
    error: unknown,
    what: string,
    now: number,
  ): Promise<{ status: 503; body: ErrorBody }> {
    this.onInternalError(error, what);
    const response = serviceUnavailable(
      "the KME could not complete the request (internal error); retry later",
    );
    await this.audit({ atMs: now, kind: "refused", actor, detail: `503 ${what}: internal error` });
    return response;
  }

  /**
   * Appends to the audit log. A failed audit write must not turn an answered request into a lost
   * key (keys are deleted by then), so it is reported through `onInternalError` instead of thrown.
   */
  private async audit(event: AuditEvent): Promise<void> {
    if (this.sink && SERVED_KINDS.has(event.kind) && event.keyIds)
      this.sink.keysServed(this.kmeId, event.actor, event.keyIds.length, event.bits ?? 0);
    try {
      await this.store.appendAudit(event);
    } catch (error) {
      this.onInternalError(error, `audit (${event.kind})`);
    }
  }
}
