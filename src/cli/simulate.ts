import { readFileSync, writeFileSync } from "node:fs";
import { PlanError } from "../network/plan.js";
import { type DistributionReport, type SimulationReport, simulate } from "../network/simulation.js";
import type { Topology } from "../network/topology.js";
import { parseRequests, parseTopology, TopologyError } from "../network/topology-loader.js";
import { parseDurationNs, UnitError } from "../network/units.js";
import { InputError, UsageError } from "./errors.js";
import { formatTable } from "./format.js";
import { ProgressBar } from "./progress.js";

export type ReportFormat = "table" | "json" | "csv";

export interface SimulateCommandOptions {
  until: string;
  seed: number;
  requests?: string;
  format: ReportFormat;
  out?: string;
  /** Width of the per-link timeline bins, with a unit (e.g. "100ms"); absent: no timeline. */
  timeline?: string;
}

export { InputError } from "./errors.js";

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (e as Error).message;
    throw new InputError(`cannot read ${what} '${path}': ${why}`);
  }
}

/** Loads a topology file and, optionally, a separate requests file that replaces its requests. */
export function loadTopology(path: string, requestsPath?: string): Topology {
  try {
    const topology = parseTopology(readText(path, "topology file"), path);
    if (requestsPath !== undefined)
      topology.requests = parseRequests(readText(requestsPath, "requests file"), requestsPath, topology);
    return topology;
  } catch (e) {
    if (e instanceof TopologyError) throw new InputError(`invalid input:\n${e.message}`);
    throw e;
  }
}

/** `qnet simulate`: runs a topology's requests and renders the report. */
export function runSimulateCommand(
  topologyPath: string,
  opts: SimulateCommandOptions,
  out: (s: string) => void,
  progressStream: NodeJS.WriteStream,
): void {
  let untilNs: number;
  let timelineBinNs: number | undefined;
  try {
    untilNs = parseDurationNs(opts.until, "--until", { positive: true });
    if (opts.timeline !== undefined) {
      timelineBinNs = parseDurationNs(opts.timeline, "--timeline", { positive: true });
      if (untilNs / timelineBinNs > 100_000)
        throw new UsageError(
          `--timeline ${opts.timeline} makes ${Math.ceil(untilNs / timelineBinNs)} bins over --until ${opts.until}; use bins of at least ${untilNs / 1e5 / 1e9} s`,
        );
    }
  } catch (e) {
    if (e instanceof UnitError) throw new UsageError(e.message);
    throw e;
  }
  const topology = loadTopology(topologyPath, opts.requests);
  const bar = new ProgressBar(progressStream, untilNs);
  const t0 = performance.now();
  let report: SimulationReport;
  try {
    report = simulate(topology, untilNs, {
      seed: opts.seed,
      onProgress: (ns, events) => bar.update(ns, events),
      progressEvery: 100_000,
      ...(timelineBinNs !== undefined ? { timelineBinNs } : {}),
    });
  } catch (e) {
    if (e instanceof PlanError || e instanceof RangeError)
      throw new InputError(`${topologyPath}: ${e.message}`);
    throw e;
  } finally {
    bar.done();
  }
  report.wall_time_s = (performance.now() - t0) / 1e3;
  const text = render(report, opts.format);
  if (opts.out !== undefined) {
    try {
      writeFileSync(opts.out, text);
    } catch (e) {
      throw new InputError(`cannot write '${opts.out}': ${(e as Error).message}`);
    }
  } else out(text);
}

export function render(r: SimulationReport, format: ReportFormat): string {
  if (format === "json") return `${JSON.stringify(r, (_k, v) => (Number.isNaN(v) ? null : v), 2)}\n`;
  if (format === "csv") return renderCsv(r);
  return renderTable(r);
}

const f = (d: DistributionReport) => d.mean;

function rateStatus(q: SimulationReport["requests"][number]): string {
  const state = q.completed ? "completed" : q.expired ? "expired" : "active";
  if (q.target_rate_hz === null || q.rate_fraction === null) return state;
  return `${state}, ${(100 * q.rate_fraction).toFixed(1)} % of ${q.target_rate_hz} Hz`;
}

