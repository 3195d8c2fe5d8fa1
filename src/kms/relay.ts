/**
 * Trusted-node key relay (issue 5): how a KME delivers a key to an SAE at a site it shares no QKD link
 * with, hop by hop through the KMEs in between, each of which is trusted (it sees the key).
 *
 * Along a path of KMEs K0 → K1 → … → Kn (n = h hops):
 * 1. K0 draws the key K (`sizeBits` bits) from its random source ({@link drawRelayKey}).
 * 2. Hop i (K_i → K_i+1) sends C_i = K ⊕ P_i, where the pad P_i is fresh key of the QKD link
 *    K_i–K_i+1 that both ends hold, named by its unit IDs ({@link buildRelayMessage}).
 * 3. K_i+1 recovers K = C_i ⊕ P_i ({@link openRelayMessage}) and, unless it is Kn, repeats step 2 with
 *    the next link's pad. Kn reserves K for the slave SAEs (`KeyStore.reserveMaterial`, origin
 *    `relay:K0>…>Kn`).
 *
 * Security: each P_i is uniform, secret and used once, so each C_i is uniform and independent of K (a
 * one-time pad: information-theoretic, unlike the hybrid keys of pqc.ts). An eavesdropper who sees every C_i
 * learns nothing; the price is that every intermediate KME learns K, hence "trusted" node. Pads must
 * never be reused: C ⊕ C′ = K ⊕ K′ for two keys padded with the same P. The store already deletes a
 * unit once taken; this module checks again against a caller-kept set of used unit IDs per link end
 * ({@link PadLedger}), because a reused pad fails silently and totally.
 *
 * Cost: relaying n bits across h hops consumes h·n bits of link key, n on every link of the path (plus
 * the rounding of the last unit on each link when n is not a multiple of the unit size: a unit is
 * consumed whole). The alternative of taking K itself from the K0–K1 link key costs the same h·n bits
 * (n for K, n per later hop), saves only the draw of K, and would need a different first message, so it
 * is not offered.
 *
 * Pure: no clock (times are passed in), no host randomness (injected), no I/O. The KMS moves messages
 * and takes pad units from the store.
 *
 * @module
 */
import type { AuditEvent, KeyUnit } from "./key-store.js";

/** Randomness source: returns `n` fresh uniformly random bytes. */
export type RandomBytes = (n: number) => Uint8Array;

/** A one-time pad: link key both ends of one hop hold, and the IDs of the units it was cut from. */
export interface Pad {
  /** The units it was cut from, in order; each is consumed whole. */
  unitIds: readonly string[];
  /** Exactly as long as the key it pads. */
  material: Uint8Array;
}

/**
 * Pad unit IDs already used at one end of one link (or one KME, since unit IDs are unique in a store).
 * The caller keeps it (in memory or persisted alongside the store) and passes it to every hop it
 * sends or receives.
 */
export type PadLedger = Set<string>;

/**
 * The KME-to-KME relay request for one hop: sent by `path[hop]` to `path[hop + 1]` over the
 * authenticated KME-to-KME channel. Carries no key material in the clear: `ciphertext` is K ⊕ P_hop.
 */
export interface RelayMessage {
  /** The key ID the SAEs will use (a UUID). */
  keyId: string;
  /** Index of this hop: 0 for K0 → K1, …, path.length − 2 for the last. */
  hop: number;
  /** The KME IDs K0 … Kn: the whole route, so each node knows where to forward. */
  path: string[];
  /** K ⊕ P_hop, base64 (RFC 4648, padded). */
  ciphertext: string;
  /** Key size in bits (a positive multiple of 8). */
  sizeBits: number;
  masterSae: string;
  /** The slave SAE and any additional slaves, all served by the last KME. */
  slaveSaes: string[];
  /** The units of the link path[hop]–path[hop + 1] that form the pad, in order. */
  padUnitIds: string[];
}

/** A directed link of the relay graph: `from` can pad `availableBits` bits of relay towards `to`. */
export interface RelayLink {
  from: string;
  to: string;
  /**
   * Bits of the link's pool that `from` may allocate (its `local` direction, i.e. the `peer` direction
   * at `to`). A link usable both ways appears twice, once per direction.
   */
  availableBits: number;
}

