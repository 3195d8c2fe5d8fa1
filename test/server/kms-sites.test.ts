import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCertsCommand } from "../../src/cli/certs.js";
import { runKmsCommand } from "../../src/cli/kms.js";
import { SimulatedQkdKeySource } from "../../src/kms/key-source.js";
import type { KeyStore } from "../../src/kms/key-store.js";
import type { SaeRegistration } from "../../src/kms/kme.js";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import { HttpsKmePeers } from "../../src/server/kme-peer-client.js";
import { type RunningKms, startKmsNetwork } from "../../src/server/kms-service.js";
import { AesGcmKeyCipher } from "../../src/store/cipher.js";
import { SqliteKeyStore } from "../../src/store/sqlite-key-store.js";
import { compileCli, type QnetProcess, startQnet, stopQnet } from "../support/qnet-process.js";

/**
 * One KME per site, each site in its own instance of the key service (its own servers, store and copy
 * of each of its links' QKD sources), the other KMEs reached by URL:
 *
 *   kme-a ── a-b ── kme-b ── b-c ── kme-c
 *
 * kme-a leads the supply of a-b (the smaller KME ID) and kme-b follows; kme-b leads b-c.
 */
const KMES = ["kme-a", "kme-b", "kme-c"];
const SAES: SaeRegistration[] = [
  { saeId: "app-a", kmeId: "kme-a", policy: "qkd-only" },
  { saeId: "app-b", kmeId: "kme-b", policy: "qkd-only" },
  { saeId: "app-c", kmeId: "kme-c", policy: "qkd-only" },
];
const LINKS = [
  { linkId: "a-b", a: "kme-a", b: "kme-b", lengthKm: 10 },
  { linkId: "b-c", a: "kme-b", b: "kme-c", lengthKm: 15 },
];
const TARGET_BITS = 2048;

type Keys = { keys: { key_ID: string; key: string }[] };

/** `n` TCP ports free right now on 127.0.0.1 (taken together, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Two consecutive free ports (the CLI gives its second site the next port). */
async function freePair(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const [p] = await freePorts(1);
    if (p >= 65535) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(p + 1, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error("no two consecutive free ports");
}

async function makePki(dir: string): Promise<string> {
  const pki = join(dir, "pki");
  await runCertsCommand({ out: pki, kme: KMES, sae: SAES.map((s) => s.saeId) });
  return pki;
}

/** An HTTPS call with a certificate of the development PKI (`kme-<id>` or `sae-<id>`). */
function call(
  pki: string,
  who: string,
  url: string,
  body?: unknown,
  contentType = "application/json",
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: body === undefined ? "GET" : "POST",
        ca: readFileSync(join(pki, "ca.pem")),
        cert: readFileSync(join(pki, `${who}.pem`)),
        key: readFileSync(join(pki, `${who}-key.pem`)),
        headers: body === undefined ? {} : { "content-type": contentType },
        agent: false,
      },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => {
          let json: unknown = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body));
  });
}

/** One site's instance: only `ids` run here, every other KME is a peer on its pre-allocated port. */
function startSites(
  pki: string,
  ids: string[],
  ports: Record<string, number>,
  stores: Record<string, KeyStore>,
  log?: (entry: Record<string, unknown>) => void,
): Promise<RunningKms> {
  return startKmsNetwork({
    sites: ids.map((kmeId) => ({
      kmeId,
      port: ports[kmeId],
      store: stores[kmeId],
      tls: {
        certFile: join(pki, `kme-${kmeId}.pem`),
        keyFile: join(pki, `kme-${kmeId}-key.pem`),
        caFile: join(pki, "ca.pem"),
      },
    })),
    peers: KMES.filter((k) => !ids.includes(k)).map((kmeId) => ({
      kmeId,
      url: `https://127.0.0.1:${ports[kmeId]}`,
    })),
    saes: SAES,
    links: LINKS.map((l) => ({
      linkId: l.linkId,
      a: l.a,
      b: l.b,
      unitBits: 64,
      targetBits: TARGET_BITS,
      // Each instance runs its own copy of the link: same link, same seed, the same blocks.
      source: new SimulatedQkdKeySource(l.linkId, {
        link: { lengthKm: l.lengthKm },
        parameters: { blockBits: 200_000 },
        seed: l.linkId,
      }),
    })),
    // The peers may not be up yet: fill in the background (and here on demand).
    waitForFill: false,
    refillIntervalMs: 3_600_000,
    ...(log ? { log } : {}),
  });
}

