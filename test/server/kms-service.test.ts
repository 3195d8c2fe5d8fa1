import { readFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runKmsCommand } from "../../src/cli/kms.js";
import { runKmsAudit } from "../../src/cli/kms-audit.js";

/** One HTTPS request as an SAE of the dev network, with its client certificate. */
function call(
  dir: string,
  sae: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const pki = join(dir, "pki");
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: body === undefined ? "GET" : "POST",
        ca: readFileSync(join(pki, "ca.pem")),
        cert: readFileSync(join(pki, `sae-${sae}.pem`)),
        key: readFileSync(join(pki, `sae-${sae}-key.pem`)),
        headers: body === undefined ? {} : { "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null }));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

type Keys = { keys: { key_ID: string; key: string }[] };

describe("qnet kms: the built-in three-site service over mutual TLS", () => {
  it("serves keys from simulated QKD links: master at kme-a, the same key to the slave at kme-b, once", async () => {
    const dir = join(tmpdir(), `qnet-kms-${process.pid}-${Date.now()}`);
    const { running, report } = await runKmsCommand({
      dir,
      port: "0",
      store: "memory",
      poolBits: "4096",
      metricsPort: "0",
    });
    try {
      expect(report).toContain("kme-a  https://127.0.0.1:");
      const a = running.urls["kme-a"];
      const b = running.urls["kme-b"];
      const status = await call(dir, "app-a", `${a}/api/v1/keys/app-b/status`);
      expect(status.status).toBe(200);
      expect(status.json).toMatchObject({ source_KME_ID: "kme-a", target_KME_ID: "kme-b", key_size: 256 });
      expect((status.json as { stored_key_count: number }).stored_key_count).toBeGreaterThanOrEqual(16);
      const got = await call(dir, "app-a", `${a}/api/v1/keys/app-b/enc_keys`, { number: 3, size: 512 });
      expect(got.status).toBe(200);
      const keys = (got.json as Keys).keys;
      expect(keys).toHaveLength(3);
      for (const k of keys) expect(Buffer.from(k.key, "base64")).toHaveLength(64);
      const ids = { key_IDs: keys.map((k) => ({ key_ID: k.key_ID })) };
      // Only the named slave may take them, and only once.
      expect(
        (await call(dir, "app-c", `${running.urls["kme-c"]}/api/v1/keys/app-a/dec_keys`, ids)).status,
      ).toBe(400);
      const back = await call(dir, "app-b", `${b}/api/v1/keys/app-a/dec_keys`, ids);
      expect(back.status).toBe(200);
      expect((back.json as Keys).keys.map((k) => k.key)).toEqual(keys.map((k) => k.key));
      const again = await call(dir, "app-b", `${b}/api/v1/keys/app-a/dec_keys`, ids);
      expect(again.status).toBe(400);
      expect(again.json).toMatchObject({ message: "one or more keys specified are not found on KME" });
      // An SAE of another site is not this KME's client.
      expect((await call(dir, "app-c", `${a}/api/v1/keys/app-b/status`)).status).toBe(401);
      // kme-a and kme-c share no link: the key is relayed through the trusted node kme-b.
      const relayed = await call(dir, "app-a", `${a}/api/v1/keys/app-c/enc_keys`, { number: 2 });
      expect(relayed.status, JSON.stringify(relayed.json)).toBe(200);
      const far = (relayed.json as Keys).keys;
      const atC = await call(dir, "app-c", `${running.urls["kme-c"]}/api/v1/keys/app-a/dec_keys`, {
        key_IDs: far.map((k) => ({ key_ID: k.key_ID })),
      });
      expect(atC.status).toBe(200);
      expect((atC.json as Keys).keys.map((k) => k.key)).toEqual(far.map((k) => k.key));
      // Pool levels, keys served and QKD blocks are Prometheus metrics, labelled by KME, SAE and link.
      expect(running.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      await running.fillNow();
      const metrics = await (await fetch(running.metricsUrl!)).text();
      expect(metrics).toMatch(/qnet_kms_pool_bits\{kme_id="kme-a",pool="a-b",direction="local"\} \d+/);
      expect(metrics).toMatch(/qnet_kms_keys_served_total\{kme_id="kme-a",sae_id="app-a"\} 5/);
      expect(metrics).toMatch(/qnet_qkd_secret_key_bits_total\{link_id="a-b"\} \d+/);
    } finally {
      await running.close();
    }
  }, 60_000);

  it("keeps reserved keys across a restart with SQLite stores", async () => {
    const dir = join(tmpdir(), `qnet-kms-${process.pid}-${Date.now()}-sqlite`);
    const first = await runKmsCommand({ dir, port: "0", store: "sqlite", poolBits: "4096" });
    let keys: Keys["keys"];
    try {
      const got = await call(dir, "app-b", `${first.running.urls["kme-b"]}/api/v1/keys/app-a/enc_keys`, {
        number: 2,
      });
      expect(got.status).toBe(200);
      keys = (got.json as Keys).keys;
    } finally {
      await first.running.close();
    }
    const second = await runKmsCommand({ dir, port: "0", store: "sqlite", poolBits: "4096" });
    try {
      const back = await call(dir, "app-a", `${second.running.urls["kme-a"]}/api/v1/keys/app-b/dec_keys`, {
        key_IDs: keys.map((k) => ({ key_ID: k.key_ID })),
      });
      expect(back.status).toBe(200);
      expect((back.json as Keys).keys.map((k) => k.key)).toEqual(keys.map((k) => k.key));
      // The audit log, read from the store while the service runs, names who got which key and when.
      const audit = JSON.parse(
        await runKmsAudit({ dir, kme: "kme-a", keyId: keys[0].key_ID, limit: "10", format: "json" }),
      ) as { events: { kind: string; actor: string; keyIds: string[] }[]; pools: unknown[] };
      expect(audit.events.map((e) => [e.kind, e.actor])).toContainEqual(["delivered", "app-a"]);
      expect(audit.events.every((e) => e.keyIds.includes(keys[0].key_ID))).toBe(true);
      expect(audit.pools.length).toBeGreaterThan(0);
      const table = await runKmsAudit({ dir, kme: "kme-b", limit: "5", format: "table" });
      expect(table).toContain("Audit log of kme-b");
      await expect(runKmsAudit({ dir, kme: "kme-z", limit: "5", format: "table" })).rejects.toThrow(
        /no key store for KME 'kme-z'/,
      );
      await expect(
        runKmsAudit({ dir, kme: "kme-a", kind: "stolen", limit: "5", format: "table" }),
      ).rejects.toThrow(/--kind: expected one of/);
    } finally {
      await second.running.close();
    }
  }, 60_000);

  it("serves a topology file: a KME per end or trusted node, keys between sites relayed through the hub", async () => {
    const dir = join(tmpdir(), `qnet-kms-${process.pid}-${Date.now()}-star`);
    const { running, report } = await runKmsCommand({
      dir,
      port: "0",
      store: "memory",
      poolBits: "2048",
      metricsPort: "off",
      topology: join(import.meta.dirname, "..", "..", "examples", "trusted-star.yaml"),
    });
    try {
      expect(Object.keys(running.urls).sort()).toEqual(["bank-a", "bank-b", "datacentre", "exchange", "hub"]);
      expect(report).toContain("hub  https://127.0.0.1:");
      expect(report).toContain("(trusted node)");
      // bank-a and bank-b share no link: the hub relays.
      const got = await call(dir, "app-bank-a", `${running.urls["bank-a"]}/api/v1/keys/app-bank-b/enc_keys`, {
        number: 1,
      });
      expect(got.status, JSON.stringify(got.json)).toBe(200);
      const keys = (got.json as Keys).keys;
      const back = await call(
        dir,
        "app-bank-b",
        `${running.urls["bank-b"]}/api/v1/keys/app-bank-a/dec_keys`,
        {
          key_IDs: keys.map((k) => ({ key_ID: k.key_ID })),
        },
      );
      expect((back.json as Keys).keys.map((k) => k.key)).toEqual(keys.map((k) => k.key));
    } finally {
      await running.close();
    }
    await expect(
      runKmsCommand({
        dir,
        port: "0",
        store: "memory",
        poolBits: "2048",
        metricsPort: "off",
        topology: join(import.meta.dirname, "..", "..", "examples", "repeater-chain.yaml"),
      }),
    ).rejects.toThrow(
      /a key service needs at least two end nodes and one physical link between end or trusted nodes/,
    );
  }, 60_000);

  it("rejects bad flags", async () => {
    await expect(
      runKmsCommand({ dir: "/tmp/x", port: "99999", store: "memory", poolBits: "4096" }),
    ).rejects.toThrow(/--port: expected a TCP port/);
    await expect(
      runKmsCommand({ dir: "/tmp/x", port: "0", store: "postgres", poolBits: "4096" }),
    ).rejects.toThrow(/--store postgres needs --postgres-url/);
  });
});
