/**
 * Keeps a QKD link's pool filled at both ends: takes blocks from the link's {@link KeySource}, cuts them
 * into units with the same IDs at both ends, and adds each end's share to its store (its own direction
 * and the peer's). Pool sizes, fill levels and what was supplied are observable for metrics.
 *
 * Three shapes, one rule for each end's share ({@link addShare}): first the units the *other* end
 * allocates (this end's `peer` direction, so they are here before the other end can name them), then
 * the `supplied` audit record of the block, then the units this end allocates (`local`). The record is
 * what a store knows of the blocks it holds ({@link lastSuppliedBlock}): a block recorded is never
 * added again, so a unit this end has handed out cannot come back after a crash; a crash between the
 * record and the `local` units loses those units (the other end holds them unused), which is safe.
 *
 * - {@link KeySupplier}: both ends in this process; it writes both stores.
 * - {@link SupplyLeader} and {@link SupplyFollower}: the ends of a link in separate processes, each
 *   with its own copy of the link's source (a QKD link's two devices output the same blocks at both
 *   ends; a simulated link is deterministic per link and seed). The end with the smaller KME ID leads
 *   ({@link supplyLeaderOf}): it decides when a block goes into the pool, adds its `peer` units, tells
 *   the follower (`SupplyTransport.supply`), which takes blocks from its own source up to that one and
 *   adds its whole share, and only after the follower's answer records the block and adds its `local`
 *   units. So neither end can hand out a unit the other does not hold.
 *
 * After a restart every end skips the blocks its store already holds (the source regenerates them from
 * the start); a follower answers a block it already holds as done (a retry), and any other mismatch
 * (an older block, or its source delivering a block the leader never named) as out of step, loudly.
 */

import { type ObservationSink, observePoolLevel } from "../telemetry/observations.js";
import { blockIndex, cutIntoUnits, type EndUnits, type KeySource, type SuppliedBlock } from "./key-source.js";
import type { KeyStore, KeyUnit, PoolLevel } from "./key-store.js";
import { duplicateUnitError } from "./memory-key-store.js";

export interface SupplierOptions {
  source: KeySource;
  /**
   * Awaited after each block a restarted source makes again to reach the blocks the stores already
   * hold (a simulated source recomputes them): lets a server answer in between. Default: none.
   */
  pause?: () => Promise<void>;
  /** The KME at end A of the link and its store; likewise B. */
  a: { kmeId: string; store: KeyStore };
  b: { kmeId: string; store: KeyStore };
  /** Bits per unit, a positive multiple of 8 (the pool's unit size at both KMEs). */
  unitBits: number;
  /** Stop filling when both ends' own directions hold at least this many bits. */
  targetBits: number;
  /** Wall-clock time, ms (for the audit trail). */
  clock: () => number;
  /** Told both ends' pool levels whenever they are read (fill levels as metrics). Default: none. */
  sink?: Pick<ObservationSink, "keyPool">;
  /** Structured log lines (resynchronisation after a restart); never key material. Default: none. */
  log?: (entry: Record<string, unknown>) => void;
}

/** What a supplier has done so far. */
export interface SupplierStats {
  pool: string;
  blocks: number;
  units: number;
  bits: number;
  /** Parameter set of the last block supplied. */
  parameterSet?: { version: string; fingerprint: string };
  /** Blocks the source made again after a restart and skipped because the store(s) held them. */
  regenerated?: number;
}

/** What keeps one pool filled, whatever the shape (both ends here, or this end leading). */
export interface PoolSupplier {
  readonly pool: string;
  readonly supplied: Readonly<SupplierStats>;
  /** The pool's levels at the ends in this process (A's view, then B's; an end elsewhere is absent). */
  levels(): Promise<{ a?: PoolLevel; b?: PoolLevel }>;
  /** Supplies blocks until the pool is full or `maxBlocks` were added; returns the blocks added. */
  fill(maxBlocks?: number): Promise<number>;
}

/** Which end of a link leads its supply across processes: the smaller KME ID. */
export function supplyLeaderOf(a: string, b: string): string {
  return a < b ? a : b;
}

