import { spawnSync } from "node:child_process";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, describe, expect, it } from "vitest";
import {
  FIDELITY_BUCKETS,
  LATENCY_BUCKETS_S,
  PrometheusSink,
  RTT_BUCKETS_S,
  registerMetricsRoute,
  STORAGE_BUCKETS_S,
} from "../../src/server/prometheus.js";
import { type ObservationSink, RecordingSink } from "../../src/telemetry/observations.js";

// The exposition is checked against the Prometheus text format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/) and, when the Debian package
// `prometheus` is installed, linted by `promtool check metrics`; the rules file is checked and unit-tested
// by promtool (ops/prometheus/rules.test.yml).

const ROOT = join(import.meta.dirname, "..", "..");
const PROMTOOL_MISSING = "skipped: promtool not found (install the Debian package `prometheus`)";

/** Whether `promtool` runs. */
function havePromtool(): boolean {
  const r = spawnSync("promtool", ["--version"], { stdio: "ignore" });
  return r.error === undefined && r.status === 0;
}
const promtool = havePromtool();
/** `it` when promtool is installed, else `it.skip` with a title that says what to install. */
function itWithPromtool(title: string, fn: () => void | Promise<void>): void {
  if (promtool) it(title, fn);
  else it.skip(`${title} (${PROMTOOL_MISSING})`, fn);
}

/** Every metric of the sink: name, type, and the M-number (docs/observability.md) it serves. */
const METRICS: [name: string, type: "counter" | "gauge" | "histogram"][] = [
  ["qnet_link_attempts_total", "counter"],
  ["qnet_link_successes_total", "counter"],
  ["qnet_link_expected_success_ratio", "gauge"],
  ["qnet_link_pair_fidelity", "histogram"],
  ["qnet_pairs_delivered_total", "counter"],
  ["qnet_delivered_pair_fidelity", "histogram"],
  ["qnet_delivery_latency_seconds", "histogram"],
  ["qnet_memory_qubits_occupied", "gauge"],
  ["qnet_memory_qubits", "gauge"],
  ["qnet_memory_storage_seconds", "histogram"],
  ["qnet_control_rtt_seconds", "histogram"],
  ["qnet_qkd_sifted_bits_total", "counter"],
  ["qnet_qkd_disclosed_bits_total", "counter"],
  ["qnet_qkd_secret_key_bits_total", "counter"],
  ["qnet_qkd_blocks_total", "counter"],
  ["qnet_qkd_expected_secret_key_rate_bits_per_second", "gauge"],
  ["qnet_kms_pool_bits", "gauge"],
  ["qnet_kms_keys_served_total", "counter"],
  ["qnet_kms_key_bits_served_total", "counter"],
  ["qnet_jobs_total", "counter"],
  ["qnet_calibration_drift_ratio", "gauge"],
  ["qnet_link_up", "gauge"],
  ["qnet_link_down_events_total", "counter"],
  ["qnet_jobs", "gauge"],
  ["qnet_link_reserved_ratio", "gauge"],
  ["qnet_memory_qubits_reserved", "gauge"],
];

/** A small network's worth of observations, at least one of each kind. */
function feed(sink: ObservationSink): void {
  sink.linkExpectedSuccess("link-ab", 0.004);
  sink.linkAttempts("link-ab", 1000, 3);
  sink.linkAttempts("link-ab", 500, 2);
  sink.linkAttempts("link-bc", 200, 0);
  sink.pairFidelity("link-ab", 0.97);
  sink.pairFidelity("link-ab", 0.88);
  sink.pairDelivered({ requestId: "req-1", srcNodeId: "alice", dstNodeId: "carol" }, 0.91, 0.004);
  sink.pairDelivered({ requestId: "req-1", srcNodeId: "alice", dstNodeId: "carol" }, 0.85, 0.02);
  sink.memoryOccupancy("bob", 3, 8);
  sink.memoryOccupancy("bob", 5, 8);
  sink.memoryStorageTime("bob", 0.0003);
  sink.controlRtt("bob", 0.0012);
  sink.qkdExpectedKeyRate("qkd-ab", 5000);
  sink.qkdBlock("qkd-ab", {
    status: "delivered",
    siftedBits: 10000,
    disclosedBits: 1200,
    secretKeyBits: 4000,
  });
  sink.qkdBlock("qkd-ab", {
    status: "discarded",
    reason: "verification-failed",
    siftedBits: 10000,
    disclosedBits: 1300,
    secretKeyBits: 0,
  });
  sink.keyPool("kme-a", "qkd-ab", "local", 65536);
  sink.keyPool("kme-a", "qkd-ab", "peer", 32768);
  sink.keysServed("kme-a", "sae-1", 2, 512);
  sink.jobFinished("bank", "qkd", "succeeded");
  sink.jobFinished("bank", "qkd", "succeeded");
  sink.jobFinished("lab", "teleport", "expired");
  sink.calibrationDrift("link-ab", "polarization", -0.02);
  sink.linkState("link-ab", true, "operator");
  sink.linkState("link-bc", false, "detected");
  sink.linkState("link-bc", true, "detected");
  sink.linkState("link-bc", false, "operator");
  sink.jobsInState("bank", "running", 3);
  sink.jobsInState("bank", "running", 2);
  sink.linkReserved("link-ab", 0.5);
  sink.memoryReserved("bob", 3);
}

