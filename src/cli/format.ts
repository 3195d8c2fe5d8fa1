/** Renders rows as an aligned plain-text table; numbers are printed to six significant digits. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const cells = rows.map((r) => r.map((v) => (typeof v === "number" ? formatNumber(v) : v)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n") + "\n";
}

function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "n/a";
  if (Number.isInteger(v)) return String(v);
  return v.toPrecision(6);
}
