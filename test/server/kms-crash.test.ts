import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Rng } from "../../src/sim/rng.js";

// Reliability of the key service (issue: no key is ever delivered to two requesters, and no delivered
// key is lost). A real `qnet kms` process with SQLite stores is killed with SIGKILL at random moments
// while clients ask for keys concurrently, then restarted on the same data directory. Afterwards every
// key a master received must still be obtainable by its slave with the same material, exactly once, and
// no key ID or material may have been handed out twice.

const ROOT = join(import.meta.dirname, "..", "..");

interface Server {
  child: ChildProcess;
  urls: Record<string, string>;
}

function start(dir: string): Promise<Server> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "bin", "qnet.js"),
      "kms",
      "--dir",
      dir,
      "--port",
      "0",
      "--metrics-port",
      "0",
      "--store",
      "sqlite",
      "--pool-bits",
      "32768",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr!.on("data", (d) => {
      err += d;
    });
    child.stdout!.on("data", (d) => {
      out += d;
      const urls: Record<string, string> = {};
      for (const m of out.matchAll(/(kme-[abc]) {2}(https:\/\/\S+)/g)) urls[m[1]] = m[2];
      if (Object.keys(urls).length === 3) resolve({ child, urls });
    });
    child.on("exit", (code) =>
      reject(new Error(`qnet kms exited (${code}) before it was ready: ${err.slice(-2000)}`)),
    );
  });
}

function kill(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.child.removeAllListeners("exit");
    s.child.on("exit", () => resolve());
    s.child.kill("SIGKILL");
  });
}

function client(dir: string, sae: string): Agent {
  const pki = join(dir, "pki");
  return new Agent({
    ca: readFileSync(join(pki, "ca.pem")),
    cert: readFileSync(join(pki, `sae-${sae}.pem`)),
    key: readFileSync(join(pki, `sae-${sae}-key.pem`)),
    keepAlive: false,
  });
}

function post(agent: Agent, url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json" }, timeout: 5000 },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
          } catch (e) {
            reject(e);
          }
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

type Keys = { keys: { key_ID: string; key: string }[] };

describe("the key service survives SIGKILL under concurrent load", () => {
  it("never delivers a key twice and never loses a delivered key", async () => {
    // The test runs the compiled CLI, so compile what is there now.
    execFileSync(
      process.execPath,
      [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
      {
        cwd: ROOT,
        stdio: "ignore",
      },
    );
    const dir = join(tmpdir(), `qnet-kms-crash-${process.pid}-${Date.now()}`);
    const rng = new Rng(2026);
    const master = new Map<string, string>(); // key ID → material the master got
    const slave = new Map<string, string>(); // key ID → material the slave got
    // Keys whose slave request was cut off by the kill: the KME may have handed them over in an answer
    // that never arrived, so the slave may or may not be able to take them again.
    const uncertain = new Set<string>();
    let duplicates = 0;
    let server = await start(dir);
    const agentA = client(dir, "app-a");
    const agentB = client(dir, "app-b");

    for (let round = 0; round < 4; round++) {
      const urls = server.urls;
      let stop = false;
      const worker = async () => {
        while (!stop) {
          try {
            const got = await post(agentA, `${urls["kme-a"]}/api/v1/keys/app-b/enc_keys`, {
              number: 1 + rng.int(3),
            });
            if (got.status !== 200) continue;
            const keys = (got.json as Keys).keys;
            for (const k of keys) {
              if (master.has(k.key_ID)) duplicates++;
              master.set(k.key_ID, k.key);
            }
            if (rng.random() < 0.5) {
              for (const k of keys) uncertain.add(k.key_ID);
              const back = await post(agentB, `${urls["kme-b"]}/api/v1/keys/app-a/dec_keys`, {
                key_IDs: keys.map((k) => ({ key_ID: k.key_ID })),
              });
              for (const k of keys) uncertain.delete(k.key_ID);
              if (back.status === 200)
                for (const k of (back.json as Keys).keys) {
                  if (slave.has(k.key_ID)) duplicates++;
                  slave.set(k.key_ID, k.key);
                }
            }
          } catch {
            // The server died under the request: the client may or may not have its key.
          }
        }
      };
      const workers = Array.from({ length: 6 }, worker);
      await new Promise((r) => setTimeout(r, 300 + rng.int(700)));
      await kill(server);
      stop = true;
      await Promise.all(workers);
      server = await start(dir);
    }

    try {
      expect(master.size).toBeGreaterThan(20);
      expect(duplicates).toBe(0);
      // Every key a master received that its slave has not asked for yet is still there for the slave.
      const pending = [...master.keys()].filter((id) => !slave.has(id) && !uncertain.has(id));
      for (let i = 0; i < pending.length; i += 100) {
        const ids = pending.slice(i, i + 100);
        const back = await post(agentB, `${server.urls["kme-b"]}/api/v1/keys/app-a/dec_keys`, {
          key_IDs: ids.map((id) => ({ key_ID: id })),
        });
        expect(back.status, JSON.stringify(back.json)).toBe(200);
        for (const k of (back.json as Keys).keys) slave.set(k.key_ID, k.key);
      }
      // A key whose slave request was cut off is either still there, with the master's material, or was
      // taken by that request (its answer lost with the process): never anything else.
      for (const id of uncertain) {
        const back = await post(agentB, `${server.urls["kme-b"]}/api/v1/keys/app-a/dec_keys`, {
          key_IDs: [{ key_ID: id }],
        });
        if (back.status === 200) slave.set(id, (back.json as Keys).keys[0].key);
        else expect(back.json).toMatchObject({ message: "one or more keys specified are not found on KME" });
      }
      // The slave holds the masters' keys, with the same material, and no material twice.
      for (const [id, key] of master)
        if (!uncertain.has(id) || slave.has(id)) expect(slave.get(id)).toBe(key);
      expect(new Set(master.values()).size).toBe(master.size);
      // And none of them can be taken again.
      const again = await post(agentB, `${server.urls["kme-b"]}/api/v1/keys/app-a/dec_keys`, {
        key_IDs: [{ key_ID: [...master.keys()][0] }],
      });
      expect(again.status).toBe(400);
    } finally {
      await kill(server);
    }
  }, 120_000);
});
