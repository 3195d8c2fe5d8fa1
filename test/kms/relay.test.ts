import { describe, expect, it } from "vitest";
import type { KeyUnit } from "../../src/kms/key-store.js";
import {
  buildRelayMessage,
  drawRelayKey,
  isLastHop,
  openRelayMessage,
  type PadLedger,
  padFromUnits,
  parseRelayMessage,
  type RelayLink,
  type RelayMessage,
  relayAuditEvent,
  relayHop,
  relayOrigin,
  relayPath,
  unwrapHop,
} from "../../src/kms/relay.js";
import { Rng } from "../../src/sim/rng.js";

function seeded(seed: string): (n: number) => Uint8Array {
  const rng = new Rng(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 0xff;
    return out;
  };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/**
 * A toy network: each link's pool holds the same units at both ends (as the QKD supplier guarantees);
 * each KME keeps its own ledger of used pad units.
 */
class Network {
  private readonly pools = new Map<string, KeyUnit[]>();
  private readonly ledgers = new Map<string, PadLedger>();
  consumedBits = 0;
  constructor(
    path: readonly string[],
    random: (n: number) => Uint8Array,
    private readonly unitBytes = 8,
    unitsPerLink = 512,
  ) {
    for (let i = 0; i + 1 < path.length; i++) {
      const units: KeyUnit[] = [];
      for (let u = 0; u < unitsPerLink; u++)
        units.push({ unitId: `${path[i]}-${path[i + 1]}#${u}`, material: random(unitBytes) });
      this.pools.set(`${path[i]}>${path[i + 1]}`, units);
    }
  }
  ledger(kme: string): PadLedger {
    let l = this.ledgers.get(kme);
    if (!l) {
      l = new Set();
      this.ledgers.set(kme, l);
    }
    return l;
  }
  /** The next unused units of a link, as both ends see them (the receiver looks them up by ID). */
  takePad(from: string, to: string, sizeBits: number) {
    const pool = this.pools.get(`${from}>${to}`)!;
    const count = Math.ceil(sizeBits / 8 / this.unitBytes);
    const units = pool.splice(0, count);
    this.consumedBits += count * this.unitBytes * 8;
    return padFromUnits(units, sizeBits);
  }
  /** Runs the relay of `key` along `path`; returns what the last KME recovers and every message. */
  relay(path: string[], key: Uint8Array, sizeBits: number, keyId = "k-1") {
    const messages: RelayMessage[] = [];
    let carried = key;
    for (let hop = 0; hop + 1 < path.length; hop++) {
      const pad = this.takePad(path[hop], path[hop + 1], sizeBits);
      const message = buildRelayMessage({
        keyId,
        hop,
        path,
        key: carried,
        pad,
        used: this.ledger(path[hop]),
        sizeBits,
        masterSae: "SAE-1",
        slaveSaes: ["SAE-2"],
      });
      // Over the wire as JSON, parsed by the receiver.
      const received = parseRelayMessage(JSON.parse(JSON.stringify(message)));
      messages.push(received);
      carried = openRelayMessage(received, { self: path[hop + 1], pad, used: this.ledger(path[hop + 1]) });
    }
    return { recovered: carried, messages };
  }
}

const PATHS = [
  ["A", "B"],
  ["A", "B", "C"],
  ["A", "B", "C", "D"],
  ["A", "B", "C", "D", "E"],
];

describe("one-time-pad hops", () => {
  it("relayHop and unwrapHop are inverse XORs with the pad", () => {
    const key = Uint8Array.of(0x00, 0xff, 0x5a);
    const pad = Uint8Array.of(0x0f, 0x0f, 0xff);
    const c = relayHop(key, pad);
    expect([...c]).toEqual([0x0f, 0xf0, 0xa5]);
    expect([...unwrapHop(c, pad)]).toEqual([...key]);
    expect([...key]).toEqual([0x00, 0xff, 0x5a]); // inputs untouched
  });

  it("refuse a pad of the wrong length", () => {
    expect(() => relayHop(new Uint8Array(8), new Uint8Array(7))).toThrow(
      /relayHop: padMaterial must be exactly as long as keyMaterial \(8 bytes\), got 7/,
    );
    expect(() => unwrapHop(new Uint8Array(8), new Uint8Array(9))).toThrow(RangeError);
  });

  it("drawRelayKey draws sizeBits / 8 bytes from the injected random", () => {
    expect(drawRelayKey(64, seeded("k")).length).toBe(8);
    expect(hex(drawRelayKey(64, seeded("k")))).toBe(hex(drawRelayKey(64, seeded("k"))));
    expect(() => drawRelayKey(60, seeded("k"))).toThrow(/drawRelayKey: sizeBits/);
    expect(() => drawRelayKey(64, () => new Uint8Array(4))).toThrow(/random\(8\)/);
  });
});

describe("padFromUnits", () => {
  const units = (n: number, bytes = 8): KeyUnit[] =>
    Array.from({ length: n }, (_, i) => ({ unitId: `u${i}`, material: new Uint8Array(bytes).fill(i + 1) }));

  it("cuts a pad from whole units, truncating the last", () => {
    const pad = padFromUnits(units(2), 96);
    expect(pad.unitIds).toEqual(["u0", "u1"]);
    expect([...pad.material]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);
  });

  it("refuses too few units, surplus units and repeated unit IDs", () => {
    expect(() => padFromUnits(units(1), 128)).toThrow(/units hold 64 bits, fewer than sizeBits \(128\)/);
    expect(() => padFromUnits(units(3), 128)).toThrow(/units\[2\] is not needed/);
    const twice = [units(1)[0], units(1)[0]];
    expect(() => padFromUnits(twice, 128)).toThrow(/names unit u0 twice/);
  });
});

describe("relay along a path", () => {
  it.each(PATHS.map((p) => [p.length - 1, p]))("recovers the key through %i hop(s)", (hops, path) => {
    for (const sizeBits of [64, 256, 1024]) {
      const random = seeded(`net-${hops}-${sizeBits}`);
      const net = new Network(path, random);
      const key = drawRelayKey(sizeBits, random);
      const { recovered, messages } = net.relay(path, key, sizeBits);
      expect(hex(recovered)).toBe(hex(key));
      expect(messages).toHaveLength(hops);
      expect(messages.map((m) => m.hop)).toEqual([...Array(hops).keys()]);
      expect(messages.map(isLastHop)).toEqual(messages.map((_, i) => i === hops - 1));
      // h hops consume h·n bits of link key (n a multiple of the 64-bit unit here).
      expect(net.consumedBits).toBe(hops * sizeBits);
      // The message ciphertext is standard base64 of K ⊕ P_i.
      for (const m of messages) expect(Buffer.from(m.ciphertext, "base64").length).toBe(sizeBits / 8);
    }
    expect(relayOrigin(path)).toBe(`relay:${path.join(">")}`);
  });

  it("rounds each hop's consumption up to whole units", () => {
    const path = ["A", "B", "C"];
    const net = new Network(path, seeded("units"), 8);
    net.relay(path, new Uint8Array(9), 72); // 72 bits need two 64-bit units per hop
    expect(net.consumedBits).toBe(2 * 128);
  });

  it("makes every hop's ciphertext alone uniformly random, whatever the key", () => {
    // Keys strongly biased (each bit is 1 with probability 0.9) and correlated across trials; pads from
    // the seeded link keys. Each ciphertext bit must be 1 with probability 1/2 and agree with the key
    // bit, and with the other hops' ciphertext bits, with probability 1/2. Tolerance: 5 binomial
    // standard errors (√(N/4)), for 64 positions × 4 hops × 3 statistics; with a fixed seed the test
    // is deterministic, and for a fresh seed a false alarm among the 704 counts has probability < 1e-3.
    const path = PATHS[3];
    const hops = path.length - 1;
    const trials = 1500;
    const sizeBits = 64;
    const rng = new Rng("biased-keys");
    const ones = Array.from({ length: hops }, () => new Array<number>(sizeBits).fill(0));
    const keyOnes = new Array<number>(sizeBits).fill(0);
    const sameAsKey = Array.from({ length: hops }, () => new Array<number>(sizeBits).fill(0));
    const sameAsNext = Array.from({ length: hops - 1 }, () => new Array<number>(sizeBits).fill(0));
    const bit = (b: Uint8Array, i: number) => (b[i >> 3] >> (i & 7)) & 1;
    const net = new Network(path, seeded("uniform-pads"), 8, trials);
    for (let t = 0; t < trials; t++) {
      const key = new Uint8Array(sizeBits / 8);
      for (let i = 0; i < sizeBits; i++) if (rng.bernoulli(0.9)) key[i >> 3] |= 1 << (i & 7);
      const { recovered, messages } = net.relay(path, key, sizeBits, `k-${t}`);
      expect(hex(recovered)).toBe(hex(key));
      for (let i = 0; i < sizeBits; i++) keyOnes[i] += bit(key, i);
      const cts = messages.map((m) => new Uint8Array(Buffer.from(m.ciphertext, "base64")));
      for (let h = 0; h < hops; h++)
        for (let i = 0; i < sizeBits; i++) {
          const c = bit(cts[h], i);
          ones[h][i] += c;
          sameAsKey[h][i] += c === bit(key, i) ? 1 : 0;
          if (h + 1 < hops) sameAsNext[h][i] += c === bit(cts[h + 1], i) ? 1 : 0;
        }
    }
    const tolerance = 5 * Math.sqrt(trials * 0.25);
    for (const table of [ones, sameAsKey, sameAsNext])
      for (const row of table)
        for (const count of row) expect(Math.abs(count - trials / 2)).toBeLessThan(tolerance);
    // Control: the same statistic flags the keys themselves, so it does see a bias of this size.
    for (const count of keyOnes) expect(Math.abs(count - trials / 2)).toBeGreaterThan(tolerance);
  });
});

describe("pad reuse", () => {
  const path = ["A", "B", "C"];
  const base = (pad: { unitIds: string[]; material: Uint8Array }, used: PadLedger, hop = 0) => ({
    keyId: "k",
    hop,
    path,
    key: new Uint8Array(8).fill(1),
    pad,
    used,
    sizeBits: 64,
    masterSae: "SAE-1",
    slaveSaes: ["SAE-2"],
  });

  it("is refused when sending: a pad unit is used once per KME", () => {
    const used: PadLedger = new Set();
    const pad = { unitIds: ["ab#1"], material: new Uint8Array(8).fill(9) };
    buildRelayMessage(base(pad, used));
    expect(used).toEqual(new Set(["ab#1"]));
    expect(() => buildRelayMessage({ ...base(pad, used), keyId: "k2" })).toThrow(
      /buildRelayMessage: pad unit ab#1 was already used \(pad reuse refused\)/,
    );
  });

  it("is refused when receiving the same pad twice (e.g. a replayed message)", () => {
    const pad = { unitIds: ["ab#1"], material: new Uint8Array(8).fill(9) };
    const message = buildRelayMessage(base(pad, new Set()));
    const used: PadLedger = new Set();
    openRelayMessage(message, { self: "B", pad, used });
    expect(() => openRelayMessage(message, { self: "B", pad, used })).toThrow(/ab#1 was already used/);
  });

  it("refused calls consume nothing", () => {
    const used: PadLedger = new Set(["ab#2"]);
    const pad = { unitIds: ["ab#1", "ab#2"], material: new Uint8Array(8) };
    expect(() => buildRelayMessage(base(pad, used))).toThrow(/ab#2 was already used/);
    expect(used).toEqual(new Set(["ab#2"]));
    expect(() => buildRelayMessage({ ...base(pad, new Set()), key: new Uint8Array(7) })).toThrow(
      /key must be/,
    );
  });

  it("would leak K ⊕ K′ (why it is refused)", () => {
    const pad = new Uint8Array(8).fill(0x3c);
    const k1 = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const k2 = Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1);
    expect(hex(relayHop(relayHop(k1, pad), relayHop(k2, pad)))).toBe(hex(relayHop(k1, k2)));
  });
});

describe("relay messages", () => {
  const random = seeded("messages");
  const pad = { unitIds: ["AB#1"], material: random(8) };
  const key = random(8);
  const message = buildRelayMessage({
    keyId: "7f0c2a5e-4d1b-4c1e-9a51-1a2b3c4d5e6f",
    hop: 0,
    path: ["A", "B", "C"],
    key,
    pad,
    used: new Set(),
    sizeBits: 64,
    masterSae: "SAE-1",
    slaveSaes: ["SAE-2", "SAE-3"],
  });

  it("carry the fields of the KME-to-KME relay request and no key material", () => {
    expect(Object.keys(message).sort()).toEqual(
      ["ciphertext", "hop", "keyId", "masterSae", "padUnitIds", "path", "sizeBits", "slaveSaes"].sort(),
    );
    expect(message.padUnitIds).toEqual(["AB#1"]);
    const json = JSON.stringify(message);
    expect(json).not.toContain(Buffer.from(key).toString("base64"));
    expect(json).not.toContain(Buffer.from(pad.material).toString("base64"));
    expect(Buffer.from(message.ciphertext, "base64")).toEqual(Buffer.from(relayHop(key, pad.material)));
  });

  it("are opened only by the addressed KME with the named pad", () => {
    expect(() => openRelayMessage(message, { self: "C", pad, used: new Set() })).toThrow(
      /openRelayMessage: message hop 0 is addressed to B, not self/,
    );
    expect(() =>
      openRelayMessage(message, { self: "B", pad: { ...pad, unitIds: ["AB#2"] }, used: new Set() }),
    ).toThrow(/pad\.unitIds differ from message\.padUnitIds/);
    expect(hex(openRelayMessage(message, { self: "B", pad, used: new Set() }))).toBe(hex(key));
  });

  it("are validated field by field when parsed", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ keyId: "" }, /keyId/],
      [{ hop: 2 }, /hop must be an integer from 0 to 1, got 2/],
      [{ hop: -1 }, /hop/],
      [{ path: ["A"] }, /path must list at least two KME IDs/],
      [{ path: ["A", "B", "A"] }, /path visits A twice/],
      [{ path: ["A", 3] }, /path\[1\]/],
      [{ sizeBits: 60 }, /sizeBits/],
      [{ sizeBits: 128 }, /ciphertext must be sizeBits \/ 8 = 16 bytes, got 8/],
      [{ masterSae: 1 }, /masterSae/],
      [{ slaveSaes: [] }, /slaveSaes/],
      [{ padUnitIds: [] }, /padUnitIds must name at least one unit/],
      [{ padUnitIds: ["x", "x"] }, /padUnitIds names unit x twice/],
      [{ ciphertext: "not base64!!" }, /ciphertext is not valid base64/],
      [{ ciphertext: "AAAAAAAAAAA" }, /padded base64/],
      [{ ciphertext: "AAAAAAAAAAB=" }, /not canonical base64/],
      [{ ciphertext: 5 }, /ciphertext/],
    ];
    for (const [over, re] of bad) {
      const attempt = () => parseRelayMessage({ ...message, ...over });
      expect(attempt, JSON.stringify(over)).toThrow(RangeError);
      expect(attempt, JSON.stringify(over)).toThrow(re);
    }
    expect(() => parseRelayMessage(null)).toThrow(/message must be an object/);
    expect(() => parseRelayMessage([])).toThrow(/message must be an object/);
    expect(parseRelayMessage(JSON.parse(JSON.stringify(message)))).toEqual(message);
  });

  it("base64 round-trips every length and agrees with RFC 4648", () => {
    const r = seeded("b64");
    for (let n = 1; n <= 40; n++) {
      const k = r(n);
      const p = r(n);
      const m = buildRelayMessage({
        keyId: "k",
        hop: 0,
        path: ["A", "B"],
        key: k,
        pad: { unitIds: [`u${n}`], material: p },
        used: new Set(),
        sizeBits: n * 8,
        masterSae: "S1",
        slaveSaes: ["S2"],
      });
      expect(m.ciphertext).toBe(Buffer.from(relayHop(k, p)).toString("base64"));
      const opened = openRelayMessage(parseRelayMessage(m), {
        self: "B",
        pad: { unitIds: [`u${n}`], material: p },
        used: new Set(),
      });
      expect(hex(opened)).toBe(hex(k));
    }
  });
});

