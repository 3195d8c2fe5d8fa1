import { describe, expect, it } from "vitest";
import {
  bitReverse,
  convolutionErrorBound,
  FFT_MAX_LOG2,
  type FftWorkspace,
  fftAccelerationAvailable,
  fftForward,
  fftInverse,
  fftTables,
  fftWorkspace,
  foldCyclic,
  foldNegacyclic,
  multiplyComplex,
  multiplySpectra,
  realCyclicConvolution,
  realForward,
  realInverse,
  realNegacyclicConvolution,
  releaseFftWorkspace,
  roundInto,
  spectrumFrequency,
  transformErrorBound,
  UNIT_ROUNDOFF,
  unitRoot,
} from "../../src/qkd/fft.js";
import { Rng } from "../../src/sim/rng.js";
import { cyclicConvolution } from "../support/ntt.js";

const u = UNIT_ROUNDOFF;

/* Exact references: cos and sin of 2π·j/k in 2^−120 fixed point (BigInt Taylor series), and naive DFTs. */

const FIX = 120n;
const ONE = 1n << FIX;
// π to 75 digits (e.g. OEIS A000796).
const PI =
  (BigInt("3141592653589793238462643383279502884197169399375105820974944592307816406286") * ONE) / 10n ** 75n;

/** cos and sin of 2π·j/k, times 2^120, to within a few units. */
function exactRoot(j: number, k: number): [bigint, bigint] {
  const theta = (2n * PI * BigInt(j)) / BigInt(k);
  let c = 0n;
  let s = 0n;
  let term = ONE; // θ^n/n!
  for (let n = 0; term !== 0n; n++) {
    if (n % 4 === 0) c += term;
    else if (n % 4 === 1) s += term;
    else if (n % 4 === 2) c -= term;
    else s -= term;
    term = (term * theta) / ONE / BigInt(n + 1);
  }
  return [c, s];
}

/** |z − exact| for z = re + i·im and exact = exp(−2πi·j/k), in units of 2^−120. */
function rootError(re: number, im: number, j: number, k: number): number {
  const [c, s] = exactRoot(j, k);
  const toFix = (x: number): bigint => BigInt(Math.round(x * 2 ** 70)) << (FIX - 70n);
  const dr = Number(toFix(re) - c);
  const di = Number(toFix(im) + s);
  return Math.hypot(dr, di) / Number(ONE);
}

/** Σ_j z_j·exp(−2πi·j·e/m) for interleaved complex z, in double precision with exact angles. */
function naiveDft(z: Float64Array, e: number): [number, number] {
  const m = z.length / 2;
  let re = 0;
  let im = 0;
  for (let j = 0; j < m; j++) {
    const a = (-2 * Math.PI * ((j * e) % m)) / m;
    const c = Math.cos(a);
    const s = Math.sin(a);
    re += z[2 * j] * c - z[2 * j + 1] * s;
    im += z[2 * j] * s + z[2 * j + 1] * c;
  }
  return [re, im];
}

function naiveCyclic(x: ArrayLike<number>, y: ArrayLike<number>): number[] {
  const n = x.length;
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    if (x[i] === 0) continue;
    for (let j = 0; j < n; j++) out[(i + j) % n] += x[i] * y[j];
  }
  return out;
}

function naiveNegacyclic(x: ArrayLike<number>, y: ArrayLike<number>): number[] {
  const n = x.length;
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    if (x[i] === 0) continue;
    for (let j = 0; j < n; j++) {
      if (i + j < n) out[i + j] += x[i] * y[j];
      else out[i + j - n] -= x[i] * y[j];
    }
  }
  return out;
}

function randomBitsArray(n: number, density: number, rng: Rng): Float64Array {
  return Float64Array.from({ length: n }, () => (rng.random() < density ? 1 : 0));
}

