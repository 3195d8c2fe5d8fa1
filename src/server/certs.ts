/**
 * A development public-key infrastructure for the ETSI GS QKD 014 key service: one self-signed CA,
 * KME server certificates and SAE client certificates, each with its private key, all as PEM.
 *
 * The service authenticates both ends with mutual TLS (see `tls.ts`); these certificates exist so that a
 * developer can try it on one machine without an organisation's PKI. They are not meant for production:
 * the CA key sits in a file next to the certificates it signs.
 *
 * Certificates are built with `@peculiar/x509` on Node's WebCrypto. Keys are ECDSA P-256 by default
 * (small, fast, accepted by every TLS 1.2+ stack); RSA 2048 is available for clients that need it.
 *
 * @module
 */
import { createPrivateKey, KeyObject, randomBytes, webcrypto } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import type * as X509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/**
 * Key algorithms the development PKI can generate. A CA loaded with {@link loadDevCa} reports any RSA key
 * as `rsa-2048`: the name selects the signature scheme (PKCS#1 v1.5 with SHA-256), not the key size.
 */
export type DevKeyAlgorithm = "ecdsa-p256" | "rsa-2048";

/** Default prefix of the URI SAN that names an SAE (`urn:qnet:sae:<id>`). */
export const SAE_URI_PREFIX = "urn:qnet:sae:";

/** Default validity of development certificates, in days. */
export const DEFAULT_VALIDITY_DAYS = 365;

/** Longest validity accepted, in days (ten years); a larger value is almost certainly a typo. */
export const MAX_VALIDITY_DAYS = 3650;

/** Names every KME certificate carries besides the caller's, so the service works on this machine. */
export const DEFAULT_KME_HOSTS: readonly string[] = ["localhost", "127.0.0.1", "::1"];

/** A certificate with its private key, both PEM. */
export interface IssuedCertificate {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  certPem: string;
  /** The unencrypted private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). Never log it. */
  keyPem: string;
  /** Serial number, upper-case hexadecimal without separators (as Node's `PeerCertificate` shows it). */
  serialNumber: string;
  /** Subject distinguished name, RFC 4514 text. */
  subject: string;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
}

/** A development CA: its certificate and key, and the WebCrypto key that signs what it issues. */
export interface DevCa extends IssuedCertificate {
  /** The CA's signing key (non-extractable once loaded from PEM). */
  signingKey: CryptoKey;
  /** Algorithm of the CA key. */
  algorithm: DevKeyAlgorithm;
}

/** Options of {@link createDevCa}. */
export interface DevCaOptions {
  /** Common name of the CA. Default `qnet development CA`. */
  name?: string;
  /** Validity in days, 1 to {@link MAX_VALIDITY_DAYS}. Default {@link DEFAULT_VALIDITY_DAYS}. */
  days?: number;
  /** Key algorithm. Default `ecdsa-p256`. */
  algorithm?: DevKeyAlgorithm;
  /** The current time (tests pass a fixed one). Default now. */
  now?: Date;
}

/** Options of {@link issueKmeCert}. */
export interface KmeCertOptions {
  /** KME ID: the certificate's common name. */
  kmeId: string;
  /**
   * Further DNS names or IP addresses the KME is reached at; `localhost`, `127.0.0.1` and `::1` are
   * always included.
   */
  hosts?: readonly string[];
  /** Validity in days; never beyond the CA's own end of validity. Default {@link DEFAULT_VALIDITY_DAYS}. */
  days?: number;
  /** Key algorithm. Default `ecdsa-p256`. */
  algorithm?: DevKeyAlgorithm;
  /** The current time. Default now. */
  now?: Date;
}

/** Options of {@link issueSaeCert}. */
export interface SaeCertOptions {
  /** SAE ID: the certificate's common name, and the tail of its URI SAN. */
  saeId: string;
  /** Prefix of the URI SAN. Default {@link SAE_URI_PREFIX}. */
  uriPrefix?: string;
  /** Validity in days; never beyond the CA's own end of validity. Default {@link DEFAULT_VALIDITY_DAYS}. */
  days?: number;
  /** Key algorithm. Default `ecdsa-p256`. */
  algorithm?: DevKeyAlgorithm;
  /** The current time. Default now. */
  now?: Date;
}

let x509Module: Promise<typeof X509> | undefined;

/**
 * Loads `@peculiar/x509` once. Its algorithm registry (tsyringe) needs the Reflect metadata API, so
 * `reflect-metadata` is loaded first, as the library's README asks; a static import of the library
 * would be evaluated before that.
 */
export function loadX509(): Promise<typeof X509> {
  if (!x509Module) x509Module = import("reflect-metadata").then(() => import("@peculiar/x509"));
  return x509Module;
}

const DAY_MS = 86_400_000;

/** Validity starts slightly in the past so that a peer whose clock is a little behind accepts it. */
const BACKDATE_MS = 5 * 60_000;

/** CN and other name components longer than this violate X.520's upper bound and upset some stacks. */
const MAX_NAME_LENGTH = 64;

function keyParams(algorithm: DevKeyAlgorithm): webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams {
  return algorithm === "ecdsa-p256"
    ? { name: "ECDSA", namedCurve: "P-256" }
    : {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      };
}

