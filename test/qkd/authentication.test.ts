import { describe, expect, it } from "vitest";
import { KeyPool, KeyPoolExhaustedError, WegmanCarterMac } from "../../src/qkd/authentication.js";
import { randomBits } from "../../src/qkd/bits.js";
import { PolynomialHash, polynomialHashCollisionBound } from "../../src/qkd/universal-hash.js";
import { Rng } from "../../src/sim/rng.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Two pools with identical contents, as after a pre-shared key exchange. */
function pools(bits: number, seed: string): [KeyPool, KeyPool] {
  const initial = randomBits(bits, new Rng(seed));
  return [new KeyPool(initial), new KeyPool(initial)];
}

describe("key pool", () => {
  it("hands out bits first in, first out, once, and counts them", () => {
    const pool = new KeyPool(Uint8Array.from([1, 0, 1, 1]));
    expect(Array.from(pool.draw(3))).toEqual([1, 0, 1]);
    pool.add(Uint8Array.from([0, 0, 1]));
    expect(pool.remaining).toBe(4);
    expect(Array.from(pool.draw(4))).toEqual([1, 0, 0, 1]);
    expect(pool.drawn).toBe(7);
    expect(pool.added).toBe(7);
    expect(pool.remaining).toBe(0);
    expect(pool.draw(0).length).toBe(0);
  });

  it("grows across many refills without losing order", () => {
    const rng = new Rng("pool-refill");
    const pool = new KeyPool();
    const all: number[] = [];
    const out: number[] = [];
    for (let i = 0; i < 200; i++) {
      const chunk = randomBits(1 + rng.int(50), rng);
      pool.add(chunk);
      all.push(...chunk);
      out.push(...pool.draw(rng.int(pool.remaining + 1)));
    }
    out.push(...pool.draw(pool.remaining));
    expect(out).toEqual(all);
  });

  it("refuses a draw it cannot cover, with a clear error, and leaves the pool unchanged", () => {
    const pool = new KeyPool(new Uint8Array(10));
    pool.draw(4);
    let error: unknown;
    try {
      pool.draw(7);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KeyPoolExhaustedError);
    expect((error as Error).message).toMatch(
      /key pool exhausted: 7 bits needed, 6 remain \(4 drawn so far\)/,
    );
    expect(pool.remaining).toBe(6);
    expect(() => pool.draw(-1)).toThrow(RangeError);
    expect(() => new KeyPool(Uint8Array.from([0, 2]))).toThrow(/bits\[1\] = 2/);
  });
});

