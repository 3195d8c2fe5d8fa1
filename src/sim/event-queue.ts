/**
 * The kernel's pending-event set: a binary min-heap over parallel typed arrays, ordered by
 * (time, insertion sequence), with no object allocated per event.
 *
 * Layout. The heap proper is three parallel arrays — `heapTime` (Float64Array), `heapSeq`
 * (Float64Array, a counter that increases by one per push, exact to 2^53) and `heapSlot` (Int32Array).
 * Each event's payload lives in a *slot* of a struct-of-arrays (`slotHandler`, `slotKind`, `slotData`,
 * `slotTime`, `slotGen`); slots are recycled through a free list, and all arrays grow by doubling.
 *
 * Choices, each measured with bench/kernel.ts and throwaway variants (pop + push of an exponential
 * delay, one core):
 * - Binary rather than 4-ary: the 4-ary heap (also branch-free) was 6% slower at 10^3 pending events,
 *   equal at 10^4 and only better at 10^5 and beyond.
 * - Branch-free choice of the smaller child during sift-down (`c += +(right < left)`), which avoids a
 *   50/50-unpredictable branch per level: +30% at 10^3 and 10^4 pending events, +8% at 10^5, but −35%
 *   at 10^6, where the branchy loop's speculative loads hide cache misses — so heaps larger than
 *   {@link BRANCHLESS_MAX} use the branchy loop. `heapTime` keeps `Infinity` past the last entry so
 *   the right child can be read without a bounds test. The unary plus matters: V8 (Node 20) compiles it
 *   to a flag-to-register move, whereas adding the boolean itself (through a type cast) compiled to a
 *   generic boolean-to-number conversion, and a simulator event (pop, handler, push) took about 1.8×
 *   as long at 60 pending events.
 * - Deferred removal of the root: `pop` leaves a hole at the root, and if the next operation is a
 *   `push` — the common case, an entity rescheduling itself — the new event is sifted down from the
 *   root into the hole, saving one sift (+10%). Any other operation fills the hole first.
 * - Lazy cancellation: `cancel` marks the slot (handler −1) in O(1) and the entry is dropped when it
 *   reaches the root. An indexed heap (eager removal) must keep a slot→position map up to date on every
 *   move, which alone made pop + push 13–20% slower at 10^3 pending events. If cancelled entries
 *   outnumber live ones (and exceed {@link COMPACT_MIN}), the heap is rebuilt without them, so memory
 *   stays proportional to the live events.
 * - No double crosses a call boundary that V8 might not inline (`push` is small; the sifts take
 *   integers; `popUntil` returns an integer and leaves the time in a field): a non-inlined call with a
 *   double argument or result boxes it, one allocation per event.
 *
 * Event ids. An {@link EventId} is `generation · 2^26 + slot`. A slot's generation starts at 1 and is
 * incremented each time the slot is freed, so an id whose event already fired or was cancelled never
 * matches the slot's current occupant (until the 27-bit generation wraps, after 134 million reuses of
 * that one slot). Id 0 is never issued and can serve as "no event".
 *
 * @module
 */

/**
 * Identifies a scheduled event for {@link EventQueue.cancel}. A non-negative integer below 2^53;
 * 0 is never issued.
 */
export type EventId = number;

/** Slot index bits in an {@link EventId}. */
const SLOT_BITS = 26;
/** Maximum number of simultaneously pending events (2^26 = 67,108,864). */
export const MAX_PENDING_EVENTS = 2 ** SLOT_BITS;
const SLOT_MASK = MAX_PENDING_EVENTS - 1;
/** Generations run 1 .. 2^27 − 1 so the largest id stays below 2^53. */
const GEN_LIMIT = 2 ** 27;
const MAX_ID = GEN_LIMIT * MAX_PENDING_EVENTS;

/** Cancelled entries are purged once there are more than this many and they outnumber live ones. */
export const COMPACT_MIN = 1024;

/** Heaps with more entries than this sift down with branches (faster once the heap leaves the cache). */
export const BRANCHLESS_MAX = 131072;

/** Handler value of a slot whose event was cancelled while still in the heap. */
const CANCELLED = -1;
/** Handler value of a free slot. */
const FREE = -2;

const INF = Number.POSITIVE_INFINITY;

