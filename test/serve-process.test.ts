import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compileCli, startQnet, stopQnet } from "./support/qnet-process.js";

// `npm start` runs `qnet serve` as a process: this runs the CLI compiled from the source now, as a
// child process, and checks what an operator sees — the banner, the running services, JSON logs on
// stderr, a clean stop on SIGTERM, and the jobs still there after a restart on the same data.

let main = "";
const serve = (args: string[]) => startQnet(main, ["serve", ...args]);
const stop = stopQnet;

const url = (banner: string, label: string): string => {
  const m = banner.match(new RegExp(`${label}\\s+(http://127\\.0\\.0\\.1:\\d+\\S*)`));
  if (m === null) throw new Error(`no ${label} in the banner:\n${banner}`);
  return m[1];
};

describe("qnet serve as a process", () => {
  const dir = mkdtempSync(join(tmpdir(), "qnet-serve-process-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves, logs JSON lines, stops cleanly on SIGTERM and keeps its jobs across a restart", async () => {
    main = compileCli("serve");
    const args = ["--port", "0", "--metrics-port", "0", "--kms-port", "0", "--dir", dir, "--step-ms", "50"];
    const first = await serve(args);
    const api = url(first.out, "dashboard").replace(/\/$/, "");
    const metrics = url(first.out, "metrics");
    expect(first.out).toMatch(/^qnet serve: metro \(7 nodes, 9 links\), controller at /);
    expect(first.out).toContain("live twin   real time, every link probed at up to 1000 pairs/s");
    const page = await fetch(`${api}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const res = await fetch(`${api}/api/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ kind: "entanglement", src: "campus-a", dst: "campus-b", pairs: 5 }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    let state = "";
    for (let i = 0; i < 200 && state !== "succeeded"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      state = ((await (await fetch(`${api}/api/v1/jobs/${id}`)).json()) as { state: string }).state;
    }
    expect(state).toBe("succeeded");
    expect(await (await fetch(metrics)).text()).toContain("qnet_link_attempts_total{");

    expect(await stop(first)).toBe(0);
    const lines = first.err
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.job_id === id).map((l) => l.state)).toEqual([
      "queued",
      "admitted",
      "reserved",
      "running",
      "succeeded",
    ]);
    expect(lines.at(-1)).toMatchObject({ service: "qnet", msg: "qnet serve stopped" });

    // The same data directory: the job is still there, with its result.
    const second = await serve(args);
    try {
      const api2 = url(second.out, "dashboard").replace(/\/$/, "");
      const job = (await (await fetch(`${api2}/api/v1/jobs/${id}`)).json()) as {
        state: string;
        result: { delivered: number };
      };
      expect(job.state).toBe("succeeded");
      expect(job.result.delivered).toBe(5);
    } finally {
      expect(await stop(second)).toBe(0);
    }
  }, 120_000);

  it("exits with code 2 and a message on a bad flag, before starting anything", async () => {
    await expect(serve(["--port", "99999", "--dir", dir])).rejects.toThrow(
      /exited \(2\) before it was ready: .*--port: expected a TCP port from 0 to 65535, got '99999'/s,
    );
  }, 60_000);
});