/** A block's notice from the leader to the follower (`POST /kmapi/v1/supply`). */
export interface SupplyNotice {
  pool: string;
  blockId: string;
}

/** The follower's answer: whether it added the block now (false: it held it already). */
export interface SupplyAck {
  added: boolean;
  /** The newest block the follower holds after the call. */
  lastBlockId: string;
}

/** The follower's side of a link, as the leader sees it. */
export interface SupplyTransport {
  /**
   * Tells `followerKmeId` to add its share of a block. Resolves with its acknowledgement; rejects when
   * there is none (no answer, a refusal, the follower out of step): the leader then keeps the block
   * and offers it again later, holding back its own `local` units until the follower has the block.
   */
  supply(followerKmeId: string, notice: SupplyNotice): Promise<SupplyAck>;
}

/** The follower's outcome of a notice. */
export type SupplyOutcome =
  | ({ status: "ok" } & SupplyAck)
  /** The two ends cannot match: nothing was added; the reason says what to look at. */
  | { status: "out-of-step"; reason: string };

const SUPPLIED_DETAIL = /^block (\S+), /;

/**
 * The newest block a store holds of `pool` (its newest `supplied` audit record), or undefined when it
 * holds none (or its IDs carry no index).
 */
export async function lastSuppliedBlock(
  store: KeyStore,
  pool: string,
): Promise<{ blockId: string; index: number } | undefined> {
  const [event] = await store.queryAudit({ kind: "supplied", pool, limit: 1 });
  const blockId = event?.detail ? SUPPLIED_DETAIL.exec(event.detail)?.[1] : undefined;
  if (blockId === undefined) return undefined;
  const index = blockIndex({ blockId });
  return index === undefined ? undefined : { blockId, index };
}

/** Adds units that the other end allocates; units still held from an interrupted earlier try are kept. */
async function addPeerUnits(store: KeyStore, pool: string, units: readonly KeyUnit[], now: number) {
  if (units.length === 0) return;
  try {
    await store.addUnits(pool, "peer", units, now);
  } catch (e) {
    // A retry after a crash between this call and the block's record: the units are (partly) here.
    // Those already taken were deleted at both ends and are not the issue: the other end never names
    // them again.
    if (!(e instanceof Error && units.some((u) => e.message === duplicateUnitError(u.unitId).message)))
      throw e;
  }
}

/** The `supplied` record and the units this end allocates: the second half of {@link addShare}. */
async function recordAndAddLocal(
  store: KeyStore,
  pool: string,
  share: EndUnits,
  block: SuppliedBlock,
  bits: number,
  now: number,
): Promise<void> {
  await store.appendAudit({
    atMs: now,
    kind: "supplied",
    actor: `qkd:${pool}`,
    pool,
    bits,
    detail: `block ${block.blockId}, parameter set ${block.parameterSet.version} (${block.parameterSet.fingerprint})`,
  });
  if (share.local.length > 0) await store.addUnits(pool, "local", share.local, now);
}

/** One end's share of a block, in the order described in the module documentation. */
export async function addShare(
  store: KeyStore,
  pool: string,
  share: EndUnits,
  block: SuppliedBlock,
  bits: number,
  now: number,
): Promise<void> {
  await addPeerUnits(store, pool, share.peer, now);
  await recordAndAddLocal(store, pool, share, block, bits, now);
}

function checkUnitBits(unitBits: number): void {
  if (!(Number.isInteger(unitBits) && unitBits > 0 && unitBits % 8 === 0))
    throw new RangeError(`unitBits must be a positive multiple of 8, got ${unitBits}`);
}

/** Reads a source in order, skipping the blocks at or below a resume point (counted). */
class BlockReader {
  /** A block taken from the source and not yet used up. */
  private held: SuppliedBlock | undefined;
  regenerated = 0;

  constructor(
    private readonly source: KeySource,
    private readonly pause?: () => Promise<void>,
  ) {}

  /** The next block with an index above `after` (every block when `after` is undefined), kept until {@link done}. */
  async peek(after: number | undefined): Promise<SuppliedBlock> {
    for (;;) {
      this.held ??= await this.source.next();
      const index = blockIndex(this.held);
      if (after === undefined || index === undefined || index > after) return this.held;
      this.held = undefined;
      this.regenerated++;
      await this.pause?.();
    }
  }

