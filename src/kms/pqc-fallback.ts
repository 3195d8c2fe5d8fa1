/**
 * The post-quantum fallback between two KMEs (issue 5): the {@link FallbackHook} a {@link Kme} calls when
 * a QKD pool cannot serve a request (or the slaves are reached only by relay) and every SAE's policy
 * allows it, built on the hybrid ML-KEM-768 + QKD keys of `pqc.ts`.
 *
 * For one key, at the master's KME ({@link createPqcFallback}'s hook):
 * 1. decide with {@link fallbackDecision} under the strictest policy of the master and the slaves, on
 *    the QKD bits this KME can allocate now in the pool towards the slaves' KME (read live: the Kme
 *    passes one level for the whole request);
 * 2. take whatever QKD units there are, up to the key's size (`issueLocal` under the store key ID
 *    `pqc-qkd:<key ID>`, pending), also under `pqc-allowed` (combining never weakens the key);
 * 3. encapsulate to the slave KME's ML-KEM-768 public key ({@link encapsulateHybrid});
 * 4. send the ciphertext, the context and the QKD unit IDs to the slave KME ({@link PqcTransport});
 *    it takes the same units from its `peer` direction, decapsulates, and reserves the key for the
 *    slaves (`KeyStore.reserveMaterial`, origin `pqc:<master KME>`);
 * 5. on `ok`, confirm the units (deleted) and return `{ material, extension }` to the Kme; otherwise
 *    release them (the slave KME took none) or discard them (it took them, or did not answer), and
 *    return null so that the Kme answers 503.
 * The slave KME's side is {@link PqcFallback.receive}, called by the peer routes.
 *
 * Each side appends a `pqc-fallback` audit event per key (actor: the other KME), naming the QKD bits
 * and units mixed in, never material. (The Kme adds its own per-request event at the master.)
 *
 * The core layer: no Node modules, no wall clock, no host randomness. Key material never appears in
 * errors, logs or the audit trail.
 *
 * @module
 */
import { decodeBase64, encodeBase64 } from "./etsi014.js";
import type { KeyStore } from "./key-store.js";
import type { FallbackContext, FallbackHook, FallbackKey, KmePool } from "./kme.js";
import {
  decapsulateHybrid,
  encapsulateHybrid,
  fallbackDecision,
  HYBRID_MAX_KEY_BITS,
  type HybridContext,
  type KeyPolicy,
  ML_KEM_768_CIPHERTEXT_BYTES,
  ML_KEM_768_PUBLIC_KEY_BYTES,
  ML_KEM_768_SECRET_KEY_BYTES,
  type RandomBytes,
  strictestPolicy,
} from "./pqc.js";

/** What the master's KME sends the slave's KME for one hybrid key (`POST /kmapi/v1/pqc`). */
export interface PqcReserveRequest {
  /** The key ID the SAEs will use. */
  keyId: string;
  /** Key size in bits (a positive multiple of 8, at most {@link HYBRID_MAX_KEY_BITS}). */
  sizeBits: number;
  masterSae: string;
  /** The slave SAE and any additional slaves, in the order of the request (bound into the key). */
  slaveSaes: string[];
  /** The ML-KEM-768 ciphertext, base64 (public: it reveals nothing about the key). */
  ciphertext: string;
  /** The pool the QKD units come from, or null when none are mixed in. */
  pool: string | null;
  /** The QKD units mixed in, in order (from the master KME's `local` direction, the slave's `peer`). */
  qkdUnitIds: string[];
  /** QKD bits mixed in: all the bits of those units (0 with none). */
  qkdBits: number;
}

/**
 * The slave KME's answer. `refused`: no key was reserved; `unitsConsumed` says whether the slave KME
 * took (and deleted) the named QKD units, which decides whether the master releases or discards its
 * copies. `reason` is for logs (never key material).
 */
export type PqcReserveOutcome =
  | { status: "ok" }
  | { status: "refused"; unitsConsumed: boolean; reason: string };

/**
 * How the master's KME reaches the slave's KME (HTTPS in production, see
 * `src/server/kme-peer-client.ts`; a direct call of the slave's {@link PqcFallback.receive} in tests).
 * A rejected promise means the outcome is unknown; the master then discards its QKD units.
 */
export interface PqcTransport {
  pqcReserve(peerKmeId: string, request: PqcReserveRequest): Promise<PqcReserveOutcome>;
}