/**
 * Pads a key for one hop: K ⊕ P. Pure: checks lengths only. Use {@link buildRelayMessage} to also
 * check and record the pad's units.
 *
 * @throws RangeError if the pad is not exactly as long as the key (a shorter pad would leave bits
 *   in the clear; a longer one wastes link key).
 */
export function relayHop(keyMaterial: Uint8Array, padMaterial: Uint8Array): Uint8Array {
  return xor(keyMaterial, padMaterial, "relayHop", "keyMaterial");
}

/**
 * Removes one hop's pad: C ⊕ P = K.
 *
 * @throws RangeError if the pad is not exactly as long as the ciphertext.
 */
export function unwrapHop(ciphertext: Uint8Array, padMaterial: Uint8Array): Uint8Array {
  return xor(ciphertext, padMaterial, "unwrapHop", "ciphertext");
}

/**
 * Draws the key to relay at K0: `sizeBits / 8` bytes of `random`.
 *
 * @throws RangeError if `sizeBits` is not a positive multiple of 8 or `random` returns the wrong length.
 */
export function drawRelayKey(sizeBits: number, random: RandomBytes): Uint8Array {
  checkSize(sizeBits, "drawRelayKey");
  const n = sizeBits / 8;
  const bytes = typeof random === "function" ? random(n) : undefined;
  if (!(bytes instanceof Uint8Array) || bytes.length !== n)
    throw new RangeError(`drawRelayKey: random(${n}) must return a Uint8Array of ${n} bytes`);
  return bytes.slice();
}

/**
 * Cuts a pad of `sizeBits` from link units taken from the store (in order). Every unit given is
 * consumed, so give only as many as needed: the function refuses surplus units rather than silently
 * wasting (or, worse, later reusing) them.
 *
 * @throws RangeError if the units are too few or one too many, or a unit ID repeats.
 */
export function padFromUnits(units: readonly KeyUnit[], sizeBits: number): Pad {
  const where = "padFromUnits";
  checkSize(sizeBits, where);
  const need = sizeBits / 8;
  const material = new Uint8Array(need);
  const unitIds: string[] = [];
  let at = 0;
  for (const [i, u] of units.entries()) {
    if (at >= need) throw new RangeError(`${where}: units[${i}] is not needed for ${sizeBits} bits`);
    if (typeof u.unitId !== "string" || u.unitId.length === 0)
      throw new RangeError(`${where}: units[${i}].unitId must be a non-empty string`);
    if (!(u.material instanceof Uint8Array) || u.material.length === 0)
      throw new RangeError(`${where}: units[${i}].material must be a non-empty Uint8Array`);
    const take = Math.min(u.material.length, need - at);
    material.set(u.material.subarray(0, take), at);
    at += take;
    unitIds.push(u.unitId);
  }
  if (at < need)
    throw new RangeError(`${where}: units hold ${at * 8} bits, fewer than sizeBits (${sizeBits})`);
  checkUnitIds(unitIds, where, "units");
  return { unitIds, material };
}

/** Arguments of {@link buildRelayMessage}. */
export interface BuildRelayMessageArgs {
  keyId: string;
  /** Index of the hop being sent (0 at K0). */
  hop: number;
  path: readonly string[];
  /** The key K, `sizeBits / 8` bytes. */
  key: Uint8Array;
  /** Fresh key of the link path[hop]–path[hop + 1]. */
  pad: Pad;
  /** Pad units already used by the sender; the pad's units are added to it. */
  used: PadLedger;
  sizeBits: number;
  masterSae: string;
  slaveSaes: readonly string[];
}

/**
 * The sender's side of one hop: pads the key and builds the message for `path[hop + 1]`. Records the
 * pad's units in `used` (only if everything else is valid, so a refused call consumes nothing).
 *
 * @throws RangeError naming the bad argument; in particular if any pad unit is already in `used`
 *   (pad reuse).
 */
