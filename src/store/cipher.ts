/**
 * Encryption of key material at rest for the durable key stores: AES-256-GCM under one master key, and
 * the loading of that master key from a file or an environment variable.
 *
 * Adapter layer: uses node:crypto and node:fs. Nothing here ever puts key material (master key or
 * unit material) into an error message.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { KeyCipher } from "../kms/key-store.js";

/** Bytes of an AES-256 master key. */
export const MASTER_KEY_BYTES = 32;
/** Bytes of the random GCM nonce that starts every sealed value (96 bits, as GCM recommends). */
export const NONCE_BYTES = 12;
/** Bytes of the GCM authentication tag that ends every sealed value (128 bits). */
export const TAG_BYTES = 16;
/** The environment variable {@link loadMasterKey} reads by default. */
export const MASTER_KEY_ENV = "QNET_KMS_MASTER_KEY";

/** A sealed value failed to open: wrong master key, altered ciphertext, or a value moved between rows. */
export class KeyDecryptionError extends Error {
  override name = "KeyDecryptionError";
}

/**
 * AES-256-GCM {@link KeyCipher}. A sealed value is `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`;
 * the ciphertext is as long as the plaintext. The nonce is random for every encryption: with 96-bit
 * random nonces one master key is good for about 2^32 encryptions before the chance of a nonce
 * repeating reaches 2^-32 (NIST SP 800-38D), far more units than a KME stores in its life.
 */
export class AesGcmKeyCipher implements KeyCipher {
  /** Held as a KeyObject so that the raw bytes do not sit in a plain buffer owned by this object. */
  private readonly key: KeyObject;

  /** @param masterKey 32 bytes (see {@link loadMasterKey}). */
  constructor(masterKey: Uint8Array) {
    if (!(masterKey instanceof Uint8Array) || masterKey.length !== MASTER_KEY_BYTES)
      throw new RangeError(
        `the master key must be ${MASTER_KEY_BYTES} bytes, got ${masterKey instanceof Uint8Array ? masterKey.length : typeof masterKey}`,
      );
    this.key = createSecretKey(masterKey);
  }