describe("relayAuditEvent", () => {
  const key = Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4);
  const pad = { unitIds: ["BC#7", "BC#8"], material: Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9) };
  const message = buildRelayMessage({
    keyId: "key-1",
    hop: 1,
    path: ["A", "B", "C", "D"],
    key,
    pad,
    used: new Set(),
    sizeBits: 64,
    masterSae: "SAE-1",
    slaveSaes: ["SAE-2"],
  });

  it("records who, which pad units and how many bits, per hop", () => {
    const sent = relayAuditEvent(message, { atMs: 1000, pool: "link-B-C" });
    expect(sent).toMatchObject({
      atMs: 1000,
      kind: "relayed",
      actor: "B",
      keyIds: ["key-1"],
      bits: 64,
      pool: "link-B-C",
    });
    expect(sent.detail).toContain("sent hop 2/3 B>C");
    expect(sent.detail).toContain("pad units BC#7,BC#8");
    const received = relayAuditEvent(message, { atMs: 1001, role: "received" });
    expect(received.actor).toBe("C");
    expect(received.detail).toContain("received hop 2/3");
    expect(received.pool).toBeUndefined();
  });

  it("never contains key material, pad material or the ciphertext", () => {
    const text = JSON.stringify([
      relayAuditEvent(message, { atMs: 1 }),
      relayAuditEvent(message, { atMs: 1, role: "received" }),
    ]);
    for (const secret of [key, pad.material])
      for (const form of [hex(secret), Buffer.from(secret).toString("base64"), [...secret].join(",")])
        expect(text).not.toContain(form);
    expect(text).not.toContain(message.ciphertext);
  });

  it("rejects a bad time or role", () => {
    expect(() => relayAuditEvent(message, { atMs: Number.NaN })).toThrow(/relayAuditEvent: atMs/);
    expect(() => relayAuditEvent(message, { atMs: 1, role: "x" as "sent" })).toThrow(/role/);
  });
});