/** Runs a fill that starts after any in flight (which may have started before the peers were up). */
async function fill(r: RunningKms): Promise<void> {
  await r.fillNow();
  await r.fillNow();
}

/** Block IDs a store recorded as supplied for a pool, oldest first. */
async function suppliedBlocks(store: KeyStore, pool: string): Promise<string[]> {
  const events = await store.queryAudit({ kind: "supplied", pool, limit: 100_000 });
  return events.map((e) => /^block (\S+),/.exec(e.detail ?? "")?.[1] ?? "?").reverse();
}

async function level(store: KeyStore, pool: string) {
  const [l] = await store.poolLevels(pool);
  return l;
}

async function encDec(
  pki: string,
  urls: Record<string, string>,
  master: string,
  slave: string,
  body: unknown,
): Promise<Keys["keys"]> {
  const kme = (sae: string) => SAES.find((s) => s.saeId === sae)!.kmeId;
  const got = await call(pki, `sae-${master}`, `${urls[kme(master)]}/api/v1/keys/${slave}/enc_keys`, body);
  expect(got.status, JSON.stringify(got.json)).toBe(200);
  const keys = (got.json as Keys).keys;
  const back = await call(pki, `sae-${slave}`, `${urls[kme(slave)]}/api/v1/keys/${master}/dec_keys`, {
    key_IDs: keys.map((k) => ({ key_ID: k.key_ID })),
  });
  expect(back.status, JSON.stringify(back.json)).toBe(200);
  expect((back.json as Keys).keys.map((k) => k.key)).toEqual(keys.map((k) => k.key));
  return keys;
}