function renderTable(r: SimulationReport): string {
  const lines: string[] = [];
  lines.push(
    `qnet simulate: ${r.topology} — ${Number(r.simulated_time_s.toPrecision(6))} s simulated, ${r.events} events, ` +
      `${(r.wall_time_s ?? 0).toFixed(3)} s wall time, seed ${r.seed}\n`,
  );
  const outages = r.links.some((l) => l.outages > 0);
  lines.push("Links");
  lines.push(
    formatTable(
      [
        "link",
        "attempts",
        "successes",
        "success rate",
        "pairs/s",
        "fidelity",
        ...(outages ? ["outages", "down (s)"] : []),
      ],
      r.links.map((l) => [
        l.id,
        l.attempts,
        l.successes,
        l.success_rate,
        l.pairs_per_s,
        f(l.fidelity),
        ...(outages ? [l.outages, l.downtime_s] : []),
      ]),
    ),
  );
  lines.push("Requests");
  lines.push(
    formatTable(
      [
        "request",
        "path",
        "delivered",
        "pairs/s",
        "F mean",
        "F p05",
        "latency mean (s)",
        "latency p99 (s)",
        "status",
      ],
      r.requests.map((q) => [
        q.id,
        q.path.join("→"),
        q.delivered,
        q.delivered_per_s,
        q.fidelity.mean,
        q.fidelity.p05,
        q.latency_s.mean,
        q.latency_s.p99,
        rateStatus(q),
      ]),
    ),
  );
  for (const q of r.requests) {
    const a = q.application;
    if (a?.kind === "teleport")
      lines.push(
        `${q.id}: teleportation fidelity mean ${a.fidelity.mean.toPrecision(6)} (θ = ${a.theta}, φ = ${a.phi})`,
      );
    if (a?.kind === "chsh")
      lines.push(
        `${q.id}: CHSH S = ${a.s.toFixed(4)} ± ${a.s_stderr.toFixed(4)} over ${a.rounds} pairs (|S| ≤ 2 classically)`,
      );
    if (q.discarded_low_fidelity > 0)
      lines.push(`${q.id}: ${q.discarded_low_fidelity} pair(s) discarded below the minimum fidelity`);
  }
  lines.push(
    `\nMemory: mean occupancy ${(100 * r.memory.occupancy_mean).toFixed(2)} %, ` +
      `${r.memory.decohered_discarded} pair(s) discarded at cutoff`,
  );
  lines.push(
    formatTable(
      [
        "node",
        "qubits",
        "occupancy mean",
        "occupancy max",
        "storage mean (s)",
        "storage p99 (s)",
        "discarded",
      ],
      r.memory.nodes.map((n) => [
        n.id,
        n.qubits,
        n.occupancy_mean,
        n.occupancy_max,
        n.storage_time_s.mean,
        n.storage_time_s.p99,
        n.decohered_discarded,
      ]),
    ),
  );
  for (const l of r.links) {
    if (l.timeline === undefined) continue;
    lines.push(`Timeline of link ${l.id}`);
    lines.push(
      formatTable(
        ["from (s)", "attempts", "successes", "success rate"],
        l.timeline.map((b) => [b.start_s, b.attempts, b.successes, b.success_rate]),
      ),
    );
  }
  return `${lines.join("\n")}\n`;
}

const CSV_COLUMNS = [
  "kind",
  "id",
  "src",
  "dst",
  "start_s",
  "attempts",
  "successes",
  "success_rate",
  "pairs_per_s",
  "delivered",
  "target_rate_hz",
  "fidelity_mean",
  "fidelity_p05",
  "fidelity_p50",
  "latency_mean_s",
  "latency_p50_s",
  "latency_p99_s",
  "outages",
  "downtime_s",
  "qubits",
  "occupancy_mean",
  "occupancy_max",
  "storage_mean_s",
  "storage_p99_s",
  "discarded",
] as const;

type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | null>>;

/** One row per link, request and node, then one per timeline bin; empty cells where a column does not apply. */
function renderCsv(r: SimulationReport): string {
  const cell = (v: string | number | null | undefined) =>
    v === undefined || v === null || (typeof v === "number" && Number.isNaN(v))
      ? ""
      : typeof v === "string" && /[",\n]/.test(v)
        ? `"${v.replaceAll('"', '""')}"`
        : String(v);
  const rows: CsvRow[] = [
    ...r.links.map((l) => ({
      kind: "link",
      id: l.id,
      src: l.a,
      dst: l.b,
      attempts: l.attempts,
      successes: l.successes,
      success_rate: l.success_rate,
      pairs_per_s: l.pairs_per_s,
      fidelity_mean: l.fidelity.mean,
      fidelity_p05: l.fidelity.p05,
      fidelity_p50: l.fidelity.p50,
      outages: l.outages,
      downtime_s: l.downtime_s,
    })),
    ...r.requests.map((q) => ({
      kind: "request",
      id: q.id,
      src: q.src,
      dst: q.dst,
      pairs_per_s: q.delivered_per_s,
      delivered: q.delivered,
      target_rate_hz: q.target_rate_hz,
      fidelity_mean: q.fidelity.mean,
      fidelity_p05: q.fidelity.p05,
      fidelity_p50: q.fidelity.p50,
      latency_mean_s: q.latency_s.mean,
      latency_p50_s: q.latency_s.p50,
      latency_p99_s: q.latency_s.p99,
    })),
    ...r.memory.nodes.map((n) => ({
      kind: "node",
      id: n.id,
      qubits: n.qubits,
      occupancy_mean: n.occupancy_mean,
      occupancy_max: n.occupancy_max,
      storage_mean_s: n.storage_time_s.mean,
      storage_p99_s: n.storage_time_s.p99,
      discarded: n.decohered_discarded,
    })),
    ...r.links.flatMap((l) =>
      (l.timeline ?? []).map((b) => ({
        kind: "timeline",
        id: l.id,
        src: l.a,
        dst: l.b,
        start_s: b.start_s,
        attempts: b.attempts,
        successes: b.successes,
        success_rate: b.success_rate,
      })),
    ),
  ];
  return `${[CSV_COLUMNS.join(","), ...rows.map((row) => CSV_COLUMNS.map((c) => cell(row[c])).join(","))].join("\n")}\n`;
}
