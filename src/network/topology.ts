/**
 * The validated, unit-resolved form of a topology file (`apiVersion: qnet/v1`). Loading a YAML or JSON
 * document produces this; the hardware models and the network simulation consume it. Every duration is
 * in ns, every rate in Hz, every length in km, every probability in [0, 1]; every optional physical
 * quantity has been given its documented default, so consumers never guess.
 */

/** The only topology format version so far. */
export const TOPOLOGY_API_VERSION = "qnet/v1";

export type NodeType = "end" | "repeater" | "trusted";

/** A node's quantum memories. */
export interface MemorySpec {
  /** Number of memory qubits (≥ 0; 0 for a node without memories, e.g. a trusted QKD node). Default 2. */
  qubits: number;
  /**
   * Energy relaxation time T1 in ns (`Infinity`: none). When `depolarizingTimeNs` is finite the
   * memory is depolarizing instead and `t1Ns`/`t2Ns` are `Infinity`. Default `Infinity`.
   */
  t1Ns: number;
  /** Coherence time T2 in ns (`Infinity`: none); T2 ≤ 2·T1. Default 2·T1 when T1 is given, else `Infinity`. */
  t2Ns: number;
  /** Depolarizing time constant in ns (`Infinity`: none). Default `Infinity`. */
  depolarizingTimeNs: number;
  /** Probability that an emitted photon leaves the memory into the fiber (emission × collection). Default 1. */
  efficiency: number;
}

export interface NodeSpec {
  /** Canonical ID used in every output: the `id` written in the file. */
  id: string;
  /** Required. */
  type: NodeType;
  memory: MemorySpec;
  /** Fidelity of two-qubit gates (a depolarizing error of 1 − fidelity on the pair after the gate). Default 1. */
  gateFidelity: number;
  /** Probability that a single-qubit measurement reads correctly. Default 1. */
  measurementFidelity: number;
  /** Probability that a Bell-state measurement for swapping succeeds. Default 1. */
  swapSuccessProbability: number;
  /** Classical processing delay before the node acts on a message or a herald, in ns. Default 0. */
  processingDelayNs: number;
  /**
   * A stored pair older than this is discarded (one exactly this old is still used), in ns. `Infinity`:
   * no cutoff. Default `Infinity`.
   */
  cutoffNs: number;
}

export type HeraldingScheme = "single-click" | "double-click";

/** Physical description of a link with a midpoint heralding station (each arm `lengthKm / 2`). */
export interface PhysicalLinkSpec {
  kind: "physical";
  lengthKm: number;
  /** Default 0.2. */
  attenuationDbPerKm: number;
  /** Group index of the fiber; light takes groupIndex / c per unit length. Default 1.4682. */
  groupIndex: number;
  /** Required. */
  heralding: HeraldingScheme;
  /** Maximum attempt rate of the sources, in Hz (`Infinity`: limited only by light travel). Default `Infinity`. */
  sourceRateHz: number;
  /** Detector efficiency at the midpoint station. Default 0.9. */
  detectorEfficiency: number;
  /** Dark-count rate per detector in Hz. Default 0. */
  darkCountRateHz: number;
  /** Detection window per attempt in ns (for dark-count probabilities). Default 1. */
  detectionWindowNs: number;
  /** Bright-state population α for single-click heralding. Default 0.1. */
  brightStatePopulation: number;
  /** Frequency/time-bin modes tried per attempt; a success in any mode heralds a pair. Default 1. */
  multiplexingModes: number;
  /**
   * Fidelity of the state emitted by the sources before loss and detector noise (e.g. imperfect
   * indistinguishability), as a Werner fidelity multiplied into the heralded state. Default 1.
   */
  sourceFidelity: number;
}

/** Abstract description: the user states the per-attempt outcome directly. */
export interface AbstractLinkSpec {
  kind: "abstract";
  /** Success probability of one attempt. Required. */
  successProbability: number;
  /** Duration of one attempt, in ns. Required. */
  attemptDurationNs: number;
  /** Werner fidelity of delivered pairs. Default 1. */
  fidelity: number;
  /** Length in km, used only for the default classical latency. Default 0. */
  lengthKm: number;
}

export interface ClassicalChannelSpec {
  /** One-way latency in ns: given, or from the fiber length at the group index. */
  latencyNs: number;
  /** Uniform jitter added to each message, in ns, drawn from [0, jitterNs]. Default 0. */
  jitterNs: number;
  /** Probability that a message is lost (it is then resent after a timeout of 2·latency). Default 0. */
  lossProbability: number;
}

/** A scheduled period during which a link's quantum channel carries no photons (e.g. a fiber cut). */
export interface OutageSpec {
  /** Simulated time at which the outage begins, in ns. */
  startNs: number;
  /** Its length, in ns (> 0). */
  durationNs: number;
}