export function buildRelayMessage(args: BuildRelayMessageArgs): RelayMessage {
  const where = "buildRelayMessage";
  const message: RelayMessage = {
    keyId: args.keyId,
    hop: args.hop,
    path: (Array.isArray(args.path) ? [...args.path] : args.path) as string[],
    ciphertext: "",
    sizeBits: args.sizeBits,
    masterSae: args.masterSae,
    slaveSaes: (Array.isArray(args.slaveSaes) ? [...args.slaveSaes] : args.slaveSaes) as string[],
    padUnitIds: args.pad && Array.isArray(args.pad.unitIds) ? [...args.pad.unitIds] : [],
  };
  checkHeader(message, where);
  checkKeyBytes(args.key, message.sizeBits, "key", where);
  checkPad(args.pad, message.sizeBits, where);
  checkUnused(args.used, message.padUnitIds, where);
  message.ciphertext = toBase64(relayHop(args.key, args.pad.material));
  for (const id of message.padUnitIds) args.used.add(id);
  return message;
}

/** Arguments of {@link openRelayMessage}. */
export interface OpenRelayMessageArgs {
  /** This KME's ID: must be `path[hop + 1]`. */
  self: string;
  /** The link key named by `message.padUnitIds`, as this KME holds it. */
  pad: Pad;
  /** Pad units already used by this KME; the pad's units are added to it. */
  used: PadLedger;
}

/**
 * The receiver's side of one hop: checks the message (shape, that it is addressed to `self`, that the
 * pad is the one named and unused) and recovers K. Then forward it with
 * `buildRelayMessage({ ...hop + 1 })`, or, at the last KME (`isLastHop`), reserve it for the slaves.
 *
 * @throws RangeError naming the bad field or argument; in particular on pad reuse.
 */
export function openRelayMessage(message: RelayMessage, args: OpenRelayMessageArgs): Uint8Array {
  const where = "openRelayMessage";
  checkHeader(message, where);
  if (args.self !== message.path[message.hop + 1])
    throw new RangeError(
      `${where}: message hop ${message.hop} is addressed to ${message.path[message.hop + 1]}, not self`,
    );
  checkPad(args.pad, message.sizeBits, where);
  if (
    args.pad.unitIds.length !== message.padUnitIds.length ||
    args.pad.unitIds.some((id, i) => id !== message.padUnitIds[i])
  )
    throw new RangeError(`${where}: pad.unitIds differ from message.padUnitIds`);
  checkUnused(args.used, message.padUnitIds, where);
  const ciphertext = fromBase64(message.ciphertext, `${where}: message.ciphertext`);
  checkKeyBytes(ciphertext, message.sizeBits, "message.ciphertext", where);
  const key = unwrapHop(ciphertext, args.pad.material);
  for (const id of message.padUnitIds) args.used.add(id);
  return key;
}

/** True if the message's receiver is the last KME of the path, which reserves the key for the slaves. */
export function isLastHop(message: RelayMessage): boolean {
  return message.hop === message.path.length - 2;
}

/** The `origin` to pass to `KeyStore.reserveMaterial` at the last KME, e.g. "relay:siteA>siteB>siteC". */
export function relayOrigin(path: readonly string[]): string {
  return `relay:${path.join(">")}`;
}

/**
 * Parses and validates a relay message received as JSON, e.g. from another KME.
 *
 * @throws RangeError naming the first bad field.
 */
export function parseRelayMessage(value: unknown): RelayMessage {
  const where = "parseRelayMessage";
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new RangeError(`${where}: message must be an object`);
  const v = value as Record<string, unknown>;
  // Copy arrays so the caller's object cannot change under us; checkHeader checks every element.
  const copy = (x: unknown) => (Array.isArray(x) ? [...x] : x) as string[];
  const message: RelayMessage = {
    keyId: v.keyId as string,
    hop: v.hop as number,
    path: copy(v.path),
    ciphertext: v.ciphertext as string,
    sizeBits: v.sizeBits as number,
    masterSae: v.masterSae as string,
    slaveSaes: copy(v.slaveSaes),
    padUnitIds: copy(v.padUnitIds),
  };
  checkHeader(message, where);
  if (typeof message.ciphertext !== "string") throw new RangeError(`${where}: ciphertext must be a string`);
  checkKeyBytes(
    fromBase64(message.ciphertext, `${where}: ciphertext`),
    message.sizeBits,
    "ciphertext",
    where,
  );
  return message;
}

