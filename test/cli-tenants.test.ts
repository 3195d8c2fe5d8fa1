import { describe, expect, it } from "vitest";
import { runServeCommand } from "../src/cli/serve.js";
import { loadTenants, parseTenants } from "../src/cli/tenants.js";

describe("the tenants file", () => {
  it("reads weights and rate limits into the scheduler's settings", () => {
    expect(loadTenants(new URL("../examples/serve/tenants.yaml", import.meta.url).pathname)).toEqual({
      defaultWeight: 1,
      weights: { research: 3, operations: 1, guest: 0.5 },
      rateLimits: { guest: { ratePerS: 0.2, burst: 2 } },
    });
    expect(parseTenants('{"tenants": {"a": {}}}', "t.json")).toEqual({ weights: {}, rateLimits: {} });
  });

  it("reports every problem at once, naming the field", () => {
    const text = [
      "default_weight: 0",
      "tenant: {}",
      "tenants:",
      "  'bad name': { weight: 1 }",
      "  a: { weight: -2, rate: 3 }",
      "  b: { rate_per_s: 1 }",
      "  c: { rate_per_s: 1, burst: 0.5 }",
      "  d: 7",
    ].join("\n");
    expect(() => parseTenants(text, "t.yaml")).toThrow(
      [
        "t.yaml: 8 problem(s):",
        "  tenant: unknown field; expected one of default_weight, tenants",
        "  default_weight: expected a number > 0, got 0",
        "  tenants.bad name: a tenant name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        "  tenants.a.rate: unknown field; expected one of weight, rate_per_s, burst",
        "  tenants.a.weight: expected a number > 0, got -2",
        "  tenants.b: a rate limit needs both rate_per_s and burst",
        "  tenants.c.burst: expected a number ≥ 1, got 0.5",
        "  tenants.d: expected a mapping with weight, rate_per_s and burst (each optional)",
      ].join("\n"),
    );
    expect(() => parseTenants("tenants: [", "t.yaml")).toThrow(/^t.yaml: not YAML or JSON/);
    expect(() => loadTenants("/nonexistent/tenants.yaml")).toThrow(
      "cannot read tenants file '/nonexistent/tenants.yaml': ENOENT",
    );
  });

  it("rate-limits a tenant of a running qnet serve", async () => {
    const { running } = await runServeCommand({
      port: "0",
      metricsPort: "off",
      dir: "memory",
      stepMs: "20",
      seed: "1",
      logLevel: "silent",
      twinScale: "off",
      tenants: new URL("../examples/serve/tenants.yaml", import.meta.url).pathname,
    });
    try {
      const submit = async () => {
        const res = await fetch(`${running.apiUrl}/api/v1/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-qnet-tenant": "guest" },
          body: JSON.stringify({ kind: "entanglement", src: "campus-a", dst: "campus-b", pairs: 2 }),
        });
        expect(res.status).toBe(201);
        return ((await res.json()) as { id: string }).id;
      };
      // A burst of 2, then one job per 5 s: the third waits for the bucket to refill.
      const ids = [await submit(), await submit(), await submit()];
      type Job = { state: string; history: { state: string; at: string }[] };
      const get = async (id: string) =>
        (await (await fetch(`${running.apiUrl}/api/v1/jobs/${id}`)).json()) as Job;
      const until = Date.now() + 20_000;
      let jobs = await Promise.all(ids.map(get));
      while (jobs[2].state !== "succeeded" && Date.now() < until) {
        if (jobs[0].state === "succeeded" && jobs[1].state === "succeeded")
          expect(jobs[2].state).toBe("admitted");
        await new Promise((r) => setTimeout(r, 100));
        jobs = await Promise.all(ids.map(get));
      }
      expect(jobs.map((j) => j.state)).toEqual(["succeeded", "succeeded", "succeeded"]);
      const started = (j: Job) => Date.parse(j.history.find((h) => h.state === "running")!.at);
      // The bucket (burst 2, 0.2 per s) gives the third job its token 5 s after the first two took theirs.
      expect(started(jobs[2]) - started(jobs[0])).toBeGreaterThanOrEqual(5000 - 1);
      expect(started(jobs[1]) - started(jobs[0])).toBeLessThan(1000);
    } finally {
      await running.close();
    }
  });
});
