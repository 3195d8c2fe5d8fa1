import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import {
  type AbstractLinkSpec,
  type ApplicationSpec,
  type ClassicalChannelSpec,
  type HeraldingScheme,
  type IntermittencySpec,
  type KeyServiceSpec,
  type LinkSpec,
  type MemorySpec,
  type NodeSpec,
  type NodeType,
  type OutageSpec,
  type PhysicalLinkSpec,
  type PurificationSpec,
  type RequestSpec,
  type SaePolicySpec,
  type SaeSpec,
  type SwapPolicy,
  TOPOLOGY_API_VERSION,
  type Topology,
} from "./topology.js";
import {
  type NumberOptions,
  type ProbabilityOptions,
  parseDurationNs,
  parseLengthKm,
  parseNumber,
  parseProbability,
  parseRateHz,
  type QuantityOptions,
  UnitError,
} from "./units.js";

/**
 * Reads topology files (`apiVersion: qnet/v1`, YAML or JSON — JSON is YAML, so one parser serves both)
 * into the validated {@link Topology} model, and request lists into {@link RequestSpec}s. Every problem
 * found is reported, each with file, line, column and field path, in one {@link TopologyError}, so a file
 * is fixed in one pass rather than one error per run. The loader takes text, never a path: the adapters
 * read files.
 *
 * The file format is documented in docs/topology-format.md and published as schema/topology.schema.json.
 */

/** One problem in a topology or requests file. Lines and columns are 1-based. */
export interface TopologyProblem {
  file: string;
  line: number;
  column: number;
  /** Field path inside the document, e.g. `links[2].length_km`; empty for a problem of the whole file. */
  path: string;
  /** What is wrong and what is allowed. */
  message: string;
}

