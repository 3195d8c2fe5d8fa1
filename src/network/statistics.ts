/**
 * Summaries of sampled values for reports: mean, quantiles and a fixed-bin histogram. Samples are kept
 * in a growable Float64Array so that recording one allocates nothing in the common case.
 */
export class SampleSet {
  private data = new Float64Array(64);
  private n = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  /**
   * Whether some sample is NaN, infinite or −0. Selection compares with `<`, which cannot place NaN and
   * does not tell −0 from +0, and the shortcuts below assume finite values; such sets are sorted
   * instead, so quantiles always equal those of a full sort.
   */
  private unusual = false;
  /**
   * A copy of the first `workCount` samples that quantile queries partially order by selection (each
   * query leaves it partitioned, which speeds up the next); made again once samples have been added.
   */
  private work: Float64Array | null = null;
  private workCount = 0;
  /** Indices (ascending) at which `work` holds its order statistic, everything before ≤ and after ≥. */
  private readonly placed: number[] = [];

  add(x: number): void {
    if (this.n === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = x;
    // Kept up to date here rather than in a pass when a report asks: this runs in optimized code
    // during the simulation, while a report's passes over long sets would run before V8 optimizes them.
    this.sum += x;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    if (!(Math.abs(x) < Number.POSITIVE_INFINITY) || (x === 0 && 1 / x < 0)) this.unusual = true;
  }

  /** The i-th sample in insertion order. */
  at(i: number): number {
    return this.data[i];
  }

  get count(): number {
    return this.n;
  }

  /** Arithmetic mean, or NaN with no samples. */
  mean(): number {
    return this.n === 0 ? Number.NaN : this.sum / this.n;
  }

  /** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics; NaN with no samples. */
  quantile(q: number): number {
    const n = this.n;
    if (n === 0) return Number.NaN;
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, n - 1);
    if (!this.unusual) {
      // All samples equal (e.g. the fidelities of pairs heralded on one link), or the maximum: no
      // order statistics to find.
      if (this.min === this.max || lo === n - 1) return this.max;
    }
    if (this.work === null || this.workCount !== n) {
      this.work = this.data.slice(0, n);
      this.workCount = n;
      this.placed.length = 0;
      // A full sort costs O(n log n) per set; selection O(n) per quantile, and reports ask for 2–3.
      if (this.unusual) this.work.sort();
    }
    const w = this.work;
    if (this.unusual) return w[lo] + (w[hi] - w[lo]) * (pos - lo);
    // Earlier queries left the array partitioned at the indices in `placed`: select within the stretch
    // between the nearest two, and the next order statistic is the smallest value after lo up to the
    // next placed index (which is ≥ everything before it).
    const placed = this.placed;
    let at = 0;
    while (at < placed.length && placed[at] < lo) at++;
    const from = at > 0 ? placed[at - 1] + 1 : 0;
    if (at === placed.length || placed[at] !== lo) {
      select(w, lo, from, at < placed.length ? placed[at] - 1 : n - 1);
      placed.splice(at, 0, lo);
    }
    const a = w[lo];
    let b = a;
    if (hi > lo) {
      const to = at + 1 < placed.length ? placed[at + 1] : n - 1;
      b = w[hi];
      for (let i = hi + 1; i <= to; i++) if (w[i] < b) b = w[i];
    }
    return a + (b - a) * (pos - lo);
  }

  /** Counts in `bins` equal bins over [lo, hi]; values outside are clamped into the end bins. */
  histogram(lo: number, hi: number, bins: number): Histogram {
    const counts = new Array<number>(bins).fill(0);
    const w = (hi - lo) / bins;
    const first = Math.min(bins - 1, Math.max(0, Math.floor((this.min - lo) / w)));
    const last = Math.min(bins - 1, Math.max(0, Math.floor((this.max - lo) / w)));
    if (!this.unusual && w > 0 && this.n > 0 && first === last) {
      // The bin index does not decrease with the value, so everything lies in the bin of the extremes.
      counts[first] = this.n;
    } else {
      for (let i = 0; i < this.n; i++) {
        const k = Math.min(bins - 1, Math.max(0, Math.floor((this.data[i] - lo) / w)));
        counts[k]++;
      }
    }
    const edges = Array.from({ length: bins + 1 }, (_, k) => round12(lo + k * w));
    return { edges, counts };
  }
}

/** `counts[k]` values fell in [edges[k], edges[k+1]) (the last bin includes its upper edge). */
export interface Histogram {
  edges: number[];
  counts: number[];
}

function round12(x: number): number {
  return Math.round(x * 1e12) / 1e12;
}

/**
 * Rearranges a[left..right] (no NaN) so that a[k] is its (k − left)-th smallest element, everything
 * before it ≤ a[k] and everything after ≥ a[k] (Floyd and Rivest's SELECT). On long stretches it
 * first selects within a small sample around where a[k] should fall, so the pivot lands close to the
 * answer and one partition of the stretch is nearly all the work: about n + min(k, n − k) comparisons,
 * against about 2.75·n for the median with a median-of-three quickselect.
 */
function select(a: Float64Array, k: number, left: number, right: number): void {
  while (right > left) {
    if (right - left > 600) {
      const n = right - left + 1;
      const m = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (m - n / 2 < 0 ? -1 : 1);
      select(
        a,
        k,
        Math.max(left, Math.floor(k - (m * s) / n + sd)),
        Math.min(right, Math.floor(k + ((n - m) * s) / n + sd)),
      );
    }
    // Partition around t = a[k]; equal values stop both scans, so runs of them split evenly.
    const t = a[k];
    let i = left;
    let j = right;
    swap(a, left, k);
    if (a[right] > t) swap(a, left, right);
    while (i < j) {
      // The swap is written out: a report's first selections run before V8 optimizes (and inlines).
      const x = a[i];
      a[i] = a[j];
      a[j] = x;
      i++;
      j--;
      while (a[i] < t) i++;
      while (a[j] > t) j--;
    }
    if (a[left] === t) swap(a, left, j);
    else {
      j++;
      swap(a, j, right);
    }
    // a[j] = t now, with everything before it ≤ t and everything after ≥ t.
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
