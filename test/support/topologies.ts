import type { LinkSpec, NodeSpec, RequestSpec, Topology } from "../../src/network/topology.js";

/** A node with perfect defaults; override what a test needs. */
export function node(id: string, overrides: Partial<NodeSpec> & { qubits?: number } = {}): NodeSpec {
  const { qubits, ...rest } = overrides;
  return {
    id,
    type: "repeater",
    memory: {
      qubits: qubits ?? 2,
      t1Ns: Infinity,
      t2Ns: Infinity,
      depolarizingTimeNs: Infinity,
      efficiency: 1,
    },
    gateFidelity: 1,
    measurementFidelity: 1,
    swapSuccessProbability: 1,
    processingDelayNs: 0,
    cutoffNs: Infinity,
    ...rest,
  };
}

/** An abstract link with no classical latency unless given. */
export function abstractLink(
  a: string,
  b: string,
  p: number,
  attemptDurationNs: number,
  fidelity = 1,
  latencyNs = 0,
): LinkSpec {
  return {
    id: `${a}-${b}`,
    a,
    b,
    quantum: { kind: "abstract", successProbability: p, attemptDurationNs, fidelity, lengthKm: 0 },
    classical: { latencyNs, jitterNs: 0, lossProbability: 0 },
    outages: [],
  };
}

export function request(src: string, dst: string, overrides: Partial<RequestSpec> = {}): RequestSpec {
  return {
    id: "req",
    src,
    dst,
    pairs: Number.POSITIVE_INFINITY,
    rateHz: 0,
    minFidelity: 0,
    deadlineNs: Number.POSITIVE_INFINITY,
    ...overrides,
  };
}

export interface ChainOptions {
  /** Links in the chain (nodes n0 … nN). */
  links: number;
  p: number;
  attemptDurationNs?: number;
  fidelity?: number;
  swapSuccessProbability?: number;
  swap?: "asap" | "nested";
  /** Memory qubits per link side. Default 1. */
  qubitsPerSide?: number;
  node?: Partial<NodeSpec>;
  latencyNs?: number;
  request?: Partial<RequestSpec>;
}

/** A linear chain n0 — n1 — … — nN of identical abstract links with one request end to end. */
export function chain(o: ChainOptions): Topology {
  const n = o.links;
  const per = o.qubitsPerSide ?? 1;
  const nodes = Array.from({ length: n + 1 }, (_, i) =>
    node(`n${i}`, {
      type: i === 0 || i === n ? "end" : "repeater",
      qubits: i === 0 || i === n ? per : 2 * per,
      swapSuccessProbability: o.swapSuccessProbability ?? 1,
      ...o.node,
    }),
  );
  const links = Array.from({ length: n }, (_, i) =>
    abstractLink(`n${i}`, `n${i + 1}`, o.p, o.attemptDurationNs ?? 1, o.fidelity ?? 1, o.latencyNs ?? 0),
  );
  return {
    apiVersion: "qnet/v1",
    name: `chain-${n}`,
    nodes,
    links,
    swap: o.swap ?? "asap",
    requests: [request("n0", `n${n}`, o.request)],
  };
}