  done(): void {
    this.held = undefined;
  }
}

/** What every supplier of a link's pool keeps: the source's blocks in order and what it supplied. */
abstract class SupplierBase<O extends { source: KeySource; unitBits: number; pause?: () => Promise<void> }> {
  protected readonly stats: SupplierStats;
  protected readonly reader: BlockReader;

  constructor(protected readonly options: O) {
    checkUnitBits(options.unitBits);
    this.stats = { pool: options.source.linkId, blocks: 0, units: 0, bits: 0 };
    this.reader = new BlockReader(options.source, options.pause);
  }

  get pool(): string {
    return this.options.source.linkId;
  }

  get supplied(): Readonly<SupplierStats> {
    return { ...this.stats, regenerated: this.reader.regenerated };
  }

  protected count(block: SuppliedBlock, units: number, bits: number): void {
    this.stats.blocks++;
    this.stats.units += units;
    this.stats.bits += bits;
    this.stats.parameterSet = block.parameterSet;
  }
}

/** Supplies blocks until the pool is full or `maxBlocks` were added; returns the blocks added. */
async function fillUntilFull(
  s: { full(): Promise<boolean>; supplyOnce(): Promise<number> },
  maxBlocks: number,
): Promise<number> {
  let n = 0;
  while (n < maxBlocks && !(await s.full())) {
    await s.supplyOnce();
    n++;
  }
  return n;
}

/** Keeps a pool filled at both ends, both in this process. */
export class KeySupplier extends SupplierBase<SupplierOptions> implements PoolSupplier {
  /** The newest block each end holds (undefined: none), read from the stores on first use. */
  private last: { a: number | undefined; b: number | undefined } | undefined;

  /** Both ends' pool levels (A's view, then B's). */
  async levels(): Promise<{ a: PoolLevel | undefined; b: PoolLevel | undefined }> {
    const [a] = await this.options.a.store.poolLevels(this.pool);
    const [b] = await this.options.b.store.poolLevels(this.pool);
    const sink = this.options.sink;
    if (sink) {
      if (a) observePoolLevel(sink, this.options.a.kmeId, a);
      if (b) observePoolLevel(sink, this.options.b.kmeId, b);
    }
    return { a, b };
  }

  /** Whether both ends' own directions hold at least the target. */
  async full(): Promise<boolean> {
    const { a, b } = await this.levels();
    return (a?.local.bits ?? 0) >= this.options.targetBits && (b?.local.bits ?? 0) >= this.options.targetBits;
  }

  /** Supplies one block to both ends (to an end that already holds it, nothing). Returns the bits added to each end. */
  async supplyOnce(): Promise<number> {
    const o = this.options;
    if (!this.last) {
      const [a, b] = [
        await lastSuppliedBlock(o.a.store, this.pool),
        await lastSuppliedBlock(o.b.store, this.pool),
      ];
      this.last = { a: a?.index, b: b?.index };
      if (a || b)
        o.log?.({
          level: "info",
          event: "supply-resumed",
          pool: this.pool,
          [o.a.kmeId]: a?.blockId ?? null,
          [o.b.kmeId]: b?.blockId ?? null,
        });
    }
    const last = this.last;
    // Blocks both ends hold are skipped; a block only one holds (a crash between the two) goes to the other.
    const both = last.a === undefined || last.b === undefined ? undefined : Math.min(last.a, last.b);
    const block = await this.reader.peek(both);
    const index = blockIndex(block);
    const { atA, atB } = cutIntoUnits(block, o.unitBits / 8);
    const now = o.clock();
    const units = atA.local.length + atA.peer.length;
    const bits = units * o.unitBits;
    const needs = (held: number | undefined) => index === undefined || held === undefined || index > held;
    const ends = [
      { end: o.a, share: atA, side: "a" as const },
      { end: o.b, share: atB, side: "b" as const },
    ].filter((e) => needs(last[e.side]));
    // Each end's peer units first (the other end's own direction), then each end's record and own units.
    for (const e of ends) await addPeerUnits(e.end.store, this.pool, e.share.peer, now);
    for (const e of ends) {
      await recordAndAddLocal(e.end.store, this.pool, e.share, block, bits, now);
      if (index !== undefined) last[e.side] = index;
    }
    this.reader.done();
    this.count(block, units, bits);
    return bits;
  }