describe("twiddle factors", () => {
  it("unitRoot is within 3u of exp(−2πi·j/k) (octant reduction, fdlibm sin and cos)", () => {
    const rng = new Rng("fft-unit-root");
    const out = new Float64Array(2);
    let worst = 0;
    for (const k of [1, 2, 4, 8, 16, 1024, 2 ** 20, 2 ** 24, 2 ** 26]) {
      for (let t = 0; t < 200; t++) {
        const j = t < 16 ? Math.min(k - 1, t) : rng.int(k);
        unitRoot(j, k, out, 0);
        worst = Math.max(worst, rootError(out[0], out[1], j, k));
      }
    }
    expect(worst).toBeLessThan(3 * u);
    // Exact where it must be: 1, −i, −1, i.
    for (const [j, re, im] of [
      [0, 1, 0],
      [1, 0, -1],
      [2, -1, 0],
      [3, 0, 1],
    ]) {
      unitRoot(j, 4, out, 0);
      expect([out[0], out[1]]).toEqual([re, im]);
    }
  });

  it("table entries k are exp(−2πi·brv(k)/M) within μ = 9u, the value the error bound assumes", () => {
    const rng = new Rng("fft-table");
    let worst = 0;
    for (const log2 of [2, 3, 4, 5, 8, 13, 20, 21]) {
      const t = fftTables(log2);
      const m = t.half;
      const bits = log2 - 2;
      const count = t.twiddles.length / 2;
      for (let s = 0; s < Math.min(count, 400); s++) {
        const k = count <= 400 ? s : rng.int(count);
        const e = bitReverse(k, bits);
        worst = Math.max(worst, rootError(t.twiddles[2 * k], t.twiddles[2 * k + 1], e, m));
      }
      expect(rootError(t.stepRe, t.stepIm, 1, t.size)).toBeLessThan(3 * u);
    }
    expect(worst).toBeLessThan(9 * u);
  });

  it("twist factors ζ^j = exp(πi·j/N) of the negacyclic transform are within 9u too", () => {
    const rng = new Rng("fft-twist");
    let worst = 0;
    for (const log2 of [3, 6, 11, 20, 21]) {
      const t = fftTables(log2);
      const mask = (1 << t.twistBits) - 1;
      for (let s = 0; s < Math.min(t.half, 300); s++) {
        const j = t.half <= 300 ? s : rng.int(t.half);
        const h = j >> t.twistBits;
        const l = j & mask;
        const [hr, hi, lr, li] = [
          t.twistHigh[2 * h],
          t.twistHigh[2 * h + 1],
          t.twistLow[2 * l],
          t.twistLow[2 * l + 1],
        ];
        // The product as the transforms form it; compare its conjugate with exp(−2πi·j/2N).
        const zr = hr * lr - hi * li;
        const zi = hr * li + hi * lr;
        worst = Math.max(worst, rootError(zr, -zi, j, 2 * t.size));
      }
    }
    expect(worst).toBeLessThan(9 * u);
  });

  it("reverses bits and names the frequency of each spectrum slot", () => {
    expect(bitReverse(1, 3)).toBe(4);
    expect(bitReverse(6, 3)).toBe(3);
    expect(bitReverse(5, 4)).toBe(10);
    // Real length 16 → M = 8 slots, 3 bits.
    expect([1, 2, 3, 4, 5, 6, 7].map((p) => spectrumFrequency(p, 4))).toEqual([4, 2, 6, 1, 5, 3, 7]);
  });
});

