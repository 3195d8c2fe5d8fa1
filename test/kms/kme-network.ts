/**
 * A small network of KMEs for the KME and KMS route tests, wired in process:
 *
 * ```
 *   kme-a (sae-a1, sae-a2)  ── pool link-a-b (64-bit units) ──  kme-b (sae-b1, sae-b2, sae-b3)
 *   kme-c (sae-c1): no pool with kme-a (reachable only by relay)
 * ```
 *
 * Each KME has its own MemoryKeyStore; `supply` feeds both ends of the pool the same units, as the QKD
 * link's key supplier would. Peer calls go straight to the other Kme's `reserveForPeer`, through an
 * optional interceptor for fault injection. Time is a settable clock; randomness a seeded stream.
 */
import {
  Kme,
  type KmeOptions,
  type Kme as KmeType,
  type PeerKmes,
  type PeerReservation,
  type PeerReserveOutcome,
  type SaeRegistration,
} from "../../src/kms/kme.js";
import { MemoryKeyStore } from "../../src/kms/memory-key-store.js";
import { Rng } from "../../src/sim/rng.js";

export const POOL = "link-a-b";
export const UNIT_BITS = 64;

export const SAES: SaeRegistration[] = [
  { saeId: "sae-a1", kmeId: "kme-a", policy: "qkd-only" },
  { saeId: "sae-a2", kmeId: "kme-a", policy: "pqc-allowed" },
  { saeId: "sae-b1", kmeId: "kme-b", policy: "qkd-only" },
  { saeId: "sae-b2", kmeId: "kme-b", policy: "pqc-allowed" },
  { saeId: "sae-b3", kmeId: "kme-b", policy: "hybrid" },
  { saeId: "sae-c1", kmeId: "kme-c", policy: "qkd-only" },
];

/** Intercepts a peer call: return an outcome (or throw) to replace it, undefined to let it through. */
export type Interceptor = (
  from: string,
  to: string,
  reservation: PeerReservation,
) => Promise<PeerReserveOutcome | undefined> | PeerReserveOutcome | undefined;

export interface KmeNetwork {
  a: Kme;
  b: Kme;
  storeA: MemoryKeyStore;
  storeB: MemoryKeyStore;
  /** The clock of both KMEs, ms; set `clock.now` to move time. */
  clock: { now: number };
  /** Replaces peer calls while set. */
  intercept: { fn?: Interceptor };
  /** Every reservation that reached a peer KME. */
  peerCalls: { from: string; to: string; reservation: PeerReservation }[];
  /** Supplies `units` new units in the a→b direction (kme-a allocates) with identical material at both ends. */
  supply(units: number, direction?: "a->b" | "b->a"): Promise<void>;
  /** Internal errors reported by either KME. */
  internalErrors: string[];
}

/** Options to tweak the KMEs of the network (applied to both, after the defaults). */
export type NetworkTweaks = Partial<Omit<KmeOptions, "kmeId" | "store" | "peers" | "clock" | "random">> & {
  /** Extra options for kme-a only. */
  a?: Partial<KmeOptions>;
};

export function kmeNetwork(tweaks: NetworkTweaks = {}, seed = "kme-network"): KmeNetwork {
  const rng = new Rng(seed);
  const random = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => rng.int(256));
  const clock = { now: 1_700_000_000_000 };
  const storeA = new MemoryKeyStore();
  const storeB = new MemoryKeyStore();
  const intercept: { fn?: Interceptor } = {};
  const peerCalls: KmeNetwork["peerCalls"] = [];
  const internalErrors: string[] = [];
  const kmes = new Map<string, KmeType>();
  const peersOf = (from: string): PeerKmes => ({
    async reserve(to, reservation) {
      const replaced = await intercept.fn?.(from, to, reservation);
      if (replaced !== undefined) return replaced;
      peerCalls.push({ from, to, reservation });
      const peer = kmes.get(to);
      if (!peer) throw new Error(`no route to KME ${to}`);
      return peer.reserveForPeer(from, reservation);
    },
  });
  const { a: onlyA, ...common } = tweaks;
  const make = (kmeId: string, store: MemoryKeyStore, peerKmeId: string): Kme =>
    new Kme({
      saes: SAES,
      pools: [{ pool: POOL, peerKmeId, unitBits: UNIT_BITS }],
      onInternalError: (e, context) => internalErrors.push(`${kmeId}: ${context}: ${String(e)}`),
      ...common,
      ...(kmeId === "kme-a" ? onlyA : {}),
      kmeId,
      store,
      peers: (kmeId === "kme-a" ? onlyA?.peers : undefined) ?? peersOf(kmeId),
      clock: () => clock.now,
      random,
    });
  const a = make("kme-a", storeA, "kme-b");
  const b = make("kme-b", storeB, "kme-a");
  kmes.set("kme-a", a);
  kmes.set("kme-b", b);
  let nextUnit = 0;
  return {
    a,
    b,
    storeA,
    storeB,
    clock,
    intercept,
    peerCalls,
    internalErrors,
    async supply(units, direction = "a->b") {
      const batch = Array.from({ length: units }, () => ({
        unitId: `${direction === "a->b" ? "ab" : "ba"}-${nextUnit++}`,
        material: random(UNIT_BITS / 8),
      }));
      const [local, peer] = direction === "a->b" ? [storeA, storeB] : [storeB, storeA];
      await local.addUnits(POOL, "local", batch, clock.now);
      await peer.addUnits(
        POOL,
        "peer",
        batch.map((u) => ({ unitId: u.unitId, material: u.material.slice() })),
        clock.now,
      );
    },
  };
}