/** `file:line:col: path: message`, the form compilers use, so editors can jump to it. */
export function formatTopologyProblem(p: TopologyProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.path === "" ? "" : `${p.path}: `}${p.message}`;
}

/** A topology or requests file that cannot be loaded; `.message` lists every problem, one per line. */
export class TopologyError extends Error {
  /** Every problem found, in file order. */
  readonly problems: readonly TopologyProblem[];

  constructor(problems: readonly TopologyProblem[]) {
    super(problems.map(formatTopologyProblem).join("\n"));
    this.name = "TopologyError";
    this.problems = problems;
  }
}

/** Options of {@link parseTopology} and {@link parseRequests}. */
export interface TopologyParseOptions {
  /**
   * What to do with a field the format does not define: `"error"` reports it (with a suggestion when it
   * looks like a misspelling); `"ignore"` skips it, e.g. to read a file written for a later minor
   * revision. Default `"error"`.
   */
  unknownFields?: "error" | "ignore";
}

/** Speed of light in vacuum, km/ns; light in fiber travels at c / group index. */
const C_KM_PER_NS = 299_792.458e-9;

/** Default group index of fiber (topology.ts: `PhysicalLinkSpec.groupIndex`). */
const DEFAULT_GROUP_INDEX = 1.4682;

const NODE_TYPES: readonly NodeType[] = ["end", "repeater", "trusted"];
const HERALDING_SCHEMES: readonly HeraldingScheme[] = ["single-click", "double-click"];
const SWAP_POLICIES: readonly SwapPolicy[] = ["asap", "nested"];
const LINK_TYPES = ["physical", "abstract"] as const;
const APPLICATION_KINDS = ["teleport", "chsh"] as const;
const PURIFICATION_SCHEMES: readonly PurificationSpec["scheme"][] = ["bbpssw", "dejmps"];
const PURIFICATION_MODES: readonly PurificationSpec["mode"][] = ["recurrence", "pumping"];
const PURIFICATION_LEVELS: readonly PurificationSpec["level"][] = ["link", "end-to-end"];
const SAE_POLICIES: readonly SaePolicySpec[] = ["qkd-only", "hybrid", "pqc-allowed"];
/** Node types that run a KME, and so may be the site of an SAE. */
const KEY_SERVICE_SITE_TYPES: readonly NodeType[] = ["end", "trusted"];
/** The smallest `key_service.pool_bits`: a pool must hold a handful of keys of common sizes. */
const MIN_POOL_BITS = 1024;

/** Link fields that only a physical link takes. */
const PHYSICAL_LINK_FIELDS = [
  "attenuation_db_per_km",
  "group_index",
  "heralding",
  "source_rate",
  "detector_efficiency",
  "dark_count_rate",
  "detection_window",
  "bright_state_population",
  "multiplexing_modes",
  "source_fidelity",
] as const;

/** Link fields that only an abstract link takes. */
const ABSTRACT_LINK_FIELDS = ["success_probability", "attempt_duration", "fidelity"] as const;

/**
 * The field names of the file format, per section: the single list that the loader, the JSON Schema
 * test and the documentation test agree on.
 */
export const TOPOLOGY_FILE_FIELDS = {
  topology: ["apiVersion", "name", "swap", "purification", "nodes", "links", "requests", "key_service"],
  node: [
    "id",
    "type",
    "memory",
    "gate_fidelity",
    "measurement_fidelity",
    "swap_success_probability",
    "processing_delay",
    "cutoff",
  ],
  memory: ["qubits", "t1", "t2", "depolarizing_time", "efficiency"],
  link: [
    "id",
    "a",
    "b",
    "type",
    "length_km",
    ...PHYSICAL_LINK_FIELDS,
    ...ABSTRACT_LINK_FIELDS,
    "classical_latency",
    "classical_jitter",
    "classical_loss",
    "outages",
    "mean_time_between_outages",
    "mean_outage_duration",
  ],
  outage: ["start", "duration"],
  purification: ["scheme", "mode", "level", "rounds"],
  request: ["id", "src", "dst", "pairs", "rate", "min_fidelity", "deadline", "path", "application"],
  application: ["kind", "theta", "phi"],
  keyService: ["pool_bits", "saes"],
  sae: ["id", "site", "policy", "keys_per_minute", "bits_per_day"],
  requestsFile: ["apiVersion", "requests"],
} as const satisfies Record<string, readonly string[]>;

/** Fields people reach for that the format names differently; checked before edit distance. */
const FIELD_HINTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  topology: {
    api_version: "apiVersion",
    version: "apiVersion",
    node: "nodes",
    link: "links",
    request: "requests",
    swapping: "swap",
    kms: "key_service",
    kme: "key_service",
    key_management: "key_service",
    saes: "key_service.saes (SAEs go under 'key_service:')",
    sae: "key_service.saes (SAEs go under 'key_service:')",
  },
  node: {
    name: "id",
    kind: "type",
    qubits: "memory.qubits (memory settings go under 'memory:')",
    t1: "memory.t1 (memory settings go under 'memory:')",
    t2: "memory.t2 (memory settings go under 'memory:')",
    depolarizing_time: "memory.depolarizing_time (memory settings go under 'memory:')",
    efficiency: "memory.efficiency (memory settings go under 'memory:')",
    swap_probability: "swap_success_probability",
    delay: "processing_delay",
  },
  memory: { t2_star: "t2", coherence_time: "t2", lifetime: "t1" },
  link: {
    jitter: "classical_jitter",
    latency: "classical_latency",
    loss: "classical_loss (message loss) or attenuation_db_per_km (fiber loss)",
    attenuation: "attenuation_db_per_km",
    length: "length_km",
    from: "a",
    to: "b",
    kind: "type",
    probability: "success_probability",
    p: "success_probability",
    outage: "outages",
    failures: "outages",
    mtbf: "mean_time_between_outages",
    mttr: "mean_outage_duration",
  },
  outage: { at: "start", begin: "start", from: "start", length: "duration", for: "duration" },
  application: { type: "kind", app: "kind", angle: "theta", polar: "theta", azimuth: "phi" },
  request: {
    source: "src",
    from: "src",
    destination: "dst",
    to: "dst",
    target: "dst",
    fidelity: "min_fidelity",
    route: "path",
    app: "application",
  },
  purification: {},
  keyService: {
    sae: "saes",
    apps: "saes",
    applications: "saes",
    clients: "saes",
    pool: "pool_bits",
    pool_size: "pool_bits",
    target_bits: "pool_bits",
  },
  sae: {
    name: "id",
    sae_id: "id",
    node: "site",
    kme: "site",
    at: "site",
    location: "site",
    fallback: "policy",
    mode: "policy",
    quota: "keys_per_minute or bits_per_day",
    rate_limit: "keys_per_minute",
    keys_per_second: "keys_per_minute (the limit is per minute)",
    bits_per_second: "bits_per_day (the limit is per day)",
  },
  requestsFile: {},
};

// ---------------------------------------------------------------------------------------------------
// The document as a tree of values with positions.

interface Pos {
  line: number;
  column: number;
}
interface Entry {
  keyPos: Pos;
  value: Val;
}
interface MapVal {
  kind: "map";
  pos: Pos;
  entries: Map<string, Entry>;
}
interface SeqVal {
  kind: "seq";
  pos: Pos;
  items: Val[];
}
interface ScalarVal {
  kind: "scalar";
  pos: Pos;
  value: unknown;
}
type Val = MapVal | SeqVal | ScalarVal;

function childPath(parent: string, key: string): string {
  return parent === "" ? key : `${parent}.${key}`;
}

function itemPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** The problems found so far in one file; thrown together, in file order. */
class Problems {
  readonly list: TopologyProblem[] = [];

  constructor(
    readonly file: string,
    readonly unknownFields: "error" | "ignore",
  ) {}

  add(pos: Pos, path: string, message: string): void {
    this.list.push({ file: this.file, line: pos.line, column: pos.column, path, message });
  }

  throwIfAny(): void {
    if (this.list.length === 0) return;
    const sorted = this.list
      .map((p, i) => ({ p, i }))
      .sort((x, y) => x.p.line - y.p.line || x.p.column - y.p.column || x.i - y.i)
      .map((x) => x.p);
    throw new TopologyError(sorted);
  }
}

/**
 * Parses YAML (or JSON) text. Syntax errors are recorded and `undefined` returned: with a broken
 * document, the field checks would only report echoes of the syntax error.
 */
function loadDocument(text: string, problems: Problems): Val | undefined {
  const lineCounter = new LineCounter();
  // uniqueKeys: false, because the converter below reports duplicates with their field path.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, merge: true, prettyErrors: false });
  const posAt = (offset: number): Pos => {
    const { line, col } = lineCounter.linePos(offset);
    return { line: Math.max(line, 1), column: Math.max(col, 1) };
  };
  for (const e of doc.errors) problems.add(posAt(e.pos[0]), "", `YAML syntax error: ${e.message}`);
  if (doc.errors.length > 0) return undefined;

  const converted = new Map<unknown, Val>();
  const inProgress = new Set<unknown>();
  const nodePos = (node: unknown, fallback: Pos): Pos => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? posAt(range[0]) : fallback;
  };

  const convert = (node: unknown, path: string, fallback: Pos): Val => {
    if (isAlias(node)) {
      const target = node.resolve(doc);
      if (target === undefined) {
        problems.add(nodePos(node, fallback), path, `alias *${node.source} refers to no anchor`);
        return { kind: "scalar", pos: nodePos(node, fallback), value: null };
      }
      return convert(target, path, nodePos(node, fallback));
    }
    const pos = nodePos(node, fallback);
    // An empty value (`cutoff:` with nothing after it) may come without a node; it has no identity to cache.
    if (node === null || typeof node !== "object") return { kind: "scalar", pos, value: null };
    const done = converted.get(node);
    if (done) return done;
    if (inProgress.has(node)) {
      problems.add(pos, path, "an alias refers to a value that contains it (a cycle)");
      return { kind: "scalar", pos, value: null };
    }
    inProgress.add(node);
    let val: Val;
    if (isMap(node)) {
      const entries = new Map<string, Entry>();
      const merges: unknown[] = [];
      for (const pair of node.items) {
        const key = pair.key;
        const keyPos = nodePos(key, pos);
        if (isScalar(key) && isMergeKey(key.value)) {
          merges.push(pair.value);
          continue;
        }
        if (!isScalar(key) || key.value === null || typeof key.value === "object") {
          problems.add(keyPos, path, "a key must be a plain field name");
          continue;
        }
        const name = String(key.value);
        const first = entries.get(name);
        if (first) {
          problems.add(
            keyPos,
            childPath(path, name),
            `duplicate key '${name}' (first given at line ${first.keyPos.line}); give it once`,
          );
          continue;
        }
        entries.set(name, { keyPos, value: convert(pair.value, childPath(path, name), keyPos) });
      }
      // YAML merge keys (`<<: *defaults`): explicit keys win, and earlier merged maps win over later ones.
      for (const m of merges) {
        const sources = isSeq(m) ? m.items : [m];
        for (const s of sources) {
          const merged = convert(s, path, pos);
          if (merged.kind !== "map") {
            problems.add(merged.pos, path, "a merge key (<<) takes a mapping or a list of mappings");
            continue;
          }
          for (const [k, e] of merged.entries) if (!entries.has(k)) entries.set(k, e);
        }
      }
      val = { kind: "map", pos, entries };
    } else if (isSeq(node)) {
      val = {
        kind: "seq",
        pos,
        items: node.items.map((item, i) => convert(item, itemPath(path, i), pos)),
      };
    } else if (isScalar(node)) {
      val = { kind: "scalar", pos, value: node.value };
    } else {
      val = { kind: "scalar", pos, value: null };
    }
    inProgress.delete(node);
    converted.set(node, val);
    return val;
  };
  if (doc.contents === null) return { kind: "scalar", pos: { line: 1, column: 1 }, value: null };
  return convert(doc.contents, "", { line: 1, column: 1 });
}

/** With `merge: true`, the parser turns a plain `<<` key into this symbol; a quoted "<<" stays a string. */
function isMergeKey(value: unknown): boolean {
  return typeof value === "symbol" && value.description === "<<";
}

// ---------------------------------------------------------------------------------------------------
// Suggestions.

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ("lenght" → "length"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => {
    const row = new Array<number>(b.length + 1).fill(0);
    row[0] = i;
    return row;
  });
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** The closest of `candidates` to `word`, when it is close enough to be a likely misspelling. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_\s]/g, "");
  const w = norm(word);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = editDistance(w, norm(c));
    if (dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  // Close enough to be a slip of the keyboard, and not a complete replacement ("x" is not a typo of "a").
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(w.length / 3)) && bestDistance < w.length)
    return best;
  // A longer or shorter form of a field: "heralding_scheme" → "heralding", "attenuation" → "attenuation_db_per_km".
  const contained = candidates.filter((c) => {
    const n = norm(c);
    return (n.length >= 3 && w.includes(n)) || (w.length >= 3 && n.includes(w));
  });
  return contained.length === 1 ? contained[0] : undefined;
}

function camelToSnake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function listOf(values: readonly string[]): string {
  return values.join(", ");
}

function show(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  return String(value);
}

// ---------------------------------------------------------------------------------------------------
// Reading sections.

type Section = keyof typeof TOPOLOGY_FILE_FIELDS;

/** Typed access to the fields of one mapping; every read reports its own problems. */
class Fields {
  constructor(
    readonly problems: Problems,
    readonly map: MapVal,
    readonly path: string,
  ) {}

  /** Reports fields not in `section` of the format, with a suggestion when one is close. */
  checkKnown(section: Section): void {
    if (this.problems.unknownFields === "ignore") return;
    const allowed: readonly string[] = TOPOLOGY_FILE_FIELDS[section];
    for (const [key, entry] of this.map.entries) {
      if (allowed.includes(key)) continue;
      const hints = FIELD_HINTS[section];
      const hint =
        (Object.hasOwn(hints, key) ? hints[key] : undefined) ??
        (allowed.includes(camelToSnake(key)) ? camelToSnake(key) : undefined) ??
        closest(key, allowed);
      const rest =
        hint !== undefined
          ? `did you mean ${hint.includes(" ") ? hint : `'${hint}'`}?`
          : `allowed: ${listOf(allowed)}`;
      this.problems.add(entry.keyPos, childPath(this.path, key), `unknown field; ${rest}`);
    }
  }

  has(key: string): boolean {
    return this.map.entries.has(key);
  }

  at(key: string): string {
    return childPath(this.path, key);
  }

  /** Position of a field's value, or of the mapping when the field is absent. */
  pos(key: string): Pos {
    return this.map.entries.get(key)?.value.pos ?? this.map.pos;
  }

  keyPos(key: string): Pos {
    return this.map.entries.get(key)?.keyPos ?? this.map.pos;
  }

  get(key: string): Val | undefined {
    return this.map.entries.get(key)?.value;
  }

  missing(key: string, allowed: string): void {
    this.problems.add(this.map.pos, this.at(key), `required field is missing; ${allowed}`);
  }

  /**
   * A field parsed by a units parser: the default when absent, `NaN` when invalid (so that checks
   * across fields skip it). When `dflt` is `{ required }`, an absent field is reported as missing with
   * that explanation.
   */
  quantity(
    key: string,
    parse: (value: unknown, field: string) => number,
    dflt: number | { required: string },
  ): number {
    const val = this.get(key);
    if (val === undefined) {
      if (typeof dflt === "number") return dflt;
      this.missing(key, dflt.required);
      return Number.NaN;
    }
    try {
      return parse(scalarOf(val), this.at(key));
    } catch (e) {
      if (!(e instanceof UnitError)) throw e;
      this.problems.add(val.pos, this.at(key), e.reason);
      return Number.NaN;
    }
  }

  duration(key: string, dflt: number | { required: string }, options: QuantityOptions = {}): number {
    return this.quantity(key, (v, f) => parseDurationNs(v, f, options), dflt);
  }

  rate(key: string, dflt: number | { required: string }, options: QuantityOptions = {}): number {
    return this.quantity(key, (v, f) => parseRateHz(v, f, options), dflt);
  }

  length(key: string, dflt: number | { required: string }, options: QuantityOptions = {}): number {
    return this.quantity(key, (v, f) => parseLengthKm(v, f, options), dflt);
  }

  probability(key: string, dflt: number | { required: string }, options: ProbabilityOptions = {}): number {
    return this.quantity(key, (v, f) => parseProbability(v, f, options), dflt);
  }

  number(key: string, dflt: number | { required: string }, options: NumberOptions = {}): number {
    return this.quantity(key, (v, f) => parseNumber(v, f, options), dflt);
  }

  /** A string field; `undefined` when absent or invalid. */
  string(key: string, required?: string): string | undefined {
    const val = this.get(key);
    if (val === undefined) {
      if (required !== undefined) this.missing(key, required);
      return undefined;
    }
    const v = scalarOf(val);
    if (typeof v !== "string" || v.trim() === "") {
      this.problems.add(
        val.pos,
        this.at(key),
        `${describeVal(val)} is not ${required ?? "a non-empty string"}`,
      );
      return undefined;
    }
    return v;
  }

  /** One of `values`; the default when absent, `undefined` when invalid (or absent and required). */
  oneOf<T extends string>(key: string, values: readonly T[], dflt: T | "required"): T | undefined {
    const val = this.get(key);
    if (val === undefined) {
      if (dflt === "required") this.missing(key, `one of ${listOf(values)}`);
      return dflt === "required" ? undefined : dflt;
    }
    const v = scalarOf(val);
    if (typeof v === "string" && (values as readonly string[]).includes(v)) return v as T;
    const hint = typeof v === "string" ? closest(v, values) : undefined;
    this.problems.add(
      val.pos,
      this.at(key),
      `${describeVal(val)} is not one of ${listOf(values)}${hint ? `; did you mean '${hint}'?` : ""}`,
    );
    return undefined;
  }

  /** A canonical ID: letters, digits, `_`, `.`, `-`, starting with a letter or digit. */
  id(key: string, what: string, required: boolean): string | undefined {
    const val = this.get(key);
    if (val === undefined) {
      if (required) this.missing(key, `every ${what} needs an id, e.g. 'id: alice'`);
      return undefined;
    }
    const v = scalarOf(val);
    if (typeof v !== "string") {
      const hint = typeof v === "number" ? ` (quote it: "${v}")` : "";
      this.problems.add(val.pos, this.at(key), `${describeVal(val)} is not a string${hint}`);
      return undefined;
    }
    if (!ID_PATTERN.test(v)) {
      this.problems.add(
        val.pos,
        this.at(key),
        `'${v}' is not a valid id: use letters, digits, '_', '.' and '-', starting with a letter or digit`,
      );
      return undefined;
    }
    return v;
  }

  /** A reference to a node ID; `undefined` when absent or not a known node. */
  nodeRef(key: string, nodeIds: ReadonlySet<string>, required: string): string | undefined {
    const val = this.get(key);
    if (val === undefined) {
      this.missing(key, required);
      return undefined;
    }
    return checkNodeRef(this.problems, val, this.at(key), nodeIds);
  }
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkNodeRef(
  problems: Problems,
  val: Val,
  path: string,
  nodeIds: ReadonlySet<string>,
): string | undefined {
  const v = scalarOf(val);
  if (typeof v !== "string") {
    problems.add(val.pos, path, `${describeVal(val)} is not a node id`);
    return undefined;
  }
  if (nodeIds.has(v)) return v;
  const ids = [...nodeIds];
  const hint = closest(v, ids);
  problems.add(
    val.pos,
    path,
    `no node has id '${v}'${hint ? `; did you mean '${hint}'?` : ""} (nodes: ${listOf(ids)})`,
  );
  return undefined;
}

/** The plain value of a scalar, or a stand-in array/object so that parsers can say what was given. */
function scalarOf(val: Val): unknown {
  if (val.kind === "scalar") return val.value;
  return val.kind === "seq" ? [] : {};
}

function describeVal(val: Val): string {
  if (val.kind === "map") return "a mapping";
  if (val.kind === "seq") return "a list";
  if (val.value === null) return "an empty value";
  return show(val.value);
}

function asMap(problems: Problems, val: Val, path: string, what: string): MapVal | undefined {
  if (val.kind === "map") return val;
  problems.add(val.pos, path, `${describeVal(val)} is not ${what} (a mapping of field: value)`);
  return undefined;
}

/** A list; an empty value (`links:` with nothing after it) is an empty list. */
function asSeq(problems: Problems, val: Val, path: string, what: string): SeqVal | undefined {
  if (val.kind === "seq") return val;
  if (val.kind === "scalar" && val.value === null) return { kind: "seq", pos: val.pos, items: [] };
  problems.add(val.pos, path, `${describeVal(val)} is not ${what} (a list, one '- ' entry per item)`);
  return undefined;
}

function fieldsOf(problems: Problems, map: MapVal, path: string, section: Section): Fields {
  const f = new Fields(problems, map, path);
  f.checkKnown(section);
  return f;
}

/** Reports the second and later uses of an ID. */
function checkUnique(
  problems: Problems,
  items: readonly { id: string; pos: Pos; path: string; defaulted?: string }[],
  what: string,
): void {
  const first = new Map<string, { pos: Pos; path: string }>();
  for (const it of items) {
    const prev = first.get(it.id);
    if (prev === undefined) {
      first.set(it.id, it);
      continue;
    }
    const why = it.defaulted ? ` (${it.defaulted})` : "";
    problems.add(
      it.pos,
      it.path,
      `duplicate ${what} id '${it.id}'${why}; ${prev.path} at line ${prev.pos.line} has it too — ids must be unique`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Nodes.

interface ParsedNode {
  spec: NodeSpec;
  pos: Pos;
  path: string;
}

function readMemory(problems: Problems, val: Val | undefined, path: string): MemorySpec {
  const memory: MemorySpec = {
    qubits: 2,
    t1Ns: Number.POSITIVE_INFINITY,
    t2Ns: Number.POSITIVE_INFINITY,
    depolarizingTimeNs: Number.POSITIVE_INFINITY,
    efficiency: 1,
  };
  if (val === undefined) return memory;
  const map = asMap(problems, val, path, "a memory description");
  if (map === undefined) return memory;
  const f = fieldsOf(problems, map, path, "memory");
  const time: QuantityOptions = { infinity: true, positive: true };
  memory.qubits = f.number("qubits", 2, { integer: true, min: 0 });
  memory.efficiency = f.probability("efficiency", 1);
  if (f.has("depolarizing_time") && (f.has("t1") || f.has("t2"))) {
    const given = ["t1", "t2"].filter((k) => f.has(k)).join(" and ");
    problems.add(
      f.keyPos("depolarizing_time"),
      f.at("depolarizing_time"),
      `a memory is either depolarizing (depolarizing_time) or relaxing and dephasing (t1, t2), not both; ${given} also given`,
    );
  }
  memory.depolarizingTimeNs = f.duration("depolarizing_time", Number.POSITIVE_INFINITY, time);
  memory.t1Ns = f.duration("t1", Number.POSITIVE_INFINITY, time);
  // T2 is at most 2·T1; when only T1 is given, T2 = 2·T1 (no dephasing beyond relaxation) rather than ∞,
  // which would describe an unphysical state.
  memory.t2Ns = f.duration("t2", 2 * memory.t1Ns, time);
  if (f.has("t2") && memory.t2Ns > 2 * memory.t1Ns)
    problems.add(
      f.pos("t2"),
      f.at("t2"),
      `T2 must be at most 2·T1 (here t1 is ${show(scalarOf(f.get("t1")!))}, so t2 ≤ ${formatNs(2 * memory.t1Ns)})`,
    );
  return memory;
}

function formatNs(ns: number): string {
  if (ns >= 1e9) return `${ns / 1e9} s`;
  if (ns >= 1e6) return `${ns / 1e6} ms`;
  if (ns >= 1e3) return `${ns / 1e3} µs`;
  return `${ns} ns`;
}

function readNode(problems: Problems, val: Val, path: string): ParsedNode | undefined {
  const map = asMap(problems, val, path, "a node");
  if (map === undefined) return undefined;
  const f = fieldsOf(problems, map, path, "node");
  const id = f.id("id", "node", true);
  const type = f.oneOf("type", NODE_TYPES, "required");
  const memory = readMemory(problems, f.get("memory"), f.at("memory"));
  if (type === "repeater" && memory.qubits < 2)
    problems.add(
      f.has("memory") ? f.pos("memory") : map.pos,
      f.at("memory.qubits"),
      `a repeater needs at least 2 memory qubits to swap (it has ${memory.qubits})`,
    );
  const spec: NodeSpec = {
    id: id ?? "",
    type: type ?? "end",
    memory,
    gateFidelity: f.probability("gate_fidelity", 1),
    measurementFidelity: f.probability("measurement_fidelity", 1),
    swapSuccessProbability: f.probability("swap_success_probability", 1),
    processingDelayNs: f.duration("processing_delay", 0),
    cutoffNs: f.duration("cutoff", Number.POSITIVE_INFINITY, { infinity: true }),
  };
  if (id === undefined) return undefined;
  return { spec, pos: f.pos("id"), path: f.at("id") };
}

// ---------------------------------------------------------------------------------------------------
// Links.

interface ParsedLink {
  spec: LinkSpec;
  pos: Pos;
  path: string;
  defaulted?: string;
}

const PHYSICAL_TAKES = `physical links take length_km, ${listOf(PHYSICAL_LINK_FIELDS)}`;
const ABSTRACT_TAKES = `abstract links take ${listOf(ABSTRACT_LINK_FIELDS)}, length_km`;

function readLink(
  problems: Problems,
  val: Val,
  path: string,
  nodeIds: ReadonlySet<string>,
): ParsedLink | undefined {
  const map = asMap(problems, val, path, "a link");
  if (map === undefined) return undefined;
  const f = fieldsOf(problems, map, path, "link");
  const a = f.nodeRef("a", nodeIds, "the id of the node at one end");
  const b = f.nodeRef("b", nodeIds, "the id of the node at the other end");
  if (a !== undefined && a === b)
    problems.add(f.pos("b"), f.at("b"), `a link joins two different nodes; both ends are '${a}'`);
  const explicitId = f.has("id") ? f.id("id", "link", false) : undefined;

  const physicalGiven = PHYSICAL_LINK_FIELDS.filter((k) => f.has(k));
  const abstractGiven = ABSTRACT_LINK_FIELDS.filter((k) => f.has(k));
  let kind: "physical" | "abstract" | undefined;
  if (f.has("type")) {
    kind = f.oneOf("type", LINK_TYPES, "required");
    if (kind !== undefined) {
      const wrong: readonly string[] = kind === "physical" ? abstractGiven : physicalGiven;
      for (const k of wrong)
        problems.add(
          f.keyPos(k),
          f.at(k),
          `this field belongs to ${kind === "physical" ? "abstract" : "physical"} links, and this link is ${kind}; ${kind === "physical" ? PHYSICAL_TAKES : ABSTRACT_TAKES}`,
        );
    }
  } else if (physicalGiven.length > 0 && abstractGiven.length > 0) {
    problems.add(
      map.pos,
      path,
      `a link is either physical or abstract, not both: it has physical field(s) ${listOf(physicalGiven)} and abstract field(s) ${listOf(abstractGiven)}; ${PHYSICAL_TAKES}; ${ABSTRACT_TAKES}`,
    );
  } else if (abstractGiven.length > 0) {
    kind = "abstract";
  } else if (physicalGiven.length > 0 || f.has("length_km")) {
    kind = "physical";
  } else {
    problems.add(
      map.pos,
      path,
      `a link needs a physical description (length_km and heralding, optionally ${listOf(PHYSICAL_LINK_FIELDS.filter((k) => k !== "heralding"))}) or an abstract one (success_probability and attempt_duration, optionally fidelity)`,
    );
  }

  let quantum: PhysicalLinkSpec | AbstractLinkSpec | undefined;
  let groupIndex = DEFAULT_GROUP_INDEX;
  if (kind === "physical") {
    const heralding = f.oneOf("heralding", HERALDING_SCHEMES, "required");
    if (heralding === "double-click" && f.has("bright_state_population"))
      problems.add(
        f.keyPos("bright_state_population"),
        f.at("bright_state_population"),
        "bright_state_population applies to single-click heralding only; this link is double-click",
      );
    groupIndex = f.number("group_index", DEFAULT_GROUP_INDEX, { min: 1 });
    quantum = {
      kind: "physical",
      lengthKm: f.length(
        "length_km",
        { required: "a physical link needs its fiber length, e.g. 'length_km: 10'" },
        { positive: true },
      ),
      attenuationDbPerKm: f.number("attenuation_db_per_km", 0.2, { min: 0 }),
      groupIndex,
      heralding: heralding ?? "double-click",
      sourceRateHz: f.rate("source_rate", Number.POSITIVE_INFINITY, { infinity: true, positive: true }),
      detectorEfficiency: f.probability("detector_efficiency", 0.9),
      darkCountRateHz: f.rate("dark_count_rate", 0),
      detectionWindowNs: f.duration("detection_window", 1, { positive: true }),
      brightStatePopulation: f.probability("bright_state_population", 0.1, { allowZero: false }),
      multiplexingModes: f.number("multiplexing_modes", 1, { integer: true, min: 1 }),
      sourceFidelity: f.probability("source_fidelity", 1),
    };
  } else if (kind === "abstract") {
    quantum = {
      kind: "abstract",
      successProbability: f.probability(
        "success_probability",
        {
          required:
            "an abstract link needs the success probability of one attempt, e.g. 'success_probability: 0.01'",
        },
        { allowZero: false },
      ),
      attemptDurationNs: f.duration(
        "attempt_duration",
        { required: "an abstract link needs the duration of one attempt, e.g. 'attempt_duration: 10 us'" },
        { positive: true },
      ),
      fidelity: f.probability("fidelity", 1),
      lengthKm: f.length("length_km", 0),
    };
  }

  const lengthKm = quantum?.lengthKm ?? 0;
  const classical: ClassicalChannelSpec = {
    // Light in fiber takes groupIndex / c per km; an abstract link uses the default fiber group index.
    latencyNs: f.duration("classical_latency", (lengthKm * groupIndex) / C_KM_PER_NS),
    jitterNs: f.duration("classical_jitter", 0),
    lossProbability: f.probability("classical_loss", 0, { allowOne: false }),
  };

  const outages = readOutages(problems, f);
  const intermittency = readIntermittency(f);

  if (a === undefined || b === undefined || quantum === undefined) return undefined;
  if (f.has("id") && explicitId === undefined) return undefined;
  const id = explicitId ?? `${a}-${b}`;
  const spec: LinkSpec = { id, a, b, quantum, classical, outages };
  if (intermittency !== undefined) spec.intermittency = intermittency;
  return {
    spec,
    pos: explicitId !== undefined ? f.pos("id") : map.pos,
    path: explicitId !== undefined ? f.at("id") : path,
    defaulted:
      explicitId === undefined
        ? `a link without an id is named '<a>-<b>'; give parallel links an explicit id`
        : undefined,
  };
}

/** Scheduled outages: a list of `{ start, duration }`, sorted and checked not to overlap. */
function readOutages(problems: Problems, f: Fields): OutageSpec[] {
  const val = f.get("outages");
  if (val === undefined) return [];
  const seq = asSeq(problems, val, f.at("outages"), "a list of outages ({ start, duration })");
  if (seq === undefined) return [];
  const out: { spec: OutageSpec; path: string; pos: Pos }[] = [];
  seq.items.forEach((item, i) => {
    const path = itemPath(f.at("outages"), i);
    const map = asMap(problems, item, path, "an outage ({ start, duration })");
    if (map === undefined) return;
    const o = fieldsOf(problems, map, path, "outage");
    const startNs = o.duration("start", { required: "when the outage begins, e.g. 'start: 2 s'" });
    const durationNs = o.duration(
      "duration",
      { required: "how long the link is down, e.g. 'duration: 300 ms'" },
      { positive: true },
    );
    if (Number.isNaN(startNs) || Number.isNaN(durationNs)) return;
    out.push({ spec: { startNs, durationNs }, path, pos: map.pos });
  });
  out.sort((x, y) => x.spec.startNs - y.spec.startNs);
  for (let i = 1; i < out.length; i++) {
    const prev = out[i - 1].spec;
    if (out[i].spec.startNs < prev.startNs + prev.durationNs)
      problems.add(
        out[i].pos,
        out[i].path,
        `this outage begins at ${formatNs(out[i].spec.startNs)}, before the one at ${out[i - 1].path} ends (${formatNs(prev.startNs + prev.durationNs)}); merge them into one`,
      );
  }
  return out.map((o) => o.spec);
}

/** Random outages: `mean_time_between_outages` and `mean_outage_duration`, both or neither. */
function readIntermittency(f: Fields): IntermittencySpec | undefined {
  const up = f.has("mean_time_between_outages");
  const down = f.has("mean_outage_duration");
  if (!up && !down) return undefined;
  const meanUpNs = f.duration(
    "mean_time_between_outages",
    { required: "random outages need the mean up time too, e.g. 'mean_time_between_outages: 5 s'" },
    { positive: true },
  );
  const meanDownNs = f.duration(
    "mean_outage_duration",
    { required: "random outages need the mean down time too, e.g. 'mean_outage_duration: 200 ms'" },
    { positive: true },
  );
  if (Number.isNaN(meanUpNs) || Number.isNaN(meanDownNs)) return undefined;
  return { meanUpNs, meanDownNs };
}

// ---------------------------------------------------------------------------------------------------
// Requests.

/** Node IDs and the links between them, for checking request endpoints and paths. */
interface Graph {
  nodeIds: ReadonlySet<string>;
  /** `"a\u0000b"` for every link, both directions. */
  adjacent: ReadonlySet<string>;
}

function graphOf(nodes: readonly NodeSpec[], links: readonly LinkSpec[]): Graph {
  const adjacent = new Set<string>();
  for (const l of links) {
    adjacent.add(`${l.a}\u0000${l.b}`);
    adjacent.add(`${l.b}\u0000${l.a}`);
  }
  return { nodeIds: new Set(nodes.map((n) => n.id)), adjacent };
}

interface ParsedRequest {
  spec: RequestSpec;
  pos: Pos;
  path: string;
  defaulted?: string;
}

function readRequest(problems: Problems, val: Val, path: string, graph: Graph): ParsedRequest | undefined {
  const map = asMap(problems, val, path, "a request");
  if (map === undefined) return undefined;
  const f = fieldsOf(problems, map, path, "request");
  const src = f.nodeRef("src", graph.nodeIds, "the id of the node where the pairs start");
  const dst = f.nodeRef("dst", graph.nodeIds, "the id of the node where the pairs end");
  if (src !== undefined && src === dst)
    problems.add(
      f.pos("dst"),
      f.at("dst"),
      `a request joins two different nodes; src and dst are both '${src}'`,
    );
  const explicitId = f.has("id") ? f.id("id", "request", false) : undefined;

  if (f.has("pairs") && f.has("rate"))
    problems.add(
      f.keyPos("rate"),
      f.at("rate"),
      "give either 'pairs' (a number of pairs to deliver) or 'rate' (a delivery rate), not both",
    );
  const pairs = f.number("pairs", Number.POSITIVE_INFINITY, { integer: true, min: 1 });
  const rateHz = f.rate("rate", 0, { positive: true });

  let requestPath: string[] | undefined;
  const pathVal = f.get("path");
  if (pathVal !== undefined) {
    const seq = asSeq(problems, pathVal, f.at("path"), "a path of node ids");
    if (seq !== undefined) requestPath = readPath(problems, seq, f.at("path"), graph, src, dst);
  }

  const spec: RequestSpec = {
    id: explicitId ?? `${src}-${dst}`,
    src: src ?? "",
    dst: dst ?? "",
    pairs,
    rateHz,
    minFidelity: f.probability("min_fidelity", 0),
    deadlineNs: f.duration("deadline", Number.POSITIVE_INFINITY, { infinity: true, positive: true }),
  };
  if (requestPath !== undefined) spec.path = requestPath;
  const appVal = f.get("application");
  if (appVal !== undefined) {
    const application = readApplication(problems, appVal, f.at("application"));
    if (application !== undefined) spec.application = application;
  }
  if (src === undefined || dst === undefined || (f.has("id") && explicitId === undefined)) return undefined;
  return {
    spec,
    pos: explicitId !== undefined ? f.pos("id") : map.pos,
    path: explicitId !== undefined ? f.at("id") : path,
    defaulted:
      explicitId === undefined
        ? "a request without an id is named '<src>-<dst>'; give requests between the same nodes an explicit id"
        : undefined,
  };
}

/** `application: { kind: teleport, theta, phi }` or `application: { kind: chsh }`; angles in radians. */
function readApplication(problems: Problems, val: Val, path: string): ApplicationSpec | undefined {
  const map = asMap(problems, val, path, "an application ({ kind: teleport | chsh, ... })");
  if (map === undefined) return undefined;
  const f = fieldsOf(problems, map, path, "application");
  const kind = f.oneOf("kind", APPLICATION_KINDS, "required");
  if (kind === "chsh") {
    for (const k of ["theta", "phi"])
      if (f.has(k))
        problems.add(
          f.keyPos(k),
          f.at(k),
          "the chsh application measures in fixed settings and takes no state; theta and phi belong to kind: teleport",
        );
    return { kind: "chsh" };
  }
  const theta = f.number("theta", 0, { min: 0, max: Math.PI });
  const phi = f.number("phi", 0);
  if (kind === undefined || Number.isNaN(theta) || Number.isNaN(phi)) return undefined;
  return { kind, theta, phi };
}

/** A path is the node IDs from src to dst, each consecutive pair joined by a link, no node twice. */
function readPath(
  problems: Problems,
  seq: SeqVal,
  path: string,
  graph: Graph,
  src: string | undefined,
  dst: string | undefined,
): string[] | undefined {
  const ids = seq.items.map((item, i) => checkNodeRef(problems, item, itemPath(path, i), graph.nodeIds));
  if (ids.length < 2) {
    problems.add(seq.pos, path, "a path lists at least two node ids, from src to dst");
    return undefined;
  }
  let ok = ids.every((id) => id !== undefined);
  if (src !== undefined && ids[0] !== undefined && ids[0] !== src) {
    problems.add(seq.items[0].pos, itemPath(path, 0), `the path must start at src '${src}', not '${ids[0]}'`);
    ok = false;
  }
  const last = ids.length - 1;
  if (dst !== undefined && ids[last] !== undefined && ids[last] !== dst) {
    problems.add(
      seq.items[last].pos,
      itemPath(path, last),
      `the path must end at dst '${dst}', not '${ids[last]}'`,
    );
    ok = false;
  }
  const seen = new Map<string, number>();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id === undefined) continue;
    const before = seen.get(id);
    if (before !== undefined) {
      problems.add(
        seq.items[i].pos,
        itemPath(path, i),
        `'${id}' appears twice in the path (also at path[${before}])`,
      );
      ok = false;
    } else seen.set(id, i);
    const prev = i > 0 ? ids[i - 1] : undefined;
    if (prev !== undefined && !graph.adjacent.has(`${prev}\u0000${id}`)) {
      problems.add(
        seq.items[i].pos,
        itemPath(path, i),
        `no link joins '${prev}' and '${id}'; consecutive path entries must be the two ends of a link`,
      );
      ok = false;
    }
  }
  return ok ? (ids as string[]) : undefined;
}

function readRequestList(problems: Problems, val: Val, path: string, graph: Graph): RequestSpec[] {
  const seq = asSeq(problems, val, path, "a list of requests");
  if (seq === undefined) return [];
  const parsed = seq.items
    .map((item, i) => readRequest(problems, item, itemPath(path, i), graph))
    .filter((r): r is ParsedRequest => r !== undefined);
  checkUnique(
    problems,
    parsed.map((r) => ({ id: r.spec.id, pos: r.pos, path: r.path, defaulted: r.defaulted })),
    "request",
  );
  return parsed.map((r) => r.spec);
}

// ---------------------------------------------------------------------------------------------------
// The key service.

interface ParsedSae {
  spec: SaeSpec;
  pos: Pos;
  path: string;
}

/** The end and trusted nodes, for messages: `campus-a, exchange` or that there are none. */
function keyServiceSites(nodes: readonly NodeSpec[]): string[] {
  return nodes.filter((n) => KEY_SERVICE_SITE_TYPES.includes(n.type)).map((n) => n.id);
}

function sitesText(sites: readonly string[]): string {
  return sites.length > 0 ? `here: ${listOf(sites)}` : "this topology has none";
}

/** An SAE's site: an existing node whose type runs a KME (end or trusted). */
function readSaeSite(f: Fields, nodes: readonly NodeSpec[]): string | undefined {
  const sites = keyServiceSites(nodes);
  const val = f.get("site");
  if (val === undefined) {
    f.missing("site", `the end or trusted node whose KME serves this SAE (${sitesText(sites)})`);
    return undefined;
  }
  const v = scalarOf(val);
  if (typeof v !== "string") {
    f.problems.add(val.pos, f.at("site"), `${describeVal(val)} is not a node id`);
    return undefined;
  }
  const node = nodes.find((n) => n.id === v);
  if (node === undefined) {
    const hint =
      closest(v, sites) ??
      closest(
        v,
        nodes.map((n) => n.id),
      );
    f.problems.add(
      val.pos,
      f.at("site"),
      `no node has id '${v}'${hint ? `; did you mean '${hint}'?` : ""} (an SAE's site is an end or trusted node; ${sitesText(sites)})`,
    );
    return undefined;
  }
  if (!KEY_SERVICE_SITE_TYPES.includes(node.type)) {
    f.problems.add(
      val.pos,
      f.at("site"),
      `'${v}' is a ${node.type} node, which runs no KME; an SAE's site is an end or trusted node (${sitesText(sites)})`,
    );
    return undefined;
  }
  return v;
}