describe("complex and real transforms", () => {
  it("fftForward evaluates the DFT at bit-reversed frequencies; fftInverse undoes it times M", () => {
    const rng = new Rng("fft-complex");
    for (let log2 = 2; log2 <= 12; log2++) {
      const t = fftTables(log2);
      const m = t.half;
      const z = Float64Array.from({ length: 2 * m }, () => rng.random() * 2 - 1);
      const a = z.slice();
      fftForward(a, t);
      let err = 0;
      for (let p = 0; p < m; p += Math.max(1, m >> 6)) {
        const [re, im] = naiveDft(z, bitReverse(p, log2 - 1));
        err = Math.max(err, Math.abs(a[2 * p] - re), Math.abs(a[2 * p + 1] - im));
      }
      expect(err, `length 2^${log2 - 1}`).toBeLessThan(1e-12 * m);
      fftInverse(a, t);
      let back = 0;
      for (let i = 0; i < 2 * m; i++) back = Math.max(back, Math.abs(a[i] / m - z[i]));
      expect(back, `round trip 2^${log2 - 1}`).toBeLessThan(1e-14 * log2);
    }
  });

  it("realForward gives the half spectrum X[brv(p)] with slot 0 = (X[0], X[M]); realInverse undoes it times N", () => {
    const rng = new Rng("fft-real");
    for (let log2 = 2; log2 <= 18; log2++) {
      const t = fftTables(log2);
      const n = t.size;
      const x = Float64Array.from({ length: n }, () => rng.random() * 2 - 1);
      const a = x.slice();
      realForward(a, t);
      if (log2 <= 11) {
        const asComplex = new Float64Array(2 * n);
        for (let j = 0; j < n; j++) asComplex[2 * j] = x[j];
        expect(a[0]).toBeCloseTo(naiveDft(asComplex, 0)[0], 10);
        expect(a[1]).toBeCloseTo(naiveDft(asComplex, n / 2)[0], 10);
        for (let p = 1; p < n / 2; p++) {
          const [re, im] = naiveDft(asComplex, spectrumFrequency(p, log2));
          expect(Math.abs(a[2 * p] - re) + Math.abs(a[2 * p + 1] - im)).toBeLessThan(1e-12 * n);
        }
      }
      realInverse(a, t);
      let back = 0;
      for (let i = 0; i < n; i++) back = Math.max(back, Math.abs(a[i] / n - x[i]));
      expect(back, `round trip 2^${log2}`).toBeLessThan(1e-15 * log2);
    }
  });

  it("cyclic convolution of 0/1 sequences rounds to the exact integer convolution", () => {
    const rng = new Rng("fft-conv");
    for (let log2 = 2; log2 <= 10; log2++) {
      const n = 2 ** log2;
      for (const density of [0.5, 0.05, 1]) {
        const x = randomBitsArray(n, density, rng);
        const y = randomBitsArray(n, density, rng);
        const c = realCyclicConvolution(x, y);
        expect(Array.from(c, (v) => Math.round(v) + 0)).toEqual(naiveCyclic(x, y));
      }
    }
  });

  it("multiplies half spectra slot by slot, slot 0 componentwise", () => {
    const x = Float64Array.of(2, 3, 1, 2, 0, 1, 4, -1);
    const y = Float64Array.of(5, 7, 3, -1, 2, 2, 1, 1);
    const acc = new Float64Array(8);
    multiplySpectra(acc, x, y, false);
    expect(Array.from(acc)).toEqual([10, 21, 5, 5, -2, 2, 5, 3]);
    multiplySpectra(acc, x, y, true);
    expect(Array.from(acc)).toEqual([20, 42, 10, 10, -4, 4, 10, 6]);
    expect(() => multiplySpectra(acc, x, new Float64Array(4), false)).toThrow(/lengths differ/);
  });

  it("negacyclic convolution (right-angle packing and twist) matches the definition", () => {
    const rng = new Rng("fft-negacyclic");
    for (let log2 = 2; log2 <= 10; log2++) {
      const n = 2 ** log2;
      for (const density of [0.5, 1]) {
        const x = randomBitsArray(n, density, rng);
        const y = Float64Array.from(randomBitsArray(n, density, rng), (v, i) => (i % 3 === 0 ? -v : v));
        const c = realNegacyclicConvolution(x, y);
        expect(Array.from(c, (v) => Math.round(v) + 0)).toEqual(naiveNegacyclic(x, y));
      }
    }
    // The complex product used by the negacyclic spectra.
    const acc = new Float64Array(4);
    multiplyComplex(acc, Float64Array.of(1, 2, 0, 1), Float64Array.of(3, -1, 2, 2), false);
    expect(Array.from(acc)).toEqual([5, 5, -2, 2]);
  });

  it("folds a 0/1 segment modulo z^L − 1 and z^L + 1, and reports non-bits", () => {
    const rng = new Rng("fft-fold");
    for (const l of [8, 16, 64, 1024]) {
      const v = Uint8Array.from({ length: 2 * l }, () => (rng.random() < 0.5 ? 1 : 0));
      const cyc = new Float64Array(l);
      expect(foldCyclic(v, cyc)).toBeLessThanOrEqual(0x01010101);
      for (let t = 0; t < l; t++) expect(cyc[t]).toBe(v[t] + v[t + l]);
      const neg = new Float64Array(l);
      foldNegacyclic(v, neg);
      const m = l / 2;
      for (let j = 0; j < m; j++) {
        expect(neg[2 * j]).toBe(v[j] - v[j + l]);
        expect(neg[2 * j + 1]).toBe(v[j + m] - v[j + m + l]);
      }
      v[l - 1] = 2;
      expect(foldCyclic(v, cyc) & 0xfefefefe).not.toBe(0);
    }
  });

  it("rounds convolution values into parities and sums mod 4, ties to even", () => {
    const out = Uint8Array.of(0, 1, 3, 2, 0);
    const c = Float64Array.of(8.2, 15.9, -4.1, 2.5, 3.5, 0);
    roundInto(out, 0, c, 0, 5, 1, 0.5, 0); // 4.1, 7.95, −2.05, 1.25, 1.75 → 4, 8, −2, 1, 2
    expect(Array.from(out)).toEqual([0, 1, 3, 3, 0]);
    roundInto(out, 1, c, 0, 2, 2, 1, 1); // + 8, + (−4)
    expect(Array.from(out)).toEqual([0, 1, 3, 3, 0]);
    roundInto(out, 0, c, 1, 3, 1, 1, 2); // − 16, − (−4), − 2 (2.5 ties to 2)
    expect(Array.from(out)).toEqual([0, 1, 1, 3, 0]);
  });

  it("rejects unsupported lengths", () => {
    expect(() => fftTables(1)).toThrow(RangeError);
    expect(() => fftTables(FFT_MAX_LOG2 + 1)).toThrow(RangeError);
    expect(() => realCyclicConvolution([1, 0, 1], [1, 1, 0])).toThrow(/power of two/);
    expect(() => realCyclicConvolution([1, 0], [1])).toThrow(/lengths/);
    expect(() => realInverse(new Float64Array(8), fftTables(4))).toThrow(/does not match/);
  });
});

