import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServe, runServeCommand } from "../../src/cli/serve.js";
import { PrometheusSink, registerMetricsRoute } from "../../src/server/prometheus.js";

// End to end: a qnet process serves GET /metrics, a real Prometheus (the Debian package `prometheus`)
// scrapes it every second with ops/prometheus/rules.yml loaded, and its HTTP API
// (https://prometheus.io/docs/prometheus/latest/querying/api/) shows the values, the recording rules
// and a burn-rate alert computed from them.

const ROOT = join(import.meta.dirname, "..", "..");
const RULES = join(ROOT, "ops", "prometheus", "rules.yml");

/** Whether a program runs with `--version`. */
function runs(program: string): boolean {
  const r = spawnSync(program, ["--version"], { stdio: "ignore" });
  return r.error === undefined && r.status === 0;
}
const havePrometheus = runs("prometheus");
/** util-linux `setpriv`: lets the child be killed by the kernel if this process dies first. */
const haveSetpriv = spawnSync("setpriv", ["--help"], { stdio: "ignore" }).status === 0;

/** A TCP port free at the time of asking (Prometheus must be told one; it cannot report port 0's). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `probe` every 200 ms until it returns a value, or fails after `timeoutMs` saying what it waited for. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e; // not up yet
    }
    await sleep(200);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ""}`,
  );
}

/** A running Prometheus and what it needs to be stopped. */
interface PrometheusProcess {
  url: string;
  child: ChildProcess;
  /** Its recent log lines, for failure messages. */
  log: () => string;
  dir: string;
}

/** Starts Prometheus scraping `target` every second, with qnet's rules, on a free port; retries on a port race. */
async function startPrometheus(target: string): Promise<PrometheusProcess> {
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), "qnet-prometheus-"));
    const config = join(dir, "prometheus.yml");
    writeFileSync(
      config,
      [
        "global:",
        "  scrape_interval: 1s",
        "  evaluation_interval: 1s",
        "rule_files:",
        `  - ${JSON.stringify(RULES)}`,
        "scrape_configs:",
        "  - job_name: qnet",
        "    static_configs:",
        `      - targets: [${JSON.stringify(target)}]`,
        "",
      ].join("\n"),
    );
    const port = await freePort();
    const args = [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ];
    // With setpriv the kernel sends SIGKILL to Prometheus when the process that started it dies
    // (PR_SET_PDEATHSIG), so a crashed or killed test run leaves no Prometheus behind.
    const child = haveSetpriv
      ? spawn("setpriv", ["--pdeathsig", "KILL", "--", "prometheus", ...args], {
          stdio: ["ignore", "ignore", "pipe"],
        })
      : spawn("prometheus", args, { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr?.on("data", (d: Buffer) => {
      log = (log + d.toString()).slice(-8000);
    });
    const running = { exited: false };
    child.once("exit", () => {
      running.exited = true;
    });
    children.add(child);
    const url = `http://127.0.0.1:${port}`;
    try {
      await until("Prometheus to be ready", 20_000, async () => {
        if (running.exited) throw new Error("exited");
        return (await fetch(`${url}/-/ready`)).ok ? true : undefined;
      });
      return { url, child, log: () => log, dir };
    } catch (e) {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
      // Another process may have taken the port between asking and binding: try another.
      if (attempt < 3 && running.exited && /address already in use/.test(log)) continue;
      throw new Error(`Prometheus did not start: ${e}\n${log}`);
    }
  }
}

/** Every child this file started, so that even an abandoned run kills them on exit. */
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** Stops a child: SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

/** The vector result of an instant query, as [labels, value] pairs. */
async function query(url: string, promql: string): Promise<[Record<string, string>, number][]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== "success") throw new Error(`query ${promql}: ${body.error}`);
  return body.data.result.map((r) => [r.metric, Number(r.value[1])]);
}

/** The one value of a query's result when it equals `expected`, else undefined (to poll with `until`). */
async function queryEquals(url: string, promql: string, expected: number): Promise<number | undefined> {
  const r = await query(url, promql);
  return r.length === 1 && r[0][1] === expected ? r[0][1] : undefined;
}

