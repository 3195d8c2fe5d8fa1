/**
 * Trusted-node relay between KMEs (issue 5): the {@link TrustedNodeRelay} a {@link Kme} uses for slaves
 * whose KME shares no QKD link with it, built on the one-time-pad hops of `relay.ts`.
 *
 * A request for `n` keys travels as one **batch** of `n` {@link RelayMessage}s (one per key, each with its
 * own pad), so that every KME on the path takes all pads of the request or none, and the last KME
 * reserves all keys or none. Along the path K0 → K1 → … → Kn:
 * 1. K0 ({@link RelayService.getKeys}) plans the path ({@link relayPath}), draws each key, takes a pad
 *    per key from its `local` direction of the K0–K1 pool and sends the batch to K1;
 * 2. each K_i ({@link RelayService.receiveHop}) takes the named pad units from its `peer` direction of
 *    the incoming pool, recovers the keys and, unless it is Kn, pads them again with units of its `local`
 *    direction of the next pool and forwards the batch, waiting for the answer;
 * 3. Kn reserves the keys for the slave SAEs (`KeyStore.reserveMaterial`, origin `relay:K0>…>Kn`).
 * The answer travels back the same way; K0 returns the keys to its master only when Kn has them all.
 *
 * Pads are taken through the ordinary {@link KeyStore} interface, under a **pad key ID**
 * ({@link relayPadKeyId}, `relay-pad:<key ID>:<hop>`, the same at both ends of a hop):
 * - the sender calls `issueLocal` (the oldest units of its `local` direction, pending) and, once the
 *   next KME has answered, `confirmIssued` (units deleted) or `releaseIssued` (units back, in order);
 * - the receiver calls `reservePeer` with the named unit IDs for the pseudo-slave `relay:<sender>`,
 *   then `takeReserved` as that pseudo-slave, which returns the pad and deletes it.
 * Pending pads left by a crash are settled by `Kme.recover()` like any pending key; the peer routes
 * answer its `exists` question for pad key IDs with {@link RelayService.padReceived}.
 *
 * When is a pad released rather than discarded? Only when the next KME says it took none of the
 * batch's pads (`padsConsumed: false`). If it took them, or its answer is lost, the sender deletes its
 * copies too: releasing units the peer has deleted would put them back at the head of the sender's
 * pool, where every later reservation would fail on them ("missing-units") forever.
 *
 * Pool levels: this KME knows the levels of its own pools only. Links between two other KMEs are
 * assumed to have enough key (their level is taken as unlimited): a path that fails further on is
 * refused by the KME that runs short, and the whole request fails with nothing delivered. Paths are
 * therefore planned by hop count, then by the level of this KME's first link.
 *
 * The core layer: no Node modules, no wall clock, no host randomness, no timers. Time, randomness and
 * the transport to other KMEs ({@link RelayTransport}: HTTPS in production, in-process in tests) are
 * injected. Key material never appears in errors, logs or the audit trail.
 *
 * @module
 */
import type { KeyStore } from "./key-store.js";
import type { RelayContext, TrustedNodeRelay } from "./kme.js";
import {
  buildRelayMessage,
  drawRelayKey,
  isLastHop,
  openRelayMessage,
  type PadLedger,
  parseRelayMessage,
  type RelayLink,
  type RelayMessage,
  relayAuditEvent,
  relayOrigin,
  relayPath,
} from "./relay.js";

/** A QKD link of the network, as the relay needs to know it (undirected). */
export interface RelayTopologyLink {
  /** The two KMEs it joins. */
  kmeIds: readonly [string, string];
  /** The pool's name in both KMEs' stores (the link's canonical ID). */
  pool: string;
  /** Bits per unit in this pool (a positive multiple of 8). */
  unitBits: number;
}

/**
 * The answer of the next KME to a relayed batch. `ok`: every key reached the last KME and is reserved
 * there. `refused`: no key of the batch was reserved at the last KME; `padsConsumed` says whether the
 * answering KME took (and deleted) the batch's pad units of this hop, which decides whether the sender
 * releases or discards its copies. `reason` is for logs (never key material).
 */
export type RelayHopOutcome = { status: "ok" } | { status: "refused"; padsConsumed: boolean; reason: string };

/**
 * How a KME sends a relay batch to a neighbouring KME (HTTPS `POST /kmapi/v1/relay` in production,
 * see `src/server/kme-peer-client.ts`; a direct call of the neighbour's {@link RelayService.receiveHop}
 * in tests). A rejected promise means the outcome is unknown (timeout, connection lost); the sender
 * then discards its pads, as for `padsConsumed: true`.
 */