describe("WebAssembly SIMD kernels", () => {
  it("give bit-for-bit the results of the TypeScript transforms", () => {
    if (!fftAccelerationAvailable()) return; // nothing to compare on runtimes without WebAssembly SIMD
    const rng = new Rng("fft-wasm");
    for (const log2 of [3, 4, 5, 6, 7, 10, 13, 14, 16]) {
      const n = 2 ** log2;
      const options = { scratchBytes: 2 * n, outputBytes: n };
      const fast = fftWorkspace(log2, 3, { ...options, accelerate: true });
      const slow = fftWorkspace(log2, 3, { ...options, accelerate: false });
      expect(fast.accelerated).toBe(true);
      expect(slow.accelerated).toBe(false);
      const fill = (): void => {
        for (let b = 0; b < 3; b++) {
          // Mixed signs and magnitudes, exact zeros included.
          const v = Float64Array.from({ length: n }, () =>
            rng.random() < 0.1 ? 0 : (rng.random() - 0.5) * 2 ** rng.int(30),
          );
          fast.buffers[b].set(v);
          slow.buffers[b].set(v);
        }
      };
      const same = (what: string): void => {
        for (let b = 0; b < 3; b++) {
          const f = fast.buffers[b];
          const s = slow.buffers[b];
          let diff = 0;
          for (let i = 0; i < n; i++) if (!Object.is(f[i], s[i])) diff++;
          expect(diff, `${what}, buffer ${b}, 2^${log2}`).toBe(0);
        }
      };
      const both = (step: (ws: FftWorkspace) => void): void => {
        step(fast);
        step(slow);
      };
      fill();
      both((ws) => {
        ws.realForward(ws.buffers[0]);
        ws.realForward(ws.buffers[1]);
      });
      same("realForward");
      both((ws) => ws.multiply(ws.buffers[2], ws.buffers[0], ws.buffers[1], false));
      same("multiply");
      both((ws) => ws.multiply(ws.buffers[2], ws.buffers[1], ws.buffers[0], true));
      same("multiply-accumulate");
      both((ws) => {
        for (const b of ws.buffers) ws.realInverse(b);
      });
      same("realInverse");
      fill();
      both((ws) => {
        ws.negacyclicForward(ws.buffers[0]);
        ws.negacyclicForward(ws.buffers[1]);
        ws.multiplyComplex(ws.buffers[2], ws.buffers[0], ws.buffers[1], false);
        ws.multiplyComplex(ws.buffers[2], ws.buffers[1], ws.buffers[1], true);
      });
      same("negacyclicForward, multiplyComplex");
      both((ws) => {
        for (const b of ws.buffers) ws.negacyclicInverse(b);
      });
      same("negacyclicInverse");
      const segment = Uint8Array.from({ length: 2 * n }, () => (rng.random() < 0.5 ? 1 : 0));
      const bads: number[] = [];
      both((ws) => {
        ws.scratch.set(segment);
        bads.push(ws.loadCyclic(ws.buffers[0]) & 0xfefefefe, ws.loadNegacyclic(ws.buffers[1]) & 0xfefefefe);
      });
      same("loadCyclic, loadNegacyclic");
      expect(bads).toEqual([0, 0, 0, 0]);
      const integers = Float64Array.from({ length: n }, () => rng.int(1000) - 500 + (rng.random() - 0.5) / 3);
      both((ws) => {
        ws.buffers[0].set(integers);
        ws.output.fill(1);
        ws.roundInto(0, ws.buffers[0], 0, n / 2, 2, 1, 1);
        ws.roundInto(n / 2, ws.buffers[0], 1, n / 2, 2, 1, 2);
        ws.roundInto(0, ws.buffers[0], 0, n, 1, 1, 0);
      });
      expect(Array.from(fast.output.subarray(0, n))).toEqual(Array.from(slow.output.subarray(0, n)));
      const bad = segment.slice();
      bad[n + 3] = 5;
      both((ws) => {
        ws.scratch.set(bad);
        expect(ws.loadCyclic(ws.buffers[0]) & 0xfefefefe).not.toBe(0);
        expect(ws.loadNegacyclic(ws.buffers[0]) & 0xfefefefe).not.toBe(0);
      });
    }
  });

  it("reuse a released small workspace and refuse foreign arrays", () => {
    const a = fftWorkspace(10, 2);
    releaseFftWorkspace(a);
    const b = fftWorkspace(10, 1);
    expect(b).toBe(a);
    if (b.accelerated) expect(() => b.realForward(new Float64Array(1024))).toThrow(/not a buffer/);
    releaseFftWorkspace(b);
    expect(fftWorkspace(11, 1)).not.toBe(a);
  });
});

