/**
 * Where a KMS pool's key comes from: a QKD link delivering blocks of key that both ends hold. A real
 * QKD device implements {@link KeySource} (its vendor API behind it); the simulated link is
 * {@link SimulatedQkdKeySource}, a {@link QkdSession} running the full BB84 stack.
 *
 * {@link cutIntoUnits} turns a block into the units a key store holds: the same unit IDs and bytes at
 * both ends, alternate units given to each end's own direction so that both ends can hand out keys at
 * once without coordinating on every unit.
 */
import { bitsToBytes } from "../qkd/bits.js";
import { type KeyBlock, QkdSession, type QkdSessionOptions } from "../qkd/pipeline.js";
import { keyBlockObservation, type ObservationSink } from "../telemetry/observations.js";
import type { KeyUnit } from "./key-store.js";

/** One block of key as both ends of a link received it. */
export interface SuppliedBlock {
  /** Unique for the link, e.g. "<link>:<block index>". */
  blockId: string;
  /**
   * The block's position in the link's output, increasing (gaps allowed: blocks that fail
   * verification are never delivered). Default: the integer after the block ID's last colon (see
   * {@link blockIndex}). Both ends of a link run in step on it: which block comes first, and which
   * blocks a store already holds.
   */
  index?: number;
  /** The key at end A and at end B, as bytes (equal for a correct block). */
  keyA: Uint8Array;
  keyB: Uint8Array;
  /** Version and fingerprint of the parameters the block was made with. */
  parameterSet: { version: string; fingerprint: string };
  /** Simulated (or device) time at which the key became ready, ns. */
  readyNs: number;
}

/**
 * A block's position in its link's output: `block.index`, else the integer after the last colon of its
 * ID (`"a-b:12"` is 12). Undefined when neither says.
 */
export function blockIndex(block: { blockId: string; index?: number }): number | undefined {
  if (block.index !== undefined) return block.index;
  const m = /:(\d{1,15})$/.exec(block.blockId);
  return m ? Number(m[1]) : undefined;
}

/**
 * A source of key blocks for one link. A source made again with the same configuration (a device
 * restarted, a simulation with the same seed) must deliver the same blocks in the same order: the
 * suppliers skip the blocks a store already holds after a restart, and the two ends of a link in
 * separate processes each run their own copy of the link's source.
 */
export interface KeySource {
  /** The link's canonical ID; also the pool name at both ends. */
  readonly linkId: string;
  /** The next delivered block (blocks that fail verification are never returned). */
  next(): Promise<SuppliedBlock>;
}

/** A simulated QKD link as a key source: post-processed blocks from a {@link QkdSession}. */
export class SimulatedQkdKeySource implements KeySource {
  private readonly session: QkdSession;
  /** Discarded blocks seen while looking for delivered ones. */
  discarded = 0;

  constructor(
    readonly linkId: string,
    options: QkdSessionOptions,
    /** Give up after this many discarded blocks in a row (a link that cannot make key). Default 20. */
    private readonly maxDiscardedInARow = 20,
    /** Told of every block, delivered or discarded (M6, M10, F5). Default: none. */
    private readonly sink?: Pick<ObservationSink, "qkdBlock">,
  ) {
    this.session = new QkdSession(options);
  }

  async next(): Promise<SuppliedBlock> {
    for (let tries = 0; tries < this.maxDiscardedInARow; tries++) {
      const b: KeyBlock = this.session.nextBlock();
      this.sink?.qkdBlock(this.linkId, keyBlockObservation(b));
      if (b.status === "delivered") {
        return {
          blockId: `${this.linkId}:${b.index}`,
          index: b.index,
          keyA: bitsToBytes(b.aliceKey),
          keyB: bitsToBytes(b.bobKey),
          parameterSet: b.parameterSet,
          readyNs: b.readyNs,
        };
      }
      this.discarded++;
    }
    throw new Error(
      `QKD link ${this.linkId}: ${this.maxDiscardedInARow} blocks in a row produced no key (last reason: ${this.session.history.at(-1)?.reason}); check the link's loss and error rate`,
    );
  }
}

/** One end's share of a block: units it allocates itself, and units the other end allocates. */
export interface EndUnits {
  local: KeyUnit[];
  peer: KeyUnit[];
}

/**
 * Cuts a block into units of `unitBytes` bytes (a trailing partial unit is dropped) for both ends,
 * alternating the directions: even units are allocated by A (A's `local`, B's `peer`), odd units by B.
 * Unit IDs are `<blockId>:<index>`, the same at both ends; each end's material comes from its own copy.
 */
export function cutIntoUnits(block: SuppliedBlock, unitBytes: number): { atA: EndUnits; atB: EndUnits } {
  if (!(Number.isInteger(unitBytes) && unitBytes >= 1))
    throw new RangeError(`unitBytes must be a positive integer, got ${unitBytes}`);
  if (block.keyA.length !== block.keyB.length)
    throw new RangeError(`block ${block.blockId}: the two ends' keys differ in length`);
  const atA: EndUnits = { local: [], peer: [] };
  const atB: EndUnits = { local: [], peer: [] };
  const n = Math.floor(block.keyA.length / unitBytes);
  for (let i = 0; i < n; i++) {
    const unitId = `${block.blockId}:${i}`;
    const a = { unitId, material: block.keyA.slice(i * unitBytes, (i + 1) * unitBytes) };
    const b = { unitId, material: block.keyB.slice(i * unitBytes, (i + 1) * unitBytes) };
    if (i % 2 === 0) {
      atA.local.push(a);
      atB.peer.push(b);
    } else {
      atB.local.push(b);
      atA.peer.push(a);
    }
  }
  return { atA, atB };
}
