/**
 * `qnet serve`: runs the orchestrator on this machine — the job API (v1, with its OpenAPI document and
 * event stream) over a topology's digital twin, jobs persisted in SQLite, and Prometheus metrics —
 * and prints where each one is.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from "fastify";
import pino, { type DestinationStream, type Logger } from "pino";
import type { JobStore } from "../control/job-store.js";
import { LiveFeed } from "../control/live-feed.js";
import { MemoryJobStore } from "../control/memory-job-store.js";
import { Orchestrator, type OrchestratorEvent } from "../control/orchestrator.js";
import { LiveTwin } from "../network/live-twin.js";
import { registerDashboard } from "../server/dashboard.js";
import { installationPath } from "../server/installation.js";
import type { RunningKms } from "../server/kms-service.js";
import {
  ORCHESTRATOR_SERVER_OPTIONS,
  orchestratorEventHub,
  registerOrchestratorRoutes,
} from "../server/orchestrator-routes.js";
import { PrometheusSink, registerMetricsRoute } from "../server/prometheus.js";
import { SqliteJobStore } from "../store/sqlite-job-store.js";
import { InputError, UsageError } from "./errors.js";
import { integerFlag, numberFlag, portFlag, portOrOffFlag } from "./flags.js";
import {
  DEFAULT_POOL_BITS,
  type KmsLayout,
  keyExampleLines,
  kmsLayoutOfTopology,
  startKeyService,
} from "./kms.js";
import { loadTopology } from "./simulate.js";
import { loadTenants } from "./tenants.js";

export interface ServeCommandOptions {
  /** Topology file; default examples/metro.yaml. */
  topology?: string;
  /** Port of the job API and dashboard on 127.0.0.1 (0: a free one). */
  port: string;
  /** Port of the metrics; "off" for none. */
  metricsPort: string;
  /** Port of the first KME (the others take the next ones); "off" for no key service. Default "off". */
  kmsPort?: string;
  /** Data directory (job store, key service), or "memory" for nothing on disk. */
  dir: string;
  /** Milliseconds between scheduling rounds. */
  stepMs: string;
  seed: string;
  /** Node the controller runs at; default the centre of the network by classical latency. */
  controller?: string;
  /** Least severe log level written: debug, info, warn, error or silent. Default info. */
  logLevel?: string;
  /** Simulated seconds of the live twin per wall second; "off" for no live twin. Default "1". */
  twinScale?: string;
  /** Pairs per second each link of the live twin makes at most; "0" for flat out. Default "1000". */
  probeRate?: string;
  /** Tenants file: fair-share weights and rate limits (./tenants.ts). Default: every tenant weighs 1, no limits. */
  tenants?: string;
}

export interface RunningServe {
  apiUrl: string;
  /** The web dashboard. */
  dashboardUrl: string;
  metricsUrl?: string;
  /** Each KME's base URL (ETSI GS QKD 014 over mutual TLS), by KME ID, when the key service runs. */
  kmsUrls?: Readonly<Record<string, string>>;
  orchestrator: Orchestrator;
  kms?: RunningKms;
  /** The live twin of the whole network, when it runs. */
  twin?: LiveTwin;
  close(): Promise<void>;
}