/** Options of {@link relayAuditEvent}. */
export interface RelayAuditOptions {
  /** Wall-clock time, ms since the epoch (passed in: the core reads no clock). */
  atMs: number;
  /** `"sent"` at `path[hop]`, `"received"` at `path[hop + 1]`. Default `"sent"`. */
  role?: "sent" | "received";
  /** The pool (QKD link ID) the pad came from, if known. */
  pool?: string;
}

/**
 * The audit event for one hop ("relayed"): who (the sending or receiving KME), the key ID, the pad
 * units and the bits of link key consumed (= the key size). Never material, never the ciphertext.
 * Each KME records one event per hop it sends or receives.
 */
export function relayAuditEvent(message: RelayMessage, options: RelayAuditOptions): AuditEvent {
  const where = "relayAuditEvent";
  checkHeader(message, where);
  if (!Number.isFinite(options.atMs)) throw new RangeError(`${where}: atMs must be a finite number`);
  const role = options.role ?? "sent";
  if (role !== "sent" && role !== "received")
    throw new RangeError(`${where}: role must be "sent" or "received", got ${String(role)}`);
  const from = message.path[message.hop];
  const to = message.path[message.hop + 1];
  const event: AuditEvent = {
    atMs: options.atMs,
    kind: "relayed",
    actor: role === "sent" ? from : to,
    keyIds: [message.keyId],
    bits: message.sizeBits,
    detail:
      `${role} hop ${message.hop + 1}/${message.path.length - 1} ${from}>${to}; ` +
      `pad units ${message.padUnitIds.join(",")}; route ${message.path.join(">")}; ` +
      `master ${message.masterSae}; slaves ${message.slaveSaes.join(",")}`,
  };
  if (options.pool !== undefined) event.pool = options.pool;
  return event;
}

/**
 * Plans a relay route from KME `from` to KME `to`: the path with the fewest hops over links that can
 * each pad `requiredBits`; among those, the one whose scarcest link has the most key (so the relay
 * drains the network's bottlenecks last); remaining ties go to the smaller next KME ID, so the answer
 * is deterministic. With parallel links between two KMEs, the best one counts.
 *
 * @param links - directed links with the bits `from` may allocate (see {@link RelayLink}).
 * @param requiredBits - bits each hop consumes: the key size, rounded up to whole units by the caller.
 * @returns the KME IDs from `from` to `to`, or null if no path has enough key on every link.
 * @throws RangeError on a malformed link, `from === to`, or a bad `requiredBits`.
 */
