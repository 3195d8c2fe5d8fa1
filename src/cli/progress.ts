/**
 * A one-line progress bar for long runs, drawn on a terminal only (never into a pipe or a file):
 * fraction of simulated time done, simulated time, events per second of wall time.
 */
export class ProgressBar {
  private lastDraw = 0;
  private readonly started = performance.now();
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly totalNs: number,
    private readonly enabled = stream.isTTY === true,
  ) {}

  update(simulatedNs: number, events: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && simulatedNs < this.totalNs) return;
    this.lastDraw = now;
    const frac = Math.min(1, this.totalNs > 0 ? simulatedNs / this.totalNs : 1);
    const width = 30;
    const filled = Math.round(frac * width);
    const wall = (now - this.started) / 1e3;
    const rate = wall > 0 ? events / wall : 0;
    const line =
      `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ` +
      `${formatSeconds(simulatedNs / 1e9)} / ${formatSeconds(this.totalNs / 1e9)} simulated  ` +
      `${formatCount(rate)} events/s`;
    this.stream.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }

  /** Clears the bar so that the report starts on a clean line. */
  done(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
  }
}

function formatSeconds(s: number): string {
  if (s >= 1 || s === 0) return `${s.toPrecision(3)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toPrecision(3)} ms`;
  return `${(s * 1e6).toPrecision(3)} µs`;
}

function formatCount(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}