/** A positive plain number when the field is given; `undefined` when absent or invalid. */
function optionalPositive(f: Fields, key: string): number | undefined {
  if (!f.has(key)) return undefined;
  const v = f.number(key, Number.NaN, { min: 0, exclusiveMin: true });
  return Number.isNaN(v) ? undefined : v;
}

function readSae(
  problems: Problems,
  val: Val,
  path: string,
  nodes: readonly NodeSpec[],
): ParsedSae | undefined {
  const map = asMap(problems, val, path, "an SAE ({ id, site, policy, ... })");
  if (map === undefined) return undefined;
  const f = fieldsOf(problems, map, path, "sae");
  if (!f.has("id"))
    f.missing("id", "every SAE needs an id, the one its certificate names, e.g. 'id: app-campus-a'");
  const id = f.has("id") ? f.id("id", "SAE", false) : undefined;
  const site = readSaeSite(f, nodes);
  const policy = f.oneOf("policy", SAE_POLICIES, "hybrid");
  const spec: SaeSpec = { id: id ?? "", site: site ?? "", policy: policy ?? "hybrid" };
  const keysPerMinute = optionalPositive(f, "keys_per_minute");
  if (keysPerMinute !== undefined) spec.keysPerMinute = keysPerMinute;
  const bitsPerDay = optionalPositive(f, "bits_per_day");
  if (bitsPerDay !== undefined) spec.bitsPerDay = bitsPerDay;
  // Other problems are already reported; an SAE with an id still takes part in the uniqueness check.
  if (id === undefined) return undefined;
  return { spec, pos: f.pos("id"), path: f.at("id") };
}