  /** Supplies blocks until the pool is full or `maxBlocks` were added; returns the blocks added. */
  fill(maxBlocks = Number.POSITIVE_INFINITY): Promise<number> {
    return fillUntilFull(this, maxBlocks);
  }
}

/** Options of {@link SupplyLeader} and {@link SupplyFollower}: one end of a link, the other elsewhere. */
export interface LinkEndOptions {
  /** This end's copy of the link's source (the same blocks as the other end's copy). */
  source: KeySource;
  /** As {@link SupplierOptions.pause}. */
  pause?: () => Promise<void>;
  /** This KME and its store. */
  local: { kmeId: string; store: KeyStore };
  /** The KME at the other end. */
  peerKmeId: string;
  /** Which end of the link this KME is (A allocates the even units of a block, B the odd ones). */
  end: "a" | "b";
  /** Bits per unit, a positive multiple of 8 (the pool's unit size at both KMEs). */
  unitBits: number;
  /** Wall-clock time, ms (for the audit trail). */
  clock: () => number;
  /** Told this end's pool level whenever it is read. Default: none. */
  sink?: Pick<ObservationSink, "keyPool">;
  /** Structured log lines (resynchronisation, ends out of step); never key material. Default: none. */
  log?: (entry: Record<string, unknown>) => void;
}

/** Shared state of one end of a link whose other end is in another process. */
abstract class LinkEnd extends SupplierBase<LinkEndOptions> {
  /** The newest block this end holds, read from its store on first use (null: none). */
  protected last: { blockId: string; index: number } | null | undefined;

  /** This end's KME. */
  get kmeId(): string {
    return this.options.local.kmeId;
  }

  /** This end's pool level (in the slot of its end of the link). */
  async levels(): Promise<{ a?: PoolLevel; b?: PoolLevel }> {
    const [level] = await this.options.local.store.poolLevels(this.pool);
    if (level && this.options.sink) observePoolLevel(this.options.sink, this.options.local.kmeId, level);
    return level ? { [this.options.end]: level } : {};
  }

  /** The newest block this end's store holds (read once). */
  protected async lastHeld(): Promise<{ blockId: string; index: number } | null> {
    if (this.last === undefined) {
      this.last = (await lastSuppliedBlock(this.options.local.store, this.pool)) ?? null;
      if (this.last)
        this.options.log?.({
          level: "info",
          event: "supply-resumed",
          pool: this.pool,
          kme: this.options.local.kmeId,
          lastBlockId: this.last.blockId,
        });
    }
    return this.last;
  }

  protected share(block: SuppliedBlock): { share: EndUnits; units: number; bits: number } {
    const { atA, atB } = cutIntoUnits(block, this.options.unitBits / 8);
    const units = atA.local.length + atA.peer.length;
    return { share: this.options.end === "a" ? atA : atB, units, bits: units * this.options.unitBits };
  }
}

/**
 * The leading end of a link whose other end runs in another process: decides when a block goes into
 * the pool (while either direction here is below the target: this end's `peer` direction is what the
 * follower allocates), and adds its share around the follower's acknowledgement.
 */
export class SupplyLeader extends LinkEnd implements PoolSupplier {
  constructor(
    options: LinkEndOptions & {
      /** Keep both directions of the pool here at least this full, bits. */
      targetBits: number;
      transport: SupplyTransport;
    },
  ) {
    super(options);
    this.targetBits = options.targetBits;
    this.transport = options.transport;
  }

  private readonly targetBits: number;
  private readonly transport: SupplyTransport;

  /** Whether both directions here hold at least the target. */
  async full(): Promise<boolean> {
    const level = (await this.levels())[this.options.end];
    return (level?.local.bits ?? 0) >= this.targetBits && (level?.peer.bits ?? 0) >= this.targetBits;
  }