describe.skipIf(!havePrometheus)("a real Prometheus scraping GET /metrics", () => {
  const sink = new PrometheusSink();
  let app: FastifyInstance;
  let prom: PrometheusProcess | undefined;

  beforeAll(async () => {
    app = Fastify();
    registerMetricsRoute(app, sink);
    await app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = app.server.address() as AddressInfo;
    // Observations before the first scrape: a link expected to herald 1 % of attempts.
    sink.linkExpectedSuccess("link-ab", 0.01);
    sink.linkAttempts("link-ab", 1000, 10);
    sink.memoryOccupancy("bob", 2, 8);
    prom = await startPrometheus(`127.0.0.1:${port}`);
  }, 30_000);

  afterAll(async () => {
    if (prom) {
      await stop(prom.child);
      rmSync(prom.dir, { recursive: true, force: true });
    }
    await app?.close();
  }, 15_000);

  it("scrapes the metrics with their canonical labels", async () => {
    const p = prom!;
    await until(`qnet_link_attempts_total = 1000 in Prometheus\n${p.log()}`, 15_000, () =>
      queryEquals(p.url, 'qnet_link_attempts_total{link_id="link-ab"}', 1000),
    );
    const [[labels]] = await query(p.url, 'qnet_link_attempts_total{link_id="link-ab"}');
    expect(labels).toMatchObject({ __name__: "qnet_link_attempts_total", link_id: "link-ab", job: "qnet" });
    expect(await query(p.url, 'qnet_memory_qubits_occupied{node_id="bob"}')).toEqual([
      [expect.objectContaining({ node_id: "bob" }), 2],
    ]);
    const [[, up]] = await query(p.url, 'up{job="qnet"}');
    expect(up).toBe(1);
  });

  it("follows new observations, and evaluates qnet's rules on them into a burn-rate alert", async () => {
    const p = prom!;
    // Half the expected yield from now on: 2000 attempts, 10 pairs where 20 were expected.
    sink.linkAttempts("link-ab", 2000, 10);
    await until("qnet_link_attempts_total = 3000", 15_000, () =>
      queryEquals(p.url, 'qnet_link_attempts_total{link_id="link-ab"}', 3000),
    );
    // The success ratio over the window is the ratio of the counters' increases since the first
    // scrape (1000 attempts, 10 pairs): 10 / 2000. Both rates share one scrape schedule, so
    // Prometheus' extrapolation cancels in the ratio.
    const ratio = await until("the recorded success ratio", 15_000, async () => {
      const r = await query(p.url, 'link_id:qnet_link_success:ratio_rate5m{link_id="link-ab"}');
      return r.length === 1 && Math.abs(r[0][1] - 0.005) < 1e-12 ? r[0][1] : undefined;
    });
    expect(ratio).toBeCloseTo(0.005, 12);
    // Shortfall 50 %: above the ticket threshold (6 × 0.05) and below the page's (14.4 × 0.05).
    const alerts = await until("QnetLinkSuccessBudgetBurn to fire", 15_000, async () => {
      const res = await fetch(`${p.url}/api/v1/alerts`);
      const body = (await res.json()) as {
        data: { alerts: { labels: Record<string, string>; state: string }[] };
      };
      const mine = body.data.alerts.filter((a) => a.labels.alertname === "QnetLinkSuccessBudgetBurn");
      return mine.some((a) => a.state === "firing") ? mine : undefined;
    });
    expect(alerts.map((a) => [a.labels.link_id, a.labels.severity, a.state])).toEqual([
      ["link-ab", "ticket", "firing"],
    ]);
  });

  it("evaluates every rule of rules.yml without error", async () => {
    const p = prom!;
    type Rule = { name: string; health: string; lastError?: string };
    // Until every rule has been evaluated once (its health is "unknown" before), then all must be "ok".
    const rules = await until("every rule evaluated", 15_000, async () => {
      const res = await fetch(`${p.url}/api/v1/rules`);
      const body = (await res.json()) as { data: { groups: { rules: Rule[] }[] } };
      const all = body.data.groups.flatMap((g) => g.rules);
      return all.every((r) => r.health !== "unknown") ? all : undefined;
    });
    expect(rules.length).toBe(37);
    expect(
      rules.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.health} ${r.lastError}`),
    ).toEqual([]);
  });
});

describe.skipIf(!havePrometheus)("a real Prometheus scraping `qnet serve`", () => {
  let serve: RunningServe;
  let prom: PrometheusProcess | undefined;
  const dir = join(tmpdir(), `qnet-serve-scrape-${process.pid}-${Date.now()}`);

  beforeAll(async () => {
    ({ running: serve } = await runServeCommand({
      port: "0",
      metricsPort: "0",
      kmsPort: "0",
      dir,
      stepMs: "20",
      seed: "1",
      logLevel: "silent",
    }));
    prom = await startPrometheus(new URL(serve.metricsUrl!).host);
  }, 60_000);

  afterAll(async () => {
    if (prom) {
      await stop(prom.child);
      rmSync(prom.dir, { recursive: true, force: true });
    }
    await serve?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 15_000);

  it("sees a job's outcome, its path setup round trips and the key pools", async () => {
    const p = prom!;
    const api = `${serve.apiUrl}/api/v1`;
    const res = await fetch(`${api}/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        kind: "entanglement",
        src: "campus-a",
        dst: "campus-b",
        pairs: 5,
        tenant: "lab",
      }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const job = await until("the job to finish", 20_000, async () => {
      const j = (await (await fetch(`${api}/jobs/${id}`)).json()) as { state: string; path: string[] };
      return j.state === "succeeded" ? j : undefined;
    });
    await until(`qnet_jobs_total for the job in Prometheus\n${p.log()}`, 20_000, () =>
      queryEquals(p.url, 'qnet_jobs_total{tenant="lab",kind="entanglement",outcome="succeeded"}', 1),
    );
    // One control round trip per node of the job's path (M4).
    const rtts = await query(p.url, "qnet_control_rtt_seconds_count");
    expect(rtts.map(([l]) => l.node_id).sort()).toEqual([...job.path].sort());
    for (const [, n] of rtts) expect(n).toBe(1);
    // The key service's pools, per KME, pool and direction.
    const pools = await until("key pools in Prometheus", 20_000, async () => {
      const r = await query(p.url, "qnet_kms_pool_bits > 0");
      return r.length > 0 ? r : undefined;
    });
    for (const [labels] of pools) expect(Object.keys(serve.kmsUrls!)).toContain(labels.kme_id);
    // The live twin's heralds on every running link.
    const running = serve
      .twin!.linkStatus()
      .filter((l) => l.running)
      .map((l) => l.id);
    const attempts = await until("link attempts of every running link", 20_000, async () => {
      const r = await query(p.url, "qnet_link_attempts_total > 0");
      return running.every((id) => r.some(([l]) => l.link_id === id)) ? r : undefined;
    });
    expect(attempts.length).toBeGreaterThanOrEqual(running.length);
    // Every link up, and the job counted in its state.
    const up = await query(p.url, "qnet_link_up");
    expect(up.map(([l]) => l.link_id).sort()).toEqual(serve.orchestrator.estimator.linkIds().sort());
    for (const [, v] of up) expect(v).toBe(1);
    // The scheduler's reservations per link (M8), 0 once the job is done.
    const reserved = await query(p.url, "qnet_link_reserved_ratio");
    expect(reserved.map(([l]) => l.link_id).sort()).toEqual(serve.orchestrator.estimator.linkIds().sort());
    await until("qnet_jobs for the succeeded job", 20_000, () =>
      queryEquals(p.url, 'qnet_jobs{tenant="lab",state="succeeded"}', 1),
    );
  }, 60_000);
});

// Without the binary, one skipped test says what to install (and the suite above is skipped).
if (!havePrometheus)
  describe("a real Prometheus scraping GET /metrics", () => {
    it.skip("skipped: the prometheus binary was not found (install the Debian package `prometheus`)", () => {});
  });
