/**
 * `qnet serve`: runs the orchestrator on this machine — the job API (v1, with its OpenAPI document and
 * event stream) over a topology's digital twin, jobs persisted in SQLite, and Prometheus metrics —
 * and prints where each one is.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import Fastify, { type FastifyInstance } from "fastify";
import type { JobStore } from "../control/job-store.js";
import { MemoryJobStore } from "../control/memory-job-store.js";
import { Orchestrator } from "../control/orchestrator.js";
import {
  ORCHESTRATOR_SERVER_OPTIONS,
  orchestratorEventHub,
  registerOrchestratorRoutes,
} from "../server/orchestrator-routes.js";
import { PrometheusSink, registerMetricsRoute } from "../server/prometheus.js";
import { SqliteJobStore } from "../store/sqlite-job-store.js";
import { InputError, UsageError } from "./errors.js";
import { loadTopology } from "./simulate.js";

export interface ServeCommandOptions {
  /** Topology file; default examples/metro.yaml. */
  topology?: string;
  /** Port of the job API on 127.0.0.1 (0: a free one). */
  port: string;
  /** Port of the metrics; "off" for none. */
  metricsPort: string;
  /** Data directory for the job store, or "memory". */
  dir: string;
  /** Milliseconds between scheduling rounds. */
  stepMs: string;
  seed: string;
}

export interface RunningServe {
  apiUrl: string;
  metricsUrl?: string;
  orchestrator: Orchestrator;
  close(): Promise<void>;
}

function intFlag(text: string, flag: string, what: string, ok: (v: number) => boolean): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isInteger(v) || !ok(v))
    throw new UsageError(`${flag}: expected ${what}, got '${text}'`);
  return v;
}

/** examples/metro.yaml of this installation: the nearest directory above this module with a package.json. */
function defaultTopology(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, "examples", "metro.yaml");
}

/** Starts the orchestrator and its servers; returns them running, with the text to print. */
export async function runServeCommand(
  opts: ServeCommandOptions,
): Promise<{ running: RunningServe; report: string }> {
  const port = intFlag(opts.port, "--port", "a TCP port from 0 to 65535", (v) => v >= 0 && v <= 65535);
  const metricsPort =
    opts.metricsPort === "off"
      ? undefined
      : intFlag(
          opts.metricsPort,
          "--metrics-port",
          "a TCP port from 0 to 65535, or off",
          (v) => v >= 0 && v <= 65535,
        );
  const stepMs = intFlag(
    opts.stepMs,
    "--step-ms",
    "milliseconds from 10 to 60000",
    (v) => v >= 10 && v <= 60_000,
  );
  const topologyPath = opts.topology ?? defaultTopology();
  const topology = loadTopology(topologyPath);
  let store: JobStore;
  if (opts.dir === "memory") store = new MemoryJobStore();
  else {
    try {
      mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      store = SqliteJobStore.open(join(opts.dir, "jobs.db"));
    } catch (e) {
      throw new InputError(`cannot open the job store in '${opts.dir}': ${(e as Error).message}`);
    }
  }
  const sink = new PrometheusSink();
  const hub = orchestratorEventHub();
  const orchestrator = await Orchestrator.open({
    topology,
    store,
    clock: () => Date.now(),
    seed: opts.seed,
    sink,
    onEvent: hub.emit,
  });
  const servers: FastifyInstance[] = [];
  const listen = async (app: FastifyInstance, p: number): Promise<string> => {
    try {
      await app.listen({ host: "127.0.0.1", port: p });
    } catch (e) {
      await Promise.all(servers.map((s) => s.close()));
      await store.close();
      throw new InputError(`cannot listen on 127.0.0.1:${p}: ${(e as Error).message}; choose another port`);
    }
    servers.push(app);
    const address = app.server.address();
    return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : p}`;
  };
  const api = Fastify({ logger: false, ...ORCHESTRATOR_SERVER_OPTIONS });
  registerOrchestratorRoutes(api, { orchestrator, newId: () => randomUUID(), events: hub.subscribe });
  const apiUrl = await listen(api, port);
  let metricsUrl: string | undefined;
  if (metricsPort !== undefined) {
    const m = Fastify({ logger: false });
    registerMetricsRoute(m, sink);
    metricsUrl = `${await listen(m, metricsPort)}/metrics`;
  }
  // One scheduling round at a time: a round runs its jobs on the twin, which may take a while.
  let stepping: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    stepping ??= orchestrator.step(Date.now()).finally(() => {
      stepping = null;
    });
  }, stepMs);
  const running: RunningServe = {
    apiUrl,
    ...(metricsUrl ? { metricsUrl } : {}),
    orchestrator,
    async close() {
      clearInterval(timer);
      await stepping;
      await Promise.all(servers.map((s) => s.close()));
      await store.close();
    },
  };
  const nodes = topology.nodes.filter((n) => n.type === "end").map((n) => n.id);
  const [a, b] = [
    nodes[0] ?? topology.nodes[0].id,
    nodes[1] ?? topology.nodes[1]?.id ?? topology.nodes[0].id,
  ];
  const lines = [
    `qnet serve: the orchestrator over ${topology.name} (${topology.nodes.length} nodes, ${topology.links.length} links)`,
    "",
    `  job API     ${apiUrl}/api/v1/jobs   (OpenAPI: ${apiUrl}/api/v1/openapi.json, events: ${apiUrl}/api/v1/events)`,
    ...(metricsUrl ? [`  metrics     ${metricsUrl}`] : []),
    `  job store   ${opts.dir === "memory" ? "in memory" : join(opts.dir, "jobs.db")}`,
    "",
    "Submit an entanglement job and watch it:",
    `  curl -s -X POST ${apiUrl}/api/v1/jobs -H 'content-type: application/json' \\`,
    `    -d '{"kind":"entanglement","src":"${a}","dst":"${b}","pairs":100,"min_fidelity":0.8}'`,
    `  curl -s ${apiUrl}/api/v1/jobs`,
    "",
    "Stop with Ctrl-C.",
  ];
  return { running, report: `${lines.join("\n")}\n` };
}

/** Adds `qnet serve` to the program. */
export function registerServeCommand(program: Command, out: (s: string) => void): void {
  program
    .command("serve")
    .description(
      "run the orchestrator: the job API (v1, OpenAPI, event stream) over a topology's digital twin, " +
        "jobs persisted in SQLite, Prometheus metrics",
    )
    .option("--topology <file>", "topology file (default: examples/metro.yaml)")
    .option("--port <port>", "port of the job API on 127.0.0.1 (0: a free port)", "8080")
    .option("--metrics-port <port>", "port of the Prometheus metrics (0: a free port; off: none)", "9465")
    .option("--dir <dir>", "data directory of the job store, or 'memory'", "qnet-data")
    .option("--step-ms <ms>", "milliseconds between scheduling rounds", "200")
    .option("--seed <seed>", "seed of the digital twin's runs", "1")
    .action(async (opts: ServeCommandOptions) => {
      const { running, report } = await runServeCommand(opts);
      out(report);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      await running.close();
    });
}