/**
 * `key_service: { pool_bits, saes }`. Defaults are left to the consumer (an absent `saes` stays
 * absent), but they are checked here: without `saes`, the topology must have an end node to serve.
 */
function readKeyService(
  problems: Problems,
  val: Val,
  path: string,
  nodes: readonly NodeSpec[],
): KeyServiceSpec | undefined {
  if (val.kind === "scalar" && val.value === null) {
    problems.add(
      val.pos,
      path,
      "the section is empty; write 'key_service: {}' for a key service with every default, or leave it out for none",
    );
    return undefined;
  }
  const map = asMap(problems, val, path, "a key service description");
  if (map === undefined) return undefined;
  const f = fieldsOf(problems, map, path, "keyService");
  const spec: KeyServiceSpec = {};
  if (f.has("pool_bits")) {
    const poolBits = f.number("pool_bits", Number.NaN, { integer: true, min: MIN_POOL_BITS });
    if (!Number.isNaN(poolBits)) spec.poolBits = poolBits;
  }
  const saesVal = f.get("saes");
  if (saesVal === undefined) {
    if (nodes.length > 0 && !nodes.some((n) => n.type === "end"))
      problems.add(
        map.pos,
        path,
        "without 'saes', the key service serves one SAE app-<node> per end node, and this topology has no end node; list the SAEs under 'saes:'",
      );
    return spec;
  }
  const seq = asSeq(problems, saesVal, f.at("saes"), "a list of SAEs");
  if (seq === undefined) return spec;
  if (seq.items.length === 0)
    problems.add(
      seq.pos,
      f.at("saes"),
      "a key service needs at least one SAE; list them, or leave out 'saes' for the default: one SAE app-<node> with policy hybrid per end node",
    );
  const parsed = seq.items
    .map((item, i) => readSae(problems, item, itemPath(f.at("saes"), i), nodes))
    .filter((s): s is ParsedSae => s !== undefined);
  checkUnique(
    problems,
    parsed.map((s) => ({ id: s.spec.id, pos: s.pos, path: s.path })),
    "SAE",
  );
  spec.saes = parsed.map((s) => s.spec);
  return spec;
}