describe("Wegman–Carter authentication (Wegman & Carter 1981)", () => {
  it("accepts genuine messages and keeps two parties with the same pool in step", () => {
    const [alicePool, bobPool] = pools(2000, "wc-step");
    const alice = new WegmanCarterMac(alicePool);
    const bob = new WegmanCarterMac(bobPool);
    const rng = new Rng("wc-messages");
    for (let i = 0; i < 10; i++) {
      const message = Uint8Array.from({ length: rng.int(300) }, () => rng.int(256));
      // Alternate directions: each tag made on one side is verified once on the other.
      const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
      const tag = from.tag(message);
      expect(tag.length).toBe(8);
      expect(to.verify(message, tag)).toBe(true);
      expect(alicePool.remaining).toBe(bobPool.remaining);
    }
    expect(alice.tagsMade + alice.tagsVerified).toBe(10);
    expect(alice.bitsDrawn).toBe(bob.bitsDrawn);
  });

  it("rejects a tampered message or tag, and stays in step afterwards", () => {
    const [alicePool, bobPool] = pools(2000, "wc-tamper");
    const alice = new WegmanCarterMac(alicePool);
    const bob = new WegmanCarterMac(bobPool);
    const message = text("basis list: +x+xx+x++x, parities 0110");

    const tag1 = alice.tag(message);
    const altered = message.slice();
    altered[5] ^= 1;
    expect(bob.verify(altered, tag1)).toBe(false);

    const tag2 = alice.tag(message);
    const badTag = tag2.slice();
    badTag[7] ^= 0x80;
    expect(bob.verify(message, badTag)).toBe(false);

    const tag3 = alice.tag(message);
    expect(bob.verify(message.subarray(0, message.length - 1), tag3)).toBe(false);
    const tag4 = alice.tag(message);
    expect(bob.verify(message, tag4.subarray(0, 7))).toBe(false);

    // A tag is bound to its pad: replaying an old genuine tag fails.
    alice.tag(message);
    expect(bob.verify(message, tag1)).toBe(false);

    expect(bob.tagsRejected).toBe(5);
    const tag6 = alice.tag(message);
    expect(bob.verify(message, tag6)).toBe(true);
    expect(alicePool.remaining).toBe(bobPool.remaining);
  });

  it("accounts for consumption exactly: hash key once, one pad per tag", () => {
    const [pool] = pools(1000, "wc-accounting");
    const mac = new WegmanCarterMac(pool, { fieldBits: 32, lanes: 2 });
    expect(mac.tagBits).toBe(64);
    expect(mac.hashKeyBits).toBe(64);
    expect(pool.drawn).toBe(64);
    for (let i = 0; i < 5; i++) mac.tag(text(`message ${i}`));
    mac.verify(text("x"), new Uint8Array(8));
    expect(mac.tagsMade).toBe(5);
    expect(mac.tagsVerified).toBe(1);
    expect(mac.padBitsDrawn).toBe(6 * 64);
    expect(mac.bitsDrawn).toBe(64 + 6 * 64);
    expect(pool.drawn).toBe(mac.bitsDrawn);
    expect(pool.remaining).toBe(1000 - mac.bitsDrawn);
    expect(mac.poolRemaining).toBe(pool.remaining);
  });

  it("fails clearly when the pool runs out, and resumes after a refill", () => {
    const initial = randomBits(64 + 100, new Rng("wc-empty"));
    const pool = new KeyPool(initial);
    const mac = new WegmanCarterMac(pool);
    mac.tag(text("first"));
    expect(pool.remaining).toBe(36);
    expect(() => mac.tag(text("second"))).toThrow(KeyPoolExhaustedError);
    expect(() => mac.tag(text("second"))).toThrow(/64 bits needed, 36 remain/);
    expect(mac.tagsMade).toBe(1);
    expect(pool.remaining).toBe(36);
    pool.add(randomBits(64, new Rng("refill")));
    mac.tag(text("second"));
    expect(mac.tagsMade).toBe(2);
    expect(() => new WegmanCarterMac(new KeyPool(new Uint8Array(63)))).toThrow(KeyPoolExhaustedError);
  });

  it("a substitution succeeds no more often than ε, measured with 8-bit tags", () => {
    // The adversary sees (m, τ) and submits (m′, τ ⊕ Δ). It wins iff h_k(m) ⊕ h_k(m′) = Δ, whatever
    // the pad. For f = 8 the exact probability follows by enumerating all 256 hash keys, so the
    // adversary here even uses the best Δ; the measured rate must match the exact value within the
    // binomial standard error, and neither may exceed ε.
    const rng = new Rng("wc-forgery");
    const m = Uint8Array.from({ length: 6 }, () => rng.int(256));
    const m2 = m.slice();
    m2[1] ^= 0x5a;
    m2[4] ^= 0x01;
    const keysFor = new Array<number>(256).fill(0);
    for (let k = 0; k < 256; k++) {
      const key = Uint8Array.from({ length: 8 }, (_, b) => (k >> (7 - b)) & 1);
      const h = new PolynomialHash(key, { fieldBits: 8 });
      keysFor[h.hashBytes(m)[0] ^ h.hashBytes(m2)[0]]++;
    }
    const winningKeys = Math.max(...keysFor);
    const delta = keysFor.indexOf(winningKeys);
    const exact = winningKeys / 256;
    const epsilon = polynomialHashCollisionBound(8 * m.length, { fieldBits: 8 });
    expect(exact).toBeLessThanOrEqual(epsilon);

    const trials = 30_000;
    let wins = 0;
    for (let t = 0; t < trials; t++) {
      const [alicePool, bobPool] = pools(24, `forgery-${t}`);
      const alice = new WegmanCarterMac(alicePool, { fieldBits: 8 });
      const bob = new WegmanCarterMac(bobPool, { fieldBits: 8 });
      const tag = alice.tag(m);
      if (bob.verify(m2, Uint8Array.of(tag[0] ^ delta))) wins++;
    }
    expect(winningKeys).toBeGreaterThan(1);
    const se = Math.sqrt((exact * (1 - exact)) / trials);
    expect(Math.abs(wins / trials - exact)).toBeLessThan(4 * se);
    expect(wins / trials).toBeLessThan(epsilon);
    expect(new WegmanCarterMac(new KeyPool(new Uint8Array(8)), { fieldBits: 8 }).forgeryBound(6)).toBe(
      epsilon,
    );
  });
});
