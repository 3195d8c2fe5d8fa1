/**
 * Post-quantum hybrid fallback keys for the KMS (issue 5).
 *
 * When the QKD pool between two KMEs cannot cover a request and the SAE's {@link KeyPolicy} allows it,
 * the two KMEs agree on a key with ML-KEM-768 (FIPS 203) and mix into it whatever QKD key they do
 * have. The construction, for a key of `n` bits:
 *
 * ```
 *   master KME                                     slave KME (long-term key pair ek, dk)
 *   (ct, ss) = ML-KEM-768.Encaps(ek; m)   ── ct ──▶  ss = ML-KEM-768.Decaps(dk, ct)
 *   IKM  = ss ‖ Q                  (Q = QKD key bits both ends hold, possibly empty)
 *   PRK  = HKDF-Extract(salt = HYBRID_KDF_LABEL, IKM)                      (HMAC-SHA-256)
 *   key  = HKDF-Expand(PRK, info = encode(label, key ID, master KME, slave KME, master SAE,
 *                                         slave SAEs, n, |Q|, SHA-256(ek), ct), n / 8 bytes)
 * ```
 *
 * Why this shape ("combine, don't choose"):
 * - Concatenating the secrets and feeding them to one KDF is the combiner of NIST SP 800-56C Rev. 2
 *   §2 (a shared secret Z′ = Z ‖ T with an auxiliary secret T), of the hybrid key-exchange design for
 *   TLS (draft-ietf-tls-hybrid-design: "concatenate the shared secrets, then KDF") and of ETSI TS
 *   103 744. HKDF (RFC 5869) is one of SP 800-56C's two-step (extract-then-expand) KDFs. If either
 *   ingredient is secret and unpredictable (ML-KEM holds up, or the QKD bits are good), IKM has that
 *   much min-entropy and HMAC's extraction turns it into a pseudorandom PRK: the attacker must break
 *   both ML-KEM-768 and the QKD key. Choosing one or the other would only be as strong as the one
 *   chosen.
 * - The info binds the key to its use: its ID, both KMEs, both SAE sides and its size, so a key
 *   derived for one request can never be replayed as another's, and both ends must agree on every
 *   field or get unrelated keys. It also binds the ML-KEM ciphertext and the recipient's public key
 *   (the KEM-combiner argument of Giacon, Heuer and Poettering, PKC 2018: hashing the transcript keeps
 *   the combined KEM IND-CCA without relying on ML-KEM's own ciphertext binding).
 * - The QKD bit count is in the info too, so "n QKD bits" and "n − 8 QKD bits" can never collide.
 *
 * What a hybrid key is **not**: it is only computationally secure (at most the 256-bit strength of
 * HMAC-SHA-256; ML-KEM-768 is NIST category 3), never information-theoretically secure like a pure QKD
 * key, however many QKD bits went in. The `key_extension` returned to the SAE says so
 * ({@link HybridKeyExtension}), and the KMS records a "pqc-fallback" audit event.
 *
 * This module is pure: no clock, no host randomness (the caller injects `random`), no I/O. It does not
 * decide which QKD units to mix in or move the ciphertext between KMEs; the KMS does, and must give
 * both ends the same QKD bits (the master names the units, as for an ordinary key).
 *
 * @module
 */
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";

/** Randomness source: returns `n` fresh uniformly random bytes (a CSPRNG or QRNG in production). */
export type RandomBytes = (n: number) => Uint8Array;

/** Bytes of an ML-KEM-768 encapsulation (public) key. */
export const ML_KEM_768_PUBLIC_KEY_BYTES = 1184;
/** Bytes of an ML-KEM-768 decapsulation (secret) key. */
export const ML_KEM_768_SECRET_KEY_BYTES = 2400;
/** Bytes of an ML-KEM-768 ciphertext. */
export const ML_KEM_768_CIPHERTEXT_BYTES = 1088;
/** Largest hybrid key, in bits: HKDF-SHA-256 can expand to at most 255 blocks of 32 bytes. */
export const HYBRID_MAX_KEY_BITS = 255 * 32 * 8;
/** Domain-separation label: the HKDF salt and the first field of the info. Change it with the format. */
export const HYBRID_KDF_LABEL = "qnet/kms/hybrid/ml-kem-768+qkd/hkdf-sha256/v1";
/** The `qnet_key_origin` value of a hybrid key. */
export const HYBRID_KEY_ORIGIN = "hybrid-ml-kem-768";