describe("sites in separate instances: supply across processes over /kmapi/v1/supply", () => {
  let pki: string;
  let ports: Record<string, number>;
  const stores: Record<string, KeyStore> = {};
  const running: Record<string, RunningKms> = {};
  const logs: Record<string, unknown>[] = [];
  let urls: Record<string, string>;

  beforeAll(async () => {
    pki = await makePki(mkdtempSync(join(tmpdir(), "qnet-kms-sites-")));
    const p = await freePorts(3);
    ports = Object.fromEntries(KMES.map((k, i) => [k, p[i]]));
    for (const k of KMES) stores[k] = new MemoryKeyStore();
    for (const k of KMES) running[k] = await startSites(pki, [k], ports, stores, (e) => logs.push(e));
    urls = Object.fromEntries(KMES.map((k) => [k, running[k].urls[k]]));
    await fill(running["kme-a"]);
    await fill(running["kme-b"]);
  }, 120_000);

  afterAll(async () => {
    for (const r of Object.values(running)) await r.close();
  });

  it("knows every KME's URL and which links it leads or follows", () => {
    expect(running["kme-a"].urls).toEqual({
      "kme-a": urls["kme-a"],
      "kme-b": `https://127.0.0.1:${ports["kme-b"]}`,
      "kme-c": `https://127.0.0.1:${ports["kme-c"]}`,
    });
    expect(running["kme-a"].suppliers.map((s) => s.pool)).toEqual(["a-b"]);
    expect(running["kme-a"].followers).toEqual([]);
    expect(running["kme-b"].suppliers.map((s) => s.pool)).toEqual(["b-c"]);
    expect(running["kme-b"].followers.map((f) => [f.pool, f.leader])).toEqual([["a-b", "kme-a"]]);
    expect(running["kme-c"].suppliers).toEqual([]);
    expect(running["kme-c"].followers.map((f) => [f.pool, f.leader])).toEqual([["b-c", "kme-b"]]);
  });

  it("fills both ends of each link with the same blocks, in the same order, mirrored directions", async () => {
    for (const [pool, leader, follower] of [
      ["a-b", "kme-a", "kme-b"],
      ["b-c", "kme-b", "kme-c"],
    ]) {
      const atLeader = await suppliedBlocks(stores[leader], pool);
      expect(atLeader.length).toBeGreaterThan(0);
      expect(await suppliedBlocks(stores[follower], pool)).toEqual(atLeader);
      expect(new Set(atLeader).size).toBe(atLeader.length);
      const l = (await level(stores[leader], pool))!;
      const f = (await level(stores[follower], pool))!;
      expect(l.local.bits).toBeGreaterThanOrEqual(TARGET_BITS);
      expect(l.peer.bits).toBeGreaterThanOrEqual(TARGET_BITS);
      // What one end allocates, the other holds for it: the same units (IDs checked by the keys below).
      expect(f.local).toEqual(l.peer);
      expect(f.peer).toEqual(l.local);
    }
    expect(logs.filter((e) => e.event === "supply-out-of-step")).toEqual([]);
  });

  it("serves keys across the instances: a master at one site, the same key to the slave at the next", async () => {
    // Units of the leader's direction (kme-a's) and of the follower's (kme-b's) of a-b.
    await encDec(pki, urls, "app-a", "app-b", { number: 2, size: 256 });
    await encDec(pki, urls, "app-b", "app-a", { number: 2, size: 128 });
    // b-c, led by kme-b: kme-c (the follower) as master.
    await encDec(pki, urls, "app-c", "app-b", { number: 1 });
  });

  it("relays a key through the middle site, which runs in its own instance", async () => {
    const keys = await encDec(pki, urls, "app-a", "app-c", { number: 2, size: 256 });
    for (const k of keys) expect(Buffer.from(k.key, "base64")).toHaveLength(32);
  });

  it("accepts a supply notice only from the link's leader, for its own pool (401)", async () => {
    const supply = (kmeId: string) => `${urls[kmeId]}/kmapi/v1/supply`;
    const notice = { pool: "a-b", blockId: "a-b:0" };
    // kme-c leads no link that kme-b follows; an SAE is no KME; kme-a leads a-b, not b-c.
    expect((await call(pki, "kme-kme-c", supply("kme-b"), notice)).status).toBe(401);
    expect((await call(pki, "sae-app-a", supply("kme-b"), notice)).status).toBe(401);
    expect((await call(pki, "kme-kme-a", supply("kme-c"), { pool: "b-c", blockId: "b-c:0" })).status).toBe(
      401,
    );
    expect((await call(pki, "kme-kme-a", supply("kme-b"), { pool: "b-c", blockId: "b-c:0" })).status).toBe(
      401,
    );
    const refused = await stores["kme-b"].queryAudit({ kind: "refused", actor: "kme-c" });
    expect(refused[0]?.detail).toMatch(/kmapi POST \/kmapi\/v1\/supply/);
  });

  it("rejects malformed supply notices (400) and adds nothing", async () => {
    const url = `${urls["kme-b"]}/kmapi/v1/supply`;
    const before = await level(stores["kme-b"], "a-b");
    for (const body of [
      {},
      { pool: "a-b" },
      { pool: "a-b", blockId: 3 },
      { pool: "a-b", blockId: "a-b:x" },
      { pool: "a-b", blockId: "a-b:1", extra: true },
      { pool: "", blockId: "a-b:1" },
    ]) {
      const r = await call(pki, "kme-kme-a", url, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json).toMatchObject({ message: expect.any(String) });
    }
    expect((await call(pki, "kme-kme-a", url, "{not json")).status).toBe(400);
    expect((await call(pki, "kme-kme-a", url, "pool=a-b", "text/plain")).status).toBe(400);
    expect(await level(stores["kme-b"], "a-b")).toEqual(before);
  });

  it("takes a retried notice of the block it holds as done, and one it cannot match as out of step (409)", async () => {
    const blocks = await suppliedBlocks(stores["kme-b"], "a-b");
    const last = blocks.at(-1)!;
    const before = await level(stores["kme-b"], "a-b");
    const client = new HttpsKmePeers({
      kmeId: "kme-a",
      peers: { "kme-b": { url: urls["kme-b"] } },
      cert: readFileSync(join(pki, "kme-kme-a.pem"), "utf8"),
      key: readFileSync(join(pki, "kme-kme-a-key.pem"), "utf8"),
      ca: readFileSync(join(pki, "ca.pem"), "utf8"),
    });
    try {
      for (let i = 0; i < 2; i++)
        expect(await client.supply("kme-b", { pool: "a-b", blockId: last })).toEqual({
          added: false,
          lastBlockId: last,
        });
      expect(await level(stores["kme-b"], "a-b")).toEqual(before);
      expect(await suppliedBlocks(stores["kme-b"], "a-b")).toEqual(blocks);
      // A block this end's source has not delivered where the leader says: out of step, nothing added.
      await expect(client.supply("kme-b", { pool: "a-b", blockId: "a-b:999" })).rejects.toThrow(
        /out of step: this KME's source delivered block a-b:\d+, which the leader never supplied/,
      );
      expect(logs).toContainEqual(
        expect.objectContaining({ level: "error", event: "supply-out-of-step", pool: "a-b", kme: "kme-b" }),
      );
      expect(await suppliedBlocks(stores["kme-b"], "a-b")).toEqual(blocks);
      // The block read stays for the leader's real next notice: supply goes on in step.
      while (((await level(stores["kme-a"], "a-b"))?.local.bits ?? 0) >= TARGET_BITS)
        await encDec(pki, urls, "app-a", "app-b", { size: 512 });
      await fill(running["kme-a"]);
      const after = await suppliedBlocks(stores["kme-a"], "a-b");
      expect(after.length).toBeGreaterThan(blocks.length);
      expect(await suppliedBlocks(stores["kme-b"], "a-b")).toEqual(after);
    } finally {
      client.close();
    }
  });
});