// ---------------------------------------------------------------------------------------------------
// Whole files.

function readPurification(problems: Problems, val: Val, path: string): PurificationSpec | undefined {
  const map = asMap(problems, val, path, "a purification description");
  if (map === undefined) return undefined;
  const f = fieldsOf(problems, map, path, "purification");
  const scheme = f.oneOf("scheme", PURIFICATION_SCHEMES, "required");
  const level = f.oneOf("level", PURIFICATION_LEVELS, "required");
  const mode = f.oneOf("mode", PURIFICATION_MODES, "recurrence");
  const rounds = f.number("rounds", 1, { integer: true, min: 1 });
  if (scheme === undefined || level === undefined || mode === undefined) return undefined;
  return { scheme, mode, level, rounds };
}

/** Checks `apiVersion`; returns false when it names another version, whose fields would only add noise. */
function checkApiVersion(f: Fields, required: boolean): boolean {
  const val = f.get("apiVersion");
  if (val === undefined) {
    if (required)
      f.missing("apiVersion", `add 'apiVersion: ${TOPOLOGY_API_VERSION}' (the supported version)`);
    return true;
  }
  const v = scalarOf(val);
  if (v === TOPOLOGY_API_VERSION) return true;
  f.problems.add(
    val.pos,
    f.at("apiVersion"),
    `${describeVal(val)} is not supported; this version of qnet reads apiVersion ${TOPOLOGY_API_VERSION}`,
  );
  return false;
}

