import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  createDevCa,
  type DevCa,
  type IssuedCertificate,
  issueKmeCert,
  issueSaeCert,
  loadDevCa,
  loadX509,
  writePem,
} from "../../src/server/certs.js";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const DAY = 86_400_000;

/** Key usage bits, critical flags and basic constraints, read with @peculiar/x509. */
async function extensions(pem: string) {
  const x = await loadX509();
  const cert = new x.X509Certificate(pem);
  const ku = cert.getExtension(x.KeyUsagesExtension)!;
  const bc = cert.getExtension(x.BasicConstraintsExtension)!;
  const has = (flag: number) => (ku.usages & flag) !== 0;
  return {
    keyUsage: {
      critical: ku.critical,
      digitalSignature: has(x.KeyUsageFlags.digitalSignature),
      keyEncipherment: has(x.KeyUsageFlags.keyEncipherment),
      keyCertSign: has(x.KeyUsageFlags.keyCertSign),
      cRLSign: has(x.KeyUsageFlags.cRLSign),
    },
    basic: { ca: bc.ca, pathLength: bc.pathLength, critical: bc.critical },
    skid: cert.getExtension(x.SubjectKeyIdentifierExtension)?.keyId,
    akid: cert.getExtension(x.AuthorityKeyIdentifierExtension)?.keyId,
  };
}

/** The private key PEM belongs to the certificate. */
function keyMatches(issued: IssuedCertificate): boolean {
  const fromKey = createPublicKey(createPrivateKey(issued.keyPem)).export({ type: "spki", format: "der" });
  const fromCert = new X509Certificate(issued.certPem).publicKey.export({ type: "spki", format: "der" });
  return fromKey.equals(fromCert);
}

let ca: DevCa;
let caX: X509Certificate;
beforeAll(async () => {
  ca = await createDevCa({ name: "Test CA", days: 30 });
  caX = new X509Certificate(ca.certPem);
});

describe("development CA", () => {
  it("is a self-signed CA limited to signing end-entity certificates", async () => {
    expect(caX.ca).toBe(true);
    expect(caX.verify(caX.publicKey)).toBe(true);
    expect(caX.subject).toContain("CN=Test CA");
    expect(caX.issuer).toBe(caX.subject);
    const e = await extensions(ca.certPem);
    expect(e.basic).toEqual({ ca: true, pathLength: 0, critical: true });
    expect(e.keyUsage).toMatchObject({ critical: true, keyCertSign: true, cRLSign: true });
    expect(e.skid).toMatch(/^[0-9a-f]{40}$/);
  });

  it("returns its key as unencrypted PKCS#8 PEM that matches the certificate", () => {
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(keyMatches(ca)).toBe(true);
    expect(createPrivateKey(ca.keyPem).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  it("is valid for the requested number of days, starting a few minutes back for clock skew", async () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const c = await createDevCa({ days: 10, now });
    expect(c.notAfter.getTime()).toBe(now.getTime() + 10 * DAY);
    expect(now.getTime() - c.notBefore.getTime()).toBe(5 * 60_000);
  });

  it("rejects unusable names and validity", async () => {
    await expect(createDevCa({ days: 0 })).rejects.toThrow(/whole number of days from 1 to 3650/);
    await expect(createDevCa({ days: 1.5 })).rejects.toThrow(/whole number of days/);
    await expect(createDevCa({ name: "" })).rejects.toThrow(/must not be empty/);
    await expect(createDevCa({ name: "x".repeat(65) })).rejects.toThrow(/at most 64 characters/);
    await expect(createDevCa({ name: "a\nb" })).rejects.toThrow(/control characters/);
  });
});

describe("KME server certificate", () => {
  let kme: IssuedCertificate;
  let x: X509Certificate;
  beforeAll(async () => {
    kme = await issueKmeCert(ca, { kmeId: "KME-Alice", hosts: ["kme1.example.net", "10.0.0.7"], days: 7 });
    x = new X509Certificate(kme.certPem);
  });

  it("chains to the CA and to no other CA", async () => {
    expect(x.verify(caX.publicKey)).toBe(true);
    expect(x.checkIssued(caX)).toBe(true);
    const other = new X509Certificate((await createDevCa()).certPem);
    expect(x.verify(other.publicKey)).toBe(false);
  });

  it("names the KME in the CN and the hosts in the SANs", () => {
    expect(x.subject).toBe("CN=KME-Alice");
    expect(x.checkHost("localhost")).toBe("localhost");
    expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x.checkIP("::1")).toBe("::1");
    expect(x.checkHost("kme1.example.net")).toBe("kme1.example.net");
    expect(x.checkIP("10.0.0.7")).toBe("10.0.0.7");
    expect(x.checkHost("evil.example.net")).toBeUndefined();
    expect(x.checkIP("10.0.0.8")).toBeUndefined();
  });

  it("is an end-entity certificate for serving and for calling other KMEs", async () => {
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual([SERVER_AUTH, CLIENT_AUTH]); // Node names the extended key usage "keyUsage"
    const e = await extensions(kme.certPem);
    expect(e.basic.ca).toBe(false);
    expect(e.keyUsage).toEqual({
      critical: true,
      digitalSignature: true,
      keyEncipherment: false,
      keyCertSign: false,
      cRLSign: false,
    });
    expect(e.akid).toBe((await extensions(ca.certPem)).skid);
    expect(keyMatches(kme)).toBe(true);
  });

  it("does not outlive the CA", async () => {
    const long = await issueKmeCert(ca, { kmeId: "K", days: 3650 });
    expect(long.notAfter.getTime()).toBe(ca.notAfter.getTime());
    expect(kme.notAfter.getTime() - kme.notBefore.getTime()).toBe(7 * DAY + 5 * 60_000);
  });

  it("rejects a host that is neither a DNS name nor an IP address", async () => {
    await expect(issueKmeCert(ca, { kmeId: "K", hosts: ["bad host"] })).rejects.toThrow(
      /'bad host' is neither an IP address nor a DNS name/,
    );
  });
});

describe("SAE client certificate", () => {
  it("carries the SAE ID in the CN and a URI SAN, for client authentication only", async () => {
    const sae = await issueSaeCert(ca, { saeId: "SAE_A" });
    const x = new X509Certificate(sae.certPem);
    expect(x.verify(caX.publicKey)).toBe(true);
    expect(x.subject).toBe("CN=SAE_A");
    expect(x.subjectAltName).toBe("URI:urn:qnet:sae:SAE_A");
    expect(x.keyUsage).toEqual([CLIENT_AUTH]);
    const e = await extensions(sae.certPem);
    expect(e.basic.ca).toBe(false);
    expect(e.keyUsage.digitalSignature).toBe(true);
    expect(e.keyUsage.keyCertSign).toBe(false);
    expect(keyMatches(sae)).toBe(true);
  });

  it("keeps IDs with DN or URI syntax inside their field", async () => {
    const sae = await issueSaeCert(ca, { saeId: "a, CN=b/c d", uriPrefix: "urn:example:" });
    const x = new X509Certificate(sae.certPem);
    // One CN holding the whole ID: the comma did not start a second attribute.
    expect(x.toLegacyObject().subject).toEqual(expect.objectContaining({ CN: "a, CN=b/c d" }));
    expect(x.subjectAltName).toBe("URI:urn:example:a%2C%20CN%3Db%2Fc%20d");
  });

  it("gets a fresh random positive serial number each time, as Node reports it", async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const s = await issueSaeCert(ca, { saeId: `S${i}` });
      expect(s.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
      expect(new X509Certificate(s.certPem).serialNumber).toBe(s.serialNumber);
      serials.add(s.serialNumber);
    }
    expect(serials.size).toBe(5);
  });

  it("can be RSA, with keyEncipherment for TLS 1.2 RSA key exchange", async () => {
    const rsaCa = await createDevCa({ algorithm: "rsa-2048" });
    const sae = await issueSaeCert(rsaCa, { saeId: "R", algorithm: "rsa-2048" });
    const x = new X509Certificate(sae.certPem);
    expect(x.verify(new X509Certificate(rsaCa.certPem).publicKey)).toBe(true);
    expect(x.publicKey.asymmetricKeyType).toBe("rsa");
    expect((await extensions(sae.certPem)).keyUsage.keyEncipherment).toBe(true);
    expect(keyMatches(sae)).toBe(true);
  });
});

