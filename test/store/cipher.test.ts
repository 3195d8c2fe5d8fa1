import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  AesGcmKeyCipher,
  generateMasterKey,
  KeyDecryptionError,
  keyAad,
  loadMasterKey,
  MASTER_KEY_ENV,
  NONCE_BYTES,
  parseMasterKey,
  TAG_BYTES,
  unitAad,
} from "../../src/store/cipher.js";

const dir = mkdtempSync(join(tmpdir(), "qnet-cipher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("AesGcmKeyCipher", () => {
  const key = randomBytes(32);
  const c = new AesGcmKeyCipher(key);

  it("round-trips, as nonce ‖ ciphertext ‖ tag, with a fresh nonce each time", () => {
    const plain = randomBytes(40);
    const a = c.encrypt(plain, "row-1");
    const b = c.encrypt(plain, "row-1");
    expect(a.length).toBe(NONCE_BYTES + 40 + TAG_BYTES);
    expect(Buffer.from(a.subarray(0, NONCE_BYTES)).equals(Buffer.from(b.subarray(0, NONCE_BYTES)))).toBe(
      false,
    );
    expect(Buffer.from(a).includes(plain.subarray(0, 8))).toBe(false);
    expect(Buffer.from(c.decrypt(a, "row-1")).equals(plain)).toBe(true);
    expect(Buffer.from(c.decrypt(b, "row-1")).equals(plain)).toBe(true);
    expect(c.decrypt(c.encrypt(new Uint8Array(0), "e"), "e").length).toBe(0);
  });

  it("interoperates with another instance holding the same key", () => {
    const sealed = c.encrypt(new Uint8Array([1, 2, 3]), "x");
    expect([...new AesGcmKeyCipher(Uint8Array.from(key)).decrypt(sealed, "x")]).toEqual([1, 2, 3]);
  });

  it("refuses a value bound to another row, altered, truncated, or sealed under another key", () => {
    const plain = randomBytes(16);
    const sealed = c.encrypt(plain, unitAad("p", "u1"));
    expect(() => c.decrypt(sealed, unitAad("p", "u2"))).toThrow(KeyDecryptionError);
    expect(() => c.decrypt(sealed, unitAad("q", "u1"))).toThrow(KeyDecryptionError);
    for (const at of [0, NONCE_BYTES, sealed.length - 1]) {
      const bad = Uint8Array.from(sealed);
      bad[at] ^= 1;
      expect(() => c.decrypt(bad, unitAad("p", "u1"))).toThrow(/failed to decrypt/);
    }
    expect(() => c.decrypt(sealed.subarray(0, 20), unitAad("p", "u1"))).toThrow(/damaged/);
    const other = new AesGcmKeyCipher(randomBytes(32));
    let message = "";
    try {
      other.decrypt(sealed, unitAad("p", "u1"));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/the master key is not the one it was stored with/);
    expect(message).not.toContain(plain.toString("hex"));
    expect(message).not.toContain(key.toString("hex"));
  });

  it("keeps unit and key AADs apart, whatever the names hold", () => {
    expect(unitAad("a:b", "c")).not.toBe(unitAad("a", "b:c"));
    expect(keyAad("x")).not.toBe(unitAad("", "x"));
  });

  it("demands a 32-byte key", () => {
    expect(() => new AesGcmKeyCipher(randomBytes(16))).toThrow(/must be 32 bytes, got 16/);
  });
});

describe("master keys", () => {
  const key = randomBytes(32);

  it("generateMasterKey gives 64 hex characters that load back", () => {
    const k = generateMasterKey();
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(k).not.toBe(generateMasterKey());
    expect(Buffer.from(parseMasterKey(k, "x")).toString("hex")).toBe(k);
  });

  it("loads hex or base64 (standard or URL-safe, padded or not) from a file, ignoring surrounding whitespace", () => {
    const forms = [
      key.toString("hex"),
      key.toString("hex").toUpperCase(),
      key.toString("base64"),
      key.toString("base64").replace(/=$/, ""),
      key.toString("base64url"),
    ];
    for (const [i, form] of forms.entries()) {
      const file = join(dir, `key-${i}`);
      writeFileSync(file, `  ${form}\n`);
      expect(Buffer.from(loadMasterKey({ file })).equals(key)).toBe(true);
    }
  });

  it("loads from the environment passed in, the file winning when both are given", () => {
    const env = { [MASTER_KEY_ENV]: key.toString("base64") };
    expect(Buffer.from(loadMasterKey({ env })).equals(key)).toBe(true);
    expect(
      Buffer.from(loadMasterKey({ env: { MY_KEY: key.toString("hex") }, envVar: "MY_KEY" })).equals(key),
    ).toBe(true);
    const other = randomBytes(32);
    const file = join(dir, "wins");
    writeFileSync(file, other.toString("hex"));
    expect(Buffer.from(loadMasterKey({ file, env })).equals(other)).toBe(true);
  });

  it("explains what is wrong with a bad key without showing it", () => {
    const cases: [string, RegExp][] = [
      ["", /it is empty/],
      [key.toString("hex").slice(0, 40), /it holds 40 hex characters \(20 bytes\)/],
      [randomBytes(16).toString("base64"), /it holds base64 of 16 bytes/],
      ["p@ssw0rd-not-a-key", /it holds 18 characters that are neither hex nor base64/],
      [`${key.toString("hex").slice(0, 32)} ${key.toString("hex").slice(32)}`, /whitespace inside/],
    ];
    for (const [text, why] of cases) {
      const file = join(dir, "bad");
      writeFileSync(file, text);
      let message = "";
      try {
        loadMasterKey({ file });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(
        new RegExp(`^master key file '${file}' must hold 32 bytes as 64 hex characters or base64; `),
      );
      expect(message).toMatch(why);
      if (text.length > 8) expect(message).not.toContain(text.slice(0, 8));
    }
    expect(() => loadMasterKey({ env: { [MASTER_KEY_ENV]: "abc" } })).toThrow(
      /^environment variable QNET_KMS_MASTER_KEY must hold 32 bytes/,
    );
  });

  it("says where to put a key when there is none, and names an unreadable file", () => {
    expect(() => loadMasterKey({ env: {} })).toThrow(
      /no master key: set the environment variable QNET_KMS_MASTER_KEY/,
    );
    expect(() => loadMasterKey({})).toThrow(/no master key/);
    expect(() => loadMasterKey({ file: join(dir, "missing") })).toThrow(
      /cannot read master key file '.*missing' \(ENOENT\)/,
    );
  });
});