/** The file name without directories and without a .yaml/.yml/.json extension. */
function baseName(fileName: string): string {
  const last = fileName.split(/[\\/]/).pop() ?? fileName;
  return last.replace(/\.(ya?ml|json)$/i, "") || last;
}

/**
 * Parses and validates a topology file (`apiVersion: qnet/v1`, YAML or JSON) into the {@link Topology}
 * model: units resolved (ns, Hz, km), every default of topology.ts applied (except those of the key
 * service, which its consumer applies: an absent `saes` or `pool_bits` stays absent), IDs canonical,
 * references checked. The format is described in docs/topology-format.md.
 *
 * @param text - the file's contents.
 * @param fileName - the name used in problem reports (and, without extension, the default `name`).
 * @param options - see {@link TopologyParseOptions}.
 * @returns the validated topology.
 * @throws {@link TopologyError} listing every problem found, each with file, line, column and field path.
 */
export function parseTopology(text: string, fileName: string, options: TopologyParseOptions = {}): Topology {
  const problems = new Problems(fileName, options.unknownFields ?? "error");
  const root = loadDocument(text, problems);
  if (root === undefined) problems.throwIfAny();
  if (root!.kind !== "map") {
    problems.add(
      root!.pos,
      "",
      `${root!.kind === "scalar" && root!.value === null ? "the file is empty" : `the file holds ${describeVal(root!)}`}; a topology file is a mapping with apiVersion: ${TOPOLOGY_API_VERSION}, nodes, links and optionally swap, purification, requests, key_service`,
    );
    problems.throwIfAny();
  }
  const f = new Fields(problems, root as MapVal, "");
  if (!checkApiVersion(f, true)) problems.throwIfAny();
  f.checkKnown("topology");

  let name = baseName(fileName);
  if (f.has("name")) name = f.string("name") ?? name;
  const swap = f.oneOf("swap", SWAP_POLICIES, "asap");
  const purification = f.has("purification")
    ? readPurification(problems, f.get("purification")!, f.at("purification"))
    : undefined;

  const nodes: NodeSpec[] = [];
  const nodesVal = f.get("nodes");
  if (nodesVal === undefined) {
    f.missing("nodes", "a list of nodes, each with an id and a type (end, repeater or trusted)");
  } else {
    const seq = asSeq(problems, nodesVal, "nodes", "a list of nodes");
    if (seq !== undefined && seq.items.length === 0)
      problems.add(seq.pos, "nodes", "a topology needs at least one node");
    const parsed = (seq?.items ?? [])
      .map((item, i) => readNode(problems, item, itemPath("nodes", i)))
      .filter((n): n is ParsedNode => n !== undefined);
    checkUnique(
      problems,
      parsed.map((n) => ({ id: n.spec.id, pos: n.pos, path: n.path })),
      "node",
    );
    nodes.push(...parsed.map((n) => n.spec));
  }

  const nodeIds = new Set(nodes.map((n) => n.id));
  const links: LinkSpec[] = [];
  const linksVal = f.get("links");
  if (linksVal !== undefined) {
    const seq = asSeq(problems, linksVal, "links", "a list of links");
    const parsed = (seq?.items ?? [])
      .map((item, i) => readLink(problems, item, itemPath("links", i), nodeIds))
      .filter((l): l is ParsedLink => l !== undefined);
    checkUnique(
      problems,
      parsed.map((l) => ({ id: l.spec.id, pos: l.pos, path: l.path, defaulted: l.defaulted })),
      "link",
    );
    links.push(...parsed.map((l) => l.spec));
  }

  const requestsVal = f.get("requests");
  const requests =
    requestsVal === undefined
      ? []
      : readRequestList(problems, requestsVal, "requests", graphOf(nodes, links));

  const keyServiceVal = f.get("key_service");
  const keyService =
    keyServiceVal === undefined ? undefined : readKeyService(problems, keyServiceVal, "key_service", nodes);

  problems.throwIfAny();
  const topology: Topology = {
    apiVersion: TOPOLOGY_API_VERSION,
    name,
    nodes,
    links,
    swap: swap!,
    requests,
  };
  if (purification !== undefined) topology.purification = purification;
  if (keyService !== undefined) topology.keyService = keyService;
  return topology;
}