/**
 * A min-priority queue of events keyed by (time, insertion order).
 *
 * Hot-path use (what {@link Simulator} does): {@link EventQueue.popUntil} returns the handler id —
 * a small integer, so nothing is boxed — and leaves the event's time, kind and data in
 * {@link EventQueue.time}, {@link EventQueue.kind} and {@link EventQueue.data}.
 */
export class EventQueue {
  /** Time of the event most recently returned by {@link EventQueue.popUntil}. */
  time = 0;
  /** Kind of the event most recently returned by {@link EventQueue.popUntil}. */
  kind = 0;
  /** Data of the event most recently returned by {@link EventQueue.popUntil}. */
  data = 0;

  // Numeric fields are initialised where declared so V8 never sees them as `undefined` (which would
  // make their representation tagged and box every double store).
  /** Entries in the heap, live and cancelled, plus the root hole if there is one. */
  private heapSize = 0;
  /** Cancelled entries still in the heap. */
  private cancelledCount = 0;
  /** True when index 0 is a hole left by the last pop (its slot is already freed). */
  private hole = false;
  private nextSeq = 0;
  private freeCount = 0;
  /** Slots ever handed out; slots below this index are in use or on the free list. */
  private slotsUsed = 0;
  private capacity = 0;

  /** Times; `Infinity` at every index ≥ heapSize (one spare element past capacity). */
  private heapTime: Float64Array;
  private heapSeq: Float64Array;
  private heapSlot: Int32Array;
  private slotHandler: Int32Array;
  private slotKind: Int32Array;
  private slotData: Float64Array;
  private slotTime: Float64Array;
  private slotGen: Int32Array;
  private freeSlots: Int32Array;

  /**
   * @param initialCapacity - events the arrays hold before the first doubling; default 64.
   */
  constructor(initialCapacity = 64) {
    if (
      !(Number.isInteger(initialCapacity) && initialCapacity >= 1 && initialCapacity <= MAX_PENDING_EVENTS)
    ) {
      throw new RangeError(
        `EventQueue: initialCapacity must be an integer in [1, ${MAX_PENDING_EVENTS}], got ${initialCapacity}`,
      );
    }
    const c = initialCapacity;
    this.capacity = c;
    this.heapTime = new Float64Array(c + 1).fill(INF);
    this.heapSeq = new Float64Array(c + 1);
    this.heapSlot = new Int32Array(c + 1);
    this.slotHandler = new Int32Array(c).fill(FREE);
    this.slotKind = new Int32Array(c);
    this.slotData = new Float64Array(c);
    this.slotTime = new Float64Array(c);
    this.slotGen = new Int32Array(c).fill(1);
    this.freeSlots = new Int32Array(c);
  }

  /** Number of pending (scheduled, not yet popped, not cancelled) events. */
  get size(): number {
    return this.heapSize - this.cancelledCount - (this.hole ? 1 : 0);
  }

  /**
   * Adds an event. The caller validates the arguments (the {@link Simulator} does).
   *
   * @param time - when it fires; ties are broken by the order of `push` calls.
   * @param handler - handler id, an integer ≥ 0.
   * @param kind - an int32 the handler interprets.
   * @param data - a number the handler interprets.
   * @returns an id for {@link EventQueue.cancel}.
   */
  push(time: number, handler: number, kind: number, data: number): EventId {
    // Kept small so V8 inlines it into `schedule` and the caller: a non-inlined call with a double
    // argument or result boxes it (allocates). The sifts below take only small integers.
    let slot: number;
    if (this.freeCount > 0) {
      slot = this.freeSlots[--this.freeCount];
    } else {
      if (this.slotsUsed === this.capacity) this.grow();
      slot = this.slotsUsed++;
    }
    this.slotHandler[slot] = handler;
    this.slotKind[slot] = kind;
    this.slotData[slot] = data;
    this.slotTime[slot] = time;
    this.insert(slot);
    return this.slotGen[slot] * MAX_PENDING_EVENTS + slot;
  }

