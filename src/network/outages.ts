import type { Rng } from "../sim/rng.js";
import type { IntermittencySpec, OutageSpec } from "./topology.js";

/**
 * When a link's quantum channel is down: its scheduled outages merged with random intermittent ones,
 * as sorted, disjoint intervals [start, end) in ns. Random outages are drawn lazily, as far ahead as
 * queries reach, from the link's own random stream, so they do not depend on anything else drawn.
 */
export class OutageSchedule {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private scheduledNext = 0;
  /** The next random outage not yet merged (start `Infinity`: none). */
  private randomStart = Number.POSITIVE_INFINITY;
  private randomEnd = Number.POSITIVE_INFINITY;
  /**
   * Down periods set while running ({@link OutageSchedule.setDown}), sorted and disjoint; the last is
   * open (end `Infinity`) while the link is down. They are not known ahead, so attempts do not look them
   * up here: the simulation suspends the link's attempts while one is open. They count in `summary`.
   */
  private readonly setStarts: number[] = [];
  private readonly setEnds: number[] = [];

  constructor(
    private readonly scheduled: readonly OutageSpec[],
    private readonly intermittency: IntermittencySpec | undefined,
    private readonly rng: Rng,
  ) {
    if (intermittency !== undefined) this.drawRandom(0);
  }

  /** True when the link never goes down. */
  get never(): boolean {
    return this.scheduled.length === 0 && this.intermittency === undefined;
  }

  /**
   * The first outage that ends after `t`, as its index into `start(i)`/`end(i)`, or −1 if there is
   * none. An outage containing `t` is returned too.
   */
  firstEndingAfter(t: number): number {
    this.extendPast(t);
    const ends = this.ends;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo < ends.length ? lo : -1;
  }

  start(i: number): number {
    return this.starts[i];
  }

  end(i: number): number {
    return this.ends[i];
  }

  /**
   * Sets the link down (or up) from time `t` on, `t` not before any time given before. A down period
   * that ends where it began leaves no trace.
   */
  setDown(t: number, down: boolean): void {
    const n = this.setStarts.length;
    const open = n > 0 && this.setEnds[n - 1] === Number.POSITIVE_INFINITY;
    if (down && !open) {
      this.setStarts.push(t);
      this.setEnds.push(Number.POSITIVE_INFINITY);
    } else if (!down && open) {
      if (this.setStarts[n - 1] === t) {
        this.setStarts.pop();
        this.setEnds.pop();
      } else this.setEnds[n - 1] = t;
    }
  }

  /**
   * Outages that began before `t`, and the time the link was down within [0, t], in ns. Periods set
   * with `setDown` are merged with the others (overlapping or touching periods count once).
   */
  summary(t: number): { outages: number; downtimeNs: number } {
    this.extendPast(t);
    if (this.setStarts.length > 0) return this.mergedSummary(t);
    let outages = 0;
    let downtimeNs = 0;
    for (let i = 0; i < this.starts.length && this.starts[i] < t; i++) {
      outages++;
      downtimeNs += Math.min(this.ends[i], t) - this.starts[i];
    }
    return { outages, downtimeNs };
  }

  /** `summary` over the union of the scheduled and random outages with the periods set at run time. */
  private mergedSummary(t: number): { outages: number; downtimeNs: number } {
    let i = 0;
    let j = 0;
    let outages = 0;
    let downtimeNs = 0;
    let curStart = 0;
    let curEnd = Number.NEGATIVE_INFINITY;
    for (;;) {
      const si = i < this.starts.length && this.starts[i] < t ? this.starts[i] : Number.POSITIVE_INFINITY;
      const sj =
        j < this.setStarts.length && this.setStarts[j] < t ? this.setStarts[j] : Number.POSITIVE_INFINITY;
      if (si === Number.POSITIVE_INFINITY && sj === Number.POSITIVE_INFINITY) break;
      let s: number;
      let e: number;
      if (si <= sj) {
        s = si;
        e = this.ends[i++];
      } else {
        s = sj;
        e = this.setEnds[j++];
      }
      if (s <= curEnd) curEnd = Math.max(curEnd, e);
      else {
        if (outages > 0) downtimeNs += Math.min(curEnd, t) - curStart;
        outages++;
        curStart = s;
        curEnd = e;
      }
    }
    if (outages > 0) downtimeNs += Math.min(curEnd, t) - curStart;
    return { outages, downtimeNs };
  }

  /**
   * Merges intervals from both sources until the last merged interval ends after `t` and cannot grow
   * any more (the next candidate starts after it ends), or both sources are exhausted.
   */
  private extendPast(t: number): void {
    for (;;) {
      const n = this.ends.length;
      const nextStart = Math.min(this.nextScheduledStart(), this.randomStart);
      if (n > 0 && this.ends[n - 1] > t && nextStart > this.ends[n - 1]) return;
      if (nextStart === Number.POSITIVE_INFINITY) return;
      let s: number;
      let e: number;
      if (this.nextScheduledStart() <= this.randomStart) {
        const o = this.scheduled[this.scheduledNext++];
        s = o.startNs;
        e = o.startNs + o.durationNs;
      } else {
        s = this.randomStart;
        e = this.randomEnd;
        this.drawRandom(e);
      }
      if (n > 0 && s <= this.ends[n - 1]) this.ends[n - 1] = Math.max(this.ends[n - 1], e);
      else {
        this.starts.push(s);
        this.ends.push(e);
      }
    }
  }

  private nextScheduledStart(): number {
    return this.scheduledNext < this.scheduled.length
      ? this.scheduled[this.scheduledNext].startNs
      : Number.POSITIVE_INFINITY;
  }

  /** Draws the random outage that follows an up period beginning at `upFrom`. */
  private drawRandom(upFrom: number): void {
    const m = this.intermittency!;
    this.randomStart = upFrom + this.rng.exponential(1 / m.meanUpNs);
    this.randomEnd = this.randomStart + this.rng.exponential(1 / m.meanDownNs);
  }
}