/** Log levels a user may choose, least severe first. */
const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/** A JSON-lines logger writing to `destination` (stderr by default), for levels from `level` up. */
export function serveLogger(level: string, destination?: DestinationStream): Logger {
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(", ")}, got '${level}'`);
  return pino(
    { level, base: { service: "qnet" }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** Logs an orchestrator event with its job and link IDs. */
function logEvent(log: Logger, e: OrchestratorEvent): void {
  if (e.type === "link") {
    const fields = { link_id: e.linkId, up: e.up, cause: e.cause, ...(e.reason ? { reason: e.reason } : {}) };
    if (e.up) log.info(fields, "link up");
    else log.warn(fields, "link down");
    return;
  }
  const j = e.job;
  const reason = j.history.at(-1)?.reason;
  const fields = {
    job_id: j.id,
    kind: j.spec.kind,
    tenant: j.spec.tenant,
    state: j.state,
    ...(j.path ? { path: j.path } : {}),
    ...(reason ? { reason } : {}),
  };
  if (e.reroute)
    log.warn(
      { ...fields, link_id: e.reroute.linkId, from: e.reroute.from, to: e.reroute.to },
      "job rerouted",
    );
  else if (j.state === "failed" || j.state === "expired") log.warn(fields, `job ${j.state}`);
  else log.info(fields, `job ${j.state}`);
}

/**
 * Starts the orchestrator, the key service (one KME per site) and their servers; returns them running,
 * with the text to print. Logs go to `logDestination` (default stderr) as JSON lines.
 */
export async function runServeCommand(
  opts: ServeCommandOptions,
  logDestination?: DestinationStream,
): Promise<{ running: RunningServe; report: string }> {
  const port = portFlag(opts.port, "--port");
  const metricsPort = portOrOffFlag(opts.metricsPort, "--metrics-port");
  const stepMs = integerFlag(
    opts.stepMs,
    "--step-ms",
    "milliseconds from 10 to 60000",
    (v) => v >= 10 && v <= 60_000,
  );
  const twinScaleText = opts.twinScale ?? "1";
  const twinScale =
    twinScaleText === "off"
      ? undefined
      : numberFlag(
          twinScaleText,
          "--twin-scale",
          "simulated seconds per wall second, e.g. 1 or 0.1, or off",
          (v) => v > 0,
        );
  const probeRate = numberFlag(
    opts.probeRate ?? "1000",
    "--probe-rate",
    "pairs per second per link, or 0 for no limit",
    (v) => v >= 0,
  );
  const log = serveLogger(opts.logLevel ?? "info", logDestination);
  const topologyPath = opts.topology ?? installationPath("examples", "metro.yaml");
  const topology = loadTopology(topologyPath);
  const tenants = opts.tenants === undefined ? undefined : loadTenants(opts.tenants);
  // The key service is checked before anything starts, so that a bad topology or port fails cleanly.
  let kmsLayout: KmsLayout | undefined;
  let kmsNote: string | undefined;
  const kmsPort = portOrOffFlag(opts.kmsPort ?? "off", "--kms-port", 65535 - 64);
  if (kmsPort !== undefined) {
    try {
      kmsLayout = kmsLayoutOfTopology(topology, topologyPath);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      kmsNote = `no key service: ${e.message}`;
    }
  }
  if (opts.controller !== undefined && !topology.nodes.some((n) => n.id === opts.controller))
    throw new UsageError(
      `--controller: '${opts.controller}' is not a node of ${topologyPath}; choose one of ${topology.nodes.map((n) => n.id).join(", ")}`,
    );

  const onDisk = opts.dir !== "memory";
  let store: JobStore;
  if (!onDisk) store = new MemoryJobStore();
  else {
    try {
      mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      store = SqliteJobStore.open(join(opts.dir, "jobs.db"));
    } catch (e) {
      throw new InputError(`cannot open the job store in '${opts.dir}': ${(e as Error).message}`);
    }
  }
  const cleanups: (() => Promise<void>)[] = [async () => store.close()];
  const closeAll = async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  };
  try {
    const sink = new PrometheusSink();
    const hub = orchestratorEventHub();
    let twin: LiveTwin | undefined;
    const orchestrator = await Orchestrator.open({
      topology,
      store,
      clock: () => Date.now(),
      seed: opts.seed,
      sink,
      ...(tenants ? { scheduler: tenants } : {}),
      // Jobs take the wall time their runs take in the twin's time, as the live twin does.
      ...(twinScale !== undefined ? { timeScale: twinScale } : {}),
      ...(opts.controller ? { controlPlane: { controller: opts.controller } } : {}),
      onEvent: (e) => {
        logEvent(log, e);
        // An operator's change is made in the twin too; a detected one came from the twin.
        if (e.type === "link" && e.cause === "operator") twin?.setLinkUp(e.linkId, e.up);
        if (e.type === "link") sink.linkState(e.linkId, e.up, e.cause);
        hub.emit(e);
      },
    });
    for (const id of orchestrator.estimator.linkIds())
      sink.linkState(id, orchestrator.estimator.isUp(id), "operator");
    /** Jobs per tenant and state, and what the scheduler has reserved, for their gauges (at each scrape). */
    const countJobs = async () => {
      const { byTenant } = await store.counts();
      for (const [tenant, states] of Object.entries(byTenant))
        for (const [state, n] of Object.entries(states)) sink.jobsInState(tenant, state, n);
      const { links, nodes } = orchestrator.scheduler.occupancy();
      for (const [id, l] of Object.entries(links)) sink.linkReserved(id, Math.min(1, l.fraction));
      for (const [id, n] of Object.entries(nodes)) sink.memoryReserved(id, n.reservedQubits);
    };
    const feed = new LiveFeed(orchestrator, sink);
    if (twinScale !== undefined)
      twin = new LiveTwin(topology, {
        seed: `${opts.seed}:live`,
        probeRateHz: probeRate,
        observer: feed.observer,
      });

    let kms: RunningKms | undefined;
    let pki: string | undefined;
    if (kmsLayout !== undefined && kmsPort !== undefined) {
      const kmsLog = log.child({ component: "kms" });
      // With --dir memory the certificates still need files (TLS reads them): a temporary directory.
      const kmsDir = onDisk
        ? join(opts.dir, "kms")
        : join(tmpdir(), `qnet-serve-kms-${process.pid}-${Date.now()}`);
      if (!onDisk) cleanups.push(async () => rmSync(kmsDir, { recursive: true, force: true }));
      ({ running: kms, pki } = await startKeyService({
        dir: kmsDir,
        layout: kmsLayout,
        store: onDisk ? "sqlite" : "memory",
        port: kmsPort,
        portFlag: "--kms-port",
        poolBits: kmsLayout.poolBits ?? DEFAULT_POOL_BITS,
        sink,
        fillInBackground: true,
        log: ({ level, msg, ...rest }) => {
          const text = typeof msg === "string" ? msg : "key service";
          if (level === "error") kmsLog.error(rest, text);
          else if (level === "warn") kmsLog.warn(rest, text);
          else kmsLog.info(rest, text);
        },
      }));
      const k = kms;
      cleanups.push(() => k.close());
    }
    // Bits pooled on each QKD link (both directions, at its first end), refreshed in the background.
    const keyPools = new Map<string, number>();
    const refreshPools = async () => {
      for (const s of kms?.suppliers ?? []) {
        const { a } = await s.levels();
        if (a) keyPools.set(s.pool, a.local.bits + a.peer.bits);
      }
    };

    const servers: FastifyInstance[] = [];
    cleanups.push(async () => {
      await Promise.all(servers.map((s) => s.close()));
    });
    const listen = async (app: FastifyInstance, p: number, flag: string): Promise<string> => {
      try {
        await app.listen({ host: "127.0.0.1", port: p });
      } catch (e) {
        throw new InputError(
          `cannot listen on 127.0.0.1:${p}: ${(e as Error).message}; choose another ${flag}`,
        );
      }
      servers.push(app);
      const address = app.server.address();
      return `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : p}`;
    };
    const api = Fastify({
      loggerInstance: log.child({ component: "api" }) as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      ...ORCHESTRATOR_SERVER_OPTIONS,
    });
    registerOrchestratorRoutes(api, {
      orchestrator,
      newId: () => randomUUID(),
      events: hub.subscribe,
      keyPools: () => keyPools,
    });
    registerDashboard(api, {});
    const apiUrl = await listen(api, port, "--port");
    let metricsUrl: string | undefined;
    if (metricsPort !== undefined) {
      const m = Fastify({
        loggerInstance: log.child({ component: "metrics" }) as FastifyBaseLogger,
        logController: new LogController({ disableRequestLogging: true }),
      });
      // Job counts are a query over every job stored: made when Prometheus asks, not every round.
      registerMetricsRoute(m, sink, { beforeScrape: countJobs });
      metricsUrl = `${await listen(m, metricsPort, "--metrics-port")}/metrics`;
    }

    // One scheduling round at a time: a round runs its jobs on the twin, which may take a while. The
    // live twin catches up with the wall clock first, so that admission sees the latest estimates.
    const startMs = Date.now();
    let behindSince: number | undefined;
    const advanceTwin = () => {
      if (twin === undefined || twinScale === undefined) return;
      const { nowNs, behind } = twin.advanceTo((Date.now() - startMs) * 1e6 * twinScale);
      if (!behind) behindSince = undefined;
      else if (behindSince === undefined) behindSince = Date.now();
      else if (Date.now() - behindSince > 10_000) {
        log.warn(
          {
            twin_s: nowNs / 1e9,
            wall_s: (Date.now() - startMs) / 1000,
            twin_scale: twinScale,
            probe_rate_hz: probeRate,
          },
          "the live twin has fallen behind the wall clock for 10 s: lower --twin-scale or --probe-rate",
        );
        behindSince = Date.now();
      }
    };
    let stepping: Promise<unknown> | null = null;
    const timer = setInterval(() => {
      stepping ??= Promise.resolve()
        .then(advanceTwin)
        .then(() => feed.apply())
        .then(() => orchestrator.step(Date.now()))
        .then(refreshPools)
        .catch((e: unknown) => log.error({ err: e }, "scheduling round failed"))
        .finally(() => {
          stepping = null;
        });
    }, stepMs);
    cleanups.push(async () => {
      clearInterval(timer);
      await stepping;
    });
    await refreshPools();

    const dashboardUrl = `${apiUrl}/`;
    log.info(
      { api: apiUrl, dashboard: dashboardUrl, metrics: metricsUrl, kms: kms?.urls, topology: topologyPath },
      "qnet serve started",
    );
    const running: RunningServe = {
      apiUrl,
      dashboardUrl,
      ...(metricsUrl ? { metricsUrl } : {}),
      ...(kms ? { kms, kmsUrls: kms.urls } : {}),
      ...(twin ? { twin } : {}),
      orchestrator,
      close: async () => {
        await closeAll();
        log.info("qnet serve stopped");
        log.flush();
      },
    };
    const ends = topology.nodes.filter((n) => n.type === "end").map((n) => n.id);
    const [a, b] = [
      ends[0] ?? topology.nodes[0].id,
      ends[1] ?? topology.nodes[1]?.id ?? topology.nodes[0].id,
    ];
    const lines = [
      `qnet serve: ${topology.name} (${topology.nodes.length} nodes, ${topology.links.length} links), controller at ${orchestrator.control.controller}`,
      "",
      `  dashboard   ${dashboardUrl}`,
      `  job API     ${apiUrl}/api/v1/jobs   (OpenAPI: ${apiUrl}/api/v1/openapi.json, events: ${apiUrl}/api/v1/events)`,
      ...(metricsUrl ? [`  metrics     ${metricsUrl}`] : []),
      ...(kms && kmsLayout
        ? kmsLayout.kmes.map((id, i) => {
            const saes = kmsLayout.saes.filter((s) => s.kmeId === id).map((s) => s.saeId);
            return `  ${i === 0 ? "KMEs      " : "          "}  ${id}  ${kms.urls[id]}  (${saes.length > 0 ? `SAE ${saes.join(", ")}` : "trusted node"})`;
          })
        : [`  key service ${kmsNote ?? "off (--kms-port PORT starts one KME per site)"}`]),
      `  live twin   ${twin ? `${twinScale === 1 ? "real time" : `${twinScale}× real time`}, every link probed ${probeRate > 0 ? `at up to ${probeRate} pairs/s` : "flat out"}` : "off"}`,
      `  data        ${onDisk ? `${opts.dir} (jobs.db${kms ? ", kms/" : ""})` : "in memory"}`,
      `  logs        JSON lines on stderr, level ${opts.logLevel ?? "info"}`,
      "",
      "Submit an entanglement job and watch it:",
      `  curl -s -X POST ${apiUrl}/api/v1/jobs -H 'content-type: application/json' \\`,
      `    -d '{"kind":"entanglement","src":"${a}","dst":"${b}","pairs":100,"min_fidelity":0.8}'`,
      `  curl -s ${apiUrl}/api/v1/jobs`,
      ...(kms && kmsLayout && pki ? ["", ...keyExampleLines(kmsLayout, kms.urls, pki)] : []),
      "",
      "Stop with Ctrl-C.",
    ];
    return { running, report: `${lines.join("\n")}\n` };
  } catch (e) {
    await closeAll();
    throw e;
  }
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
    .option("--port <port>", "port of the job API and dashboard on 127.0.0.1 (0: a free port)", "8080")
    .option("--metrics-port <port>", "port of the Prometheus metrics (0: a free port; off: none)", "9465")
    .option(
      "--kms-port <port>",
      "port of the first KME, the others take the next ones (0: free ports; off: no key service)",
      "8443",
    )
    .option("--dir <dir>", "data directory (job store, key service), or 'memory'", "qnet-data")
    .option("--step-ms <ms>", "milliseconds between scheduling rounds", "200")
    .option("--seed <seed>", "seed of the digital twin's runs", "1")
    .option("--tenants <file>", "tenants' fair-share weights and rate limits (YAML or JSON)")
    .option("--controller <node>", "node the controller runs at (default: the centre by classical latency)")
    .option("--twin-scale <x>", "simulated seconds of the live twin per wall second (off: no live twin)", "1")
    .option(
      "--probe-rate <hz>",
      "pairs per second each link of the live twin makes at most (0: flat out)",
      "1000",
    )
    .option(
      "--log-level <level>",
      `least severe log level written to stderr: ${LOG_LEVELS.join(", ")}`,
      "info",
    )
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