  /** Adds the event in `slot` (its time in `slotTime`) to the heap with the next sequence number. */
  private insert(slot: number): void {
    const ht = this.heapTime;
    const hs = this.heapSeq;
    const hslot = this.heapSlot;
    const time = this.slotTime[slot];
    const seq = this.nextSeq++;
    if (this.hole) {
      // Fill the root hole left by the last pop: one sift-down instead of a sift-down plus a sift-up.
      this.hole = false;
      ht[0] = time;
      hs[0] = seq;
      hslot[0] = slot;
      this.siftDownRoot(this.heapSize);
      return;
    }
    // Sift up. The new entry has the largest sequence number so far, so on equal times it stays
    // below its parent: a plain `<=` on times suffices.
    let i = this.heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = ht[parent];
      if (pt <= time) break;
      ht[i] = pt;
      hs[i] = hs[parent];
      hslot[i] = hslot[parent];
      i = parent;
    }
    ht[i] = time;
    hs[i] = seq;
    hslot[i] = slot;
  }

  /**
   * Time of the earliest pending event, or `Infinity` if there is none. Discards cancelled entries
   * that have reached the top.
   */
  peekTime(): number {
    if (this.hole) this.fillHole();
    return this.dropCancelledTop() < 0 ? INF : this.heapTime[0];
  }

  /**
   * Removes the earliest pending event and returns its handler id, or −1 if there is none. Its time,
   * kind and data are left in {@link EventQueue.time}, {@link EventQueue.kind}, {@link EventQueue.data}.
   * The event's id is stale from here on: cancelling it returns false.
   */
  pop(): number {
    return this.popUntil(INF);
  }

  /**
   * Like {@link EventQueue.pop}, but only if the earliest pending event's time is ≤ `limit`.
   *
   * @returns the handler id (≥ 0); −1 if no event is pending; −2 if the earliest is later than `limit`
   * (it stays queued).
   */
  popUntil(limit: number): number {
    if (this.hole) this.fillHole();
    if (this.heapSize === 0) return -1;
    let slot = this.heapSlot[0];
    let handler = this.slotHandler[slot];
    if (handler === CANCELLED) {
      handler = this.dropCancelledTop();
      if (handler < 0) return -1;
      slot = this.heapSlot[0];
    }
    const t = this.heapTime[0];
    if (t > limit) return -2;
    this.time = t;
    this.kind = this.slotKind[slot];
    this.data = this.slotData[slot];
    this.freeSlot(slot);
    this.hole = true;
    return handler;
  }

  /** Discards cancelled entries at the root; returns the new root's handler, or −1 if none remain. */
  private dropCancelledTop(): number {
    while (this.heapSize > 0) {
      const slot = this.heapSlot[0];
      const handler = this.slotHandler[slot];
      if (handler !== CANCELLED) return handler;
      this.cancelledCount--;
      this.freeSlot(slot);
      this.fillHole();
    }
    return -1;
  }

  /**
   * Cancels a pending event.
   *
   * @returns true if the event was pending and is now cancelled; false if the id is unknown, already
   * fired, already cancelled, or not an id at all.
   */
  cancel(id: EventId): boolean {
    if (!this.isPending(id)) return false;
    this.slotHandler[id & SLOT_MASK] = CANCELLED;
    this.cancelledCount++;
    if (this.cancelledCount > COMPACT_MIN && this.cancelledCount * 2 > this.heapSize) this.compact();
    return true;
  }

  /** True if `id` names an event that is still pending (scheduled, not fired, not cancelled). */
  isPending(id: EventId): boolean {
    if (!(id >= MAX_PENDING_EVENTS && id < MAX_ID && Math.floor(id) === id)) return false;
    const slot = id & SLOT_MASK; // exact: ToInt32 reduces modulo 2^32, and the slot is the low 26 bits
    return (
      slot < this.slotsUsed &&
      this.slotGen[slot] === (id - slot) / MAX_PENDING_EVENTS &&
      this.slotHandler[slot] >= 0
    );
  }

  /** Removes every event. Outstanding ids become stale. */
  clear(): void {
    for (let i = this.hole ? 1 : 0; i < this.heapSize; i++) this.freeSlot(this.heapSlot[i]);
    this.heapTime.fill(INF, 0, this.heapSize);
    this.heapSize = 0;
    this.cancelledCount = 0;
    this.hole = false;
  }

  /** Closes the root hole by moving the last entry to the root and sifting it down. */
  private fillHole(): void {
    this.hole = false;
    const n = --this.heapSize;
    const ht = this.heapTime;
    ht[0] = ht[n];
    this.heapSeq[0] = this.heapSeq[n];
    this.heapSlot[0] = this.heapSlot[n];
    ht[n] = INF;
    if (n > 1) this.siftDownRoot(n);
  }

  /** Sifts the root entry down to its place among the first `n` entries. */
  private siftDownRoot(n: number): void {
    const ht = this.heapTime;
    const hs = this.heapSeq;
    const hslot = this.heapSlot;
    const t = ht[0];
    const s = hs[0];
    const slot = hslot[0];
    let i = 0;
    if (n <= BRANCHLESS_MAX) {
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        // ht[n] is Infinity, so reading the right child is safe even when it doesn't exist.
        const rt = ht[c + 1];
        const lt = ht[c];
        // Step to the right child if it comes first, without a branch on the (unpredictable) outcome;
        // equal times are rare, so their tie-break may branch.
        let right = +(rt < lt);
        if (rt === lt) right = +(hs[c + 1] < hs[c]);
        c += right;
        const ct = ht[c];
        if (t < ct || (t === ct && s < hs[c])) break;
        ht[i] = ct;
        hs[i] = hs[c];
        hslot[i] = hslot[c];
        i = c;
      }
    } else {
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        let ct = ht[c];
        const rt = ht[c + 1];
        if (rt < ct || (rt === ct && hs[c + 1] < hs[c])) {
          c++;
          ct = rt;
        }
        if (t < ct || (t === ct && s < hs[c])) break;
        ht[i] = ct;
        hs[i] = hs[c];
        hslot[i] = hslot[c];
        i = c;
      }
    }
    ht[i] = t;
    hs[i] = s;
    hslot[i] = slot;
  }

  private freeSlot(slot: number): void {
    this.slotHandler[slot] = FREE;
    const g = this.slotGen[slot] + 1;
    this.slotGen[slot] = g === GEN_LIMIT ? 1 : g;
    this.freeSlots[this.freeCount++] = slot;
  }

  /** Drops cancelled entries and re-heapifies (Floyd's bottom-up construction, O(n)). */
  private compact(): void {
    if (this.hole) this.fillHole();
    const ht = this.heapTime;
    const hs = this.heapSeq;
    const hslot = this.heapSlot;
    const old = this.heapSize;
    let n = 0;
    for (let i = 0; i < old; i++) {
      const slot = hslot[i];
      if (this.slotHandler[slot] === CANCELLED) {
        this.freeSlot(slot);
        continue;
      }
      ht[n] = ht[i];
      hs[n] = hs[i];
      hslot[n] = slot;
      n++;
    }
    ht.fill(INF, n, old);
    this.heapSize = n;
    this.cancelledCount = 0;
    for (let start = (n >> 1) - 1; start >= 0; start--) {
      const t = ht[start];
      const s = hs[start];
      const sl = hslot[start];
      let i = start;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (ht[c + 1] < ht[c] || (ht[c + 1] === ht[c] && hs[c + 1] < hs[c])) c++;
        if (t < ht[c] || (t === ht[c] && s < hs[c])) break;
        ht[i] = ht[c];
        hs[i] = hs[c];
        hslot[i] = hslot[c];
        i = c;
      }
      ht[i] = t;
      hs[i] = s;
      hslot[i] = sl;
    }
  }

  private grow(): void {
    const old = this.capacity;
    if (old >= MAX_PENDING_EVENTS) {
      throw new RangeError(`EventQueue: more than ${MAX_PENDING_EVENTS} pending events`);
    }
    const c = Math.min(old * 2, MAX_PENDING_EVENTS);
    this.capacity = c;
    const ht = new Float64Array(c + 1).fill(INF);
    ht.set(this.heapTime.subarray(0, this.heapSize));
    this.heapTime = ht;
    this.heapSeq = growF64(this.heapSeq, c + 1);
    this.heapSlot = growI32(this.heapSlot, c + 1, 0);
    this.slotHandler = growI32(this.slotHandler, c, FREE);
    this.slotKind = growI32(this.slotKind, c, 0);
    this.slotData = growF64(this.slotData, c);
    this.slotTime = growF64(this.slotTime, c);
    this.slotGen = growI32(this.slotGen, c, 1);
    this.freeSlots = growI32(this.freeSlots, c, 0);
  }
}

function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

function growI32(a: Int32Array, n: number, fill: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}