function signingAlgorithm(algorithm: DevKeyAlgorithm): webcrypto.EcdsaParams | webcrypto.Algorithm {
  return algorithm === "ecdsa-p256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "RSASSA-PKCS1-v1_5" };
}

async function generateKeys(algorithm: DevKeyAlgorithm): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(keyParams(algorithm), true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
}

/**
 * A random positive 128-bit serial number (RFC 5280 allows up to 20 octets). The top bit is cleared so
 * the DER integer stays positive, and the next set so there is no leading zero octet to strip.
 */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x40;
  return b.toString("hex").toUpperCase();
}

function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS)
    throw new RangeError(
      `validity must be a whole number of days from 1 to ${MAX_VALIDITY_DAYS}, got ${days}`,
    );
  return days;
}

/**
 * Checks an ID that becomes a common name. Control characters are refused because they would be
 * printed by tools and logs that show the subject; the length bound is X.520's for a common name.
 */
function checkName(what: string, id: string): string {
  if (id.length === 0) throw new RangeError(`${what} must not be empty`);
  if (id.length > MAX_NAME_LENGTH)
    throw new RangeError(`${what} must be at most ${MAX_NAME_LENGTH} characters, got ${id.length}: '${id}'`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(id)) throw new RangeError(`${what} must not contain control characters`);
  return id;
}

/** PKCS#8 PEM of an extractable private key. */
function privateKeyPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: "pkcs8", format: "pem" }) as string;
}

function summarize(cert: X509.X509Certificate, keyPem: string): IssuedCertificate {
  return {
    certPem: cert.toString("pem"),
    keyPem,
    serialNumber: cert.serialNumber.toUpperCase(),
    subject: cert.subject,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/**
 * Creates a self-signed development CA: `CA:TRUE` with path length 0 (it signs end-entity certificates
 * only), key usage keyCertSign and cRLSign, and a subject key identifier that issued certificates
 * reference.
 */
export async function createDevCa(options: DevCaOptions = {}): Promise<DevCa> {
  const lib = await loadX509();
  const name = checkName("CA name", options.name ?? "qnet development CA");
  const days = checkDays(options.days ?? DEFAULT_VALIDITY_DAYS);
  const algorithm = options.algorithm ?? "ecdsa-p256";
  const now = options.now ?? new Date();
  const keys = await generateKeys(algorithm);
  const cert = await lib.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      // A JSON name, not "CN=…" text, so that commas or '=' in a name cannot add attributes.
      name: [{ CN: [name] }, { O: ["qnet development"] }],
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + days * DAY_MS),
      keys: keys,
      signingAlgorithm: signingAlgorithm(algorithm),
      extensions: [
        new lib.BasicConstraintsExtension(true, 0, true),
        new lib.KeyUsagesExtension(
          lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign | lib.KeyUsageFlags.digitalSignature,
          true,
        ),
        await lib.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { ...summarize(cert, privateKeyPem(keys.privateKey)), signingKey: keys.privateKey, algorithm };
}

/**
 * Loads a CA written earlier (its certificate and PKCS#8 key, PEM) so that it can issue more
 * certificates, e.g. for an SAE added later. Throws if the key does not belong to the certificate or the
 * certificate is not a CA.
 */
export async function loadDevCa(certPem: string, keyPem: string): Promise<DevCa> {
  const lib = await loadX509();
  const cert = new lib.X509Certificate(certPem);
  const basic = cert.getExtension(lib.BasicConstraintsExtension);
  if (!basic?.ca)
    throw new RangeError(`certificate ${cert.subject} is not a CA (no basicConstraints CA:TRUE)`);
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch {
    // The parser's message can quote parts of the input; keep key material out of errors.
    throw new RangeError("CA key is not a readable PEM private key");
  }
  let algorithm: DevKeyAlgorithm;
  if (keyObject.asymmetricKeyType === "ec" && keyObject.asymmetricKeyDetails?.namedCurve === "prime256v1")
    algorithm = "ecdsa-p256";
  else if (keyObject.asymmetricKeyType === "rsa") algorithm = "rsa-2048";
  else
    throw new RangeError(`unsupported CA key type ${keyObject.asymmetricKeyType}: expected EC P-256 or RSA`);
  const der = keyObject.export({ type: "pkcs8", format: "der" });
  const importParams =
    algorithm === "ecdsa-p256"
      ? { name: "ECDSA", namedCurve: "P-256" }
      : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const signingKey = await webcrypto.subtle.importKey("pkcs8", der, importParams, false, ["sign"]);
  // Sign and verify a probe so a mismatched key fails here, not later as an unverifiable certificate.
  const publicKey = await cert.publicKey.export(importParams, ["verify"], webcrypto);
  const probe = randomBytes(32);
  const sigAlg = signingAlgorithm(algorithm);
  const sig = await webcrypto.subtle.sign(sigAlg, signingKey, probe);
  if (!(await webcrypto.subtle.verify(sigAlg, publicKey, sig, probe)))
    throw new RangeError(`CA key does not match the CA certificate ${cert.subject}`);
  return { ...summarize(cert, keyPem), signingKey, algorithm };
}

interface LeafSpec {
  commonName: string;
  sans: X509.JsonGeneralNames;
  extendedKeyUsage: readonly string[];
  days: number;
  algorithm: DevKeyAlgorithm;
  now: Date;
}

async function issueLeaf(ca: DevCa, spec: LeafSpec): Promise<IssuedCertificate> {
  const lib = await loadX509();
  const crypto = webcrypto;
  const keys = await generateKeys(spec.algorithm);
  const caCert = new lib.X509Certificate(ca.certPem);
  // A certificate outliving its issuer would only fail verification later, and confusingly.
  const notAfter = new Date(Math.min(spec.now.getTime() + spec.days * DAY_MS, caCert.notAfter.getTime()));
  // ECDSA keys only sign in TLS; an RSA key may also be used for TLS 1.2 RSA key exchange.
  const usages =
    spec.algorithm === "ecdsa-p256"
      ? lib.KeyUsageFlags.digitalSignature
      : lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment;
  const cert = await lib.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [spec.commonName] }],
      issuer: caCert.subjectName,
      notBefore: new Date(spec.now.getTime() - BACKDATE_MS),
      notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: signingAlgorithm(ca.algorithm),
      extensions: [
        new lib.BasicConstraintsExtension(false, undefined, true),
        new lib.KeyUsagesExtension(usages, true),
        new lib.ExtendedKeyUsageExtension([...spec.extendedKeyUsage], false),
        new lib.SubjectAlternativeNameExtension(spec.sans, false),
        await lib.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await lib.AuthorityKeyIdentifierExtension.create(caCert, false, crypto),
      ],
    },
    crypto,
  );
  return summarize(cert, privateKeyPem(keys.privateKey));
}

