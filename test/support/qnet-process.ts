import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { join } from "node:path";

/** A `qnet` command running as a child process, with what it wrote so far. */
export interface QnetProcess {
  child: ChildProcess;
  out: string;
  err: string;
}

const ROOT = join(import.meta.dirname, "..", "..");

/**
 * Compiles the CLI from the source as it is now into `dist-check/<name>` (a directory of its own, so
 * as not to race other tests that compile) and returns the path of its `main.js`.
 */
export function compileCli(name: string): string {
  const out = join(ROOT, "dist-check", name);
  execFileSync(
    process.execPath,
    [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json", "--outDir", out],
    { cwd: ROOT, stdio: "ignore" },
  );
  return join(out, "src", "cli", "main.js");
}

/** Starts `qnet ARGS` from a compiled `main.js` and resolves once it has printed its banner. */
export function startQnet(main: string, args: string[]): Promise<QnetProcess> {
  const child = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { main } from ${JSON.stringify(main)}; process.exitCode = await main(["node", "qnet", ...process.argv.slice(1)]);`,
      "--",
      ...args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const proc: QnetProcess = { child, out: "", err: "" };
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d) => {
      proc.err += d;
    });
    child.stdout!.on("data", (d) => {
      proc.out += d;
      if (proc.out.includes("Stop with Ctrl-C.")) resolve(proc);
    });
    child.once("exit", (code) =>
      reject(new Error(`qnet ${args[0]} exited (${code}) before it was ready: ${proc.err.slice(-2000)}`)),
    );
  });
}

/** Sends SIGTERM (SIGKILL after 15 s) and resolves with the exit code. */
export function stopQnet(p: QnetProcess): Promise<number | null> {
  return new Promise((resolve) => {
    p.child.removeAllListeners("exit");
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve(p.child.exitCode);
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 15_000);
    p.child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    p.child.kill("SIGTERM");
  });
}
