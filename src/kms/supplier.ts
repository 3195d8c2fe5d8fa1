/**
 * Keeps a QKD link's pool filled at both ends: takes blocks from the link's {@link KeySource}, cuts them
 * into units with the same IDs at both ends, and adds each end's share to its store (its own direction
 * and the peer's). Pool sizes, fill levels and what was supplied are observable for metrics.
 */

import { type ObservationSink, observePoolLevel } from "../telemetry/observations.js";
import { cutIntoUnits, type KeySource } from "./key-source.js";
import type { KeyStore, PoolLevel } from "./key-store.js";

export interface SupplierOptions {
  source: KeySource;
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
}

/** What a supplier has done so far. */
export interface SupplierStats {
  pool: string;
  blocks: number;
  units: number;
  bits: number;
  /** Parameter set of the last block supplied. */
  parameterSet?: { version: string; fingerprint: string };
}

export class KeySupplier {
  private readonly stats: SupplierStats;

  constructor(private readonly options: SupplierOptions) {
    if (!(Number.isInteger(options.unitBits) && options.unitBits > 0 && options.unitBits % 8 === 0))
      throw new RangeError(`unitBits must be a positive multiple of 8, got ${options.unitBits}`);
    this.stats = { pool: options.source.linkId, blocks: 0, units: 0, bits: 0 };
  }

  get pool(): string {
    return this.options.source.linkId;
  }

  get supplied(): Readonly<SupplierStats> {
    return this.stats;
  }

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

  /** Supplies one block to both ends. Returns the bits added to each end. */
  async supplyOnce(): Promise<number> {
    const o = this.options;
    const block = await o.source.next();
    const { atA, atB } = cutIntoUnits(block, o.unitBits / 8);
    const now = o.clock();
    // Each end's two directions in one order: A's local is B's peer and the other way round.
    await o.a.store.addUnits(this.pool, "local", atA.local, now);
    await o.a.store.addUnits(this.pool, "peer", atA.peer, now);
    await o.b.store.addUnits(this.pool, "local", atB.local, now);
    await o.b.store.addUnits(this.pool, "peer", atB.peer, now);
    const units = atA.local.length + atA.peer.length;
    const bits = units * o.unitBits;
    for (const side of [o.a, o.b])
      await side.store.appendAudit({
        atMs: now,
        kind: "supplied",
        actor: `qkd:${this.pool}`,
        pool: this.pool,
        bits,
        detail: `block ${block.blockId}, parameter set ${block.parameterSet.version} (${block.parameterSet.fingerprint})`,
      });
    this.stats.blocks++;
    this.stats.units += units;
    this.stats.bits += bits;
    this.stats.parameterSet = block.parameterSet;
    return bits;
  }

  /** Supplies blocks until the pool is full or `maxBlocks` were added; returns the blocks added. */
  async fill(maxBlocks = Number.POSITIVE_INFINITY): Promise<number> {
    let n = 0;
    while (n < maxBlocks && !(await this.full())) {
      await this.supplyOnce();
      n++;
    }
    return n;
  }
}