export function relayPath(
  links: readonly RelayLink[],
  from: string,
  to: string,
  requiredBits: number,
): string[] | null {
  const where = "relayPath";
  if (typeof from !== "string" || from.length === 0) throw new RangeError(`${where}: from must be a KME ID`);
  if (typeof to !== "string" || to.length === 0) throw new RangeError(`${where}: to must be a KME ID`);
  if (from === to) throw new RangeError(`${where}: from and to are the same KME (${from}): nothing to relay`);
  if (!Number.isSafeInteger(requiredBits) || requiredBits <= 0)
    throw new RangeError(`${where}: requiredBits must be a positive integer, got ${requiredBits}`);
  // Feasible links only, best parallel link per ordered pair; reverse adjacency for the BFS from `to`.
  const capacity = new Map<string, Map<string, number>>();
  const reverse = new Map<string, string[]>();
  for (const [i, l] of links.entries()) {
    if (l === null || typeof l !== "object") throw new RangeError(`${where}: links[${i}] must be an object`);
    if (typeof l.from !== "string" || l.from.length === 0 || typeof l.to !== "string" || l.to.length === 0)
      throw new RangeError(`${where}: links[${i}].from and .to must be KME IDs`);
    if (l.from === l.to) throw new RangeError(`${where}: links[${i}] is a loop at ${l.from}`);
    if (!Number.isFinite(l.availableBits) || l.availableBits < 0)
      throw new RangeError(`${where}: links[${i}].availableBits must be a non-negative number`);
    if (l.availableBits < requiredBits) continue;
    let out = capacity.get(l.from);
    if (!out) {
      out = new Map();
      capacity.set(l.from, out);
    }
    const old = out.get(l.to);
    if (old === undefined) {
      const r = reverse.get(l.to);
      if (r) r.push(l.from);
      else reverse.set(l.to, [l.from]);
    }
    if (old === undefined || l.availableBits > old) out.set(l.to, l.availableBits);
  }
  // Hops to `to` from every KME that can reach it, by BFS backwards; layer order is kept for the DP.
  const dist = new Map<string, number>([[to, 0]]);
  const order: string[] = [to];
  for (let i = 0; i < order.length && !dist.has(from); i++) {
    const v = order[i];
    for (const u of reverse.get(v) ?? []) {
      if (dist.has(u)) continue;
      dist.set(u, dist.get(v)! + 1);
      order.push(u);
    }
  }
  if (!dist.has(from)) return null;
  // Widest shortest path: walk forward from `from`, each step to a neighbour one hop nearer whose best
  // bottleneck is largest. best[v] = largest bottleneck of a shortest v→to path, computed nearest first.
  const best = new Map<string, number>([[to, Number.POSITIVE_INFINITY]]);
  for (const v of order) {
    if (v === to) continue;
    let b = Number.NEGATIVE_INFINITY;
    for (const [w, bits] of capacity.get(v) ?? [])
      if (dist.get(w) === dist.get(v)! - 1 && best.has(w)) b = Math.max(b, Math.min(bits, best.get(w)!));
    best.set(v, b);
  }
  const path = [from];
  let v = from;
  while (v !== to) {
    const target = best.get(v)!;
    let next: string | undefined;
    for (const [w, bits] of capacity.get(v) ?? []) {
      if (dist.get(w) !== dist.get(v)! - 1 || !best.has(w)) continue;
      if (Math.min(bits, best.get(w)!) !== target) continue;
      if (next === undefined || w < next) next = w;
    }
    v = next!;
    path.push(v);
  }
  return path;
}

// ---------------------------------------------------------------------------------------------------

function xor(a: Uint8Array, pad: Uint8Array, where: string, name: string): Uint8Array {
  if (!(a instanceof Uint8Array)) throw new RangeError(`${where}: ${name} must be a Uint8Array`);
  if (!(pad instanceof Uint8Array)) throw new RangeError(`${where}: padMaterial must be a Uint8Array`);
  if (pad.length !== a.length)
    throw new RangeError(
      `${where}: padMaterial must be exactly as long as ${name} (${a.length} bytes), got ${pad.length} bytes`,
    );
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ pad[i];
  return out;
}

function checkSize(sizeBits: number, where: string): void {
  if (!Number.isSafeInteger(sizeBits) || sizeBits <= 0 || sizeBits % 8 !== 0)
    throw new RangeError(`${where}: sizeBits must be a positive multiple of 8, got ${sizeBits}`);
}

function checkKeyBytes(bytes: Uint8Array, sizeBits: number, name: string, where: string): void {
  if (!(bytes instanceof Uint8Array)) throw new RangeError(`${where}: ${name} must be a Uint8Array`);
  if (bytes.length * 8 !== sizeBits)
    throw new RangeError(
      `${where}: ${name} must be sizeBits / 8 = ${sizeBits / 8} bytes, got ${bytes.length}`,
    );
}

function checkPad(pad: Pad, sizeBits: number, where: string): void {
  if (pad === null || typeof pad !== "object") throw new RangeError(`${where}: pad must be an object`);
  if (!Array.isArray(pad.unitIds)) throw new RangeError(`${where}: pad.unitIds must be an array`);
  checkUnitIds(pad.unitIds, where, "pad.unitIds");
  checkKeyBytes(pad.material, sizeBits, "pad.material", where);
}