/**
 * Parses and validates a separate requests file against a loaded topology: either a mapping with a
 * `requests:` list (and optionally `apiVersion: qnet/v1`) or a bare list of requests. Field paths in
 * problems read `requests[i]…` in both forms.
 *
 * @param text - the file's contents.
 * @param fileName - the name used in problem reports.
 * @param topology - the topology whose nodes and links the requests refer to.
 * @param options - see {@link TopologyParseOptions}.
 * @returns the requests, in file order.
 * @throws {@link TopologyError} listing every problem found.
 */
export function parseRequests(
  text: string,
  fileName: string,
  topology: Topology,
  options: TopologyParseOptions = {},
): RequestSpec[] {
  const problems = new Problems(fileName, options.unknownFields ?? "error");
  const root = loadDocument(text, problems);
  if (root === undefined) problems.throwIfAny();
  const graph = graphOf(topology.nodes, topology.links);
  let requests: RequestSpec[] = [];
  if (root!.kind === "map") {
    const f = new Fields(problems, root!, "");
    if (!checkApiVersion(f, false)) problems.throwIfAny();
    f.checkKnown("requestsFile");
    const list = f.get("requests");
    if (list === undefined)
      f.missing("requests", "a list of requests (or write the list itself as the whole file)");
    else requests = readRequestList(problems, list, "requests", graph);
  } else if (root!.kind === "seq") {
    requests = readRequestList(problems, root!, "requests", graph);
  } else {
    problems.add(
      root!.pos,
      "",
      "a requests file is a list of requests, or a mapping with a 'requests:' list",
    );
  }
  problems.throwIfAny();
  return requests;
}
