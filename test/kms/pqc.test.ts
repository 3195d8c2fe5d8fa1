import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { describe, expect, it } from "vitest";
import {
  decapsulateHybrid,
  type EncapsulateHybridArgs,
  encapsulateHybrid,
  fallbackDecision,
  HYBRID_KEY_ORIGIN,
  HYBRID_MAX_KEY_BITS,
  type HybridContext,
  hybridKeyExtension,
  type KeyPolicy,
  ML_KEM_768_CIPHERTEXT_BYTES,
  ML_KEM_768_PUBLIC_KEY_BYTES,
  ML_KEM_768_SECRET_KEY_BYTES,
  pqcKeyPair,
  strictestPolicy,
} from "../../src/kms/pqc.js";
import { Rng } from "../../src/sim/rng.js";

/** A seeded byte source standing in for the KME's CSPRNG. */
function seeded(seed: string): (n: number) => Uint8Array {
  const rng = new Rng(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 0xff;
    return out;
  };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const CONTEXT: HybridContext = {
  keyId: "bc490419-7d60-487f-adc1-4ddcc177c139",
  masterKme: "KME-A",
  slaveKme: "KME-B",
  masterSae: "SAE-1",
  slaveSaes: ["SAE-2"],
};

// One key pair for the slave KME, one for an impostor; generation is the slow part, so share them.
const slave = pqcKeyPair(seeded("slave-kme"));
const other = pqcKeyPair(seeded("other-kme"));
const random = seeded("master-kme");

function roundTrip(opts: { qkd?: Uint8Array; context?: HybridContext; sizeBits?: number }) {
  const context = opts.context ?? CONTEXT;
  const sizeBits = opts.sizeBits ?? 256;
  const enc = encapsulateHybrid({
    peerPublicKey: slave.publicKey,
    qkdMaterial: opts.qkd,
    context,
    sizeBits,
    random,
  });
  const dec = decapsulateHybrid({
    secretKey: slave.secretKey,
    ciphertext: enc.ciphertext,
    qkdMaterial: opts.qkd,
    context,
    sizeBits,
  });
  return { enc, dec };
}

describe("pqcKeyPair", () => {
  it("makes ML-KEM-768 keys of the FIPS 203 sizes, deterministically from the injected random", () => {
    expect(slave.publicKey.length).toBe(ML_KEM_768_PUBLIC_KEY_BYTES);
    expect(slave.secretKey.length).toBe(ML_KEM_768_SECRET_KEY_BYTES);
    expect(hex(pqcKeyPair(seeded("slave-kme")).publicKey)).toBe(hex(slave.publicKey));
    expect(hex(other.publicKey)).not.toBe(hex(slave.publicKey));
    // Interoperates with the library directly: the secret key embeds this public key.
    expect(hex(ml_kem768.getPublicKey(slave.secretKey))).toBe(hex(slave.publicKey));
  });

  it("refuses a random source that returns the wrong length", () => {
    expect(() => pqcKeyPair(() => new Uint8Array(10))).toThrow(/pqcKeyPair: random\(64\)/);
  });
});

describe("hybrid keys", () => {
  it("agree at both ends without QKD material (ML-KEM alone)", () => {
    const { enc, dec } = roundTrip({});
    expect(enc.material.length).toBe(32);
    expect(enc.ciphertext.length).toBe(ML_KEM_768_CIPHERTEXT_BYTES);
    expect(hex(dec)).toBe(hex(enc.material));
    expect(enc.extension).toEqual({
      qnet_key_origin: HYBRID_KEY_ORIGIN,
      qnet_qkd_bits: 0,
      qnet_kdf: "HKDF-SHA-256",
    });
  });

  it("agree at both ends with QKD material, and the extension counts its bits", () => {
    const qkd = seeded("qkd-units")(24);
    const { enc, dec } = roundTrip({ qkd });
    expect(hex(dec)).toBe(hex(enc.material));
    expect(enc.extension.qnet_qkd_bits).toBe(192);
    expect(enc.extension.qnet_key_origin).toBe("hybrid-ml-kem-768");
  });

  it("gives an extension usable as a plain JSON object", () => {
    const json: Record<string, unknown> = roundTrip({ sizeBits: 64 }).enc.extension;
    expect(json.qnet_key_origin).toBe("hybrid-ml-kem-768");
  });

  it("marks the key with vendor extension names that carry a prefix ending in '_' (ETSI 014)", () => {
    for (const name of Object.keys(hybridKeyExtension(64))) expect(name).toMatch(/^qnet_/);
    expect(JSON.parse(JSON.stringify(hybridKeyExtension(64)))).toEqual(hybridKeyExtension(64));
  });

  it("agree for every size from 64 to 1024 bits in steps of 8", () => {
    const qkd = seeded("qkd-sizes")(16);
    for (let sizeBits = 64; sizeBits <= 1024; sizeBits += 8) {
      const { enc, dec } = roundTrip({ qkd, sizeBits });
      expect(enc.material.length).toBe(sizeBits / 8);
      expect(hex(dec)).toBe(hex(enc.material));
    }
  });

  it("differ between encapsulations (fresh ML-KEM randomness each time)", () => {
    const a = roundTrip({}).enc;
    const b = roundTrip({}).enc;
    expect(hex(a.ciphertext)).not.toBe(hex(b.ciphertext));
    expect(hex(a.material)).not.toBe(hex(b.material));
  });

  it("change with every context field, the size and the QKD bits", () => {
    const qkd = seeded("qkd-bind")(16);
    const enc = encapsulateHybrid({
      peerPublicKey: slave.publicKey,
      qkdMaterial: qkd,
      context: CONTEXT,
      sizeBits: 256,
      random,
    });
    const at = (over: { context?: HybridContext; qkd?: Uint8Array | undefined; sizeBits?: number }) =>
      hex(
        decapsulateHybrid({
          secretKey: slave.secretKey,
          ciphertext: enc.ciphertext,
          qkdMaterial: "qkd" in over ? over.qkd : qkd,
          context: over.context ?? CONTEXT,
          sizeBits: over.sizeBits ?? 256,
        }),
      );
    const same = hex(enc.material);
    expect(at({})).toBe(same);
    const flipped = qkd.slice();
    flipped[7] ^= 0x10;
    const variants: Record<string, string> = {
      keyId: at({ context: { ...CONTEXT, keyId: "bc490419-7d60-487f-adc1-4ddcc177c13a" } }),
      masterKme: at({ context: { ...CONTEXT, masterKme: "KME-C" } }),
      slaveKme: at({ context: { ...CONTEXT, slaveKme: "KME-C" } }),
      masterSae: at({ context: { ...CONTEXT, masterSae: "SAE-9" } }),
      slaveSae: at({ context: { ...CONTEXT, slaveSaes: ["SAE-9"] } }),
      additionalSlave: at({ context: { ...CONTEXT, slaveSaes: ["SAE-2", "SAE-3"] } }),
      swappedKmes: at({ context: { ...CONTEXT, masterKme: "KME-B", slaveKme: "KME-A" } }),
      qkdBitFlipped: at({ qkd: flipped }),
      qkdTruncated: at({ qkd: qkd.subarray(0, 15) }),
      qkdAbsent: at({ qkd: undefined }),
    };
    for (const [what, key] of Object.entries(variants)) expect(key, what).not.toBe(same);
    // A different size is a different key, not a prefix or extension of this one.
    expect(at({ sizeBits: 264 }).slice(0, 64)).not.toBe(same);
    expect(at({ sizeBits: 128 })).not.toBe(same.slice(0, 32));
  });

  it("encode the context injectively (no field-boundary ambiguity)", () => {
    const ctx = (slaveSaes: string[], masterSae = "S") => ({ ...CONTEXT, masterSae, slaveSaes });
    const enc = encapsulateHybrid({
      peerPublicKey: slave.publicKey,
      context: ctx(["ab", "c"]),
      sizeBits: 128,
      random,
    });
    const key = (context: HybridContext) =>
      hex(
        decapsulateHybrid({ secretKey: slave.secretKey, ciphertext: enc.ciphertext, context, sizeBits: 128 }),
      );
    expect(key(ctx(["ab", "c"]))).toBe(hex(enc.material));
    expect(key(ctx(["a", "bc"]))).not.toBe(hex(enc.material));
    expect(key(ctx(["abc"]))).not.toBe(hex(enc.material));
    expect(key(ctx(["ab", "c"], "Sab"))).not.toBe(hex(enc.material));
  });

  it("treat absent and empty QKD material alike", () => {
    const enc = encapsulateHybrid({
      peerPublicKey: slave.publicKey,
      context: CONTEXT,
      sizeBits: 128,
      random,
    });
    const dec = decapsulateHybrid({
      secretKey: slave.secretKey,
      ciphertext: enc.ciphertext,
      qkdMaterial: new Uint8Array(0),
      context: CONTEXT,
      sizeBits: 128,
    });
    expect(hex(dec)).toBe(hex(enc.material));
  });

  it("change when the ciphertext is altered (implicit rejection, no error)", () => {
    const { enc } = roundTrip({});
    for (const index of [0, 500, ML_KEM_768_CIPHERTEXT_BYTES - 1]) {
      const ct = enc.ciphertext.slice();
      ct[index] ^= 1;
      const dec = decapsulateHybrid({
        secretKey: slave.secretKey,
        ciphertext: ct,
        context: CONTEXT,
        sizeBits: 256,
      });
      expect(hex(dec)).not.toBe(hex(enc.material));
    }
  });

  it("differ under a wrong secret key (implicit rejection, no error)", () => {
    const { enc } = roundTrip({ qkd: new Uint8Array(8).fill(7) });
    const dec = decapsulateHybrid({
      secretKey: other.secretKey,
      ciphertext: enc.ciphertext,
      qkdMaterial: new Uint8Array(8).fill(7),
      context: CONTEXT,
      sizeBits: 256,
    });
    expect(dec.length).toBe(32);
    expect(hex(dec)).not.toBe(hex(enc.material));
  });

  it("do not touch the caller's buffers", () => {
    const qkd = new Uint8Array(16).fill(0x5a);
    const pk = slave.publicKey.slice();
    const bytes = new Uint8Array(32).fill(9);
    encapsulateHybrid({
      peerPublicKey: pk,
      qkdMaterial: qkd,
      context: CONTEXT,
      sizeBits: 128,
      random: () => bytes,
    });
    expect(qkd.every((b) => b === 0x5a)).toBe(true);
    expect(hex(pk)).toBe(hex(slave.publicKey));
    expect(bytes.every((b) => b === 9)).toBe(true);
  });

  it("reject bad arguments with RangeErrors naming them, never quoting key material", () => {
    const qkd = new Uint8Array(16).fill(0xab);
    const base: EncapsulateHybridArgs = {
      peerPublicKey: slave.publicKey,
      qkdMaterial: qkd,
      context: CONTEXT,
      sizeBits: 128,
      random,
    };
    const cases: [Partial<typeof base> & Record<string, unknown>, RegExp][] = [
      [{ sizeBits: 100 }, /sizeBits must be a positive multiple of 8/],
      [{ sizeBits: 0 }, /sizeBits/],
      [{ sizeBits: HYBRID_MAX_KEY_BITS + 8 }, /sizeBits/],
      [{ sizeBits: 12.5 }, /sizeBits/],
      [{ peerPublicKey: slave.publicKey.subarray(1) }, /peerPublicKey must be 1184 bytes/],
      [{ peerPublicKey: new Uint8Array(1184).fill(0xff) }, /peerPublicKey is not a valid ML-KEM-768/],
      [{ context: { ...CONTEXT, keyId: "" } }, /context\.keyId/],
      [{ context: { ...CONTEXT, slaveKme: undefined as unknown as string } }, /context\.slaveKme/],
      [{ context: { ...CONTEXT, slaveSaes: [] } }, /context\.slaveSaes/],
      [{ context: { ...CONTEXT, slaveSaes: ["x", ""] } }, /context\.slaveSaes\[1\]/],
      [{ qkdMaterial: [1, 2] as unknown as Uint8Array }, /qkdMaterial must be a Uint8Array/],
      [{ random: () => new Uint8Array(31) }, /random\(32\) must return/],
    ];
    for (const [over, message] of cases) {
      let error: unknown;
      try {
        encapsulateHybrid({ ...base, ...over } as typeof base);
      } catch (e) {
        error = e;
      }
      expect(error, String(message)).toBeInstanceOf(RangeError);
      const text = (error as Error).message;
      expect(text).toMatch(/^encapsulateHybrid: /);
      expect(text).toMatch(message);
      expect(text).not.toMatch(/abab|171,171/); // neither the QKD bytes in hex nor in decimal
      expect(text.length).toBeLessThan(160);
    }
    const dec = {
      secretKey: slave.secretKey,
      ciphertext: new Uint8Array(1088),
      context: CONTEXT,
      sizeBits: 128,
    };
    expect(() => decapsulateHybrid({ ...dec, secretKey: slave.secretKey.subarray(0, 100) })).toThrow(
      /decapsulateHybrid: secretKey must be 2400 bytes/,
    );
    expect(() => decapsulateHybrid({ ...dec, ciphertext: new Uint8Array(1000) })).toThrow(
      /decapsulateHybrid: ciphertext must be 1088 bytes/,
    );
    expect(() => decapsulateHybrid({ ...dec, sizeBits: 7 })).toThrow(RangeError);
    expect(() => hybridKeyExtension(-1)).toThrow(/qkdBits/);
  });
});

describe("fallbackDecision", () => {
  const decide = (policy: KeyPolicy, qkdAvailableBits: number, requestedBits: number, minQkdBits?: number) =>
    fallbackDecision(policy, { qkdAvailableBits, requestedBits, minQkdBits });

  it("serves from QKD whenever the pool covers the request, whatever the policy", () => {
    for (const p of ["qkd-only", "hybrid", "pqc-allowed"] as const) {
      expect(decide(p, 256, 256)).toBe("qkd");
      expect(decide(p, 10_000, 256)).toBe("qkd");
    }
  });

  it("qkd-only never falls back", () => {
    expect(decide("qkd-only", 255, 256)).toBe("refuse");
    expect(decide("qkd-only", 0, 256)).toBe("refuse");
  });

  it("hybrid falls back only when there are QKD bits to mix in (at least minQkdBits)", () => {
    expect(decide("hybrid", 64, 256)).toBe("hybrid");
    expect(decide("hybrid", 1, 256)).toBe("hybrid");
    expect(decide("hybrid", 0, 256)).toBe("refuse");
    expect(decide("hybrid", 64, 256, 128)).toBe("refuse");
    expect(decide("hybrid", 128, 256, 128)).toBe("hybrid");
  });

  it("pqc-allowed falls back even with no QKD bits (ML-KEM alone)", () => {
    expect(decide("pqc-allowed", 0, 256)).toBe("hybrid");
    expect(decide("pqc-allowed", 64, 256)).toBe("hybrid");
  });

  it("strictestPolicy combines the policies of the master and all slaves", () => {
    expect(strictestPolicy(["pqc-allowed"])).toBe("pqc-allowed");
    expect(strictestPolicy(["pqc-allowed", "hybrid", "pqc-allowed"])).toBe("hybrid");
    expect(strictestPolicy(["hybrid", "qkd-only"])).toBe("qkd-only");
    expect(() => strictestPolicy([])).toThrow(/strictestPolicy: policies must be a non-empty array/);
    expect(() => strictestPolicy(["hybrid", "x" as KeyPolicy])).toThrow(/policies\[1\]/);
  });

  it("rejects unknown policies and bad bit counts", () => {
    expect(() => decide("maybe" as KeyPolicy, 0, 256)).toThrow(/fallbackDecision: policy must be one of/);
    expect(() => decide("hybrid", -1, 256)).toThrow(/qkdAvailableBits/);
    expect(() => decide("hybrid", 0.5, 256)).toThrow(/qkdAvailableBits/);
    expect(() => decide("hybrid", 0, 0)).toThrow(/requestedBits/);
    expect(() => decide("hybrid", 0, Number.NaN)).toThrow(/requestedBits/);
    expect(() => decide("hybrid", 0, 256, 0)).toThrow(/minQkdBits/);
  });
});
