/**
 * A small SVG line and scatter plot writer: axes, ticks, grid, axis labels, legend, a linear x axis and
 * a linear or logarithmic y axis, lines that break where a value cannot be drawn, markers with optional
 * vertical error bars. No dependencies; the output is a standalone SVG 1.1 document, identical for
 * identical input.
 *
 * @module
 */

/** One data point; `yLow`/`yHigh` draw a vertical error bar from yLow to yHigh. */
export interface PlotPoint {
  x: number;
  y: number;
  yLow?: number;
  yHigh?: number;
}

/** How a series is drawn: a line through its points, markers at its points, or both. */
export type SeriesStyle = "line" | "markers" | "line+markers";

/** A named series of points. */
export interface PlotSeries {
  /** Legend text. */
  label: string;
  points: readonly PlotPoint[];
  /** Default "line". */
  style?: SeriesStyle;
  /** CSS colour; default from a colour-blind-safe palette, by series index. */
  color?: string;
  /** Dashed line. Default false. */
  dashed?: boolean;
}

/** Axis labels, title, scales and size of a plot. */
export interface PlotOptions {
  /** Text under the x axis. */
  xLabel: string;
  /** Text beside the y axis (rotated). */
  yLabel: string;
  /** Text above the plot; none by default. */
  title?: string;
  /** Scale of the y axis. Default "linear". On "log" a point with y ≤ 0 is not drawn. */
  yScale?: "linear" | "log";
  /** Size in px. Defaults 720 × 480. */
  width?: number;
  height?: number;
}

/** Okabe–Ito colours, distinguishable with the common colour-vision deficiencies. */
const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

const MARGIN = { left: 84, right: 24, top: 44, bottom: 64 };