describe("rounding-error bound", () => {
  it("ε_T grows linearly in log2 N, and the convolution bound in the number of terms", () => {
    expect(transformErrorBound(21)).toBeCloseTo((16 * 20 + 32) * u, 30);
    const one = convolutionErrorBound(25, 2 ** 24, 2 ** 25, 1);
    expect(convolutionErrorBound(25, 2 ** 24, 2 ** 25, 6) / one).toBeGreaterThan(6);
    expect(convolutionErrorBound(25, 2 ** 24, 2 ** 25, 6) / one).toBeLessThan(6.1);
    // The figure quoted in the documentation: about 0.015 per term for blocks of 2^24 bits.
    expect(one).toBeGreaterThan(0.01);
    expect(one).toBeLessThan(0.02);
  });

  it("bounds the observed error of sums of products, random and all-ones 0/1 blocks (NTT as the exact oracle)", () => {
    const rng = new Rng("fft-error");
    for (const [log2, terms, density] of [
      [8, 64, 0.5],
      [14, 1, 0.5],
      [14, 16, 0.5],
      [16, 4, 1],
      [18, 2, 0.5],
    ]) {
      const ws = fftWorkspace(log2, 3);
      const n = ws.tables.size;
      const [x, y, acc] = ws.buffers;
      const exact = new Float64Array(n);
      for (let g = 0; g < terms; g++) {
        // Blocks of n/2 bits against segments of n − 1 bits, as in the Toeplitz hash.
        const xs = Int32Array.from({ length: n }, (_, i) => (i < n / 2 && rng.random() < density ? 1 : 0));
        const ys = Int32Array.from({ length: n }, (_, i) => (i < n - 1 && rng.random() < density ? 1 : 0));
        const c = cyclicConvolution(xs, ys);
        for (let k = 0; k < n; k++) exact[k] += c[k];
        x.set(xs);
        y.set(ys);
        ws.realForward(x);
        ws.realForward(y);
        ws.multiply(acc, x, y, g > 0);
      }
      ws.realInverse(acc);
      let worst = 0;
      let wrong = 0;
      for (let k = 0; k < n; k++) {
        const c = acc[k] / n;
        worst = Math.max(worst, Math.abs(c - exact[k]));
        if (Math.round(c) !== exact[k]) wrong++;
      }
      expect(wrong).toBe(0);
      const bound = convolutionErrorBound(log2, n / 2, n - 1, terms);
      expect(worst, `2^${log2}, ${terms} terms`).toBeLessThanOrEqual(bound);
      releaseFftWorkspace(ws);
    }
  });

  it(`is exact for all-ones blocks at the largest supported length, 2^${FFT_MAX_LOG2} (folded, the worst case)`, () => {
    // The largest values any plan produces: the cyclic half of a split product at N = 2^26, a block of
    // 2^25 ones against a seed segment of 2^26 − 1 ones folded to 2, …, 2, 1.
    const log2 = FFT_MAX_LOG2;
    const n = 2 ** log2;
    const bound = convolutionErrorBound(log2, n, 2 * n - 1, 1, true);
    expect(bound).toBeLessThan(0.25);
    const ws = fftWorkspace(log2, 2, { scratchBytes: 2 * n });
    const [x, y] = ws.buffers;
    x.fill(1);
    ws.realForward(x);
    ws.scratch.fill(1, 0, 2 * n - 1).fill(0, 2 * n - 1);
    ws.loadCyclic(y);
    ws.multiply(y, x, y, false);
    ws.realInverse(y);
    // (x ⊛ y)[k] = Σ_j y_j = 2n − 1 for every k.
    let worst = 0;
    for (let k = 0; k < n; k++) worst = Math.max(worst, Math.abs(y[k] / n - (2 * n - 1)));
    expect(worst).toBeLessThan(bound);
    releaseFftWorkspace(ws);
  });
});