/** A KME's long-term ML-KEM-768 key pair; the public key goes to the KMEs that may encapsulate to it. */
export interface PqcKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/**
 * What a hybrid key is bound to. Both KMEs must build it identically (same strings, same slave order),
 * otherwise they derive unrelated keys.
 */
export interface HybridContext {
  /** The key ID handed to the SAEs (a UUID in ETSI GS QKD 014). */
  keyId: string;
  /** KME of the master SAE: the one that encapsulates. */
  masterKme: string;
  /** KME of the slave SAE: the owner of the key pair encapsulated to. */
  slaveKme: string;
  masterSae: string;
  /** The slave SAE followed by any additional slaves, in the order of the request. */
  slaveSaes: readonly string[];
}

/**
 * The `key_extension` object returned to the SAE with a hybrid key. ETSI GS QKD 014 requires
 * vendor-specific names to carry a prefix ending in "_"; ours is `qnet_`.
 */
// A type alias, not an interface, so that it is assignable to `Record<string, unknown>` (JSON objects).
export type HybridKeyExtension = {
  /** Always {@link HYBRID_KEY_ORIGIN}: this key is not a pure QKD key. */
  qnet_key_origin: typeof HYBRID_KEY_ORIGIN;
  /** How many QKD bits were mixed in; 0 means the key rests on ML-KEM-768 alone. */
  qnet_qkd_bits: number;
  /** The KDF, so that an auditor can tell the construction apart from later versions. */
  qnet_kdf: "HKDF-SHA-256";
};

/** Arguments of {@link encapsulateHybrid} (run at the master's KME). */
export interface EncapsulateHybridArgs {
  /** The slave KME's ML-KEM-768 encapsulation key. */
  peerPublicKey: Uint8Array;
  /** QKD key bits both KMEs hold for this key; absent or empty when the pool is dry. */
  qkdMaterial?: Uint8Array;
  context: HybridContext;
  /** Size of the key in bits: a positive multiple of 8, at most {@link HYBRID_MAX_KEY_BITS}. */
  sizeBits: number;
  random: RandomBytes;
}

/** Result of {@link encapsulateHybrid}. */
export interface EncapsulatedHybrid {
  /** The key for the SAEs, `sizeBits / 8` bytes. */
  material: Uint8Array;
  /** The ML-KEM ciphertext to send to the slave KME (public; it reveals nothing about the key). */
  ciphertext: Uint8Array;
  /** The `key_extension` to return to the SAE with the key. */
  extension: HybridKeyExtension;
}

/** Arguments of {@link decapsulateHybrid} (run at the slave's KME). */
export interface DecapsulateHybridArgs {
  /** This KME's ML-KEM-768 decapsulation key. */
  secretKey: Uint8Array;
  /** The ciphertext received from the master KME. */
  ciphertext: Uint8Array;
  /** The same QKD bits the master KME mixed in. */
  qkdMaterial?: Uint8Array;
  context: HybridContext;
  sizeBits: number;
}

/**
 * A fresh ML-KEM-768 key pair for a KME, from 64 bytes of `random` (the FIPS 203 seeds d ‖ z).
 *
 * @throws RangeError if `random` does not return 64 bytes.
 */
export function pqcKeyPair(random: RandomBytes): PqcKeyPair {
  const seed = draw(random, ml_kem768.lengths.seed ?? 64, "pqcKeyPair");
  try {
    const { publicKey, secretKey } = ml_kem768.keygen(seed);
    return { publicKey, secretKey };
  } finally {
    seed.fill(0); // the seed determines the secret key: do not leave it lying around
  }
}

/**
 * Master side: encapsulates a fresh ML-KEM-768 secret to the slave KME and derives the hybrid key
 * from it, the QKD bits (if any) and the context. Send `ciphertext` to the slave KME, which calls
 * {@link decapsulateHybrid} with the same QKD bits, context and size.
 *
 * @throws RangeError naming the bad argument (public key length or encoding, size, context fields,
 *   randomness length). Messages never contain key material.
 */
