import { describe, expect, it } from "vitest";
import { BRANCHLESS_MAX, COMPACT_MIN, EventQueue, MAX_PENDING_EVENTS } from "../../src/sim/event-queue.js";
import { Rng } from "../../src/sim/rng.js";

/** Pops everything, returning [time, handler, kind, data] per event. */
function drain(q: EventQueue): Array<[number, number, number, number]> {
  const out: Array<[number, number, number, number]> = [];
  for (let h = q.pop(); h >= 0; h = q.pop()) out.push([q.time, h, q.kind, q.data]);
  return out;
}

describe("EventQueue ordering", () => {
  it("pops in time order and reports the payload", () => {
    const q = new EventQueue(4);
    q.push(30, 3, 33, 0.3);
    q.push(10, 1, 11, 0.1);
    q.push(20, 2, 22, 0.2);
    expect(q.size).toBe(3);
    expect(drain(q)).toEqual([
      [10, 1, 11, 0.1],
      [20, 2, 22, 0.2],
      [30, 3, 33, 0.3],
    ]);
    expect(q.size).toBe(0);
    expect(q.pop()).toBe(-1);
  });

  it("breaks ties by insertion order", () => {
    const q = new EventQueue(2);
    for (let i = 0; i < 50; i++) q.push(i % 5, i, 0, 0);
    const handlers = drain(q).map((e) => e[1]);
    const expected = [...Array(50).keys()].sort((a, b) => (a % 5) - (b % 5) || a - b);
    expect(handlers).toEqual(expected);
  });

  it("keeps insertion order for ties pushed between pops (the root-hole path)", () => {
    const q = new EventQueue(2);
    q.push(5, 0, 0, 0);
    q.push(5, 1, 0, 0);
    expect(q.pop()).toBe(0);
    q.push(5, 2, 0, 0); // fills the hole left at the root
    q.push(5, 3, 0, 0);
    expect(q.pop()).toBe(1);
    expect(q.pop()).toBe(2);
    q.push(4, 4, 0, 0);
    expect(drain(q).map((e) => e[1])).toEqual([4, 3]);
  });

  it("grows past 100,000 events and pops them in (time, insertion) order, matching a stable sort", () => {
    const q = new EventQueue(1);
    const rng = new Rng(11);
    // Large enough for both sift-down loops: the branchy one above BRANCHLESS_MAX entries, the
    // branch-free one below.
    const n = 150_000;
    expect(n).toBeGreaterThan(BRANCHLESS_MAX);
    const events: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) {
      // Coarse times so that many ties occur.
      const t = rng.int(1000) * 0.5;
      events.push([t, i]);
      q.push(t, i, i & 0xff, -i);
    }
    expect(q.size).toBe(n);
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const got = drain(q);
    expect(got.length).toBe(n);
    for (let i = 0; i < n; i++) {
      if (got[i][0] !== events[i][0] || got[i][1] !== events[i][1]) {
        throw new Error(`mismatch at ${i}: got ${got[i]}, expected ${events[i]}`);
      }
    }
    expect(got[17][2]).toBe(got[17][1] & 0xff);
    expect(got[17][3]).toBe(-got[17][1]);
  });

  it("stays ordered under interleaved pushes and pops (model check against a sorted list)", () => {
    const q = new EventQueue(1);
    const rng = new Rng(12);
    const model: Array<[number, number]> = [];
    let seq = 0;
    let now = 0;
    for (let step = 0; step < 20_000; step++) {
      if (model.length === 0 || rng.random() < 0.52) {
        const t = now + rng.int(8);
        q.push(t, seq, 0, 0);
        model.push([t, seq++]);
      } else {
        model.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        const [t, id] = model.shift()!;
        expect(q.pop()).toBe(id);
        expect(q.time).toBe(t);
        now = t;
      }
      expect(q.size).toBe(model.length);
    }
  });

  it("popUntil leaves later events queued", () => {
    const q = new EventQueue();
    q.push(10, 1, 0, 0);
    q.push(20, 2, 0, 0);
    expect(q.popUntil(10)).toBe(1);
    expect(q.popUntil(15)).toBe(-2);
    expect(q.peekTime()).toBe(20);
    expect(q.popUntil(20)).toBe(2);
    expect(q.popUntil(100)).toBe(-1);
    expect(q.peekTime()).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("EventQueue cancellation", () => {
  it("cancels pending events, which are then skipped", () => {
    const q = new EventQueue();
    const a = q.push(1, 1, 0, 0);
    const b = q.push(2, 2, 0, 0);
    const c = q.push(3, 3, 0, 0);
    expect(q.isPending(b)).toBe(true);
    expect(q.cancel(b)).toBe(true);
    expect(q.isPending(b)).toBe(false);
    expect(q.size).toBe(2);
    expect(q.cancel(a)).toBe(true);
    expect(q.peekTime()).toBe(3);
    expect(drain(q).map((e) => e[1])).toEqual([3]);
    expect(q.isPending(c)).toBe(false);
  });

  it("returns false for cancelled, fired, never-issued and malformed ids", () => {
    const q = new EventQueue();
    const a = q.push(1, 1, 0, 0);
    const b = q.push(2, 2, 0, 0);
    expect(q.cancel(a)).toBe(true);
    expect(q.cancel(a)).toBe(false); // already cancelled
    expect(q.pop()).toBe(2);
    expect(q.cancel(b)).toBe(false); // already fired
    for (const bad of [
      0,
      -1,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      2 ** 60,
      MAX_PENDING_EVENTS * 5 + 7,
    ]) {
      expect(q.cancel(bad)).toBe(false);
    }
  });

  it("never lets a stale id cancel the event that reused its slot", () => {
    const q = new EventQueue(1);
    const a = q.push(1, 1, 0, 0);
    expect(q.pop()).toBe(1);
    const b = q.push(2, 2, 0, 0); // reuses a's slot
    expect(b % MAX_PENDING_EVENTS).toBe(a % MAX_PENDING_EVENTS);
    expect(b).not.toBe(a);
    expect(q.cancel(a)).toBe(false);
    expect(q.isPending(b)).toBe(true);
    expect(q.cancel(b)).toBe(true);
    const c = q.push(3, 3, 0, 0); // reuses the slot again, after a cancellation
    expect(q.cancel(b)).toBe(false);
    expect(q.cancel(a)).toBe(false);
    expect(q.pop()).toBe(3);
    expect(q.isPending(c)).toBe(false);
  });

  it("never issues id 0", () => {
    const q = new EventQueue(1);
    for (let i = 0; i < 100; i++) {
      const id = q.push(i, 0, 0, 0);
      expect(id).toBeGreaterThan(0);
      q.pop();
    }
  });

  it("compacts when cancelled entries dominate, keeping order and ids valid", () => {
    const q = new EventQueue(8);
    const ids: number[] = [];
    const n = 4 * COMPACT_MIN;
    for (let i = 0; i < n; i++) ids.push(q.push(n - i, i, 0, 0));
    // Cancel all but every fourth: crosses the compaction threshold part-way through.
    const kept: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 4 === 0) kept.push(i);
      else expect(q.cancel(ids[i])).toBe(true);
    }
    expect(q.size).toBe(kept.length);
    for (const i of kept) expect(q.isPending(ids[i])).toBe(true);
    // The last cancelled ids stay cancelled; cancelling again is still false.
    expect(q.cancel(ids[1])).toBe(false);
    const order = drain(q).map((e) => e[1]);
    expect(order).toEqual(kept.slice().reverse());
  });

  it("clear() empties the queue and makes outstanding ids stale", () => {
    const q = new EventQueue();
    const a = q.push(1, 1, 0, 0);
    q.push(2, 2, 0, 0);
    q.pop(); // leaves a root hole; clear must cope with it
    q.clear();
    expect(q.size).toBe(0);
    expect(q.pop()).toBe(-1);
    expect(q.cancel(a)).toBe(false);
    q.push(5, 7, 0, 0);
    expect(drain(q)).toEqual([[5, 7, 0, 0]]);
  });

  it("rejects a bad initial capacity", () => {
    expect(() => new EventQueue(0)).toThrow(RangeError);
    expect(() => new EventQueue(1.5)).toThrow(RangeError);
  });
});
