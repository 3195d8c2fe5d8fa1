/**
 * Summaries of sampled values for reports: mean, quantiles and a fixed-bin histogram. Samples are kept
 * in a growable Float64Array so that recording one allocates nothing in the common case.
 */
export class SampleSet {
  private data = new Float64Array(64);
  private n = 0;
  private sum = 0;
  /** A sorted copy of the samples for quantiles, made once and dropped when a sample is added. */
  private sorted: Float64Array | null = null;

  add(x: number): void {
    this.sorted = null;
    if (this.n === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.n++] = x;
    this.sum += x;
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
    if (this.n === 0) return Number.NaN;
    if (this.sorted === null) this.sorted = this.data.slice(0, this.n).sort();
    const sorted = this.sorted;
    const pos = q * (this.n - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, this.n - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }

  /** Counts in `bins` equal bins over [lo, hi]; values outside are clamped into the end bins. */
  histogram(lo: number, hi: number, bins: number): Histogram {
    const counts = new Array<number>(bins).fill(0);
    const w = (hi - lo) / bins;
    for (let i = 0; i < this.n; i++) {
      const k = Math.min(bins - 1, Math.max(0, Math.floor((this.data[i] - lo) / w)));
      counts[k]++;
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