/** Escapes text for XML character data and attribute values. */
export function escapeXml(s: string): string {
  return s
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

const SUPERSCRIPT: Record<string, string> = {
  "-": "⁻",
  "0": "⁰",
  "1": "¹",
  "2": "²",
  "3": "³",
  "4": "⁴",
  "5": "⁵",
  "6": "⁶",
  "7": "⁷",
  "8": "⁸",
  "9": "⁹",
};

/** 10^k as "10⁻³": Unicode superscripts render in every SVG viewer, unlike baseline-shift. */
function decadeLabel(k: number): string {
  if (k === 0) return "1";
  if (k === 1) return "10";
  return `10${[...String(k)].map((c) => SUPERSCRIPT[c] ?? c).join("")}`;
}

/** A 1, 2, 2.5 or 5 × 10^k step that splits `span` into about `target` intervals. */
function niceStep(span: number, target: number): number {
  const raw = span / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** A tick value with as many decimals as the step needs (step 2.5 → one, 0.05 → two). */
function tickLabel(v: number, step: number): string {
  let decimals = 0;
  while (decimals < 10 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-9)
    decimals++;
  const s = v.toFixed(decimals);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

interface LinearAxis {
  min: number;
  max: number;
  ticks: { v: number; label: string }[];
}

function linearAxis(values: number[]): LinearAxis {
  let lo = values.length > 0 ? Math.min(...values) : 0;
  let hi = values.length > 0 ? Math.max(...values) : 1;
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, 6);
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const ticks: { v: number; label: string }[] = [];
  for (let i = 0; min + i * step <= max + step * 1e-9; i++) {
    const v = min + i * step;
    ticks.push({ v, label: tickLabel(v, step) });
  }
  return { min, max, ticks };
}

function logAxis(values: number[]): LinearAxis {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  let lo = pos.length > 0 ? Math.floor(Math.log10(Math.min(...pos))) : -6;
  let hi = pos.length > 0 ? Math.ceil(Math.log10(Math.max(...pos))) : 0;
  if (hi === lo) {
    lo -= 1;
    hi += 1;
  }
  // At most about 10 labelled decades; beyond that label every 2nd, 3rd, ... decade.
  const every = Math.max(1, Math.ceil((hi - lo) / 10));
  const ticks: { v: number; label: string }[] = [];
  for (let k = lo; k <= hi; k++) if ((k - lo) % every === 0) ticks.push({ v: k, label: decadeLabel(k) });
  return { min: lo, max: hi, ticks };
}

const n2 = (v: number) => (Math.round(v * 100) / 100).toString();

/**
 * Renders series as a standalone SVG document.
 * Each series becomes a `<g class="series">` holding, by style, one `<path class="series-line">` (a
 * polyline, broken where a point cannot be drawn), `<circle class="marker">` elements, and one
 * `<path class="error-bar">` with every error bar. Points with a non-finite coordinate are skipped.
 */
export function renderSvgPlot(series: readonly PlotSeries[], options: PlotOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 480;
  const log = options.yScale === "log";
  const drawable = (y: number) => Number.isFinite(y) && (!log || y > 0);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of series)
    for (const p of s.points) {
      if (!Number.isFinite(p.x) || !drawable(p.y)) continue;
      xs.push(p.x);
      ys.push(p.y);
      for (const e of [p.yLow, p.yHigh]) if (e !== undefined && drawable(e)) ys.push(e);
    }
  const xAxis = linearAxis(xs);
  const yAxis = log ? logAxis(ys) : linearAxis(ys);
  const left = MARGIN.left;
  const top = MARGIN.top;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => left + ((x - xAxis.min) / (xAxis.max - xAxis.min)) * plotW;
  const yv = (y: number) => (log ? Math.log10(y) : y);
  const sy = (y: number) => top + plotH - ((yv(y) - yAxis.min) / (yAxis.max - yAxis.min)) * plotH;
  // Error bars may reach below the log axis (a lower end ≤ 0): clip them to the frame.
  const syClamped = (y: number) => (drawable(y) ? Math.min(top + plotH, Math.max(top, sy(y))) : top + plotH);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<defs><clipPath id="plot-area"><rect x="${left}" y="${top}" width="${plotW}" height="${plotH}"/></clipPath></defs>`,
  );
  if (options.title !== undefined)
    out.push(
      `<text class="title" x="${n2(left + plotW / 2)}" y="${n2(top / 2 + 5)}" text-anchor="middle" ` +
        `font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
    );

  // Grid and ticks.
  out.push(`<g class="grid" stroke="#e3e3e3" stroke-width="1">`);
  for (const t of xAxis.ticks)
    out.push(`<line x1="${n2(sx(t.v))}" y1="${top}" x2="${n2(sx(t.v))}" y2="${top + plotH}"/>`);
  for (const t of yAxis.ticks) {
    const y = n2(top + plotH - ((t.v - yAxis.min) / (yAxis.max - yAxis.min)) * plotH);
    out.push(`<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}"/>`);
  }
  out.push("</g>");
  out.push(`<g class="axis x-axis" font-size="12">`);
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#000"/>`);
  for (const t of xAxis.ticks) {
    const x = n2(sx(t.v));
    out.push(`<line x1="${x}" y1="${top + plotH}" x2="${x}" y2="${top + plotH + 5}" stroke="#000"/>`);
    out.push(`<text x="${x}" y="${top + plotH + 19}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  }
  out.push("</g>");
  out.push(`<g class="axis y-axis" font-size="12">`);
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#000"/>`);
  for (const t of yAxis.ticks) {
    const y = n2(top + plotH - ((t.v - yAxis.min) / (yAxis.max - yAxis.min)) * plotH);
    out.push(`<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="#000"/>`);
    out.push(`<text x="${left - 8}" y="${y}" dy="0.35em" text-anchor="end">${escapeXml(t.label)}</text>`);
  }
  out.push("</g>");
  out.push(
    `<text class="axis-label x-label" x="${n2(left + plotW / 2)}" y="${height - 18}" text-anchor="middle">` +
      `${escapeXml(options.xLabel)}</text>`,
  );
  out.push(
    `<text class="axis-label y-label" x="0" y="0" text-anchor="middle" ` +
      `transform="translate(20 ${n2(top + plotH / 2)}) rotate(-90)">${escapeXml(options.yLabel)}</text>`,
  );

  // Series.
  const colors = series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]);
  out.push(`<g class="data" clip-path="url(#plot-area)">`);
  series.forEach((s, i) => {
    const style = s.style ?? "line";
    const color = escapeXml(colors[i]);
    out.push(`<g class="series" data-label="${escapeXml(s.label)}">`);
    if (style !== "markers") {
      let d = "";
      let pen = false;
      for (const p of s.points) {
        if (!Number.isFinite(p.x) || !drawable(p.y)) {
          pen = false;
          continue;
        }
        d += `${pen ? "L" : "M"}${n2(sx(p.x))} ${n2(sy(p.y))}`;
        pen = true;
      }
      out.push(
        `<path class="series-line" d="${d}" fill="none" stroke="${color}" stroke-width="2" ` +
          `stroke-linejoin="round"${s.dashed ? ' stroke-dasharray="7 4"' : ""}/>`,
      );
    }
    if (style !== "line") {
      let bars = "";
      for (const p of s.points) {
        if (!Number.isFinite(p.x) || !drawable(p.y)) continue;
        const x = sx(p.x);
        if (p.yLow !== undefined || p.yHigh !== undefined) {
          const y1 = syClamped(p.yLow ?? p.y);
          const y2 = syClamped(p.yHigh ?? p.y);
          bars += `M${n2(x)} ${n2(y1)}V${n2(y2)}M${n2(x - 4)} ${n2(y1)}H${n2(x + 4)}M${n2(x - 4)} ${n2(y2)}H${n2(x + 4)}`;
        }
        out.push(
          `<circle class="marker" cx="${n2(x)}" cy="${n2(sy(p.y))}" r="3.5" fill="${color}" stroke="#fff" stroke-width="0.8"/>`,
        );
      }
      if (bars !== "")
        out.push(`<path class="error-bar" d="${bars}" fill="none" stroke="${color}" stroke-width="1.2"/>`);
    }
    out.push("</g>");
  });
  out.push("</g>");
  out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#000"/>`);

  // Legend, top right inside the frame.
  if (series.length > 0) {
    const rowH = 18;
    const longest = Math.max(...series.map((s) => s.label.length));
    const boxW = 40 + longest * 7;
    const boxH = 8 + rowH * series.length;
    const bx = left + plotW - boxW - 8;
    const by = top + 8;
    out.push(`<g class="legend">`);
    out.push(
      `<rect x="${n2(bx)}" y="${by}" width="${n2(boxW)}" height="${boxH}" fill="#ffffff" fill-opacity="0.9" stroke="#999"/>`,
    );
    series.forEach((s, i) => {
      const y = by + 4 + rowH * i + rowH / 2;
      const color = escapeXml(colors[i]);
      const style = s.style ?? "line";
      if (style !== "markers")
        out.push(
          `<line x1="${n2(bx + 6)}" y1="${n2(y)}" x2="${n2(bx + 30)}" y2="${n2(y)}" stroke="${color}" stroke-width="2"` +
            `${s.dashed ? ' stroke-dasharray="7 4"' : ""}/>`,
        );
      if (style !== "line") out.push(`<circle cx="${n2(bx + 18)}" cy="${n2(y)}" r="3.5" fill="${color}"/>`);
      out.push(`<text x="${n2(bx + 36)}" y="${n2(y)}" dy="0.35em">${escapeXml(s.label)}</text>`);
    });
    out.push("</g>");
  }
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