describe("loadDevCa", () => {
  it("reloads a CA from its PEM files and issues certificates that chain to it", async () => {
    const again = await loadDevCa(ca.certPem, ca.keyPem);
    expect(again.serialNumber).toBe(ca.serialNumber);
    const sae = await issueSaeCert(again, { saeId: "later" });
    expect(new X509Certificate(sae.certPem).verify(caX.publicKey)).toBe(true);
  });

  it("refuses a key of another CA, a leaf certificate, and a non-key without quoting it", async () => {
    const other = await createDevCa();
    await expect(loadDevCa(ca.certPem, other.keyPem)).rejects.toThrow(/does not match the CA certificate/);
    const leaf = await issueSaeCert(ca, { saeId: "x" });
    await expect(loadDevCa(leaf.certPem, leaf.keyPem)).rejects.toThrow(/is not a CA/);
    const bogus = "-----BEGIN PRIVATE KEY-----\nU0VDUkVU\n-----END PRIVATE KEY-----\n";
    const err = await loadDevCa(ca.certPem, bogus).catch((e: Error) => e);
    expect(String(err)).toMatch(/not a readable PEM private key/);
    expect(String(err)).not.toContain("U0VDUkVU");
  });
});

describe("writePem", () => {
  const dir = mkdtempSync(join(tmpdir(), "qnet-certs-"));
  const mode = (p: string) => statSync(p).mode & 0o777;

  it("writes keys 0600 and certificates 0644", () => {
    writePem(join(dir, "k.pem"), ca.keyPem, { privateKey: true });
    writePem(join(dir, "c.pem"), ca.certPem);
    expect(mode(join(dir, "k.pem"))).toBe(0o600);
    expect(mode(join(dir, "c.pem"))).toBe(0o644);
    expect(readFileSync(join(dir, "c.pem"), "utf8")).toBe(ca.certPem);
  });

  it("refuses to replace a file unless forced, and a forced key is 0600 even over a 0644 file", () => {
    const p = join(dir, "old.pem");
    writeFileSync(p, "old");
    chmodSync(p, 0o644);
    expect(() => writePem(p, ca.keyPem, { privateKey: true })).toThrow(/EEXIST/);
    expect(readFileSync(p, "utf8")).toBe("old");
    writePem(p, ca.keyPem, { privateKey: true, force: true });
    expect(readFileSync(p, "utf8")).toBe(ca.keyPem);
    expect(mode(p)).toBe(0o600);
  });
});
