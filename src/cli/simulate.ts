import { readFileSync, writeFileSync } from "node:fs";
import { PlanError } from "../network/plan.js";
import { type DistributionReport, type SimulationReport, simulate } from "../network/simulation.js";
import type { Topology } from "../network/topology.js";
import { parseRequests, parseTopology, TopologyError } from "../network/topology-loader.js";
import { parseDurationNs, UnitError } from "../network/units.js";
import { formatTable } from "./format.js";
import { ProgressBar } from "./progress.js";

export type ReportFormat = "table" | "json" | "csv";

export interface SimulateCommandOptions {
  until: string;
  seed: number;
  requests?: string;
  format: ReportFormat;
  out?: string;
}

/** A mistake in the user's input: printed as `error: <message>` with exit code 1, no stack trace. */
export class InputError extends Error {
  override name = "InputError";
}

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
  try {
    untilNs = parseDurationNs(opts.until, "--until", { positive: true });
  } catch (e) {
    if (e instanceof UnitError) throw new InputError(e.message);
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

function renderTable(r: SimulationReport): string {
  const lines: string[] = [];
  lines.push(
    `qnet simulate: ${r.topology} — ${Number(r.simulated_time_s.toPrecision(6))} s simulated, ${r.events} events, ` +
      `${(r.wall_time_s ?? 0).toFixed(3)} s wall time, seed ${r.seed}\n`,
  );
  lines.push("Links");
  lines.push(
    formatTable(
      ["link", "attempts", "successes", "success rate", "pairs/s", "fidelity"],
      r.links.map((l) => [l.id, l.attempts, l.successes, l.success_rate, l.pairs_per_s, f(l.fidelity)]),
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
        q.completed ? "completed" : q.expired ? "expired" : "active",
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
  return `${lines.join("\n")}\n`;
}

function renderCsv(r: SimulationReport): string {
  const header = [
    "kind",
    "id",
    "src",
    "dst",
    "attempts",
    "successes",
    "success_rate",
    "pairs_per_s",
    "delivered",
    "fidelity_mean",
    "fidelity_p05",
    "fidelity_p50",
    "latency_mean_s",
    "latency_p50_s",
    "latency_p99_s",
  ];
  const cell = (v: string | number | undefined) =>
    v === undefined || (typeof v === "number" && Number.isNaN(v))
      ? ""
      : typeof v === "string" && /[",\n]/.test(v)
        ? `"${v.replaceAll('"', '""')}"`
        : String(v);
  const rows: (string | number | undefined)[][] = [
    ...r.links.map((l) => [
      "link",
      l.id,
      l.a,
      l.b,
      l.attempts,
      l.successes,
      l.success_rate,
      l.pairs_per_s,
      undefined,
      l.fidelity.mean,
      l.fidelity.p05,
      l.fidelity.p50,
    ]),
    ...r.requests.map((q) => [
      "request",
      q.id,
      q.src,
      q.dst,
      undefined,
      undefined,
      undefined,
      q.delivered_per_s,
      q.delivered,
      q.fidelity.mean,
      q.fidelity.p05,
      q.fidelity.p50,
      q.latency_s.mean,
      q.latency_s.p50,
      q.latency_s.p99,
    ]),
  ];
  return `${[header, ...rows].map((row) => header.map((_, i) => cell(row[i])).join(",")).join("\n")}\n`;
}
