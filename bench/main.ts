import { benches as bb84Benches } from "./bb84.js";
import { benches as cascadeBenches } from "./cascade.js";
import type { Bench, BenchResult } from "./harness.js";
import { benches as kernelBenches } from "./kernel.js";
import { benches as kmsBenches } from "./kms.js";
import { benches as liveTwinBenches } from "./live-twin.js";
import { benches as networkBenches } from "./network.js";
import { benches as orchestratorBenches } from "./orchestrator.js";
import { benches as paBenches } from "./privacy-amplification.js";
import { benches as qkdPipelineBenches } from "./qkd-pipeline.js";
import { benches as quantumBenches } from "./quantum.js";

const all: Bench[] = [
  ...kernelBenches,
  ...quantumBenches,
  ...networkBenches,
  ...liveTwinBenches,
  ...bb84Benches,
  ...cascadeBenches,
  ...paBenches,
  ...qkdPipelineBenches,
  ...kmsBenches,
  ...orchestratorBenches,
];

function usage(): string {
  return [
    "Usage: npm run bench -- [--json] [--filter TEXT]",
    "",
    '  --json         print one JSON object per line: {"name", "value", "unit"}',
    "  --filter TEXT  run only benchmarks whose name contains TEXT",
    "",
    `Benchmarks: ${all.map((b) => b.name).join(", ")}`,
  ].join("\n");
}

function formatValue(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(3);
  if (a >= 100) return v.toFixed(0);
  return v.toPrecision(4);
}

async function run(argv: string[]): Promise<number> {
  let json = false;
  let filter = "";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") json = true;
    else if (a === "--filter") {
      const v = argv[++i];
      if (v === undefined) {
        console.error("error: --filter needs a value, e.g. --filter kernel\n");
        console.error(usage());
        return 2;
      }
      filter = v;
    } else if (a.startsWith("--filter=")) filter = a.slice("--filter=".length);
    else if (a === "--help" || a === "-h") {
      console.log(usage());
      return 0;
    } else {
      console.error(`error: unknown option '${a}'\n`);
      console.error(usage());
      return 2;
    }
  }
  const selected = all.filter((b) => b.name.includes(filter));
  if (selected.length === 0) {
    console.error(
      `error: no benchmark matches '${filter}'. Benchmarks: ${all.map((b) => b.name).join(", ")}`,
    );
    return 2;
  }
  const rows: BenchResult[] = [];
  for (const b of selected) {
    for (const r of await b.run()) {
      if (json) console.log(JSON.stringify(r));
      else rows.push(r);
    }
  }
  if (!json) {
    const w = Math.max(4, ...rows.map((r) => r.name.length));
    const vals = rows.map((r) => formatValue(r.value));
    const vw = Math.max(5, ...vals.map((v) => v.length));
    console.log(`${"name".padEnd(w)}  ${"value".padStart(vw)}  unit`);
    console.log(`${"-".repeat(w)}  ${"-".repeat(vw)}  ----`);
    rows.forEach((r, i) => {
      console.log(`${r.name.padEnd(w)}  ${vals[i].padStart(vw)}  ${r.unit}`);
    });
  }
  return 0;
}

process.exitCode = await run(process.argv.slice(2));
