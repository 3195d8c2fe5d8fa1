/**
 * The classical channel between the two parties of a QKD link, as post-processing sees it: every
 * message costs one-way latency plus its serialization time, and every bit sent is counted, because
 * what Eve hears is what privacy amplification must remove and what round trips cost is key rate.
 */

/** Which party sends a message. */
export type Party = "alice" | "bob";

export interface ClassicalChannelParams {
  /** One-way latency of a message, in ns (≥ 0). */
  latencyNs: number;
  /** Line rate, in bit/s (> 0; `Infinity`: serialization takes no time). Default 1e9. */
  bandwidthBitsPerS?: number;
}

/** What a session sent over the classical channel, and the simulated time it took. */
export interface ChannelUsage {
  messages: number;
  /** Message exchanges that wait for an answer: a question and its reply count as one round trip. */
  roundTrips: number;
  bitsAliceToBob: number;
  bitsBobToAlice: number;
  /** Simulated time spent waiting for messages, in ns. */
  elapsedNs: number;
}

/**
 * Accounts the messages of a post-processing session. Stages call `send` for a one-way message and
 * `roundTrip` for a question answered by the other party; both advance the session's simulated time.
 */
export class ClassicalChannel {
  private readonly latencyNs: number;
  private readonly nsPerBit: number;
  private usage: ChannelUsage = emptyUsage();

  constructor(params: ClassicalChannelParams) {
    const bandwidth = params.bandwidthBitsPerS ?? 1e9;
    if (!(params.latencyNs >= 0 && Number.isFinite(params.latencyNs)))
      throw new RangeError(
        `classical channel latencyNs must be a finite number ≥ 0, got ${params.latencyNs}`,
      );
    if (!(bandwidth > 0))
      throw new RangeError(`classical channel bandwidthBitsPerS must be > 0 (or Infinity), got ${bandwidth}`);
    this.latencyNs = params.latencyNs;
    this.nsPerBit = Number.isFinite(bandwidth) ? 1e9 / bandwidth : 0;
  }

  /** A one-way message of `bits` bits from `from` to the other party. */
  send(from: Party, bits: number): void {
    this.count(from, bits);
    this.usage.elapsedNs += this.latencyNs + bits * this.nsPerBit;
  }

  /** A question of `questionBits` from `from` and its answer of `answerBits`: one round trip. */
  roundTrip(from: Party, questionBits: number, answerBits: number): void {
    this.send(from, questionBits);
    this.send(from === "alice" ? "bob" : "alice", answerBits);
    this.usage.roundTrips++;
  }

  /**
   * Adds `n` round trips at once (e.g. as reported by a reconciliation run); `questionBits` and
   * `answerBits` are the totals over all `n`.
   */
  roundTrips(from: Party, n: number, questionBits: number, answerBits: number): void {
    if (n <= 0) return;
    const other: Party = from === "alice" ? "bob" : "alice";
    this.count(from, questionBits);
    this.count(other, answerBits);
    this.usage.messages += 2 * n - 2;
    this.usage.roundTrips += n;
    this.usage.elapsedNs += 2 * n * this.latencyNs + (questionBits + answerBits) * this.nsPerBit;
  }

  /** Usage since construction or the last `reset`. */
  get used(): Readonly<ChannelUsage> {
    return this.usage;
  }

  /** Returns the usage so far and starts counting afresh (e.g. per key block). */
  reset(): ChannelUsage {
    const u = this.usage;
    this.usage = emptyUsage();
    return u;
  }

  private count(from: Party, bits: number): void {
    if (!(bits >= 0 && Number.isFinite(bits)))
      throw new RangeError(`a message has a finite number of bits ≥ 0, got ${bits}`);
    this.usage.messages++;
    if (from === "alice") this.usage.bitsAliceToBob += bits;
    else this.usage.bitsBobToAlice += bits;
  }
}

function emptyUsage(): ChannelUsage {
  return { messages: 0, roundTrips: 0, bitsAliceToBob: 0, bitsBobToAlice: 0, elapsedNs: 0 };
}