export interface RelayTransport {
  relayHop(peerKmeId: string, messages: readonly RelayMessage[]): Promise<RelayHopOutcome>;
}

/** How a {@link RelayService} is built. */
export interface RelayServiceOptions {
  /** This KME's ID. */
  kmeId: string;
  store: KeyStore;
  /** Every QKD link of the network (static). This KME's own links must be among them. */
  links: readonly RelayTopologyLink[];
  transport: RelayTransport;
  /** Wall-clock time, ms since the epoch (for the store and the audit trail). */
  clock: () => number;
  /** `n` cryptographically secure random bytes (the relayed keys are drawn from it). */
  random: (n: number) => Uint8Array;
  /**
   * True when an SAE is served by this KME; the last KME of a path refuses to reserve keys for slaves
   * it does not serve. Typically `(id) => kme.isLocalSae(id)`. Unset: any slave is accepted.
   */
  isLocalSae?: (saeId: string) => boolean;
  /** Told of failures that are answered without detail (store errors, lost answers), for logging. */
  onError?: (error: unknown, context: string) => void;
}

/** Most messages in one batch: the largest `max_key_per_request` a KME is expected to allow. */
export const MAX_RELAY_BATCH = 1024;

/** The pseudo-slave under which a receiver takes the pad units a neighbouring KME named. */
export function relayPadSlave(fromKmeId: string): string {
  return `relay:${fromKmeId}`;
}

/** The store key ID of the pad of hop `hop` for key `keyId`; the same at both ends of the hop. */
export function relayPadKeyId(keyId: string, hop: number): string {
  return `relay-pad:${keyId}:${hop}`;
}

/**
 * Parses the body of a relay request, `{ "messages": [RelayMessage, …] }`, and checks that the batch
 * is consistent (one path, hop, size, master and slaves; distinct key IDs; no pad unit twice).
 *
 * @throws RangeError naming the first bad field (never quoting key material).
 */
export function parseRelayBatch(body: unknown): RelayMessage[] {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new RangeError("relay body must be an object {messages: [...]}");
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).filter((k) => k !== "messages");
  if (extra.length > 0) throw new RangeError(`relay body has unknown field ${extra[0]}`);
  if (!Array.isArray(b.messages) || b.messages.length === 0)
    throw new RangeError("relay body: messages must be a non-empty array");
  if (b.messages.length > MAX_RELAY_BATCH)
    throw new RangeError(`relay body: at most ${MAX_RELAY_BATCH} messages per batch`);
  const messages = b.messages.map((m, i) => {
    if (m !== null && typeof m === "object" && !Array.isArray(m)) {
      const unknown = Object.keys(m).filter((k) => !MESSAGE_FIELDS.has(k));
      if (unknown.length > 0)
        throw new RangeError(`relay body: messages[${i}] has unknown field ${unknown[0]}`);
    }
    try {
      return parseRelayMessage(m);
    } catch (error) {
      throw new RangeError(`relay body: messages[${i}]: ${(error as Error).message}`);
    }
  });
  checkBatch(messages);
  return messages;
}

const MESSAGE_FIELDS = new Set([
  "keyId",
  "hop",
  "path",
  "ciphertext",
  "sizeBits",
  "masterSae",
  "slaveSaes",
  "padUnitIds",
]);

