// Graph layout for the qnet dashboard: stress majorization over hop distances.
//
// Nodes are placed so that the straight-line distance between every two nodes is as close as
// possible to the number of links between them (the "stress" of the drawing is minimal). The start
// is classical multidimensional scaling (the two main axes of the distance matrix, found by power
// iteration from fixed vectors), then each node in turn moves to the weighted average of where its
// distances to the others would put it. Nothing is random, so a topology is always drawn the same
// way. A plain ES module with no browser dependencies, so it runs in Node too.

/** Hop distances between every two nodes; pairs in different components get the largest distance + 1. */
export function hopDistances(ids, edges) {
  const n = ids.length;
  const index = new Map(ids.map((id, i) => [id, i]));
  const neighbours = ids.map(() => []);
  for (const [a, b] of edges) {
    const i = index.get(a);
    const j = index.get(b);
    if (i === undefined || j === undefined || i === j) continue;
    neighbours[i].push(j);
    neighbours[j].push(i);
  }
  const d = ids.map(() => new Array(n).fill(Number.POSITIVE_INFINITY));
  let longest = 0;
  for (let s = 0; s < n; s++) {
    d[s][s] = 0;
    const queue = [s];
    for (let q = 0; q < queue.length; q++) {
      const u = queue[q];
      for (const v of neighbours[u])
        if (d[s][v] === Number.POSITIVE_INFINITY) {
          d[s][v] = d[s][u] + 1;
          longest = Math.max(longest, d[s][v]);
          queue.push(v);
        }
    }
  }
  for (const row of d)
    for (let j = 0; j < n; j++) if (row[j] === Number.POSITIVE_INFINITY) row[j] = longest + 1;
  return d;
}

/** The main eigenvector of the symmetric matrix `m` (power iteration from a fixed start), and its eigenvalue. */
function mainAxis(m, start) {
  const n = m.length;
  let v = start.slice();
  let lambda = 0;
  for (let iter = 0; iter < 200; iter++) {
    const w = new Array(n).fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[i] += m[i][j] * v[j];
    const norm = Math.hypot(...w);
    if (norm < 1e-12) return { vector: v, value: 0 };
    lambda = norm;
    v = w.map((x) => x / norm);
  }
  // The sign of an eigenvector is arbitrary: fix it so that the first non-zero entry is positive.
  const first = v.find((x) => Math.abs(x) > 1e-9) ?? 1;
  return { vector: first < 0 ? v.map((x) => -x) : v, value: lambda };
}

/** Classical MDS: two coordinates per node whose distances approximate `d`. */
function classicalScaling(d) {
  const n = d.length;
  const sq = d.map((row) => row.map((x) => x * x));
  const rowMean = sq.map((row) => row.reduce((s, x) => s + x, 0) / n);
  const mean = rowMean.reduce((s, x) => s + x, 0) / n;
  // B = −½ J D² J, the Gram matrix of centred coordinates; shifted by its largest absolute row sum (a
  // bound on its eigenvalues), so that power iteration finds its largest eigenvalues, not the largest
  // in magnitude.
  const b = sq.map((row, i) => row.map((x, j) => -0.5 * (x - rowMean[i] - rowMean[j] + mean)));
  const shift = Math.max(...b.map((row) => row.reduce((s, x) => s + Math.abs(x), 0)));
  for (let i = 0; i < n; i++) b[i][i] += shift;
  const axes = [];
  for (let k = 0; k < 2; k++) {
    const start = Array.from({ length: n }, (_, i) => 1 + ((i * (k + 2) + k) % (n + 1)) / (n + 1));
    const { vector, value } = mainAxis(b, start);
    axes.push(vector.map((x) => x * Math.sqrt(Math.max(value - shift, 1e-6))));
    // Deflate, so that the next power iteration finds the next axis.
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) b[i][j] -= value * vector[i] * vector[j];
  }
  return axes[0].map((x, i) => [x, axes[1][i]]);
}

/** Moves each node in turn to the weighted average of where its distances put it (localized majorization). */
function majorize(pos, d, iterations) {
  const n = pos.length;
  for (let iter = 0; iter < iterations; iter++) {
    let moved = 0;
    for (let i = 0; i < n; i++) {
      let sx = 0;
      let sy = 0;
      let sw = 0;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const w = 1 / (d[i][j] * d[i][j]);
        let dx = pos[i][0] - pos[j][0];
        let dy = pos[i][1] - pos[j][1];
        let len = Math.hypot(dx, dy);
        if (len < 1e-9) {
          // Two nodes on one spot: part them along a fixed direction that depends on the pair.
          dx = Math.cos(i + 2 * j);
          dy = Math.sin(i + 2 * j);
          len = 1;
        }
        sx += w * (pos[j][0] + (d[i][j] * dx) / len);
        sy += w * (pos[j][1] + (d[i][j] * dy) / len);
        sw += w;
      }
      const x = sx / sw;
      const y = sy / sw;
      moved = Math.max(moved, Math.hypot(x - pos[i][0], y - pos[i][1]));
      pos[i] = [x, y];
    }
    if (moved < 1e-4) break;
  }
  return pos;
}

/**
 * Positions for drawing a graph in a `width` × `height` box with `padding` on every side: a Map from
 * node ID to `{ x, y }`. `edges` are `[a, b]` pairs of node IDs. Deterministic.
 */
export function layoutGraph(ids, edges, { width, height, padding }) {
  const out = new Map();
  const n = ids.length;
  if (n === 0) return out;
  if (n === 1) {
    out.set(ids[0], { x: width / 2, y: height / 2 });
    return out;
  }
  const d = hopDistances(ids, edges);
  const pos = majorize(classicalScaling(d), d, 500);
  // Fit the drawing into the box, keeping its proportions and centring it.
  const xs = pos.map((p) => p[0]);
  const ys = pos.map((p) => p[1]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const spanX = Math.max(maxX - minX, 1e-9);
  const spanY = Math.max(maxY - minY, 1e-9);
  const scale = Math.min((width - 2 * padding) / spanX, (height - 2 * padding) / spanY);
  const offX = (width - scale * spanX) / 2;
  const offY = (height - scale * spanY) / 2;
  ids.forEach((id, i) => {
    out.set(id, {
      x: Math.round((offX + (pos[i][0] - minX) * scale) * 10) / 10,
      y: Math.round((offY + (pos[i][1] - minY) * scale) * 10) / 10,
    });
  });
  return out;
}