/** How the fallback of one KME is built (both sides: master hook and slave receiver). */
export interface PqcFallbackOptions {
  /** This KME's ID. */
  kmeId: string;
  store: KeyStore;
  /** ML-KEM-768 encapsulation keys of the KMEs this one may send fallback keys to, by KME ID. */
  peerPublicKeys: Readonly<Record<string, Uint8Array>>;
  /** This KME's ML-KEM-768 decapsulation key (for fallback keys sent here). */
  secretKey: Uint8Array;
  transport: PqcTransport;
  /** `n` cryptographically secure random bytes (the encapsulation randomness). */
  random: RandomBytes;
  /** Wall-clock time, ms since the epoch (the receiving side's store calls and audit). */
  clock: () => number;
  /** This KME's pools, as given to its Kme: where QKD units are taken from and named units checked. */
  pools: readonly KmePool[];
  /** For policy `hybrid`: the fewest QKD bits that make a hybrid key acceptable. Default 1. */
  minQkdBits?: number;
  /**
   * True when an SAE is served by this KME: the receiving side refuses keys for slaves it does not
   * serve. Typically `(id) => kme.isLocalSae(id)`. Unset: any slave is accepted.
   */
  isLocalSae?: (saeId: string) => boolean;
  /** Told of failures answered without detail (store errors, lost answers), for logging. */
  onError?: (error: unknown, context: string) => void;
}

/** The master side (a {@link FallbackHook}) with the slave side attached. */
export type PqcFallback = FallbackHook & {
  /**
   * The slave side, for the peer routes: `fromKmeId` is the master's KME as the transport
   * authenticated it, `request` parsed by {@link parsePqcRequest}. Never throws.
   */
  receive(fromKmeId: string, request: PqcReserveRequest): Promise<PqcReserveOutcome>;
};

/** The store key ID under which the QKD units of a hybrid key are taken, the same at both KMEs. */
export function pqcUnitsKeyId(keyId: string): string {
  return `pqc-qkd:${keyId}`;
}

/** The pseudo-slave under which the slave KME takes QKD units named by the master KME. */
export function pqcUnitsSlave(fromKmeId: string): string {
  return `pqc:${fromKmeId}`;
}

/** Most QKD units one hybrid key may name (bounds the request body). */
export const MAX_PQC_UNITS = 4096;

const REQUEST_FIELDS = [
  "keyId",
  "sizeBits",
  "masterSae",
  "slaveSaes",
  "ciphertext",
  "pool",
  "qkdUnitIds",
  "qkdBits",
] as const;

/**
 * Parses and validates a {@link PqcReserveRequest} received as JSON (shape only; the receiver checks it
 * against its pools and SAEs).
 *
 * @throws RangeError naming the first bad field.
 */
export function parsePqcRequest(value: unknown): PqcReserveRequest {
  const where = "pqc request";
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new RangeError(`${where} must be an object`);
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v))
    if (!(REQUEST_FIELDS as readonly string[]).includes(k))
      throw new RangeError(`${where}: unknown field ${k}`);
  const id = (name: string, x: unknown): string => {
    if (typeof x !== "string" || x.length === 0 || x.length > 1024)
      throw new RangeError(`${where}: ${name} must be a non-empty string of at most 1024 characters`);
    return x;
  };
  const ids = (name: string, x: unknown, min: number, max: number): string[] => {
    if (!Array.isArray(x) || x.length < min || x.length > max)
      throw new RangeError(`${where}: ${name} must be an array of ${min} to ${max} strings`);
    const out = x.map((e, i) => id(`${name}[${i}]`, e));
    if (new Set(out).size !== out.length) throw new RangeError(`${where}: ${name} names an entry twice`);
    return out;
  };
  const sizeBits = v.sizeBits;
  if (
    typeof sizeBits !== "number" ||
    !Number.isSafeInteger(sizeBits) ||
    sizeBits <= 0 ||
    sizeBits % 8 !== 0 ||
    sizeBits > HYBRID_MAX_KEY_BITS
  )
    throw new RangeError(`${where}: sizeBits must be a positive multiple of 8 up to ${HYBRID_MAX_KEY_BITS}`);
  const qkdBits = v.qkdBits;
  if (typeof qkdBits !== "number" || !Number.isSafeInteger(qkdBits) || qkdBits < 0)
    throw new RangeError(`${where}: qkdBits must be a non-negative integer`);
  if (typeof v.ciphertext !== "string") throw new RangeError(`${where}: ciphertext must be a base64 string`);
  let ct: Uint8Array;
  try {
    ct = decodeBase64(v.ciphertext);
  } catch {
    throw new RangeError(`${where}: ciphertext is not valid base64`);
  }
  if (ct.length !== ML_KEM_768_CIPHERTEXT_BYTES)
    throw new RangeError(`${where}: ciphertext must be ${ML_KEM_768_CIPHERTEXT_BYTES} bytes (ML-KEM-768)`);
  const pool = v.pool === null ? null : id("pool", v.pool);
  const qkdUnitIds = ids("qkdUnitIds", v.qkdUnitIds, 0, MAX_PQC_UNITS);
  if ((pool === null) !== (qkdUnitIds.length === 0) || (qkdUnitIds.length === 0) !== (qkdBits === 0))
    throw new RangeError(`${where}: pool, qkdUnitIds and qkdBits must be all set or all empty (null, [], 0)`);
  return {
    keyId: id("keyId", v.keyId),
    sizeBits,
    masterSae: id("masterSae", v.masterSae),
    slaveSaes: ids("slaveSaes", v.slaveSaes, 1, 1024),
    ciphertext: v.ciphertext,
    pool,
    qkdUnitIds,
    qkdBits,
  };
}