/**
 * Random intermittent outages (e.g. optical alignment drifting out and back): the link alternates
 * between up periods and down periods with exponentially distributed lengths, starting up at time 0.
 */
export interface IntermittencySpec {
  /** Mean length of an up period, in ns. */
  meanUpNs: number;
  /** Mean length of a down period, in ns. */
  meanDownNs: number;
}

export interface LinkSpec {
  /** Canonical ID: the `id` in the file, or `"<a>-<b>"` when none is given. */
  id: string;
  a: string;
  b: string;
  quantum: PhysicalLinkSpec | AbstractLinkSpec;
  classical: ClassicalChannelSpec;
  /**
   * Scheduled outages, sorted by start. While the quantum channel is down every attempt fails; pairs
   * already stored in memories are unaffected and classical messages still flow. Default none.
   */
  outages: OutageSpec[];
  /** Random outages on top of the scheduled ones. Default none. */
  intermittency?: IntermittencySpec;
}

export type SwapPolicy = "asap" | "nested";

export type PurificationScheme = "bbpssw" | "dejmps";

export interface PurificationSpec {
  /** Required. */
  scheme: PurificationScheme;
  /**
   * `recurrence`: purify two pairs of equal history; `pumping`: purify with a fresh link-level pair
   * each round. Default `recurrence`.
   */
  mode: "recurrence" | "pumping";
  /** Where purification happens: on each link before swapping, or on end-to-end pairs. Required. */
  level: "link" | "end-to-end";
  /** Rounds to perform (1 or more). Default 1. */
  rounds: number;
}

/** What the end nodes do with each delivered pair. */
export type ApplicationSpec =
  /** Teleport the qubit state cos(θ/2)|0⟩ + e^{iφ} sin(θ/2)|1⟩ from src to dst (angles in radians). */
  | { kind: "teleport"; theta: number; phi: number }
  /** Measure each pair in randomly chosen CHSH settings and estimate S. */
  | { kind: "chsh" };

export interface RequestSpec {
  id: string;
  src: string;
  dst: string;
  /** Pairs to deliver; `Infinity` when a rate is given instead, or when neither is given. */
  pairs: number;
  /**
   * Target delivery rate in Hz, or 0 for as fast as possible. A rate request's links stop starting
   * new attempts while it is a whole pair ahead of `rateHz · t`, so that it takes no more than its
   * share of the memories. Default 0.
   */
  rateHz: number;
  /** Pairs delivered below this fidelity are discarded and counted. Default 0. */
  minFidelity: number;
  /** Simulated time by which the request must be complete, in ns; `Infinity`: none. Default `Infinity`. */
  deadlineNs: number;
  /** Node IDs from src to dst; when absent, the best path is chosen. */
  path?: string[];
  /** What to do with delivered pairs; absent: nothing but counting them. */
  application?: ApplicationSpec;
}

export interface Topology {
  apiVersion: typeof TOPOLOGY_API_VERSION;
  /** Default: the file's base name without extension. */
  name: string;
  nodes: NodeSpec[];
  links: LinkSpec[];
  /** Default `asap`. */
  swap: SwapPolicy;
  purification?: PurificationSpec;
  requests: RequestSpec[];
  /**
   * The key service over this network (`qnet kms --topology`, `qnet serve`), from the file's
   * `key_service` section. Absent when the file has none. Its own defaults are left to the consumer
   * (see {@link KeyServiceSpec}).
   */
  keyService?: KeyServiceSpec;
}

/**
 * How an application (SAE) may be given keys when its QKD pool cannot serve it: `qkd-only` never takes
 * anything but QKD key; `hybrid` takes a post-quantum key mixed with the QKD bits there are, when there
 * are some; `pqc-allowed` takes one even with no QKD bits at all.
 */
export type SaePolicySpec = "qkd-only" | "hybrid" | "pqc-allowed";

/** An application (SAE) of the key service, the site it connects at and its limits. */
export interface SaeSpec {
  /** The SAE ID, as its certificate names it; unique among the SAEs, in the form of a canonical ID. */
  id: string;
  /** The end or trusted node whose KME serves it. */
  site: string;
  /** Default `hybrid`. */
  policy: SaePolicySpec;
  /** Keys it may take per minute as master (> 0). Absent: no limit. */
  keysPerMinute?: number;
  /** Key bits it may take per day as master (> 0). Absent: no limit. */
  bitsPerDay?: number;
}

/**
 * The key service: one KME per end or trusted node, a QKD pool on every physical link between two of
 * them, and the applications (SAEs) it serves.
 */
export interface KeyServiceSpec {
  /**
   * At least one when given. Absent: the consumer serves one SAE `app-<node>` with policy `hybrid` and
   * no limits per end node.
   */
  saes?: SaeSpec[];
  /** Bits each KME keeps in each direction of each of its pools, an integer ≥ 1024. Absent: 65,536. */
  poolBits?: number;
}