  encrypt(plain: Uint8Array, aad: string): Uint8Array {
    const nonce = randomBytes(NONCE_BYTES);
    const c = createCipheriv("aes-256-gcm", this.key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(Buffer.from(aad, "utf8"));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return new Uint8Array(Buffer.concat([nonce, body, c.getAuthTag()]));
  }

  /** @throws KeyDecryptionError if the value was altered, belongs to another row, or the key is wrong. */
  decrypt(sealed: Uint8Array, aad: string): Uint8Array {
    if (sealed.length < NONCE_BYTES + TAG_BYTES)
      throw new KeyDecryptionError(
        `sealed key material is ${sealed.length} bytes, shorter than a nonce and tag (${NONCE_BYTES + TAG_BYTES}): the stored value is damaged`,
      );
    const nonce = sealed.subarray(0, NONCE_BYTES);
    const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const d = createDecipheriv("aes-256-gcm", this.key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(Buffer.from(aad, "utf8"));
    d.setAuthTag(tag);
    try {
      return new Uint8Array(Buffer.concat([d.update(body), d.final()]));
    } catch {
      // node's own message ("Unsupported state or unable to authenticate data") says nothing useful.
      throw new KeyDecryptionError(
        "key material failed to decrypt: the master key is not the one it was stored with, or the stored value was altered or moved to another row",
      );
    }
  }
}

/**
 * The additional authenticated data that binds a stored unit's material to its row, shared by the
 * backends. JSON keeps the parts unambiguous whatever characters the names hold.
 */
export function unitAad(pool: string, unitId: string): string {
  return JSON.stringify(["qnet-kms-unit", pool, unitId]);
}

/** The additional authenticated data that binds a stored key's material to its key ID. */
export function keyAad(keyId: string): string {
  return JSON.stringify(["qnet-kms-key", keyId]);
}

/** AAD of the value each store seals once at creation to tell a wrong master key at open. */
export const MASTER_KEY_CHECK_AAD = JSON.stringify(["qnet-kms-master-key-check"]);

/** Where {@link loadMasterKey} looks; the file wins over the environment when both are given. */
export interface MasterKeySource {
  /** Path of a file holding the key as 64 hex characters or base64 (surrounding whitespace ignored). */
  file?: string;
  /** The environment to read from, e.g. `process.env` (passed in: this module never reads it itself). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The variable to read from `env`. Default {@link MASTER_KEY_ENV}. */
  envVar?: string;
}

/**
 * Loads the 32-byte master key from `source.file`, or else from the environment variable.
 * @throws Error naming the file or variable and describing (never showing) what it holds.
 */
export function loadMasterKey(source: MasterKeySource): Uint8Array {
  if (source.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(source.file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(`cannot read master key file '${source.file}'${code ? ` (${code})` : ""}`);
    }
    return parseMasterKey(text, `master key file '${source.file}'`);
  }
  const name = source.envVar ?? MASTER_KEY_ENV;
  const value = source.env?.[name];
  if (value === undefined || value === "")
    throw new Error(
      `no master key: set the environment variable ${name} or give a master key file (generate one with generateMasterKey)`,
    );
  return parseMasterKey(value, `environment variable ${name}`);
}

const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+={0,2}$/;

/**
 * Parses a master key written as 64 hex characters or as base64 (standard or URL-safe) of 32 bytes.
 * @param what names the source in errors, e.g. "master key file '/etc/qnet/kms.key'".
 * @throws Error describing the shape of what was found, never its content.
 */
export function parseMasterKey(text: string, what: string): Uint8Array {
  const s = text.trim();
  const want = `${what} must hold ${MASTER_KEY_BYTES} bytes as ${MASTER_KEY_BYTES * 2} hex characters or base64`;
  if (s.length === 0) throw new Error(`${want}; it is empty`);
  if (HEX.test(s) && s.length === MASTER_KEY_BYTES * 2) return new Uint8Array(Buffer.from(s, "hex"));
  if (BASE64.test(s) && s.replace(/=+$/, "").length % 4 !== 1) {
    const bytes = Buffer.from(s, s.includes("-") || s.includes("_") ? "base64url" : "base64");
    if (bytes.length === MASTER_KEY_BYTES) return new Uint8Array(bytes);
    if (!HEX.test(s)) throw new Error(`${want}; it holds base64 of ${bytes.length} bytes`);
  }
  if (HEX.test(s))
    throw new Error(
      `${want}; it holds ${s.length} hex characters (${(s.length / 2).toFixed(1).replace(/\.0$/, "")} bytes)`,
    );
  if (/\s/.test(s)) throw new Error(`${want}; it holds ${s.length} characters with whitespace inside`);
  throw new Error(`${want}; it holds ${s.length} characters that are neither hex nor base64`);
}

/** A new random master key as 64 hex characters, ready for a key file or {@link MASTER_KEY_ENV}. */
export function generateMasterKey(): string {
  return randomBytes(MASTER_KEY_BYTES).toString("hex");
}

/** Decrypts a stored value, naming the row (never its content) if that fails. */
export function openSealed(cipher: KeyCipher, sealed: Uint8Array, aad: string, what: string): Uint8Array {
  try {
    return cipher.decrypt(sealed, aad);
  } catch (e) {
    const reason = e instanceof Error ? e.message : "unknown error";
    throw new KeyDecryptionError(`${what}: ${reason}`);
  }
}

/**
 * Checks at open that `cipher` holds the store's master key: the store seals a fixed value when it is
 * created, and a store opened with another key fails here, with a clear message, rather than on the
 * first key it hands out.
 */
export function checkMasterKey(
  cipher: KeyCipher,
  stored: { value: Uint8Array } | undefined,
  save: (sealed: Uint8Array) => void,
  what: string,
): void {
  const probe = new TextEncoder().encode("qnet-kms master key check");
  if (stored === undefined) {
    save(cipher.encrypt(probe, MASTER_KEY_CHECK_AAD));
    return;
  }
  try {
    cipher.decrypt(stored.value, MASTER_KEY_CHECK_AAD);
  } catch {
    throw new KeyDecryptionError(
      `${what} was created with a different master key: check the master key file or environment variable`,
    );
  }
}