/**
 * The post-quantum fallback of one KME: pass the result as `fallback` to its Kme (master side) and to
 * the peer routes (its `receive`, slave side). See the module documentation for the flow.
 *
 * @throws RangeError on a malformed secret key or public key, or a bad `minQkdBits`.
 */
export function createPqcFallback(options: PqcFallbackOptions): PqcFallback {
  const { kmeId, store, transport, random, clock } = options;
  const minQkdBits = options.minQkdBits ?? 1;
  if (!Number.isSafeInteger(minQkdBits) || minQkdBits < 1)
    throw new RangeError("createPqcFallback: minQkdBits must be a positive integer");
  if (!(options.secretKey instanceof Uint8Array) || options.secretKey.length !== ML_KEM_768_SECRET_KEY_BYTES)
    throw new RangeError(
      `createPqcFallback: secretKey must be ${ML_KEM_768_SECRET_KEY_BYTES} bytes (ML-KEM-768)`,
    );
  const publicKeys = new Map<string, Uint8Array>();
  for (const [id, key] of Object.entries(options.peerPublicKeys)) {
    if (!(key instanceof Uint8Array) || key.length !== ML_KEM_768_PUBLIC_KEY_BYTES)
      throw new RangeError(
        `createPqcFallback: the public key of KME ${id} must be ${ML_KEM_768_PUBLIC_KEY_BYTES} bytes (ML-KEM-768)`,
      );
    publicKeys.set(id, key.slice());
  }
  const secretKey = options.secretKey.slice();
  const poolByName = new Map(options.pools.map((p) => [p.pool, p]));
  const onError = options.onError ?? (() => {});
  const audit = async (event: Parameters<KeyStore["appendAudit"]>[0]) => {
    try {
      await store.appendAudit(event);
    } catch (error) {
      onError(error, "pqc-fallback: audit");
    }
  };

  /** Master side: one key, or null. */
  const hook = async (ctx: FallbackContext): Promise<FallbackKey | null> => {
    const peerPublicKey = publicKeys.get(ctx.slaveKmeId);
    if (!peerPublicKey) {
      onError(new Error(`no ML-KEM-768 public key for KME ${ctx.slaveKmeId}`), "pqc-fallback");
      return null;
    }
    const link = ctx.pool === null ? undefined : poolByName.get(ctx.pool);
    // QKD units may only come from the pool shared with the slaves' KME, which can name them back.
    const usable = link && link.peerKmeId === ctx.slaveKmeId ? link : undefined;
    const units = usable
      ? ((await store.poolLevels(usable.pool)).find((l) => l.pool === usable.pool)?.local.units ?? 0)
      : 0;
    const policy = strictestPolicy(ctx.policies as readonly KeyPolicy[]);
    const decision = fallbackDecision(policy, {
      qkdAvailableBits: usable ? units * usable.unitBits : 0,
      requestedBits: ctx.sizeBits,
      minQkdBits,
    });
    if (decision === "refuse") return null;
    // "qkd" here means this one key would fit the pool although the request did not: it is still a
    // fallback key, with as many QKD bits as it can hold.
    const take = usable ? Math.min(units, Math.ceil(ctx.sizeBits / usable.unitBits)) : 0;
    let qkd: { unitIds: string[]; material: Uint8Array } | null = null;
    if (take > 0 && usable) {
      const got = await store.issueLocal({
        pool: usable.pool,
        keyId: pqcUnitsKeyId(ctx.keyId),
        units: take,
        sizeBits: take * usable.unitBits,
        masterSae: ctx.masterSae,
        slaveSaes: [pqcUnitsSlave(kmeId)],
        nowMs: ctx.nowMs,
      });
      // Another request took the units meanwhile: decide again on none.
      if (got) qkd = { unitIds: got.key.unitIds, material: got.material };
      else if (
        fallbackDecision(policy, { qkdAvailableBits: 0, requestedBits: ctx.sizeBits, minQkdBits }) ===
        "refuse"
      )
        return null;
    }
    const settle = async (verdict: "discard" | "release") => {
      if (!qkd) return;
      qkd.material.fill(0);
      if (verdict === "discard") await store.confirmIssued(pqcUnitsKeyId(ctx.keyId), ctx.nowMs);
      else await store.releaseIssued(pqcUnitsKeyId(ctx.keyId), ctx.nowMs);
    };

    const context: HybridContext = {
      keyId: ctx.keyId,
      masterKme: kmeId,
      slaveKme: ctx.slaveKmeId,
      masterSae: ctx.masterSae,
      slaveSaes: ctx.slaveSaes,
    };
    let hybrid: ReturnType<typeof encapsulateHybrid>;
    try {
      hybrid = encapsulateHybrid({
        peerPublicKey,
        qkdMaterial: qkd?.material,
        context,
        sizeBits: ctx.sizeBits,
        random,
      });
    } catch (error) {
      await settle("release");
      throw error;
    }
    const qkdBits = qkd ? qkd.material.length * 8 : 0;
    let outcome: PqcReserveOutcome;
    try {
      outcome = await transport.pqcReserve(ctx.slaveKmeId, {
        keyId: ctx.keyId,
        sizeBits: ctx.sizeBits,
        masterSae: ctx.masterSae,
        slaveSaes: [...ctx.slaveSaes],
        ciphertext: encodeBase64(hybrid.ciphertext),
        pool: qkd && usable ? usable.pool : null,
        qkdUnitIds: qkd ? qkd.unitIds : [],
        qkdBits,
      });
    } catch (error) {
      onError(error, `pqc-fallback: sending key ${ctx.keyId} to KME ${ctx.slaveKmeId} (answer unknown)`);
      outcome = { status: "refused", unitsConsumed: true, reason: "no answer" };
    }
    const unitIds = qkd?.unitIds ?? [];
    await settle(outcome.status === "ok" || outcome.unitsConsumed ? "discard" : "release");
    if (outcome.status !== "ok") {
      hybrid.material.fill(0);
      onError(
        new Error(`KME ${ctx.slaveKmeId} refused fallback key ${ctx.keyId}: ${outcome.reason}`),
        "pqc-fallback",
      );
      return null;
    }
    await audit({
      atMs: ctx.nowMs,
      kind: "pqc-fallback",
      actor: ctx.slaveKmeId,
      pool: qkd && usable ? usable.pool : undefined,
      keyIds: [ctx.keyId],
      bits: ctx.sizeBits,
      detail: `sent hybrid ML-KEM-768 key; policy ${policy}; qkd bits ${qkdBits}${unitIds.length ? `; units ${unitIds.join(",")}` : ""}; slaves ${ctx.slaveSaes.join(",")}`,
    });
    return { material: hybrid.material, extension: hybrid.extension };
  };

  /** Slave side. */
  const receive = async (fromKmeId: string, r: PqcReserveRequest): Promise<PqcReserveOutcome> => {
    const now = clock();
    const refuse = (reason: string, unitsConsumed = false): PqcReserveOutcome => ({
      status: "refused",
      unitsConsumed,
      reason,
    });
    const link = r.pool === null ? undefined : poolByName.get(r.pool);
    if (fromKmeId === kmeId) return refuse("a KME cannot send a fallback key to itself");
    if (r.pool !== null && (!link || link.peerKmeId !== fromKmeId))
      return refuse(`pool ${r.pool} is not shared with KME ${fromKmeId}`);
    if (link && r.qkdBits !== r.qkdUnitIds.length * link.unitBits)
      return refuse(`${r.qkdUnitIds.length} units of pool ${link.pool} do not hold ${r.qkdBits} bits`);
    if (options.isLocalSae && r.slaveSaes.some((s) => !options.isLocalSae!(s)))
      return refuse("a slave SAE is not served by this KME");
    let ciphertext: Uint8Array;
    try {
      ciphertext = decodeBase64(r.ciphertext);
    } catch {
      return refuse("ciphertext is not valid base64");
    }

    let qkdMaterial: Uint8Array | undefined;
    if (link) {
      const slave = pqcUnitsSlave(fromKmeId);
      const unitsKeyId = pqcUnitsKeyId(r.keyId);
      try {
        const reserved = await store.reservePeer({
          pool: link.pool,
          keyId: unitsKeyId,
          unitIds: r.qkdUnitIds,
          sizeBits: r.qkdBits,
          masterSae: r.masterSae,
          slaveSaes: [slave],
          nowMs: now,
        });
        if (reserved !== "ok")
          return refuse(
            reserved === "duplicate-key"
              ? `key ${r.keyId} was already received`
              : "the QKD units named are not available here",
          );
        const taken = await store.takeReserved([unitsKeyId], slave, now);
        if (taken.status !== "ok")
          throw new Error(`the QKD units just reserved could not be taken (${taken.status})`);
        qkdMaterial = taken.keys[0].material;
      } catch (error) {
        onError(error, `pqc-fallback: taking QKD units named by KME ${fromKmeId}`);
        return refuse("this KME could not take the QKD units (internal error)", true);
      }
    }
    const consumed = link !== undefined;
    /** Refuses after the units were taken, leaving a trace for `pqcUnitsReceived`. */
    const refuseTaken = async (reason: string): Promise<PqcReserveOutcome> => {
      if (consumed)
        await audit({
          atMs: now,
          kind: "refused",
          actor: fromKmeId,
          pool: link.pool,
          keyIds: [r.keyId],
          bits: r.qkdBits,
          detail: `pqc-fallback: QKD units taken, key refused (${reason}); units ${r.qkdUnitIds.join(",")}`,
        });
      return refuse(reason, consumed);
    };
    let material: Uint8Array;
    try {
      material = decapsulateHybrid({
        secretKey,
        ciphertext,
        qkdMaterial,
        context: {
          keyId: r.keyId,
          masterKme: fromKmeId,
          slaveKme: kmeId,
          masterSae: r.masterSae,
          slaveSaes: r.slaveSaes,
        },
        sizeBits: r.sizeBits,
      });
    } catch (error) {
      return refuseTaken(`pqc: ${(error as Error).message}`);
    } finally {
      qkdMaterial?.fill(0);
    }
    try {
      const reserved = await store.reserveMaterial({
        keyId: r.keyId,
        material,
        sizeBits: r.sizeBits,
        masterSae: r.masterSae,
        slaveSaes: r.slaveSaes,
        origin: `pqc:${fromKmeId}`,
        nowMs: now,
      });
      if (reserved !== "ok") return await refuseTaken(`key ID ${r.keyId} already exists here`);
    } catch (error) {
      onError(error, `pqc-fallback: reserving key ${r.keyId}`);
      return await refuseTaken("this KME could not reserve the key (internal error)");
    } finally {
      material.fill(0);
    }
    await audit({
      atMs: now,
      kind: "pqc-fallback",
      actor: fromKmeId,
      pool: link?.pool,
      keyIds: [r.keyId],
      bits: r.sizeBits,
      detail: `received hybrid ML-KEM-768 key; qkd bits ${r.qkdBits}${r.qkdUnitIds.length ? `; units ${r.qkdUnitIds.join(",")}` : ""}; master ${r.masterSae}; slaves ${r.slaveSaes.join(",")}`,
    });
    return { status: "ok" };
  };

  return Object.assign(hook, { receive });
}

/**
 * Whether this KME took the QKD units of fallback key `unitsKeyId` (a {@link pqcUnitsKeyId}) named by
 * `fromKmeId`, for the peer routes' `exists` answer (read from the audit trail: the KeyStore has no
 * lookup by key ID). Undefined when `unitsKeyId` is not such an ID.
 */
export async function pqcUnitsReceived(
  store: KeyStore,
  fromKmeId: string,
  unitsKeyId: string,
): Promise<boolean | undefined> {
  if (!unitsKeyId.startsWith("pqc-qkd:")) return undefined;
  const keyId = unitsKeyId.slice("pqc-qkd:".length);
  const received = await store.queryAudit({ kind: "pqc-fallback", keyId, actor: fromKmeId });
  if (received.some((e) => e.detail?.startsWith("received "))) return true;
  const refused = await store.queryAudit({ kind: "refused", keyId, actor: fromKmeId });
  return refused.some((e) => e.detail?.startsWith("pqc-fallback: QKD units taken"));
}
