import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { runServeCommand } from "../src/cli/serve.js";
import { runCli } from "./support/cli.js";

/** A log destination that keeps every JSON line written to it. */
function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) if (line.trim() !== "") lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET over mutual TLS with an SAE's certificate from the key service's development PKI. */
function mtlsGet(url: string, pki: string, sae: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        ca: readFileSync(join(pki, "ca.pem")),
        cert: readFileSync(join(pki, `sae-${sae}.pem`)),
        key: readFileSync(join(pki, `sae-${sae}-key.pem`)),
      },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("qnet serve", () => {
  it("takes a job over HTTP, runs it on the twin and reports it done, with metrics", async () => {
    const dir = join(tmpdir(), `qnet-serve-${process.pid}-${Date.now()}`);
    const { running, report } = await runServeCommand({
      port: "0",
      metricsPort: "0",
      dir,
      stepMs: "20",
      seed: "1",
      logLevel: "silent",
    });
    try {
      expect(report).toContain("job API     http://127.0.0.1:");
      const api = `${running.apiUrl}/api/v1`;
      const res = await fetch(`${api}/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          kind: "entanglement",
          src: "campus-a",
          dst: "hospital",
          pairs: 20,
          min_fidelity: 0.6,
        }),
      });
      const created = (await res.json()) as { id: string; state: string };
      expect(res.status, JSON.stringify(created)).toBe(201);
      let job = created;
      for (let i = 0; i < 200 && !["succeeded", "failed", "expired"].includes(job.state); i++) {
        await new Promise((r) => setTimeout(r, 50));
        job = (await (await fetch(`${api}/jobs/${created.id}`)).json()) as typeof job;
      }
      expect(job.state).toBe("succeeded");
      const metrics = await (await fetch(running.metricsUrl!)).text();
      expect(metrics).toMatch(
        /qnet_jobs_total\{tenant="default",kind="entanglement",outcome="succeeded"\} 1/,
      );
      expect((await fetch(`${api}/openapi.json`)).status).toBe(200);
    } finally {
      await running.close();
    }
  }, 60_000);

  it("brings up one KME per site beside the orchestrator and logs jobs and links as JSON lines", async () => {
    const dir = join(tmpdir(), `qnet-serve-kms-${process.pid}-${Date.now()}`);
    const logs = logCapture();
    const { running, report } = await runServeCommand(
      { port: "0", metricsPort: "off", kmsPort: "0", dir, stepMs: "20", seed: "1" },
      logs.stream,
    );
    try {
      // metro.yaml: four end sites and the trusted exchange each get a KME.
      const kmes = ["campus-a", "campus-b", "hospital", "datacentre", "exchange"];
      expect(Object.keys(running.kmsUrls ?? {}).sort()).toEqual([...kmes].sort());
      for (const id of kmes) expect(report).toContain(`${id}  ${running.kmsUrls![id]}`);
      expect(report).toContain(`dashboard   ${running.apiUrl}/`);
      // A KME answers an SAE over mutual TLS with the certificates made in the data directory.
      const status = await mtlsGet(
        `${running.kmsUrls!.hospital}/api/v1/keys/app-campus-a/status`,
        join(dir, "kms", "pki"),
        "app-hospital",
      );
      expect(status.status, JSON.stringify(status.body)).toBe(200);
      expect(status.body).toMatchObject({ source_KME_ID: "hospital", master_SAE_ID: "app-hospital" });
      // The links API carries the key pooled on each QKD link once the pools are filled.
      const qkdLinks = running.kms!.suppliers.map((x) => x.pool).sort();
      const pooled = await waitFor("every QKD link's pool on the links API", async () => {
        const { links } = (await (await fetch(`${running.apiUrl}/api/v1/links`)).json()) as {
          links: { link_id: string; key_pool_bits?: number }[];
        };
        const filled = new Set(links.filter((l) => (l.key_pool_bits ?? 0) > 0).map((l) => l.link_id));
        return qkdLinks.every((id) => filled.has(id)) ? links : undefined;
      });
      // Exactly the QKD links of the key service carry a pool figure, and only they.
      expect(
        pooled
          .filter((l) => l.key_pool_bits !== undefined)
          .map((l) => l.link_id)
          .sort(),
      ).toEqual(qkdLinks);

      const api = `${running.apiUrl}/api/v1`;
      const res = await fetch(`${api}/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ kind: "entanglement", src: "campus-a", dst: "campus-b", pairs: 5 }),
      });
      const { id } = (await res.json()) as { id: string };
      await waitFor("the job's success in the logs", async () =>
        logs.lines.find((l) => l.job_id === id && l.state === "succeeded"),
      );
      const jobLines = logs.lines.filter((l) => l.job_id === id);
      expect(jobLines.map((l) => l.state)).toEqual([
        "queued",
        "admitted",
        "reserved",
        "running",
        "succeeded",
      ]);
      for (const l of jobLines) {
        expect(l).toMatchObject({ service: "qnet", kind: "entanglement", tenant: "default" });
        expect(typeof l.time).toBe("string");
      }
      // The live twin runs every link in real time and feeds the orchestrator's estimates.
      const twin = running.twin!;
      await waitFor("heralds on every running link", async () =>
        twin.linkStatus().every((l) => !l.running || l.successes > 0) ? true : undefined,
      );
      for (const l of twin.linkStatus().filter((x) => x.running))
        expect(running.orchestrator.estimator.estimate(l.id).observedAttempts).toBeGreaterThan(0);
      expect((await fetch(`${api}/links/core-north-exchange/down`, { method: "POST" })).status).toBe(200);
      // Down in the twin too: no success after the current herald in flight.
      const down = () => twin.linkStatus().find((l) => l.id === "core-north-exchange")!;
      expect(down().up).toBe(false);
      const successesAtDown = down().successes;
      const attemptsAtDown = down().attempts;
      const simAtDown = twin.nowNs;
      await waitFor("the twin to advance 300 ms", async () =>
        twin.nowNs > simAtDown + 3e8 ? true : undefined,
      );
      // Only heralds whose attempts began before the cut can still arrive: at most one per memory pair
      // of the link, whose ends split their qubits evenly between their links.
      const topology = running.orchestrator.topology;
      const share = (node: string) =>
        Math.floor(
          topology.nodes.find((n) => n.id === node)!.memory.qubits /
            topology.links.filter((l) => l.a === node || l.b === node).length,
        );
      expect(down().successes - successesAtDown).toBeLessThanOrEqual(
        Math.min(share("core-north"), share("exchange")),
      );
      // It keeps attempting while down, as in a scheduled outage.
      expect(down().attempts).toBeGreaterThan(attemptsAtDown);
      expect(logs.lines.find((l) => l.link_id === "core-north-exchange" && l.up === false)).toMatchObject({
        level: 40,
        msg: "link down",
      });
      // Key material never reaches the logs.
      expect(JSON.stringify(logs.lines)).not.toMatch(/"key"\s*:/);
    } finally {
      await running.close();
    }
  }, 120_000);

  it("offers every flag docs/running.md lists, and refuses a bad one with exit code 2", async () => {
    const help = await runCli("serve", "--help");
    expect(help.code).toBe(0);
    const docs = readFileSync(new URL("../docs/running.md", import.meta.url), "utf8");
    const flags = [...docs.matchAll(/^\| `(--[a-z-]+)/gm)].map((m) => m[1]);
    expect(flags.length).toBeGreaterThanOrEqual(11);
    for (const flag of flags) expect(help.out, flag).toContain(flag);
    const bad = await runCli("serve", "--twin-scale", "fast", "--port", "0", "--dir", "memory");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--twin-scale: expected simulated seconds per wall second");
  });

  it("rejects bad flags and a missing topology", async () => {
    await expect(
      runServeCommand({ port: "x", metricsPort: "off", dir: "memory", stepMs: "200", seed: "1" }),
    ).rejects.toThrow(/--port: expected a TCP port/);
    await expect(
      runServeCommand({
        topology: "/nonexistent.yaml",
        port: "0",
        metricsPort: "off",
        dir: "memory",
        stepMs: "200",
        seed: "1",
      }),
    ).rejects.toThrow(/cannot read topology file/);
    const base = { port: "0", metricsPort: "off", dir: "memory", stepMs: "200", seed: "1" };
    await expect(runServeCommand({ ...base, kmsPort: "99999" })).rejects.toThrow(
      /--kms-port: expected a TCP port/,
    );
    await expect(runServeCommand({ ...base, logLevel: "loud" })).rejects.toThrow(
      "--log-level: expected one of debug, info, warn, error, silent, got 'loud'",
    );
    await expect(runServeCommand({ ...base, twinScale: "0" })).rejects.toThrow(
      "--twin-scale: expected simulated seconds per wall second, e.g. 1 or 0.1, or off, got '0'",
    );
    await expect(runServeCommand({ ...base, probeRate: "-5" })).rejects.toThrow(
      "--probe-rate: expected pairs per second per link, or 0 for no limit, got '-5'",
    );
    await expect(runServeCommand({ ...base, controller: "nowhere" })).rejects.toThrow(
      /--controller: 'nowhere' is not a node of .*metro.yaml; choose one of campus-a/,
    );
  });
});