export function encapsulateHybrid(args: EncapsulateHybridArgs): EncapsulatedHybrid {
  const where = "encapsulateHybrid";
  const { peerPublicKey, context, sizeBits, random } = args;
  checkSize(sizeBits, where);
  checkContext(context, where);
  checkBytes(peerPublicKey, ML_KEM_768_PUBLIC_KEY_BYTES, "peerPublicKey", where);
  const qkd = checkQkd(args.qkdMaterial, where);
  const m = draw(random, ml_kem768.lengths.msgRand ?? 32, where);
  let encapsulated: { cipherText: Uint8Array; sharedSecret: Uint8Array };
  try {
    encapsulated = ml_kem768.encapsulate(peerPublicKey, m);
  } catch {
    // FIPS 203 §7.2 modulus check failed: not an ML-KEM-768 key (the library's message is not echoed).
    throw new RangeError(`${where}: peerPublicKey is not a valid ML-KEM-768 encapsulation key`);
  } finally {
    m.fill(0);
  }
  const { cipherText, sharedSecret } = encapsulated;
  const material = derive(sharedSecret, qkd, context, sizeBits, peerPublicKey, cipherText);
  return { material, ciphertext: cipherText, extension: hybridKeyExtension(qkd.length * 8) };
}

/**
 * Slave side: recovers the ML-KEM-768 secret from the master's ciphertext and derives the same key as
 * {@link encapsulateHybrid}. A ciphertext that was altered, or a secret key that does not match the
 * public key used, yields an unrelated key rather than an error (FIPS 203 implicit rejection), so the
 * mismatch shows only when the SAEs use the key; the KMS should confirm agreement (e.g. by a key
 * confirmation hash) before it releases the key, if it needs to know sooner.
 *
 * @throws RangeError naming the bad argument (lengths, size, context fields, a malformed secret key).
 */
export function decapsulateHybrid(args: DecapsulateHybridArgs): Uint8Array {
  const where = "decapsulateHybrid";
  const { secretKey, ciphertext, context, sizeBits } = args;
  checkSize(sizeBits, where);
  checkContext(context, where);
  checkBytes(secretKey, ML_KEM_768_SECRET_KEY_BYTES, "secretKey", where);
  checkBytes(ciphertext, ML_KEM_768_CIPHERTEXT_BYTES, "ciphertext", where);
  const qkd = checkQkd(args.qkdMaterial, where);
  let sharedSecret: Uint8Array;
  let publicKey: Uint8Array;
  try {
    sharedSecret = ml_kem768.decapsulate(ciphertext, secretKey);
    // The secret key embeds its public key (FIPS 203 dk = dk_PKE ‖ ek ‖ H(ek) ‖ z): bind the same ek
    // the master encapsulated to.
    publicKey = ml_kem768.getPublicKey(secretKey);
  } catch {
    // The library's hash check (FIPS 203 §7.3) failed: the key is corrupt. Do not echo details.
    throw new RangeError(`${where}: secretKey is not a valid ML-KEM-768 decapsulation key`);
  }
  return derive(sharedSecret, qkd, context, sizeBits, publicKey, ciphertext);
}

/** The `key_extension` of a hybrid key mixing `qkdBits` QKD bits. */
export function hybridKeyExtension(qkdBits: number): HybridKeyExtension {
  if (!Number.isSafeInteger(qkdBits) || qkdBits < 0)
    throw new RangeError(`hybridKeyExtension: qkdBits must be a non-negative integer, got ${qkdBits}`);
  return { qnet_key_origin: HYBRID_KEY_ORIGIN, qnet_qkd_bits: qkdBits, qnet_kdf: "HKDF-SHA-256" };
}

/**
 * An SAE's policy for keys when its QKD pool cannot cover a request:
 * - `qkd-only`: pure QKD keys only; never fall back.
 * - `hybrid`: fall back only to a hybrid key that mixes in QKD bits; at least `minQkdBits` of them
 *   must exist (so the key still rests on QKD if ML-KEM falls).
 * - `pqc-allowed`: fall back even with no QKD bits at all, i.e. on ML-KEM-768 alone (the QKD bits that
 *   do exist are still mixed in: combining never weakens the key).
 */
export type KeyPolicy = "qkd-only" | "hybrid" | "pqc-allowed";