describe("restarts: each end resynchronises from its own store", () => {
  it("a follower and then a leader restarted on their SQLite stores catch up, and keys keep flowing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qnet-kms-sites-restart-"));
    const pki = await makePki(dir);
    const cipher = new AesGcmKeyCipher(new Uint8Array(randomBytes(32)));
    const open = (k: string) => SqliteKeyStore.open(join(dir, `${k}.db`), cipher);
    const p = await freePorts(3);
    const ports = Object.fromEntries(KMES.map((k, i) => [k, p[i]]));
    const logs: Record<string, unknown>[] = [];
    const stores: Record<string, KeyStore> = {};
    const running: Record<string, RunningKms> = {};
    const urls = Object.fromEntries(KMES.map((k) => [k, `https://127.0.0.1:${ports[k]}`]));
    const restart = async (k: string) => {
      await running[k].close();
      stores[k] = open(k);
      running[k] = await startSites(pki, [k], ports, stores, (e) => logs.push(e));
    };
    /** Takes keys from a-b at kme-a (left for app-b) until kme-a's own direction is below the target. */
    const drain = async () => {
      const reserved: Keys["keys"] = [];
      while (((await level(stores["kme-a"], "a-b"))?.local.bits ?? 0) >= TARGET_BITS) {
        const got = await call(pki, "sae-app-a", `${urls["kme-a"]}/api/v1/keys/app-b/enc_keys`, {
          size: 512,
        });
        expect(got.status, JSON.stringify(got.json)).toBe(200);
        reserved.push(...(got.json as Keys).keys);
      }
      return reserved;
    };
    try {
      for (const k of KMES) {
        stores[k] = open(k);
        running[k] = await startSites(pki, [k], ports, stores, (e) => logs.push(e));
      }
      await fill(running["kme-a"]);
      await fill(running["kme-b"]);
      const first = await suppliedBlocks(stores["kme-a"], "a-b");
      expect(await suppliedBlocks(stores["kme-b"], "a-b")).toEqual(first);
      const waiting = await drain();

      // The follower restarts: its source starts again from the seed and skips the blocks its store holds.
      await restart("kme-b");
      await fill(running["kme-a"]);
      const second = await suppliedBlocks(stores["kme-a"], "a-b");
      expect(second.length).toBeGreaterThan(first.length);
      expect(second.slice(0, first.length)).toEqual(first);
      expect(await suppliedBlocks(stores["kme-b"], "a-b")).toEqual(second);
      expect(new Set(second).size).toBe(second.length);
      expect(running["kme-b"].followers[0].supplied.regenerated).toBe(first.length);
      expect(logs).toContainEqual(
        expect.objectContaining({ event: "supply-resumed", kme: "kme-b", lastBlockId: first.at(-1) }),
      );
      // Keys reserved before the restart are still there; new ones flow both ways.
      const back = await call(pki, "sae-app-b", `${urls["kme-b"]}/api/v1/keys/app-a/dec_keys`, {
        key_IDs: waiting.map((k) => ({ key_ID: k.key_ID })),
      });
      expect(back.status).toBe(200);
      expect((back.json as Keys).keys.map((k) => k.key)).toEqual(waiting.map((k) => k.key));
      await encDec(pki, urls, "app-a", "app-b", { number: 2 });
      await encDec(pki, urls, "app-b", "app-a", { number: 2 });

      // The leader restarts too.
      await drain();
      await restart("kme-a");
      await fill(running["kme-a"]);
      const third = await suppliedBlocks(stores["kme-a"], "a-b");
      expect(third.length).toBeGreaterThan(second.length);
      expect(third.slice(0, second.length)).toEqual(second);
      expect(await suppliedBlocks(stores["kme-b"], "a-b")).toEqual(third);
      expect(new Set(third).size).toBe(third.length);
      await encDec(pki, urls, "app-a", "app-b", { number: 1 });
      await encDec(pki, urls, "app-a", "app-c", { number: 1 });
      expect(logs.filter((e) => e.event === "supply-out-of-step")).toEqual([]);
      // A leader whose store lost blocks (restored from an old backup) is told so, loudly.
      const client = new HttpsKmePeers({
        kmeId: "kme-a",
        peers: { "kme-b": { url: urls["kme-b"] } },
        cert: readFileSync(join(pki, "kme-kme-a.pem"), "utf8"),
        key: readFileSync(join(pki, "kme-kme-a-key.pem"), "utf8"),
        ca: readFileSync(join(pki, "ca.pem"), "utf8"),
      });
      try {
        await expect(client.supply("kme-b", { pool: "a-b", blockId: third[0] })).rejects.toThrow(
          /out of step: .*already holds the newer block/,
        );
      } finally {
        client.close();
      }
      expect(await suppliedBlocks(stores["kme-b"], "a-b")).toEqual(third);
    } finally {
      for (const r of Object.values(running)) await r.close();
    }
  }, 120_000);
});

