import { X509Certificate } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { type RequestOptions, request } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDevCa,
  type DevCa,
  type IssuedCertificate,
  issueKmeCert,
  issueSaeCert,
  loadX509,
} from "../../src/server/certs.js";
import {
  type MtlsFiles,
  mtlsServerOptions,
  normalizeSerial,
  parseSubjectAltName,
  saeIdFromCertificate,
  saeIdFromRequest,
} from "../../src/server/tls.js";

let ca: DevCa;
let otherCa: DevCa;
let kme: IssuedCertificate;
let saeA: IssuedCertificate;
let saeB: IssuedCertificate;
let stranger: IssuedCertificate; // same SAE ID "A", issued by another CA
let files: MtlsFiles;

beforeAll(async () => {
  ca = await createDevCa({ name: "TLS test CA" });
  otherCa = await createDevCa({ name: "Other CA" });
  kme = await issueKmeCert(ca, { kmeId: "KME1" });
  saeA = await issueSaeCert(ca, { saeId: "A" });
  saeB = await issueSaeCert(ca, { saeId: "B/2" });
  stranger = await issueSaeCert(otherCa, { saeId: "A" });
  const dir = mkdtempSync(join(tmpdir(), "qnet-tls-"));
  files = { certFile: join(dir, "kme.pem"), keyFile: join(dir, "kme-key.pem"), caFile: join(dir, "ca.pem") };
  writeFileSync(files.certFile, kme.certPem);
  writeFileSync(files.keyFile, kme.keyPem, { mode: 0o600 });
  writeFileSync(files.caFile, ca.certPem);
});

/** A self-signed certificate with the given subject and SANs, to exercise odd shapes. */
async function oddCert(subject: { CN: string[] }[], uris: string[]): Promise<string> {
  const x = await loadX509();
  const { webcrypto } = await import("node:crypto");
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(alg, false, ["sign", "verify"]);
  const cert = await x.X509CertificateGenerator.createSelfSigned(
    {
      name: subject,
      keys,
      signingAlgorithm: alg,
      extensions: uris.length
        ? [new x.SubjectAlternativeNameExtension(uris.map((value) => ({ type: "url" as const, value })))]
        : [],
    },
    webcrypto,
  );
  return cert.toString("pem");
}

describe("saeIdFromCertificate", () => {
  it("reads the CN from PEM, DER, an X509Certificate and a legacy peer certificate alike", () => {
    const x = new X509Certificate(saeA.certPem);
    for (const input of [saeA.certPem, x.raw, x, x.toLegacyObject()])
      expect(saeIdFromCertificate(input, "cn")).toBe("A");
  });

  it("reads and percent-decodes the URI SAN, with the default or a configured prefix", async () => {
    expect(saeIdFromCertificate(saeB.certPem, "uri-san")).toBe("B/2");
    expect(saeIdFromCertificate(saeB.certPem, "uri-san", { uriPrefix: "urn:other:" })).toBeNull();
    const custom = await issueSaeCert(ca, { saeId: "C", uriPrefix: "spiffe://qkd.example/sae/" });
    expect(saeIdFromCertificate(custom.certPem, "uri-san", { uriPrefix: "spiffe://qkd.example/sae/" })).toBe(
      "C",
    );
    expect(saeIdFromCertificate(custom.certPem, "uri-san")).toBeNull();
  });

  it("maps the serial number through a table, in any hex spelling", () => {
    const s = saeA.serialNumber;
    const colons = s.toLowerCase().match(/../g)!.join(":");
    expect(saeIdFromCertificate(saeA.certPem, { serialMap: { [colons]: "sae-from-map" } })).toBe(
      "sae-from-map",
    );
    expect(saeIdFromCertificate(saeA.certPem, { serialMap: { [`0x00${s}`]: "m" } })).toBe("m");
    expect(saeIdFromCertificate(saeA.certPem, { serialMap: { [saeB.serialNumber]: "B" } })).toBeNull();
    expect(saeIdFromCertificate(saeA.certPem, { serialMap: { "not hex": "x" } })).toBeNull();
  });

  it("gives null for no certificate, garbage, a missing field, or an ambiguous one", async () => {
    expect(saeIdFromCertificate(null, "cn")).toBeNull();
    expect(saeIdFromCertificate({} as never, "cn")).toBeNull(); // getPeerCertificate() without a client cert
    expect(saeIdFromCertificate("not a certificate", "cn")).toBeNull();
    expect(saeIdFromCertificate(new Uint8Array([1, 2, 3]), "uri-san")).toBeNull();
    expect(saeIdFromCertificate(kme.certPem, "uri-san")).toBeNull(); // DNS/IP SANs only
    expect(saeIdFromCertificate(await oddCert([{ CN: ["A"] }, { CN: ["B"] }], []), "cn")).toBeNull();
    const twoUris = await oddCert([{ CN: ["x"] }], ["urn:qnet:sae:A", "urn:qnet:sae:B"]);
    expect(saeIdFromCertificate(twoUris, "uri-san")).toBeNull();
    const sameTwice = await oddCert([{ CN: ["x"] }], ["urn:qnet:sae:A", "urn:qnet:sae:%41"]);
    expect(saeIdFromCertificate(sameTwice, "uri-san")).toBe("A");
    const badEscape = await oddCert([{ CN: ["x"] }], ["urn:qnet:sae:%zz"]);
    expect(saeIdFromCertificate(badEscape, "uri-san")).toBeNull();
  });

  it("cannot be fooled by a URI that embeds a second SAN entry", async () => {
    // Node quotes such a value (CVE-2021-44532); a naive split on ", " would find urn:qnet:sae:admin.
    const crafted = await oddCert([{ CN: ["x"] }], ["urn:other:a, URI:urn:qnet:sae:admin"]);
    const text = new X509Certificate(crafted).subjectAltName;
    expect(text).toBe('URI:"urn:other:a\\u002c URI:urn:qnet:sae:admin"');
    expect(parseSubjectAltName(text)).toEqual([
      { type: "URI", value: "urn:other:a, URI:urn:qnet:sae:admin" },
    ]);
    expect(saeIdFromCertificate(crafted, "uri-san")).toBeNull();
  });
});