/** @throws RangeError unless the messages form one batch (see {@link parseRelayBatch}). */
function checkBatch(messages: readonly RelayMessage[]): void {
  const first = messages[0];
  const keyIds = new Set<string>();
  const units = new Set<string>();
  for (const [i, m] of messages.entries()) {
    const same =
      m.hop === first.hop &&
      m.sizeBits === first.sizeBits &&
      m.masterSae === first.masterSae &&
      sameList(m.path, first.path) &&
      sameList(m.slaveSaes, first.slaveSaes);
    if (!same)
      throw new RangeError(
        `relay batch: messages[${i}] differs from messages[0] in hop, path, size, master or slaves`,
      );
    if (keyIds.has(m.keyId)) throw new RangeError(`relay batch: key ID ${m.keyId} appears twice`);
    keyIds.add(m.keyId);
    for (const u of m.padUnitIds) {
      if (units.has(u)) throw new RangeError(`relay batch: pad unit ${u} is named twice (pad reuse)`);
      units.add(u);
    }
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A pool of this KME, towards one neighbour. */
interface OwnLink {
  pool: string;
  peerKmeId: string;
  unitBits: number;
}

/** One site's trusted-node relay. See the module documentation. */
export class RelayService implements TrustedNodeRelay {
  readonly kmeId: string;
  private readonly store: KeyStore;
  private readonly links: readonly RelayTopologyLink[];
  private readonly transport: RelayTransport;
  private readonly clock: () => number;
  private readonly random: (n: number) => Uint8Array;
  private readonly isLocalSae?: (saeId: string) => boolean;
  private readonly onError: (error: unknown, context: string) => void;
  /** This KME's links by neighbour. */
  private readonly own = new Map<string, OwnLink>();

  /** @throws Error on an inconsistent topology (loops, bad unit sizes, two links between one pair). */
  constructor(options: RelayServiceOptions) {
    this.kmeId = options.kmeId;
    this.store = options.store;
    this.transport = options.transport;
    this.clock = options.clock;
    this.random = options.random;
    this.isLocalSae = options.isLocalSae;
    this.onError = options.onError ?? (() => {});
    const pairs = new Set<string>();
    for (const l of options.links) {
      const [a, b] = l.kmeIds;
      if (typeof a !== "string" || typeof b !== "string" || a === "" || b === "" || a === b)
        throw new Error(`relay topology: link ${l.pool} must join two different KMEs`);
      if (!Number.isSafeInteger(l.unitBits) || l.unitBits <= 0 || l.unitBits % 8 !== 0)
        throw new Error(`relay topology: unitBits of link ${l.pool} must be a positive multiple of 8`);
      const pair = [a, b].sort().join("\u0000");
      // One pool per pair of KMEs, as a Kme allows: a pad must name an unambiguous pool.
      if (pairs.has(pair)) throw new Error(`relay topology: more than one link between ${a} and ${b}`);
      pairs.add(pair);
      if (a === this.kmeId || b === this.kmeId) {
        const peerKmeId = a === this.kmeId ? b : a;
        this.own.set(peerKmeId, { pool: l.pool, peerKmeId, unitBits: l.unitBits });
      }
    }
    this.links = options.links.map((l) => ({ ...l, kmeIds: [l.kmeIds[0], l.kmeIds[1]] as const }));
  }

  /**
   * Keys of `keySizeBits` that could be relayed to `slaveKmeId` now: what this KME's first link of
   * the planned path can pad (the levels of links further on are unknown here; see the module
   * documentation).
   */
  async storedKeyCount(ctx: {
    masterSae: string;
    slaveSae: string;
    slaveKmeId: string;
    keySizeBits: number;
  }): Promise<number> {
    if (ctx.slaveKmeId === this.kmeId) return 0;
    const plan = await this.plan(ctx.slaveKmeId, ctx.keySizeBits, 1);
    return plan ? plan.firstLinkKeys : 0;
  }

  /**
   * Relays every key of the request to the slaves' KME and returns their material in the order of
   * `ctx.keyIds`, or null (nothing delivered) when no path has enough key or a KME on the path
   * refused or did not answer.
   */
  async getKeys(ctx: RelayContext): Promise<Uint8Array[] | null> {
    const n = ctx.keyIds.length;
    if (n === 0 || ctx.slaveKmeId === this.kmeId) return null;
    const plan = await this.plan(ctx.slaveKmeId, ctx.sizeBits, n);
    if (!plan) return null;
    const keys = ctx.keyIds.map(() => drawRelayKey(ctx.sizeBits, this.random));
    const outcome = await this.sendHop(
      plan.path,
      0,
      keys,
      ctx.keyIds,
      ctx.sizeBits,
      ctx.masterSae,
      ctx.slaveSaes,
      ctx.nowMs,
    );
    if (outcome.status === "ok") return keys;
    for (const k of keys) k.fill(0);
    return null;
  }

  /**
   * The receiving side of one hop, called by the peer routes with a batch parsed by
   * {@link parseRelayBatch} and the sending KME as authenticated by the transport. Takes the batch's
   * pads, then forwards the keys (or, at the last KME, reserves them). Never throws: failures become a
   * `refused` outcome, with `padsConsumed` telling the sender what to do with its copies of the pads.
   */
  async receiveHop(fromKmeId: string, messages: readonly RelayMessage[]): Promise<RelayHopOutcome> {
    const now = this.clock();
    const refuse = (reason: string, padsConsumed = false): RelayHopOutcome => ({
      status: "refused",
      padsConsumed,
      reason,
    });
    let batch: RelayMessage[];
    try {
      batch = [...messages];
      if (batch.length === 0) return refuse("empty relay batch");
      checkBatch(batch);
    } catch (error) {
      return refuse((error as Error).message);
    }
    const head = batch[0];
    const { hop, path, sizeBits, masterSae, slaveSaes } = head;
    if (path[hop] !== fromKmeId)
      return refuse(`hop ${hop} of the path is sent by ${path[hop]}, not by the calling KME ${fromKmeId}`);
    if (path[hop + 1] !== this.kmeId) return refuse(`hop ${hop} is addressed to ${path[hop + 1]}, not here`);
    const incoming = this.own.get(fromKmeId);
    if (!incoming) return refuse(`no QKD link between ${fromKmeId} and this KME (${this.kmeId})`);
    const unitsPerKey = Math.ceil(sizeBits / incoming.unitBits);
    if (batch.some((m) => m.padUnitIds.length !== unitsPerKey))
      return refuse(`a pad of ${sizeBits} bits takes ${unitsPerKey} units of pool ${incoming.pool}`);
    const last = isLastHop(head);
    const outgoing = last ? undefined : this.own.get(path[hop + 2]);
    if (!last && !outgoing) return refuse(`no QKD link from this KME to the next KME ${path[hop + 2]}`);
    if (last && this.isLocalSae && slaveSaes.some((s) => !this.isLocalSae!(s)))
      return refuse("a slave SAE of the relayed keys is not served by the last KME of the path");

    // Take every pad of the batch. Once one is taken its units are gone here, so any later failure
    // must tell the sender to discard its copies (padsConsumed).
    let pads: Uint8Array[];
    try {
      const taken = await this.takePeerPads(incoming, batch, fromKmeId, now);
      if (!Array.isArray(taken)) return refuse(taken.reason, taken.consumed);
      pads = taken;
    } catch (error) {
      this.onError(error, `relay: taking pads from KME ${fromKmeId}`);
      return refuse("this KME could not take the pads (internal error)", true);
    }

    // Audited as soon as the pads are taken (before anything else can fail): `padReceived` reads it.
    for (const m of batch)
      await this.audit(() => relayAuditEvent(m, { atMs: now, role: "received", pool: incoming.pool }));

    let keys: Uint8Array[];
    try {
      const ledger: PadLedger = new Set();
      keys = batch.map((m, i) =>
        openRelayMessage(m, {
          self: this.kmeId,
          pad: { unitIds: m.padUnitIds, material: pads[i] },
          used: ledger,
        }),
      );
    } catch (error) {
      return refuse(`relay: ${(error as Error).message}`, true);
    } finally {
      for (const p of pads) p.fill(0);
    }

    try {
      if (last) return await this.reserveForSlaves(batch, keys, now);
      const outcome = await this.sendHop(
        path,
        hop + 1,
        keys,
        batch.map((m) => m.keyId),
        sizeBits,
        masterSae,
        slaveSaes,
        now,
      );
      return outcome.status === "ok" ? outcome : refuse(`KME ${path[hop + 2]}: ${outcome.reason}`, true);
    } catch (error) {
      this.onError(error, `relay: forwarding to KME ${path[hop + 2] ?? "(last)"}`);
      return refuse("this KME could not forward or reserve the keys (internal error)", true);
    } finally {
      for (const k of keys) k.fill(0);
    }
  }

  /**
   * Whether this KME took the pad `padKeyId` (a {@link relayPadKeyId}) named by `fromKmeId`, for the
   * peer routes' `exists` answer, read from the audit trail (the KeyStore has no lookup by key ID).
   * Undefined when `padKeyId` is not a relay pad key ID.
   */
  async padReceived(fromKmeId: string, padKeyId: string): Promise<boolean | undefined> {
    const m = /^relay-pad:(.+):(\d+)$/.exec(padKeyId);
    if (!m) return undefined;
    const hop = Number(m[2]);
    const events = await this.store.queryAudit({ kind: "relayed", keyId: m[1], actor: this.kmeId });
    // relayAuditEvent writes "received hop <hop+1>/<hops> <from>><to>; …" at the receiver.
    return events.some(
      (e) => e.detail?.startsWith(`received hop ${hop + 1}/`) && e.detail.includes(` ${fromKmeId}>`),
    );
  }

  /** The path to `slaveKmeId` for `count` keys of `sizeBits`, and how many keys its first link carries. */
  private async plan(
    slaveKmeId: string,
    sizeBits: number,
    count: number,
  ): Promise<{ path: string[]; firstLinkKeys: number } | null> {
    if (!Number.isSafeInteger(sizeBits) || sizeBits <= 0 || sizeBits % 8 !== 0) return null;
    const levels = new Map((await this.store.poolLevels()).map((l) => [l.pool, l.local.units]));
    // Capacities in whole keys × sizeBits, so that links with different unit sizes compare fairly and
    // the rounding of the last unit of each pad is accounted for.
    const keysOn = (l: OwnLink) => Math.floor((levels.get(l.pool) ?? 0) / Math.ceil(sizeBits / l.unitBits));
    const graph: RelayLink[] = [];
    for (const l of this.links) {
      const [a, b] = l.kmeIds;
      for (const [from, to] of [
        [a, b],
        [b, a],
      ]) {
        if (to === this.kmeId) continue; // a path never comes back here
        const own = from === this.kmeId ? this.own.get(to) : undefined;
        const availableBits = own ? keysOn(own) * sizeBits : Number.MAX_SAFE_INTEGER;
        graph.push({ from, to, availableBits });
      }
    }
    let path: string[] | null;
    try {
      path = relayPath(graph, this.kmeId, slaveKmeId, count * sizeBits);
    } catch (error) {
      this.onError(error, `relay: planning a path to KME ${slaveKmeId}`);
      return null;
    }
    if (!path) return null;
    return { path, firstLinkKeys: keysOn(this.own.get(path[1])!) };
  }

  /**
   * Sends hop `hop` of `path` (this KME is `path[hop]`): takes a pad per key from the `local` direction
   * of the pool to `path[hop + 1]`, sends the batch and settles the pads by the answer.
   */
  private async sendHop(
    path: readonly string[],
    hop: number,
    keys: readonly Uint8Array[],
    keyIds: readonly string[],
    sizeBits: number,
    masterSae: string,
    slaveSaes: readonly string[],
    now: number,
  ): Promise<RelayHopOutcome> {
    const next = path[hop + 1];
    const link = this.own.get(next);
    if (!link) return { status: "refused", padsConsumed: false, reason: `no QKD link to KME ${next}` };
    const unitsPerKey = Math.ceil(sizeBits / link.unitBits);
    const padIds: string[] = [];
    const messages: RelayMessage[] = [];
    const ledger: PadLedger = new Set();
    try {
      for (const [i, keyId] of keyIds.entries()) {
        const padKeyId = relayPadKeyId(keyId, hop);
        const got = await this.store.issueLocal({
          pool: link.pool,
          keyId: padKeyId,
          units: unitsPerKey,
          sizeBits: unitsPerKey * link.unitBits,
          masterSae,
          slaveSaes: [relayPadSlave(this.kmeId)],
          nowMs: now,
        });
        if (!got) {
          await this.settle(padIds, "release", now);
          return {
            status: "refused",
            padsConsumed: false,
            reason: `not enough key on the link ${this.kmeId}>${next} (pool ${link.pool})`,
          };
        }
        padIds.push(padKeyId);
        // issueLocal takes whole units; the pad is the first sizeBits of them (the rest is lost with
        // the units, as for any key whose size is not a multiple of the unit size).
        const pad = { unitIds: got.key.unitIds, material: got.material.slice(0, sizeBits / 8) };
        got.material.fill(0);
        try {
          messages.push(
            buildRelayMessage({
              keyId,
              hop,
              path,
              key: keys[i],
              pad,
              used: ledger,
              sizeBits,
              masterSae,
              slaveSaes,
            }),
          );
        } finally {
          pad.material.fill(0);
        }
      }
    } catch (error) {
      this.onError(error, `relay: preparing pads for KME ${next}`);
      await this.settle(padIds, "release", now).catch((e) => this.onError(e, "relay: releasing pads"));
      return {
        status: "refused",
        padsConsumed: false,
        reason: "could not prepare the pads (internal error)",
      };
    }

    let outcome: RelayHopOutcome;
    try {
      outcome = await this.transport.relayHop(next, messages);
    } catch (error) {
      this.onError(error, `relay: sending hop ${hop} to KME ${next} (answer unknown)`);
      outcome = { status: "refused", padsConsumed: true, reason: `no answer from KME ${next}` };
    }
    const verdict = outcome.status === "ok" || outcome.padsConsumed ? "discard" : "release";
    await this.settle(padIds, verdict, now);
    if (outcome.status === "ok")
      for (const m of messages)
        await this.audit(() => relayAuditEvent(m, { atMs: now, role: "sent", pool: link.pool }));
    return outcome;
  }

  /** Confirms (units deleted: `discard`) or releases (units back to the pool) the pending pads. */
  private async settle(
    padKeyIds: readonly string[],
    verdict: "discard" | "release",
    now: number,
  ): Promise<void> {
    // The pads are confirmed in one call (one transaction); releases are one call each.
    if (verdict === "discard") {
      if (padKeyIds.length > 0) await this.store.confirmIssued(padKeyIds, now);
    } else for (const id of padKeyIds) await this.store.releaseIssued(id, now);
  }

  /**
   * Takes each message's pad from the `peer` direction of the incoming pool. Returns the pads, or the
   * reason they could not all be taken and whether some were (their units are then gone here).
   */
  private async takePeerPads(
    link: OwnLink,
    batch: readonly RelayMessage[],
    fromKmeId: string,
    now: number,
  ): Promise<Uint8Array[] | { reason: string; consumed: boolean }> {
    const slave = relayPadSlave(fromKmeId);
    const padKeyIds: string[] = [];
    for (const m of batch) {
      const padKeyId = relayPadKeyId(m.keyId, m.hop);
      const outcome = await this.store.reservePeer({
        pool: link.pool,
        keyId: padKeyId,
        unitIds: m.padUnitIds,
        sizeBits: m.padUnitIds.length * link.unitBits,
        masterSae: m.masterSae,
        slaveSaes: [slave],
        nowMs: now,
      });
      if (outcome !== "ok") {
        // Take what was reserved so that it does not linger, then report.
        if (padKeyIds.length > 0) {
          const undone = await this.store.takeReserved(padKeyIds, slave, now);
          if (undone.status === "ok") for (const k of undone.keys) k.material.fill(0);
        }
        const why = outcome === "duplicate-key" ? "was already received" : "names units not available here";
        return {
          reason: `the pad of key ${m.keyId} ${why}${padKeyIds.length > 0 ? "; the batch's earlier pads were consumed" : "; no pad was taken"}`,
          consumed: padKeyIds.length > 0,
        };
      }
      padKeyIds.push(padKeyId);
    }
    const taken = await this.store.takeReserved(padKeyIds, slave, now);
    if (taken.status !== "ok")
      throw new Error(`relay: the pads just reserved could not be taken (${taken.status})`);
    const byId = new Map(taken.keys.map((k) => [k.keyId, k.material]));
    return batch.map((m) => {
      // The units are whole; the pad is their first sizeBits, as the sender cut it.
      const units = byId.get(relayPadKeyId(m.keyId, m.hop))!;
      const pad = units.slice(0, m.sizeBits / 8);
      units.fill(0);
      return pad;
    });
  }

  /** At the last KME: reserves every key for the slaves, or none (earlier ones are taken back). */
  private async reserveForSlaves(
    batch: readonly RelayMessage[],
    keys: readonly Uint8Array[],
    now: number,
  ): Promise<RelayHopOutcome> {
    const origin = relayOrigin(batch[0].path);
    const done: string[] = [];
    for (const [i, m] of batch.entries()) {
      const outcome = await this.store.reserveMaterial({
        keyId: m.keyId,
        material: keys[i],
        sizeBits: m.sizeBits,
        masterSae: m.masterSae,
        slaveSaes: m.slaveSaes,
        origin,
        nowMs: now,
      });
      if (outcome !== "ok") {
        // All or none: a reservation cannot be cancelled, but taking it as each of its slaves deletes
        // it (the material is dropped when the last slave has taken it).
        if (done.length > 0)
          for (const slave of new Set(m.slaveSaes)) {
            const taken = await this.store.takeReserved(done, slave, now);
            if (taken.status === "ok") for (const k of taken.keys) k.material.fill(0);
          }
        return {
          status: "refused",
          padsConsumed: true,
          reason: `key ID ${m.keyId} already exists at the last KME`,
        };
      }
      done.push(m.keyId);
    }
    return { status: "ok" };
  }

  /** Appends an audit event; a failed write is reported, not thrown (the keys have moved by then). */
  private async audit(event: () => Parameters<KeyStore["appendAudit"]>[0]): Promise<void> {
    try {
      await this.store.appendAudit(event());
    } catch (error) {
      this.onError(error, "relay: audit");
    }
  }
}