/**
 * Issues a KME certificate: CN = KME ID, extended key usages serverAuth (it serves SAEs and other KMEs)
 * and clientAuth (it calls other KMEs with the same certificate), subject alternative
 * names DNS `localhost`, IP `127.0.0.1` and `::1`, plus each of `hosts` (IP literals become IP SANs,
 * everything else a DNS SAN).
 */
export async function issueKmeCert(ca: DevCa, options: KmeCertOptions): Promise<IssuedCertificate> {
  const lib = await loadX509();
  const kmeId = checkName("KME ID", options.kmeId);
  const hosts = [...new Set([...DEFAULT_KME_HOSTS, ...(options.hosts ?? [])])];
  const sans: X509.JsonGeneralNames = hosts.map((host) => {
    if (isIP(host)) return { type: "ip", value: host };
    if (
      !/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/.test(
        host,
      )
    )
      throw new RangeError(`host '${host}' is neither an IP address nor a DNS name`);
    return { type: "dns", value: host };
  });
  return issueLeaf(ca, {
    commonName: kmeId,
    sans,
    extendedKeyUsage: [lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth],
    days: checkDays(options.days ?? DEFAULT_VALIDITY_DAYS),
    algorithm: options.algorithm ?? "ecdsa-p256",
    now: options.now ?? new Date(),
  });
}

/**
 * Issues an SAE client certificate: CN = SAE ID, extended key usage clientAuth, and a URI SAN
 * `<uriPrefix><SAE ID>` (percent-encoded, so any ID makes a valid URI). A KME can then take the SAE ID
 * from either field; see `saeIdFromCertificate` in `tls.ts`.
 */
export async function issueSaeCert(ca: DevCa, options: SaeCertOptions): Promise<IssuedCertificate> {
  const lib = await loadX509();
  const saeId = checkName("SAE ID", options.saeId);
  return issueLeaf(ca, {
    commonName: saeId,
    sans: [{ type: "url", value: saeUri(saeId, options.uriPrefix) }],
    extendedKeyUsage: [lib.ExtendedKeyUsage.clientAuth],
    days: checkDays(options.days ?? DEFAULT_VALIDITY_DAYS),
    algorithm: options.algorithm ?? "ecdsa-p256",
    now: options.now ?? new Date(),
  });
}

/** The URI SAN naming an SAE: the prefix followed by the percent-encoded SAE ID. */
export function saeUri(saeId: string, prefix: string = SAE_URI_PREFIX): string {
  return `${prefix}${encodeURIComponent(saeId)}`;
}

/** Options of {@link writePem}. */
export interface WritePemOptions {
  /** The content is a private key: the file is created with mode 0600 (owner read/write only). */
  privateKey?: boolean;
  /** Replace an existing file. Without it an existing file is an error (`EEXIST`). */
  force?: boolean;
}

/**
 * Writes a PEM file: mode 0600 for private keys, 0644 for certificates. The file is always created
 * afresh (exclusive create, after removing it when `force` is set) because `mode` only applies to new
 * files: overwriting an existing world-readable file in place would leave a key in it world-readable.
 */
export function writePem(path: string, pem: string, options: WritePemOptions = {}): void {
  if (options.force) rmSync(path, { force: true });
  writeFileSync(path, pem, { flag: "wx", mode: options.privateKey ? 0o600 : 0o644 });
}