function checkUnitIds(ids: readonly string[], where: string, name: string): void {
  if (ids.length === 0) throw new RangeError(`${where}: ${name} must name at least one unit`);
  const seen = new Set<string>();
  for (const [i, id] of ids.entries()) {
    if (typeof id !== "string" || id.length === 0)
      throw new RangeError(`${where}: ${name}[${i}] must be a non-empty string`);
    if (seen.has(id)) throw new RangeError(`${where}: ${name} names unit ${id} twice (pad reuse)`);
    seen.add(id);
  }
}

function checkUnused(used: PadLedger, ids: readonly string[], where: string): void {
  if (!(used instanceof Set)) throw new RangeError(`${where}: used must be a Set of pad unit IDs`);
  for (const id of ids)
    if (used.has(id)) throw new RangeError(`${where}: pad unit ${id} was already used (pad reuse refused)`);
}

/** Checks everything but the ciphertext: IDs, hop index, path, size, SAEs, pad unit IDs. */
function checkHeader(m: RelayMessage, where: string): void {
  if (m === null || typeof m !== "object") throw new RangeError(`${where}: message must be an object`);
  if (typeof m.keyId !== "string" || m.keyId.length === 0)
    throw new RangeError(`${where}: keyId must be a non-empty string`);
  if (!Array.isArray(m.path) || m.path.length < 2)
    throw new RangeError(`${where}: path must list at least two KME IDs`);
  const seen = new Set<string>();
  for (const [i, k] of m.path.entries()) {
    if (typeof k !== "string" || k.length === 0)
      throw new RangeError(`${where}: path[${i}] must be a non-empty string`);
    // A loop would route the key through a KME twice: never shortest, and a sign of tampering.
    if (seen.has(k)) throw new RangeError(`${where}: path visits ${k} twice`);
    seen.add(k);
  }
  if (!Number.isSafeInteger(m.hop) || m.hop < 0 || m.hop > m.path.length - 2)
    throw new RangeError(`${where}: hop must be an integer from 0 to ${m.path.length - 2}, got ${m.hop}`);
  checkSize(m.sizeBits, where);
  if (typeof m.masterSae !== "string" || m.masterSae.length === 0)
    throw new RangeError(`${where}: masterSae must be a non-empty string`);
  if (!Array.isArray(m.slaveSaes) || m.slaveSaes.length === 0)
    throw new RangeError(`${where}: slaveSaes must be a non-empty array of SAE IDs`);
  for (const [i, s] of m.slaveSaes.entries())
    if (typeof s !== "string" || s.length === 0)
      throw new RangeError(`${where}: slaveSaes[${i}] must be a non-empty string`);
  if (!Array.isArray(m.padUnitIds)) throw new RangeError(`${where}: padUnitIds must be an array`);
  checkUnitIds(m.padUnitIds, where, "padUnitIds");
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

/** RFC 4648 base64 with padding (ETSI GS QKD 014 uses the same for keys). */
function toBase64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >>> 18) & 63] + B64[(n >>> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >>> 6) & 63] : "=";
    out += i + 2 < bytes.length ? B64[n & 63] : "=";
  }
  return out;
}

/** Strict RFC 4648 decoding: rejects other alphabets, whitespace, missing padding and non-zero pad bits. */
function fromBase64(text: string, name: string): Uint8Array {
  if (typeof text !== "string" || text.length % 4 !== 0)
    throw new RangeError(`${name} must be padded base64 (RFC 4648)`);
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = text[i + j];
      const isPad = c === "=" && last && j >= 4 - pad;
      const d = isPad ? 0 : B64_INDEX.get(c);
      if (d === undefined) throw new RangeError(`${name} is not valid base64 (RFC 4648)`);
      n = (n << 6) | d;
    }
    const bytes = last ? 3 - pad : 3;
    // Canonical encoding only: the bits under the padding must be zero.
    if ((pad === 1 && last && (n & 0xff) !== 0) || (pad === 2 && last && (n & 0xffff) !== 0))
      throw new RangeError(`${name} is not canonical base64 (RFC 4648)`);
    if (bytes >= 1) out[o++] = (n >>> 16) & 0xff;
    if (bytes >= 2) out[o++] = (n >>> 8) & 0xff;
    if (bytes >= 3) out[o++] = n & 0xff;
  }
  return out;
}