describe("parseSubjectAltName and normalizeSerial", () => {
  it("splits Node's SAN text, honouring JSON-quoted values", () => {
    expect(parseSubjectAltName('DNS:a.example, URI:"x:\\"q\\", y", IP Address:127.0.0.1')).toEqual([
      { type: "DNS", value: "a.example" },
      { type: "URI", value: 'x:"q", y' },
      { type: "IP Address", value: "127.0.0.1" },
    ]);
    expect(parseSubjectAltName(undefined)).toEqual([]);
    expect(parseSubjectAltName('URI:"unterminated')).toEqual([]);
  });

  it("canonicalises serial numbers", () => {
    expect(normalizeSerial("0x00:0a:Bc")).toBe("ABC");
    expect(normalizeSerial("00")).toBe("0");
    expect(normalizeSerial("xyz")).toBe("");
  });
});

describe("mtlsServerOptions", () => {
  it("demands a verified client certificate over TLS 1.2 or higher", () => {
    const o = mtlsServerOptions(files);
    expect(o).toMatchObject({ requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" });
    expect(o.cert).toBe(kme.certPem);
    expect(o.ca).toBe(ca.certPem);
  });

  it("names the file it cannot read, and refuses a key that does not match, without quoting keys", () => {
    expect(() => mtlsServerOptions({ ...files, caFile: "/nonexistent/ca.pem" })).toThrow(
      "cannot read the CA certificate file /nonexistent/ca.pem (ENOENT)",
    );
    expect(() => mtlsServerOptions({ ...files, keyFile: files.certFile })).toThrow(/not PEM|cannot use/);
    const dir = mkdtempSync(join(tmpdir(), "qnet-tls-bad-"));
    const wrongKey = join(dir, "wrong-key.pem");
    writeFileSync(wrongKey, saeA.keyPem);
    let message = "";
    try {
      mtlsServerOptions({ ...files, keyFile: wrongKey });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^cannot use certificate .*kme\.pem with key .*wrong-key\.pem/);
    expect(message).not.toContain("PRIVATE KEY");
  });
});

/** Result of one HTTPS request: the response, or the client-side error code. */
type Outcome = { status: number; body: string } | { error: string };

function get(port: number, path: string, tlsOptions: RequestOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      { host: "127.0.0.1", port, path, servername: "localhost", ca: ca.certPem, agent: false, ...tlsOptions },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

describe("a fastify HTTPS server with mtlsServerOptions", () => {
  let app: FastifyInstance;
  let port: number;
  let handled = 0;
  const tlsErrors: string[] = [];

  beforeAll(async () => {
    app = Fastify({ https: mtlsServerOptions(files) });
    const serialMap = { [saeA.serialNumber]: "A-by-serial" };
    app.get("/whoami", async (req) => {
      handled++;
      return {
        cn: saeIdFromRequest(req, "cn"),
        uri: saeIdFromRequest(req, "uri-san"),
        serial: saeIdFromRequest(req, { serialMap }),
      };
    });
    app.server.on("tlsClientError", (e: NodeJS.ErrnoException) => tlsErrors.push(e.code ?? e.message));
    await app.listen({ port: 0, host: "127.0.0.1" });
    port = (app.server.address() as AddressInfo).port;
  });
  afterAll(() => app.close());

  it("identifies an SAE by CN, by URI SAN and by serial number", async () => {
    const r = await get(port, "/whoami", { cert: saeA.certPem, key: saeA.keyPem });
    expect(r).toEqual({ status: 200, body: JSON.stringify({ cn: "A", uri: "A", serial: "A-by-serial" }) });
    const b = await get(port, "/whoami", { cert: saeB.certPem, key: saeB.keyPem, maxVersion: "TLSv1.2" });
    expect(b).toEqual({ status: 200, body: JSON.stringify({ cn: "B/2", uri: "B/2", serial: null }) });
  });

  it("rejects clients without a certificate or with another CA's at the TLS layer", async () => {
    const before = handled;
    tlsErrors.length = 0;
    // TLS 1.3: the server answers a missing certificate with a certificate_required alert.
    expect(await get(port, "/whoami", {})).toEqual({ error: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" });
    expect(tlsErrors).toEqual(["ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"]);
    // A certificate that fails verification (unknown CA) completes the TLS 1.3 handshake, then Node's
    // server destroys the socket before any request is read. (EPIPE if the reset arrives while the
    // client is still writing its request.)
    const reset = { error: expect.stringMatching(/^(ECONNRESET|EPIPE)$/) };
    expect(await get(port, "/whoami", { cert: stranger.certPem, key: stranger.keyPem })).toEqual(reset);
    expect(tlsErrors).toHaveLength(2);
    expect(handled).toBe(before); // no request reached a route
    // A KME certificate also carries clientAuth (KMEs call each other with it): it authenticates, and
    // names its KME ID, which the key service does not know as an SAE.
    const asKme = await get(port, "/whoami", { cert: kme.certPem, key: kme.keyPem });
    expect(asKme).not.toHaveProperty("error");
  });

  it("refuses TLS 1.1", async () => {
    tlsErrors.length = 0;
    const r = await get(port, "/whoami", {
      cert: saeA.certPem,
      key: saeA.keyPem,
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      ciphers: "DEFAULT@SECLEVEL=0", // let the client offer TLS 1.1 at all, so the server is what refuses
    });
    expect(r).toEqual({ error: "EPROTO" });
    expect(tlsErrors).toEqual(["ERR_SSL_UNSUPPORTED_PROTOCOL"]);
  });
});

describe("saeIdFromRequest", () => {
  it("gives no identity for an unverified certificate when a server does not reject it", async () => {
    // A misconfigured server (rejectUnauthorized: false) lets the connection through; the helper must
    // still refuse the name in an unverified certificate.
    const app = Fastify({ https: { ...mtlsServerOptions(files), rejectUnauthorized: false } });
    app.get("/whoami", async (req) => ({ cn: saeIdFromRequest(req, "cn") }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const port = (app.server.address() as AddressInfo).port;
      expect(await get(port, "/whoami", { cert: stranger.certPem, key: stranger.keyPem })).toEqual({
        status: 200,
        body: '{"cn":null}',
      });
      expect(await get(port, "/whoami", {})).toEqual({ status: 200, body: '{"cn":null}' });
      expect(await get(port, "/whoami", { cert: saeA.certPem, key: saeA.keyPem })).toEqual({
        status: 200,
        body: '{"cn":"A"}',
      });
    } finally {
      await app.close();
    }
  });

  it("gives no identity over plain HTTP", async () => {
    const app = Fastify();
    app.get("/whoami", async (req) => ({ cn: saeIdFromRequest(req, "cn") }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const port = (app.server.address() as AddressInfo).port;
      const body = await new Promise<string>((resolve, reject) => {
        httpRequest({ host: "127.0.0.1", port, path: "/whoami" }, (res) => {
          let b = "";
          res.on("data", (c) => {
            b += c;
          });
          res.on("end", () => resolve(b));
        })
          .on("error", reject)
          .end();
      });
      expect(body).toBe('{"cn":null}');
    } finally {
      await app.close();
    }
  });
});
