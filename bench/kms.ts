import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { runCertsCommand } from "../src/cli/certs.js";
import type { KeyStore } from "../src/kms/key-store.js";
import { Kme, type PeerKmes, type SaeRegistration } from "../src/kms/kme.js";
import { MemoryKeyStore } from "../src/kms/memory-key-store.js";
import { KMS_SERVER_OPTIONS, registerKmsRoutes } from "../src/server/kms-routes.js";
import { mtlsServerOptions, saeIdFromRequest } from "../src/server/tls.js";
import { AesGcmKeyCipher } from "../src/store/cipher.js";
import { SqliteKeyStore } from "../src/store/sqlite-key-store.js";
import { type Bench, type BenchResult, percentile } from "./harness.js";

/**
 * Key requests per second and latency over mutual TLS: one 256-bit key per `enc_keys` request from a
 * master SAE at kme-a (the peer reservation at kme-b happens in process), against a no-op route on the
 * same server, same TLS session reuse, same concurrency, in the same run; with in-memory stores and with
 * the default SQLite stores (durable commits, encrypted at rest). For SQLite it also reports the store
 * writes and the commits (each one fsync) per request, counted over both KMEs' stores: group commit
 * makes the commits fewer than the writes.
 */
async function kmsBench(storeKind: "memory" | "sqlite"): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "qnet-bench-kms-"));
  const pki = join(dir, "pki");
  await runCertsCommand({ out: pki, kme: ["kme-a", "kme-b"], sae: ["app-a", "app-b"] });
  const saes: SaeRegistration[] = [
    { saeId: "app-a", kmeId: "kme-a", policy: "qkd-only" },
    { saeId: "app-b", kmeId: "kme-b", policy: "qkd-only" },
  ];
  const cipher = new AesGcmKeyCipher(randomBytes(32));
  const sqlite =
    storeKind === "memory"
      ? null
      : {
          a: SqliteKeyStore.open(join(dir, "a.db"), cipher),
          b: SqliteKeyStore.open(join(dir, "b.db"), cipher),
        };
  const stores: { a: KeyStore; b: KeyStore } = sqlite ?? { a: new MemoryKeyStore(), b: new MemoryKeyStore() };
  /** Writes and commits (one fsync each) of both SQLite stores so far. */
  const writeStats = () => ({
    writes: (sqlite?.a.stats.writes ?? 0) + (sqlite?.b.stats.writes ?? 0),
    commits: (sqlite?.a.stats.commits ?? 0) + (sqlite?.b.stats.commits ?? 0),
  });
  const kmes = new Map<string, Kme>();
  const peers = (from: string): PeerKmes => ({ reserve: (to, r) => kmes.get(to)!.reserveForPeer(from, r) });
  const make = (id: string, peer: string, store: KeyStore) =>
    new Kme({
      kmeId: id,
      store,
      saes,
      pools: [{ pool: "a-b", peerKmeId: peer, unitBits: 256 }],
      limits: { maxKeyCount: 10_000_000 },
      peers: peers(id),
      clock: () => Date.now(),
      random: (n) => new Uint8Array(randomBytes(n)),
    });
  kmes.set("kme-a", make("kme-a", "kme-b", stores.a));
  kmes.set("kme-b", make("kme-b", "kme-a", stores.b));
  const requests = 4000;
  const units = Array.from({ length: requests + 1000 }, (_, i) => ({
    unitId: `u${i}`,
    material: randomBytes(32),
  }));
  await stores.a.addUnits("a-b", "local", units, Date.now());
  await stores.b.addUnits(
    "a-b",
    "peer",
    units.map((u) => ({ unitId: u.unitId, material: Uint8Array.from(u.material) })),
    Date.now(),
  );

  const app = Fastify({
    https: mtlsServerOptions({
      certFile: join(pki, "kme-kme-a.pem"),
      keyFile: join(pki, "kme-kme-a-key.pem"),
      caFile: join(pki, "ca.pem"),
    }),
    logger: false,
    ...KMS_SERVER_OPTIONS,
  });
  registerKmsRoutes(app, { kme: kmes.get("kme-a")!, identify: (r) => saeIdFromRequest(r, "cn") });
  app.post("/noop", async () => ({ ok: true }));
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const base = `https://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  const agent = new Agent({
    ca: readFileSync(join(pki, "ca.pem")),
    cert: readFileSync(join(pki, "sae-app-a.pem")),
    key: readFileSync(join(pki, "sae-app-a-key.pem")),
    keepAlive: true,
    maxSockets: 16,
  });
  const once = (path: string, body: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = request(
        `${base}${path}`,
        { method: "POST", agent, headers: { "content-type": "application/json" } },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) reject(new Error(`${path}: HTTP ${res.statusCode}`));
            else resolve(performance.now() - t0);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const load = async (path: string, body: string, n: number) => {
    const latencies: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < n) {
          next++;
          latencies.push(await once(path, body));
        }
      }),
    );
    const wall = (performance.now() - t0) / 1e3;
    latencies.sort((x, y) => x - y);
    return { rate: n / wall, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
  };
  try {
    await load("/noop", "{}", 500); // warm-up: TLS sessions, JIT
    const noop = await load("/noop", "{}", requests);
    const before = writeStats();
    const keys = await load(
      "/api/v1/keys/app-b/enc_keys",
      JSON.stringify({ number: 1, size: 256 }),
      requests,
    );
    const after = writeStats();
    const k = `kms.${storeKind}`;
    // Both KMEs' stores: writes (store calls that write) and commits (fsyncs) per enc_keys request.
    const perRequest: BenchResult[] = sqlite
      ? [
          {
            name: `${k}.writes_per_request`,
            value: (after.writes - before.writes) / requests,
            unit: "writes",
          },
          {
            name: `${k}.commits_per_request`,
            value: (after.commits - before.commits) / requests,
            unit: "commits",
          },
        ]
      : [];
    return [
      { name: `${k}.enc_keys_per_s`, value: keys.rate, unit: "req/s" },
      { name: `${k}.enc_keys_p50`, value: keys.p50, unit: "ms" },
      { name: `${k}.enc_keys_p99`, value: keys.p99, unit: "ms" },
      { name: `${k}.noop_per_s`, value: noop.rate, unit: "req/s" },
      { name: `${k}.noop_p50`, value: noop.p50, unit: "ms" },
      { name: `${k}.noop_p99`, value: noop.p99, unit: "ms" },
      { name: `${k}.enc_keys_vs_noop_throughput`, value: keys.rate / noop.rate, unit: "ratio" },
      ...perRequest,
    ];
  } finally {
    agent.destroy();
    await app.close();
    await stores.a.close();
    await stores.b.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benches: Bench[] = [
  { name: "kms.memory", run: () => kmsBench("memory") },
  { name: "kms.sqlite", run: () => kmsBench("sqlite") },
];