/** The policies, strictest first (the order {@link strictestPolicy} relies on). */
export const KEY_POLICIES: readonly KeyPolicy[] = ["qkd-only", "hybrid", "pqc-allowed"];

/**
 * The policy that governs a key shared by several SAEs (the master and every slave): the strictest of
 * theirs, since each of them will rely on the key (`qkd-only` before `hybrid` before `pqc-allowed`).
 *
 * @throws RangeError if `policies` is empty or holds an unknown policy.
 */
export function strictestPolicy(policies: readonly KeyPolicy[]): KeyPolicy {
  if (!Array.isArray(policies) || policies.length === 0)
    throw new RangeError("strictestPolicy: policies must be a non-empty array");
  let rank = KEY_POLICIES.length - 1;
  for (const [i, p] of policies.entries()) {
    const r = KEY_POLICIES.indexOf(p);
    if (r < 0)
      throw new RangeError(
        `strictestPolicy: policies[${i}] must be one of ${KEY_POLICIES.join(", ")}, got ${String(p)}`,
      );
    rank = Math.min(rank, r);
  }
  return KEY_POLICIES[rank];
}

/** What {@link fallbackDecision} decides. */
export type FallbackDecision = "qkd" | "hybrid" | "refuse";

/** The pool state {@link fallbackDecision} decides on. */
export interface FallbackState {
  /** QKD bits the master's KME could allocate now for this slave. */
  qkdAvailableBits: number;
  /** Bits the request needs in total. */
  requestedBits: number;
  /**
   * For policy `hybrid`: the fewest QKD bits that make a hybrid key acceptable. Default 1 ("whatever
   * QKD bits exist, but some"). Operators who want the QKD side to carry real strength on its own
   * should set e.g. 128: a hybrid key with q QKD bits resists a broken ML-KEM with only 2^q guesses.
   */
  minQkdBits?: number;
}

/**
 * Decides how to serve a request, given the SAE's policy and the pool level:
 * - `"qkd"` whenever the pool covers the request, whatever the policy (QKD keys are always preferred);
 * - otherwise `"refuse"` for `qkd-only`; for `hybrid`, `"hybrid"` if at least `minQkdBits` (default 1)
 *   QKD bits exist, else `"refuse"`; for `pqc-allowed`, always `"hybrid"` (with zero QKD bits the key
 *   rests on ML-KEM-768 alone).
 *
 * A `"hybrid"` decision means: mix in the available QKD bits, up to `requestedBits`, through
 * {@link encapsulateHybrid}. Pure and total: same inputs, same answer.
 *
 * @throws RangeError for an unknown policy or bit counts that are not non-negative integers
 *   (`requestedBits` must be positive).
 */
export function fallbackDecision(policy: KeyPolicy, state: FallbackState): FallbackDecision {
  const where = "fallbackDecision";
  if (!KEY_POLICIES.includes(policy))
    throw new RangeError(`${where}: policy must be one of ${KEY_POLICIES.join(", ")}, got ${String(policy)}`);
  const { qkdAvailableBits, requestedBits, minQkdBits = 1 } = state;
  if (!Number.isSafeInteger(qkdAvailableBits) || qkdAvailableBits < 0)
    throw new RangeError(
      `${where}: qkdAvailableBits must be a non-negative integer, got ${qkdAvailableBits}`,
    );
  if (!Number.isSafeInteger(requestedBits) || requestedBits <= 0)
    throw new RangeError(`${where}: requestedBits must be a positive integer, got ${requestedBits}`);
  if (!Number.isSafeInteger(minQkdBits) || minQkdBits < 1)
    throw new RangeError(`${where}: minQkdBits must be a positive integer, got ${minQkdBits}`);
  if (qkdAvailableBits >= requestedBits) return "qkd";
  switch (policy) {
    case "qkd-only":
      return "refuse";
    case "hybrid":
      return qkdAvailableBits >= minQkdBits ? "hybrid" : "refuse";
    case "pqc-allowed":
      return "hybrid";
  }
}

// ---------------------------------------------------------------------------------------------------

const utf8 = new TextEncoder();

