/**
 * Gate matrices. A `Gate` of `k` qubits is a 2^k × 2^k complex matrix stored row-major with real and
 * imaginary parts interleaved: `[re(0,0), im(0,0), re(0,1), im(0,1), …]`. Within a multi-qubit gate
 * the first listed qubit is the most significant bit, as in the usual |q0 q1⟩ notation.
 */
export type Gate = Float64Array;

const S2 = Math.SQRT1_2;

/** Builds a gate from rows of `[re, im]` pairs (or plain reals). */
export function gate(rows: ReadonlyArray<ReadonlyArray<number | readonly [number, number]>>): Gate {
  const d = rows.length;
  if (d === 0 || (d & (d - 1)) !== 0) throw new RangeError(`a gate needs 2^k rows, got ${d}`);
  const g = new Float64Array(2 * d * d);
  for (let r = 0; r < d; r++) {
    const row = rows[r];
    if (row.length !== d) throw new RangeError(`gate row ${r} has ${row.length} entries; expected ${d}`);
    for (let c = 0; c < d; c++) {
      const v = row[c];
      const k = 2 * (r * d + c);
      if (typeof v === "number") g[k] = v;
      else {
        g[k] = v[0];
        g[k + 1] = v[1];
      }
    }
  }
  return g;
}

/** Number of qubits a gate acts on, from its length. */
export function gateQubits(g: Gate): number {
  const d = Math.round(Math.sqrt(g.length / 2));
  const k = Math.round(Math.log2(d));
  if (2 * d * d !== g.length || 1 << k !== d) throw new RangeError(`not a gate: length ${g.length}`);
  return k;
}

/** Conjugate transpose. */
export function dagger(g: Gate): Gate {
  const d = 1 << gateQubits(g);
  const out = new Float64Array(g.length);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c < d; c++) {
      out[2 * (c * d + r)] = g[2 * (r * d + c)];
      out[2 * (c * d + r) + 1] = -g[2 * (r * d + c) + 1];
    }
  }
  return out;
}

/** Matrix product a·b of two gates of equal size. */
export function matmul(a: Gate, b: Gate): Gate {
  const d = 1 << gateQubits(a);
  if (a.length !== b.length) throw new RangeError("matmul: gates of different sizes");
  const out = new Float64Array(a.length);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c < d; c++) {
      let re = 0;
      let im = 0;
      for (let k = 0; k < d; k++) {
        const ar = a[2 * (r * d + k)];
        const ai = a[2 * (r * d + k) + 1];
        const br = b[2 * (k * d + c)];
        const bi = b[2 * (k * d + c) + 1];
        re += ar * br - ai * bi;
        im += ar * bi + ai * br;
      }
      out[2 * (r * d + c)] = re;
      out[2 * (r * d + c) + 1] = im;
    }
  }
  return out;
}

/** Kronecker product a ⊗ b (a on the more significant qubits). */
export function kron(a: Gate, b: Gate): Gate {
  const da = 1 << gateQubits(a);
  const db = 1 << gateQubits(b);
  const d = da * db;
  const out = new Float64Array(2 * d * d);
  for (let ar = 0; ar < da; ar++)
    for (let ac = 0; ac < da; ac++) {
      const xr = a[2 * (ar * da + ac)];
      const xi = a[2 * (ar * da + ac) + 1];
      for (let br = 0; br < db; br++)
        for (let bc = 0; bc < db; bc++) {
          const yr = b[2 * (br * db + bc)];
          const yi = b[2 * (br * db + bc) + 1];
          const k = 2 * ((ar * db + br) * d + ac * db + bc);
          out[k] = xr * yr - xi * yi;
          out[k + 1] = xr * yi + xi * yr;
        }
    }
  return out;
}

/** True when g·g† = I within `tol` (entrywise). */
export function isUnitary(g: Gate, tol = 1e-10): boolean {
  const p = matmul(g, dagger(g));
  const d = 1 << gateQubits(g);
  for (let r = 0; r < d; r++)
    for (let c = 0; c < d; c++) {
      const want = r === c ? 1 : 0;
      if (Math.abs(p[2 * (r * d + c)] - want) > tol || Math.abs(p[2 * (r * d + c) + 1]) > tol) return false;
    }
  return true;
}

export const I: Gate = gate([
  [1, 0],
  [0, 1],
]);
export const X: Gate = gate([
  [0, 1],
  [1, 0],
]);
export const Y: Gate = gate([
  [0, [0, -1]],
  [[0, 1], 0],
]);
export const Z: Gate = gate([
  [1, 0],
  [0, -1],
]);
export const H: Gate = gate([
  [S2, S2],
  [S2, -S2],
]);
export const S: Gate = gate([
  [1, 0],
  [0, [0, 1]],
]);
export const SDG: Gate = dagger(S);
export const T: Gate = gate([
  [1, 0],
  [0, [S2, S2]],
]);
export const TDG: Gate = dagger(T);

/** Rotation exp(−iθX/2); θ in radians. */
export function rx(theta: number): Gate {
  const c = Math.cos(theta / 2);
  const s = Math.sin(theta / 2);
  return gate([
    [c, [0, -s]],
    [[0, -s], c],
  ]);
}
/** Rotation exp(−iθY/2); θ in radians. */
export function ry(theta: number): Gate {
  const c = Math.cos(theta / 2);
  const s = Math.sin(theta / 2);
  return gate([
    [c, -s],
    [s, c],
  ]);
}
/** Rotation exp(−iθZ/2); θ in radians. */
export function rz(theta: number): Gate {
  const c = Math.cos(theta / 2);
  const s = Math.sin(theta / 2);
  return gate([
    [[c, -s], 0],
    [0, [c, s]],
  ]);
}
/** Phase gate diag(1, e^{iφ}); φ in radians. */
export function phase(phi: number): Gate {
  return gate([
    [1, 0],
    [0, [Math.cos(phi), Math.sin(phi)]],
  ]);
}

/** CNOT with the first qubit as control. */
export const CNOT: Gate = gate([
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 0, 1],
  [0, 0, 1, 0],
]);
export const CZ: Gate = gate([
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 1, 0],
  [0, 0, 0, -1],
]);
export const SWAP: Gate = gate([
  [1, 0, 0, 0],
  [0, 0, 1, 0],
  [0, 1, 0, 0],
  [0, 0, 0, 1],
]);

/** The Paulis indexed 0..3 = I, X, Y, Z. */
export const PAULIS: readonly Gate[] = [I, X, Y, Z];
