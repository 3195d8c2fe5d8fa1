/**
 * Mutual TLS for the ETSI GS QKD 014 key service: server options that demand and verify a client
 * certificate, and the mapping from a verified client certificate to the SAE ID it stands for.
 *
 * GS QKD 014 requires HTTPS with TLS 1.2 or higher and mutual authentication; the KME takes the SAE ID
 * from the client certificate, but the standard leaves open which field. Deployments use the subject
 * common name, a URI subject alternative name, or a table from serial number to SAE ID, so all three
 * are offered ({@link SaeIdSource}).
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ServerOptions } from "node:https";
import type { Socket } from "node:net";
import { createSecureContext, type PeerCertificate, TLSSocket } from "node:tls";
import { SAE_URI_PREFIX } from "./certs.js";

/**
 * Which certificate field names the SAE:
 * - `"cn"`: the subject common name (exactly one CN required);
 * - `"uri-san"`: a URI subject alternative name starting with a prefix (default `urn:qnet:sae:`); the
 *   rest, percent-decoded, is the SAE ID;
 * - `{ serialMap }`: a table from certificate serial number (hexadecimal, any case, colons and leading
 *   zeros ignored) to SAE ID. Serial numbers are unique only per issuer, so use this only when the
 *   server trusts a single CA.
 */
export type SaeIdSource = "cn" | "uri-san" | { serialMap: Readonly<Record<string, string>> };

/** Options of {@link saeIdFromCertificate}. */
export interface SaeIdOptions {
  /** Prefix of the URI SAN for `"uri-san"`. Default `urn:qnet:sae:`. */
  uriPrefix?: string;
}

/** A certificate as Node's TLS layer reports it, or the certificate itself (DER bytes or PEM text). */
export type CertificateInput = PeerCertificate | X509Certificate | Uint8Array | string;

/** Node's legacy certificate object: the same shape as a `PeerCertificate`, for any input. */
function legacy(cert: CertificateInput): PeerCertificate | null {
  if (typeof cert === "string" || cert instanceof Uint8Array) {
    try {
      return new X509Certificate(cert).toLegacyObject();
    } catch {
      return null;
    }
  }
  if (cert instanceof X509Certificate) return cert.toLegacyObject();
  // getPeerCertificate() returns {} when the peer sent no certificate.
  return cert && typeof cert === "object" && "subject" in cert ? cert : null;
}

/**
 * Splits Node's `subjectaltname` text (`DNS:a, URI:b, IP Address:c`) into type and value. Since the
 * fix for CVE-2021-44532, Node writes a value containing a comma, quote or other special character as
 * a JSON string (`URI:"a,b"`), so a crafted name cannot inject a second entry; the parser honours that.
 */
export function parseSubjectAltName(text: string | undefined): { type: string; value: string }[] {
  const names: { type: string; value: string }[] = [];
  if (!text) return names;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      // Find the closing quote, skipping escaped characters, then let JSON undo the escaping.
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        return names; // Malformed: trust nothing after this point.
      }
      end = text.indexOf(",", j + 1);
    } else {
      end = text.indexOf(",", colon + 1);
      value = text.slice(colon + 1, end < 0 ? undefined : end);
    }
    names.push({ type, value });
    if (end < 0) break;
    i = end + 1;
  }
  return names;
}

/** Serial number in canonical form: upper-case hexadecimal without separators or leading zeros. */
export function normalizeSerial(serial: string): string {
  const hex = serial
    .trim()
    .replace(/^0x/i, "")
    .replace(/[:\s]/g, "")
    .toUpperCase()
    .replace(/^0+(?=.)/, "");
  return /^[0-9A-F]+$/.test(hex) ? hex : "";
}

/**
 * The SAE ID a client certificate stands for, read from the field `source` names; null when the
 * certificate is missing or unreadable, the field is absent, or it is ambiguous (two common names, two
 * different matching URIs). This does not verify the certificate: pass only certificates the TLS layer
 * has verified (see {@link saeIdFromRequest}).
 */
export function saeIdFromCertificate(
  cert: CertificateInput | null | undefined,
  source: SaeIdSource,
  options: SaeIdOptions = {},
): string | null {
  if (cert == null) return null;
  const peer = legacy(cert);
  if (!peer) return null;
  if (source === "cn") {
    const cn: unknown = peer.subject?.CN;
    // Node gives an array when the subject has several CNs: refuse to guess which one is meant.
    return typeof cn === "string" && cn !== "" ? cn : null;
  }
  if (source === "uri-san") {
    const prefix = options.uriPrefix ?? SAE_URI_PREFIX;
    const ids = new Set<string>();
    for (const { type, value } of parseSubjectAltName(peer.subjectaltname)) {
      if (type !== "URI" || !value.startsWith(prefix)) continue;
      try {
        const id = decodeURIComponent(value.slice(prefix.length));
        if (id !== "") ids.add(id);
      } catch {
        // Malformed percent-encoding names no SAE.
      }
    }
    return ids.size === 1 ? [...ids][0] : null;
  }
  const serial = normalizeSerial(peer.serialNumber ?? "");
  if (serial === "") return null;
  for (const [key, id] of Object.entries(source.serialMap)) if (normalizeSerial(key) === serial) return id;
  return null;
}

/** Files of {@link mtlsServerOptions}. */
export interface MtlsFiles {
  /** The server's certificate (PEM; may be followed by intermediates). */
  certFile: string;
  /** The server's private key (PEM). */
  keyFile: string;
  /** The CA certificates that SAE client certificates must chain to (PEM). */
  caFile: string;
}

function readPemFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot read the ${what} file ${path}${code ? ` (${code})` : ""}`);
  }
  if (!text.includes("-----BEGIN ")) throw new Error(`the ${what} file ${path} is not PEM`);
  return text;
}

/**
 * HTTPS server options for the key service: the server's certificate and key, and a client
 * certificate that is demanded (`requestCert`) and must chain to `caFile` (`rejectUnauthorized`), so
 * unauthenticated clients fail the handshake and never reach a route; TLS 1.2 or higher as GS QKD 014
 * requires. Pass the result as `Fastify({ https: … })` or to `https.createServer`.
 *
 * Throws an error naming the file when one is unreadable, and when the key does not match the
 * certificate (checked now rather than at the first connection). Errors never quote file contents.
 */
export function mtlsServerOptions(files: MtlsFiles): ServerOptions {
  const options: ServerOptions = {
    cert: readPemFile(files.certFile, "certificate"),
    key: readPemFile(files.keyFile, "private key"),
    ca: readPemFile(files.caFile, "CA certificate"),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  };
  try {
    createSecureContext(options);
  } catch (e) {
    const reason = (e as { code?: string }).code ?? "invalid";
    throw new Error(
      `cannot use certificate ${files.certFile} with key ${files.keyFile} and CA ${files.caFile}: ${reason}`,
    );
  }
  return options;
}

/** The part of a Fastify request (or a Node `IncomingMessage` wrapper) that carries the connection. */
export interface RequestWithSocket {
  raw: { socket: Socket | null };
}

/**
 * The SAE ID of the client that sent `request`, from its verified certificate; null when the connection
 * is not TLS, the client certificate was not verified against the configured CA, or it names no SAE.
 * With {@link mtlsServerOptions} unverified clients cannot connect at all; checking `authorized` again
 * here keeps a server configured with `rejectUnauthorized: false` from trusting an unverified name.
 */
export function saeIdFromRequest(
  request: RequestWithSocket,
  source: SaeIdSource,
  options: SaeIdOptions = {},
): string | null {
  const socket = request.raw.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  return saeIdFromCertificate(socket.getPeerCertificate(), source, options);
}
