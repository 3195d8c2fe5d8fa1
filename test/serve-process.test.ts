import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// `npm start` runs `qnet serve` as a process: this runs the CLI compiled from the source now, as a
// child process, and checks what an operator sees — the banner, the running services, JSON logs on
// stderr, a clean stop on SIGTERM, and the jobs still there after a restart on the same data.

const ROOT = join(import.meta.dirname, "..");
const OUT = join(ROOT, "dist-check", "serve");
const MAIN = join(OUT, "src", "cli", "main.js");

interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** Starts `qnet serve …` and waits for its banner. */
function serve(args: string[]): Promise<Proc> {
  const child = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { main } from ${JSON.stringify(MAIN)}; process.exitCode = await main(["node", "qnet", ...process.argv.slice(1)]);`,
      "--",
      "serve",
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  const proc: Proc = { child, out: "", err: "" };
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d) => {
      proc.err += d;
    });
    child.stdout!.on("data", (d) => {
      proc.out += d;
      if (proc.out.includes("Stop with Ctrl-C.")) resolve(proc);
    });
    child.once("exit", (code) =>
      reject(new Error(`qnet serve exited (${code}) before it was ready: ${proc.err.slice(-2000)}`)),
    );
  });
}

/** Sends SIGTERM and resolves with the exit code. */
function stop(p: Proc): Promise<number | null> {
  return new Promise((resolve) => {
    p.child.removeAllListeners("exit");
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 15_000);
    p.child.once("exit", (code) => {
      clearTimeout(timer);
      children.delete(p.child);
      resolve(code);
    });
    p.child.kill("SIGTERM");
  });
}

const url = (banner: string, label: string): string => {
  const m = banner.match(new RegExp(`${label}\\s+(http://127\\.0\\.0\\.1:\\d+\\S*)`));
  if (m === null) throw new Error(`no ${label} in the banner:\n${banner}`);
  return m[1];
};

describe("qnet serve as a process", () => {
  const dir = mkdtempSync(join(tmpdir(), "qnet-serve-process-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves, logs JSON lines, stops cleanly on SIGTERM and keeps its jobs across a restart", async () => {
    execFileSync(
      process.execPath,
      [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json", "--outDir", OUT],
      { cwd: ROOT, stdio: "ignore" },
    );
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