/** HKDF-SHA-256 over ss ‖ qkd with the context as info; wipes the intermediate secrets. */
function derive(
  sharedSecret: Uint8Array,
  qkd: Uint8Array,
  context: HybridContext,
  sizeBits: number,
  publicKey: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  // ss has a fixed length (32 bytes), so ss ‖ Q parses uniquely; |Q| is also bound in the info.
  const ikm = new Uint8Array(sharedSecret.length + qkd.length);
  ikm.set(sharedSecret, 0);
  ikm.set(qkd, sharedSecret.length);
  const info = encodeInfo(context, sizeBits, qkd.length * 8, sha256(publicKey), ciphertext);
  try {
    return hkdf(sha256, ikm, utf8.encode(HYBRID_KDF_LABEL), info, sizeBits / 8);
  } finally {
    // Best effort in JavaScript (the engine may have copied them), but cheap.
    ikm.fill(0);
    sharedSecret.fill(0);
  }
}

/**
 * Injective encoding of the context: every field length-prefixed (4-byte big-endian), so no two
 * different contexts encode alike (e.g. SAE IDs "ab","c" vs "a","bc").
 */
function encodeInfo(
  c: HybridContext,
  sizeBits: number,
  qkdBits: number,
  publicKeyHash: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  const parts: Uint8Array[] = [];
  const field = (bytes: Uint8Array) => {
    parts.push(u32(bytes.length), bytes);
  };
  field(utf8.encode(HYBRID_KDF_LABEL));
  field(utf8.encode(c.keyId));
  field(utf8.encode(c.masterKme));
  field(utf8.encode(c.slaveKme));
  field(utf8.encode(c.masterSae));
  parts.push(u32(c.slaveSaes.length));
  for (const s of c.slaveSaes) field(utf8.encode(s));
  parts.push(u32(sizeBits), u32(qkdBits));
  field(publicKeyHash);
  field(ciphertext);
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u32(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

function draw(random: RandomBytes, n: number, where: string): Uint8Array {
  if (typeof random !== "function") throw new RangeError(`${where}: random must be a function`);
  const bytes = random(n);
  if (!(bytes instanceof Uint8Array) || bytes.length !== n)
    throw new RangeError(`${where}: random(${n}) must return a Uint8Array of ${n} bytes`);
  // Copy, so wiping it cannot clobber a buffer the caller reuses.
  return bytes.slice();
}

function checkSize(sizeBits: number, where: string): void {
  if (
    !Number.isSafeInteger(sizeBits) ||
    sizeBits <= 0 ||
    sizeBits % 8 !== 0 ||
    sizeBits > HYBRID_MAX_KEY_BITS
  )
    throw new RangeError(
      `${where}: sizeBits must be a positive multiple of 8 up to ${HYBRID_MAX_KEY_BITS}, got ${sizeBits}`,
    );
}

function checkBytes(value: Uint8Array, length: number, name: string, where: string): void {
  if (!(value instanceof Uint8Array)) throw new RangeError(`${where}: ${name} must be a Uint8Array`);
  if (value.length !== length)
    throw new RangeError(`${where}: ${name} must be ${length} bytes (ML-KEM-768), got ${value.length}`);
}

function checkQkd(qkd: Uint8Array | undefined, where: string): Uint8Array {
  if (qkd === undefined) return new Uint8Array(0);
  if (!(qkd instanceof Uint8Array)) throw new RangeError(`${where}: qkdMaterial must be a Uint8Array`);
  // Bound so that qkdBits fits the 32-bit field of the info.
  if (qkd.length > 0x0fffffff)
    throw new RangeError(`${where}: qkdMaterial is too long (${qkd.length} bytes)`);
  return qkd;
}

function checkContext(c: HybridContext, where: string): void {
  if (c === null || typeof c !== "object") throw new RangeError(`${where}: context must be an object`);
  for (const name of ["keyId", "masterKme", "slaveKme", "masterSae"] as const)
    if (typeof c[name] !== "string" || c[name].length === 0)
      throw new RangeError(`${where}: context.${name} must be a non-empty string`);
  if (!Array.isArray(c.slaveSaes) || c.slaveSaes.length === 0)
    throw new RangeError(`${where}: context.slaveSaes must be a non-empty array of SAE IDs`);
  c.slaveSaes.forEach((s, i) => {
    if (typeof s !== "string" || s.length === 0)
      throw new RangeError(`${where}: context.slaveSaes[${i}] must be a non-empty string`);
  });
}