  /**
   * Supplies one block at both ends: this end's `peer` units, the follower's whole share, then this
   * end's record and `local` units. A failure leaves the block to be offered again. Returns the bits
   * added.
   */
  async supplyOnce(): Promise<number> {
    const o = this.options;
    const last = await this.lastHeld();
    const block = await this.reader.peek(last?.index);
    const index = blockIndex(block);
    if (index === undefined)
      throw new RangeError(
        `pool ${this.pool}: block ${block.blockId} has no index; a link supplied across processes needs ordered block IDs`,
      );
    const { share, units, bits } = this.share(block);
    const now = o.clock();
    await addPeerUnits(o.local.store, this.pool, share.peer, now);
    await this.transport.supply(o.peerKmeId, { pool: this.pool, blockId: block.blockId });
    await recordAndAddLocal(o.local.store, this.pool, share, block, bits, now);
    this.last = { blockId: block.blockId, index };
    this.reader.done();
    this.count(block, units, bits);
    return bits;
  }

  fill(maxBlocks = Number.POSITIVE_INFINITY): Promise<number> {
    return fillUntilFull(this, maxBlocks);
  }
}

/**
 * The following end of a link whose other end (the leader) runs in another process: adds its share of
 * each block the leader names, from its own copy of the source. Notices are handled one at a time.
 */
export class SupplyFollower extends LinkEnd {
  private queue: Promise<unknown> = Promise.resolve();

  /** The KME allowed to send this end's notices. */
  get leader(): string {
    return this.options.peerKmeId;
  }

  /**
   * Reads the store's newest block and makes the source regenerate the blocks held, so that the first
   * notice after a restart is answered without that delay. Optional.
   */
  resume(): Promise<void> {
    return this.serialised(async () => {
      const last = await this.lastHeld();
      if (last) await this.reader.peek(last.index);
    });
  }

  /** Adds this end's share of the block the leader names (see {@link SupplyOutcome}). */
  receive(notice: SupplyNotice): Promise<SupplyOutcome> {
    return this.serialised(() => this.receiveNow(notice));
  }

  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  private outOfStep(reason: string): SupplyOutcome {
    this.options.log?.({
      level: "error",
      event: "supply-out-of-step",
      pool: this.pool,
      kme: this.options.local.kmeId,
      leader: this.options.peerKmeId,
      reason,
    });
    return { status: "out-of-step", reason };
  }

  private async receiveNow(notice: SupplyNotice): Promise<SupplyOutcome> {
    const o = this.options;
    if (notice.pool !== this.pool) return this.outOfStep(`no pool ${notice.pool} here`);
    const wanted = blockIndex({ blockId: notice.blockId });
    if (wanted === undefined) return this.outOfStep(`block ID ${notice.blockId} has no index`);
    const last = await this.lastHeld();
    if (last && wanted <= last.index) {
      if (wanted === last.index && notice.blockId === last.blockId)
        return { status: "ok", added: false, lastBlockId: last.blockId };
      return this.outOfStep(
        `the leader supplies block ${notice.blockId}, but this KME already holds the newer block ${last.blockId}: the leader's store is behind this one (restored or replaced?)`,
      );
    }
    const block = await this.reader.peek(last?.index);
    const index = blockIndex(block);
    if (block.blockId !== notice.blockId || index !== wanted) {
      // The block stays read: the ends stay out of step until someone looks.
      return this.outOfStep(
        index !== undefined && index < wanted
          ? `this KME's source delivered block ${block.blockId}, which the leader never supplied (it supplies ${notice.blockId}): the ends' sources or stores differ`
          : `this KME's source delivered block ${block.blockId} where the leader supplies ${notice.blockId}: the ends' sources differ (parameters, seed or device)`,
      );
    }
    const { share, units, bits } = this.share(block);
    await addShare(o.local.store, this.pool, share, block, bits, o.clock());
    this.last = { blockId: block.blockId, index: wanted };
    this.reader.done();
    this.count(block, units, bits);
    return { status: "ok", added: true, lastBlockId: block.blockId };
  }
}