describe("relayPath", () => {
  /** Undirected helper: the same bits both ways. */
  const both = (a: string, b: string, bits: number): RelayLink[] => [
    { from: a, to: b, availableBits: bits },
    { from: b, to: a, availableBits: bits },
  ];

  it("finds the shortest path with enough key on every link", () => {
    // A–B–C–D line plus a long detour A–E–F–G–D.
    const links = [
      ...both("A", "B", 1000),
      ...both("B", "C", 1000),
      ...both("C", "D", 1000),
      ...both("A", "E", 1000),
      ...both("E", "F", 1000),
      ...both("F", "G", 1000),
      ...both("G", "D", 1000),
    ];
    expect(relayPath(links, "A", "D", 256)).toEqual(["A", "B", "C", "D"]);
    expect(relayPath(links, "D", "A", 256)).toEqual(["D", "C", "B", "A"]);
    expect(relayPath(links, "A", "B", 256)).toEqual(["A", "B"]);
    // A dry link on the short path forces the detour.
    const dry = links.map((l) => (l.from === "B" && l.to === "C" ? { ...l, availableBits: 100 } : l));
    expect(relayPath(dry, "A", "D", 256)).toEqual(["A", "E", "F", "G", "D"]);
    // Only the direction of travel matters: C→B is still fine for D→A.
    expect(relayPath(dry, "D", "A", 256)).toEqual(["D", "C", "B", "A"]);
  });

  it("returns null when every path has a link that lacks key, or the KMEs are unknown", () => {
    const links = [...both("A", "B", 1000), ...both("B", "C", 200)];
    expect(relayPath(links, "A", "C", 256)).toBeNull();
    expect(relayPath(links, "A", "C", 200)).toEqual(["A", "B", "C"]);
    expect(relayPath(links, "A", "Z", 64)).toBeNull();
    expect(relayPath(links, "Z", "A", 64)).toBeNull();
    expect(relayPath([], "A", "B", 64)).toBeNull();
  });

  it("breaks ties between shortest paths by the most key on the scarcest link", () => {
    // Two 2-hop routes A→B→D and A→C→D; B's has more in total but a poorer bottleneck.
    const links = [
      ...both("A", "B", 10_000),
      ...both("B", "D", 600),
      ...both("A", "C", 900),
      ...both("C", "D", 800),
    ];
    expect(relayPath(links, "A", "D", 256)).toEqual(["A", "C", "D"]);
    // Raise B–D above 800: B's route now has the wider bottleneck.
    const raised = links.map((l) => (l.from === "B" && l.to === "D" ? { ...l, availableBits: 850 } : l));
    expect(relayPath(raised, "A", "D", 256)).toEqual(["A", "B", "D"]);
    // Exact ties go to the smaller KME ID, whatever the input order.
    const tie = [
      ...both("A", "C", 500),
      ...both("C", "D", 500),
      ...both("A", "B", 500),
      ...both("B", "D", 500),
    ];
    expect(relayPath(tie, "A", "D", 256)).toEqual(["A", "B", "D"]);
    expect(relayPath([...tie].reverse(), "A", "D", 256)).toEqual(["A", "B", "D"]);
  });

  it("uses the best of parallel links between two KMEs", () => {
    const links = [
      { from: "A", to: "B", availableBits: 100 },
      { from: "A", to: "B", availableBits: 900 },
    ];
    expect(relayPath(links, "A", "B", 256)).toEqual(["A", "B"]);
  });

  it("widest shortest path on a grid: bottleneck maximised across several layers", () => {
    // 3×3 grid, A at one corner, I at the other: 6 shortest paths of 4 hops.
    //  A B C
    //  D E F
    //  G H I
    const links = [
      ...both("A", "B", 900),
      ...both("B", "C", 900),
      ...both("C", "F", 300),
      ...both("F", "I", 900),
      ...both("A", "D", 700),
      ...both("D", "G", 700),
      ...both("G", "H", 700),
      ...both("H", "I", 700),
      ...both("B", "E", 800),
      ...both("E", "F", 800),
      ...both("D", "E", 400),
      ...both("E", "H", 650),
    ];
    // Bottlenecks: ABCFI 300, ABEFI 800, ABEHI 650, ADEFI 400, ADEHI 400, ADGHI 700.
    expect(relayPath(links, "A", "I", 64)).toEqual(["A", "B", "E", "F", "I"]);
  });

  it("rejects malformed input", () => {
    expect(() => relayPath([], "A", "A", 64)).toThrow(/relayPath: from and to are the same KME/);
    expect(() => relayPath([], "", "A", 64)).toThrow(/from must be a KME ID/);
    expect(() => relayPath([], "A", "B", 0)).toThrow(/requiredBits must be a positive integer/);
    expect(() => relayPath([{ from: "A", to: "A", availableBits: 1 }], "A", "B", 1)).toThrow(
      /links\[0\] is a loop/,
    );
    expect(() => relayPath([{ from: "A", to: "B", availableBits: -1 }], "A", "B", 1)).toThrow(
      /links\[0\]\.availableBits/,
    );
    expect(() => relayPath([{ from: "A", availableBits: 1 } as RelayLink], "A", "B", 1)).toThrow(
      /links\[0\]\.from and \.to/,
    );
  });

  it("plans, then relays along the planned path", () => {
    const links = [...both("A", "B", 4096), ...both("B", "C", 4096), ...both("A", "C", 10)];
    const path = relayPath(links, "A", "C", 256)!;
    expect(path).toEqual(["A", "B", "C"]);
    const random = seeded("plan");
    const key = drawRelayKey(256, random);
    expect(hex(new Network(path, random).relay(path, key, 256).recovered)).toBe(hex(key));
  });
});