describe("qnet kms --site: sites in separate OS processes", () => {
  let main = "";
  const qnet = (args: string[]) => startQnet(main, args);
  const stop = (p: QnetProcess) => stopQnet(p);

  it("runs kme-a in one process and kme-b, kme-c in another; keys cross and are relayed", async () => {
    main = compileCli("kms-sites");
    const dir = mkdtempSync(join(tmpdir(), "qnet-kms-sites-cli-"));
    // One development CA for every process (here one data directory; on separate machines, copies of it).
    const pki = await makePki(dir);
    const [portA] = await freePorts(1);
    const portB = await freePair();
    const common = ["kms", "--dir", dir, "--store", "sqlite", "--pool-bits", "4096", "--metrics-port", "off"];
    const a = await qnet([
      ...common,
      "--site",
      "kme-a",
      "--port",
      String(portA),
      "--peer",
      `kme-b=https://127.0.0.1:${portB}`,
      "--peer",
      `kme-c=https://127.0.0.1:${portB + 1}`,
    ]);
    let bc: QnetProcess | undefined;
    try {
      expect(a.out).toContain(`kme-a  https://127.0.0.1:${portA}  (SAE app-a)`);
      expect(a.out).toContain(`kme-b  https://127.0.0.1:${portB}  (SAE app-b, runs elsewhere)`);
      bc = await qnet([
        ...common,
        "--site",
        "kme-b",
        "--site",
        "kme-c",
        "--port",
        String(portB),
        "--peer",
        `kme-a=https://127.0.0.1:${portA}`,
      ]);
      const urls = { "kme-a": `https://127.0.0.1:${portA}`, "kme-b": `https://127.0.0.1:${portB}` };
      // kme-a retries the supply of a-b every second until kme-b answers.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const s = await call(pki, "sae-app-a", `${urls["kme-a"]}/api/v1/keys/app-b/status`);
        if ((s.json as { stored_key_count?: number }).stored_key_count! > 0) break;
        if (Date.now() > deadline) throw new Error(`a-b never filled: ${a.err.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const allUrls = { ...urls, "kme-c": `https://127.0.0.1:${portB + 1}` };
      await encDec(pki, allUrls, "app-a", "app-b", { number: 2, size: 256 });
      await encDec(pki, allUrls, "app-b", "app-a", { number: 1 });
      // kme-a to kme-c through kme-b: one hop across the processes, one inside the second.
      await encDec(pki, allUrls, "app-a", "app-c", { number: 1 });
      expect(a.err).not.toMatch(/out-of-step/);
      expect(bc.err).not.toMatch(/out-of-step/);
    } finally {
      if (bc) await stop(bc);
      await stop(a);
    }
  }, 120_000);

  it("says which KMEs lack a --peer, and refuses peers that run here, unknown IDs and bad URLs", async () => {
    const base = { dir: "/tmp/qnet-kms-never", port: "0", store: "memory" as const, poolBits: "4096" };
    await expect(runKmsCommand({ ...base, site: ["kme-b"] })).rejects.toThrow(
      /every KME not run here needs --peer ID=https:\/\/host:port; missing: kme-a, kme-c/,
    );
    await expect(
      runKmsCommand({ ...base, site: ["kme-b"], peer: ["kme-a=https://a.example:8443"] }),
    ).rejects.toThrow(/missing: kme-c$/);
    await expect(
      runKmsCommand({ ...base, site: ["kme-a"], peer: ["kme-a=https://a.example:8443"] }),
    ).rejects.toThrow(/--peer: 'kme-a' runs here/);
    await expect(runKmsCommand({ ...base, site: ["kme-x"] })).rejects.toThrow(
      /--site: no KME 'kme-x' in the network; its KMEs are kme-a, kme-b, kme-c/,
    );
    await expect(
      runKmsCommand({ ...base, site: ["kme-a"], peer: ["kme-z=https://z.example:8443"] }),
    ).rejects.toThrow(/--peer: no KME 'kme-z'/);
    for (const bad of ["kme-b=http://b.example:8443", "kme-b=b.example:8443", "kme-b", "=https://x:1"])
      await expect(runKmsCommand({ ...base, site: ["kme-a"], peer: [bad] })).rejects.toThrow(/--peer/);
    await expect(
      runKmsCommand({ ...base, site: ["kme-a"], peer: ["kme-b=https://u:p@b.example:8443"] }),
    ).rejects.toThrow(/credentials/);
    await expect(runKmsCommand({ ...base, peer: ["kme-b=https://b.example:8443"] })).rejects.toThrow(
      /--peer needs --site/,
    );
    await expect(runKmsCommand({ ...base, site: ["kme-a", "kme-a"] })).rejects.toThrow(/given twice/);
    // Sites in separate processes share one CA: none is made for them.
    const fresh = mkdtempSync(join(tmpdir(), "qnet-kms-sites-noca-"));
    await expect(
      runKmsCommand({
        ...base,
        dir: fresh,
        site: ["kme-a"],
        peer: ["kme-b=https://b.example:8443", "kme-c=https://c.example:8443"],
      }),
    ).rejects.toThrow(/no development CA in .*sites in separate processes must share one/);
  });
});
