/**
 * Dense Hermitian linear algebra for the small matrices of quantum states (up to a few hundred rows).
 * A d×d Hermitian H = A + iB is handled through its real symmetric embedding [[A, −B], [B, A]] of size
 * 2d, whose spectrum is H's with every eigenvalue twice and for which f(embed(H)) = embed(f(H)); the
 * embedding is diagonalised by cyclic Jacobi rotations, which are simple and accurate to round-off.
 * Cost grows as (2d)³ per sweep: use it for fidelities and tomography, not in simulation hot loops.
 */

/** A d×d complex matrix, row-major. */
export interface ComplexMatrix {
  readonly d: number;
  readonly re: Float64Array;
  readonly im: Float64Array;
}

interface Eigen {
  /** Eigenvalues of the 2d embedding, ascending. */
  values: Float64Array;
  /** Column k of V (row-major 2d×2d) is the eigenvector of values[k]. */
  vectors: Float64Array;
}

function embed(m: ComplexMatrix): Float64Array {
  const { d, re, im } = m;
  const n = 2 * d;
  const out = new Float64Array(n * n);
  for (let r = 0; r < d; r++)
    for (let c = 0; c < d; c++) {
      // Symmetrise to absorb round-off in almost-Hermitian inputs.
      const a = 0.5 * (re[r * d + c] + re[c * d + r]);
      const b = 0.5 * (im[r * d + c] - im[c * d + r]);
      out[r * n + c] = a;
      out[(r + d) * n + c + d] = a;
      out[(r + d) * n + c] = b;
      out[r * n + c + d] = -b;
    }
  return out;
}

function jacobi(a: Float64Array, n: number): Eigen {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(a[i]));
  const tol = 1e-15 * Math.max(scale, 1e-300);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off = Math.max(off, Math.abs(a[p * n + q]));
    if (off <= tol) break;
    for (let p = 0; p < n - 1; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) <= tol * 1e-3) continue;
        const app = a[p * n + p];
        const aqq = a[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[x * n + x] - a[y * n + y]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src];
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

/** Eigenvalues of a Hermitian matrix, ascending. */
export function hermitianEigenvalues(m: ComplexMatrix): Float64Array {
  const { values } = jacobi(embed(m), 2 * m.d);
  const out = new Float64Array(m.d);
  for (let i = 0; i < m.d; i++) out[i] = 0.5 * (values[2 * i] + values[2 * i + 1]);
  return out;
}

/** f(H) for a Hermitian H and a real function f of its eigenvalues. */
export function hermitianFunction(m: ComplexMatrix, f: (lambda: number) => number): ComplexMatrix {
  const n = 2 * m.d;
  const { values, vectors } = jacobi(embed(m), n);
  const fv = values.map(f);
  const d = m.d;
  const re = new Float64Array(d * d);
  const im = new Float64Array(d * d);
  // embed(f(H)) = V diag(f) Vᵀ; its top-left block is Re f(H) and its bottom-left block is Im f(H).
  for (let r = 0; r < d; r++)
    for (let c = 0; c < d; c++) {
      let sr = 0;
      let si = 0;
      for (let k = 0; k < n; k++) {
        const w = fv[k] * vectors[c * n + k];
        sr += vectors[r * n + k] * w;
        si += vectors[(r + d) * n + k] * w;
      }
      re[r * d + c] = sr;
      im[r * d + c] = si;
    }
  return { d, re, im };
}

/** a·b for complex d×d matrices. */
export function complexMatmul(a: ComplexMatrix, b: ComplexMatrix): ComplexMatrix {
  const d = a.d;
  if (b.d !== d) throw new RangeError(`cannot multiply ${a.d}×${a.d} by ${b.d}×${b.d}`);
  const re = new Float64Array(d * d);
  const im = new Float64Array(d * d);
  for (let r = 0; r < d; r++)
    for (let k = 0; k < d; k++) {
      const ar = a.re[r * d + k];
      const ai = a.im[r * d + k];
      if (ar === 0 && ai === 0) continue;
      for (let c = 0; c < d; c++) {
        const br = b.re[k * d + c];
        const bi = b.im[k * d + c];
        re[r * d + c] += ar * br - ai * bi;
        im[r * d + c] += ar * bi + ai * br;
      }
    }
  return { d, re, im };
}
