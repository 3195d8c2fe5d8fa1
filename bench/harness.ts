/** One measured figure. `name` is stable across runs so results can be compared over time. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
}

/** A benchmark: a named group of measurements, run only when selected by `--filter`. */
export interface Bench {
  name: string;
  run(): BenchResult[] | Promise<BenchResult[]>;
}

/** Wall-clock seconds of one call of `fn`. Benchmarks only: the core never reads the clock. */
export function timeIt(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1e3;
}

/**
 * Runs `fn(n)` with growing `n` until one call takes at least `minSeconds`, then returns the best
 * rate in operations per second over `repeats` calls of that size. Best-of-N removes scheduler noise.
 */
export function measureRate(fn: (n: number) => void, minSeconds = 0.25, repeats = 3): number {
  let n = 1;
  for (;;) {
    const s = timeIt(() => fn(n));
    if (s >= minSeconds || n >= 2 ** 40) break;
    n *= s > 0 ? Math.min(10, Math.max(2, Math.ceil((minSeconds / s) * 1.2))) : 10;
  }
  let best = 0;
  for (let r = 0; r < repeats; r++) {
    const s = timeIt(() => fn(n));
    best = Math.max(best, n / s);
  }
  return best;
}

/**
 * The nearest-rank `q`-quantile of ascending values: the smallest value with at least q·n values at or
 * below it. Every benchmark's p50 and p99 use it, so their figures compare. NaN when there are none.
 */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