/** The value of the one sample line with exactly this name and label set (in exposition order). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("PrometheusSink exposition", () => {
  const sink = new PrometheusSink();
  feed(sink);
  let text = "";
  const ready = sink.metricsText().then((t) => {
    text = t;
  });

  it("has HELP and TYPE for every metric, and no metric without a test", async () => {
    await ready;
    for (const [name, type] of METRICS) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, "m"));
      expect(text).toContain(`# TYPE ${name} ${type}\n`);
    }
    const declared = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(declared.sort()).toEqual(METRICS.map(([n]) => n).sort());
  });

  it("adds up counts and keeps the latest level, labelled by canonical IDs", async () => {
    await ready;
    expect(sample(text, 'qnet_link_attempts_total{link_id="link-ab"}')).toBe(1500);
    expect(sample(text, 'qnet_link_successes_total{link_id="link-ab"}')).toBe(5);
    // A link whose attempts all failed has a successes series at 0, so its ratio is 0, not undefined.
    expect(sample(text, 'qnet_link_successes_total{link_id="link-bc"}')).toBe(0);
    expect(sample(text, 'qnet_link_expected_success_ratio{link_id="link-ab"}')).toBe(0.004);
    expect(sample(text, 'qnet_pairs_delivered_total{src_node_id="alice",dst_node_id="carol"}')).toBe(2);
    expect(sample(text, 'qnet_memory_qubits_occupied{node_id="bob"}')).toBe(5);
    expect(sample(text, 'qnet_memory_qubits{node_id="bob"}')).toBe(8);
    expect(sample(text, 'qnet_link_up{link_id="link-ab"}')).toBe(1);
    expect(sample(text, 'qnet_link_up{link_id="link-bc"}')).toBe(0);
    expect(sample(text, 'qnet_link_down_events_total{link_id="link-bc",cause="detected"}')).toBe(1);
    expect(sample(text, 'qnet_link_down_events_total{link_id="link-bc",cause="operator"}')).toBe(1);
    expect(sample(text, 'qnet_link_down_events_total{link_id="link-ab",cause="operator"}')).toBeUndefined();
    expect(sample(text, 'qnet_jobs{tenant="bank",state="running"}')).toBe(2);
    expect(sample(text, 'qnet_link_reserved_ratio{link_id="link-ab"}')).toBe(0.5);
    expect(sample(text, 'qnet_memory_qubits_reserved{node_id="bob"}')).toBe(3);
    expect(sample(text, 'qnet_qkd_sifted_bits_total{link_id="qkd-ab"}')).toBe(20000);
    expect(sample(text, 'qnet_qkd_disclosed_bits_total{link_id="qkd-ab"}')).toBe(2500);
    expect(sample(text, 'qnet_qkd_secret_key_bits_total{link_id="qkd-ab"}')).toBe(4000);
    expect(sample(text, 'qnet_qkd_blocks_total{link_id="qkd-ab",status="delivered",reason="none"}')).toBe(1);
    expect(
      sample(text, 'qnet_qkd_blocks_total{link_id="qkd-ab",status="discarded",reason="verification-failed"}'),
    ).toBe(1);
    expect(sample(text, 'qnet_qkd_expected_secret_key_rate_bits_per_second{link_id="qkd-ab"}')).toBe(5000);
    expect(sample(text, 'qnet_kms_pool_bits{kme_id="kme-a",pool="qkd-ab",direction="local"}')).toBe(65536);
    expect(sample(text, 'qnet_kms_pool_bits{kme_id="kme-a",pool="qkd-ab",direction="peer"}')).toBe(32768);
    expect(sample(text, 'qnet_kms_keys_served_total{kme_id="kme-a",sae_id="sae-1"}')).toBe(2);
    expect(sample(text, 'qnet_kms_key_bits_served_total{kme_id="kme-a",sae_id="sae-1"}')).toBe(512);
    expect(sample(text, 'qnet_jobs_total{tenant="bank",kind="qkd",outcome="succeeded"}')).toBe(2);
    expect(sample(text, 'qnet_jobs_total{tenant="lab",kind="teleport",outcome="expired"}')).toBe(1);
    expect(sample(text, 'qnet_calibration_drift_ratio{link_id="link-ab",parameter="polarization"}')).toBe(
      -0.02,
    );
  });

  it("exports histograms with cumulative buckets suited to their range, sum and count", async () => {
    await ready;
    const buckets = (name: string, labels: string) =>
      [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)",${labels}\\} (\\S+)$`, "gm"))].map(
        (m) => [m[1], Number(m[2])] as const,
      );
    // prom-client puts `le` first in bucket lines.
    const link = buckets("qnet_link_pair_fidelity", 'link_id="link-ab"');
    expect(link.map(([le]) => le)).toEqual([...FIDELITY_BUCKETS.map(String), "+Inf"]);
    expect(link.find(([le]) => le === "0.85")?.[1]).toBe(0);
    expect(link.find(([le]) => le === "0.9")?.[1]).toBe(1); // 0.88
    expect(link.find(([le]) => le === "0.97")?.[1]).toBe(2); // and 0.97 (le is ≤)
    expect(link.at(-1)?.[1]).toBe(2);
    expect(sample(text, 'qnet_link_pair_fidelity_count{link_id="link-ab"}')).toBe(2);
    expect(sample(text, 'qnet_link_pair_fidelity_sum{link_id="link-ab"}')).toBeCloseTo(1.85, 12);

    const delivered = buckets("qnet_delivered_pair_fidelity", 'src_node_id="alice",dst_node_id="carol"');
    expect(delivered.find(([le]) => le === "0.9")?.[1]).toBe(1); // 0.85 is at or below the SLO threshold
    expect(FIDELITY_BUCKETS).toContain(0.9); // the threshold of rules.yml is a bucket bound

    const latency = buckets("qnet_delivery_latency_seconds", 'src_node_id="alice",dst_node_id="carol"');
    expect(latency.map(([le]) => le)).toEqual([...LATENCY_BUCKETS_S.map(String), "+Inf"]);
    expect(latency[0][0]).toBe("0.0001");
    expect(latency.find(([le]) => le === "0.005")?.[1]).toBe(1);
    expect(buckets("qnet_memory_storage_seconds", 'node_id="bob"').map(([le]) => le)).toEqual([
      ...STORAGE_BUCKETS_S.map(String),
      "+Inf",
    ]);
    expect(buckets("qnet_control_rtt_seconds", 'node_id="bob"').map(([le]) => le)).toEqual([
      ...RTT_BUCKETS_S.map(String),
      "+Inf",
    ]);
  });

  itWithPromtool("passes `promtool check metrics` (Prometheus' own format and naming lint)", async () => {
    await ready;
    const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    // The one lint finding allowed: key sizes are counted in bits, not bytes. QKD states key rates in
    // bit/s and sifted or disclosed bit counts are not multiples of 8, so bytes would be fractional.
    // Exit status 3 means lint findings only (a format error would be 1).
    const findings = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() !== "");
    for (const f of findings) expect(f).toMatch(/^qnet_\w*bits\w* use base unit "bytes" instead of "bits"$/);
    expect(findings.length).toBe(6);
    expect([0, 3]).toContain(r.status);
  });
});

describe("PrometheusSink", () => {
  it("replays a recording into the same exposition as live calls", async () => {
    const recorded = new RecordingSink();
    feed(recorded);
    const live = new PrometheusSink();
    feed(live);
    const replayed = new PrometheusSink();
    recorded.replay(replayed);
    expect(await replayed.metricsText()).toBe(await live.metricsText());
  });

  it("keeps its own registry: two sinks do not share series", async () => {
    const a = new PrometheusSink();
    const b = new PrometheusSink();
    a.linkAttempts("link-ab", 10, 1);
    expect(await b.metricsText()).not.toContain('link_id="link-ab"');
  });

  it("refuses observations that would corrupt a metric, naming it", () => {
    const sink = new PrometheusSink();
    const route = { requestId: "r", srcNodeId: "a", dstNodeId: "b" };
    expect(() => sink.linkAttempts("l", -1, 0)).toThrow(/qnet_link_attempts_total: -1/);
    expect(() => sink.linkAttempts("l", 10, 11)).toThrow(/11 successes reported for 10 attempts/);
    expect(() => sink.pairFidelity("l", 1.5)).toThrow(/qnet_link_pair_fidelity: 1.5 is not in \[0, 1\]/);
    expect(() => sink.pairDelivered(route, Number.NaN, 1)).toThrow(RangeError);
    expect(() => sink.pairDelivered(route, 0.9, Number.POSITIVE_INFINITY)).toThrow(/latency/);
    expect(() => sink.memoryStorageTime("n", -0.1)).toThrow(RangeError);
    expect(() => sink.memoryOccupancy("n", 9, 8)).toThrow(/9 qubits occupied of a capacity of 8/);
    expect(() =>
      sink.qkdBlock("q", { status: "delivered", siftedBits: 1, disclosedBits: -1, secretKeyBits: 0 }),
    ).toThrow(/qnet_qkd_disclosed_bits_total/);
    expect(() => sink.calibrationDrift("l", "phase", Number.NaN)).toThrow(RangeError);
    // A refused observation changes nothing: the counts stay unpublished rather than half-applied.
    return sink.metricsText().then((t) => {
      expect(t).not.toMatch(/^qnet_link_attempts_total\{/m);
      expect(t).not.toMatch(/^qnet_pairs_delivered_total\{/m);
    });
  });
});

describe("GET /metrics", () => {
  const app = Fastify();
  const sink = new PrometheusSink();
  registerMetricsRoute(app, sink);
  afterAll(() => app.close());

  it("serves the exposition with the Prometheus text format's content type", async () => {
    feed(sink);
    const res = await app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(res.body).toBe(await sink.metricsText());
    expect(res.body).toContain('qnet_link_attempts_total{link_id="link-ab"} 1500');
  });

  it("serves at another path when asked", async () => {
    const other = Fastify();
    registerMetricsRoute(other, sink, { path: "/internal/metrics" });
    const res = await other.inject({ method: "GET", url: "/internal/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain("# TYPE qnet_jobs_total counter");
    await other.close();
  });

  it("brings gauges up to date before each scrape, and still answers when that fails", async () => {
    const fresh = new PrometheusSink();
    let scrapes = 0;
    let fail = false;
    const app2 = Fastify({ logger: false });
    registerMetricsRoute(app2, fresh, {
      beforeScrape: async () => {
        if (fail) throw new Error("store unavailable");
        fresh.jobsInState("bank", "queued", ++scrapes);
      },
    });
    expect((await app2.inject({ method: "GET", url: "/metrics" })).body).toContain(
      'qnet_jobs{tenant="bank",state="queued"} 1',
    );
    expect((await app2.inject({ method: "GET", url: "/metrics" })).body).toContain(
      'qnet_jobs{tenant="bank",state="queued"} 2',
    );
    fail = true;
    const res = await app2.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('qnet_jobs{tenant="bank",state="queued"} 2');
    await app2.close();
  });
});

describe("ops/prometheus", () => {
  const dir = join(ROOT, "ops", "prometheus");
  const run = (args: string[]) => {
    const r = spawnSync("promtool", args, { cwd: dir, encoding: "utf8", timeout: 60_000 });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  };

  itWithPromtool("rules.yml passes `promtool check rules`", () => {
    const r = run(["check", "rules", "rules.yml"]);
    expect(r.output).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });

  itWithPromtool("rules.yml passes its unit tests: burn-rate alerts fire on a high error ratio only", () => {
    const r = run(["test", "rules", "rules.test.yml"]);
    expect(r.output).toContain("SUCCESS");
    expect(r.status).toBe(0);
  });

  itWithPromtool("the example prometheus.yml passes `promtool check config`", () => {
    const r = run(["check", "config", "prometheus.yml"]);
    expect(r.output).toContain("is valid prometheus config file syntax");
    expect(r.status).toBe(0);
  });
});
