import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runServeCommand } from "../src/cli/serve.js";

describe("qnet serve", () => {
  it("takes a job over HTTP, runs it on the twin and reports it done, with metrics", async () => {
    const dir = join(tmpdir(), `qnet-serve-${process.pid}-${Date.now()}`);
    const { running, report } = await runServeCommand({
      port: "0",
      metricsPort: "0",
      dir,
      stepMs: "20",
      seed: "1",
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
  });
});
