/**
 * Admission control for the orchestrator (issue 6, C6; F1, F2 in docs/system-map.md): before a job
 * takes any resources, decide whether the network as currently estimated can do it — a path that
 * meets its minimum fidelity and its deadline — and if not, say why in words a user can act on.
 *
 * Admission judges feasibility only; waiting for resources, fairness between tenants and rate limits
 * belong to the scheduler (./scheduler.ts). Core layer: time is passed in. See
 * docs/orchestrator-decisions.md.
 */
import type { Topology } from "../network/topology.js";
import type { JobRecord, JobSpec } from "./jobs.js";
import type { LinkEstimator } from "./link-estimates.js";
import {
  downLinksBlocking,
  entanglementPaths,
  keyBitsPerPair,
  type PathPrediction,
  type RoutingOptions,
  trustedNodePaths,
} from "./routing.js";

/** What admission expects of the chosen path. */
export interface AdmissionPrediction {
  /**
   * Predicted fidelity of end-to-end pairs to Φ+ (entanglement, QKD over repeaters), or the average
   * fidelity of the teleported state, (2F + 1)/3 (teleportation). Absent for a trusted-node QKD path,
   * where no end-to-end pair exists.
   */
  fidelity?: number;
  /** Predicted end-to-end pairs per second, Hz (0 for a trusted-node QKD path). */
  pairRateHz: number;
  /** Predicted secret key rate, bits/s (QKD jobs only). */
  keyRateBps?: number;
  /** Predicted time to finish the job from now, s (a rate job: the time left until its deadline). */
  completionS: number;
}

/** The job may go ahead on `path`. */
export interface Admitted {
  admitted: true;
  /** Node IDs from the job's `src` to its `dst`. */
  path: string[];
  /** Link IDs along `path`. */
  links: string[];
  /** `repeater`: end-to-end pairs by swapping; `trusted`: QKD hop by hop through trusted nodes. */
  mode: "repeater" | "trusted";
  predicted: AdmissionPrediction;
}

/** The job cannot be done now; `reason` says why and what would change that. */
export interface Refused {
  admitted: false;
  /** Stable, for programs. */
  code: "UNKNOWN_NODE" | "NO_PATH" | "LINK_DOWN" | "FIDELITY" | "DEADLINE" | "RATE" | "DEADLINE_PASSED";
  /** For people: names the nodes, links, numbers and the best that is possible. */
  reason: string;
}

/** The outcome of {@link admit}. */
export type AdmissionDecision = Admitted | Refused;

/** A job as admission needs it: a stored record, or a bare spec with its submission time. */
export type AdmissionJob = JobRecord | { spec: JobSpec; createdAtMs?: number; deadlineAtMs?: number };

/** Formats a number for a reason: 3 significant digits, no exponent for everyday sizes. */
function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3)) return x.toPrecision(3);
  return String(Number(x.toPrecision(3)));
}

function pathText(nodes: readonly string[]): string {
  return nodes.join("-");
}

/**
 * Decides whether `job` can be done on the network as `estimates` sees it at `nowMs` (ms since the
 * epoch), and on which path. Candidate paths come from {@link entanglementPaths}; among those that meet
 * the job's minimum fidelity, the one finishing first is chosen (a rate job: the fastest). QKD jobs use
 * the repeater path finishing first among those whose pairs still yield key; when none yields key in
 * time they fall back to a trusted-node path ({@link trustedNodePaths}). A refusal names the best that
 * was possible.
 */
export function admit(
  job: AdmissionJob,
  estimates: LinkEstimator,
  topology: Topology,
  nowMs: number,
  options: RoutingOptions = {},
): AdmissionDecision {
  const spec = job.spec;
  const { src, dst } = spec;
  const ids = new Set(topology.nodes.map((n) => n.id));
  for (const id of [src, dst])
    if (!ids.has(id))
      return {
        admitted: false,
        code: "UNKNOWN_NODE",
        reason: `node ${id} is not in topology ${topology.name}: check the job's src and dst`,
      };

  let deadlineAtMs = job.deadlineAtMs;
  if (deadlineAtMs === undefined && spec.deadlineS !== undefined)
    deadlineAtMs = (job.createdAtMs ?? nowMs) + spec.deadlineS * 1000;
  const leftS = deadlineAtMs === undefined ? Number.POSITIVE_INFINITY : (deadlineAtMs - nowMs) / 1000;
  if (!(leftS > 0))
    return {
      admitted: false,
      code: "DEADLINE_PASSED",
      reason: `deadline ${fmt(spec.deadlineS ?? 0)} s has already passed: resubmit with a later deadline_s`,
    };
  const deadlineText = `deadline ${fmt(spec.deadlineS ?? leftS)} s`;

  const candidates = entanglementPaths(topology, estimates, src, dst, options).filter(
    (p) => p.pairRateHz > 0,
  );

  if (spec.kind === "qkd") {
    const keyed = candidates
      .map((p) => ({ p, rate: p.pairRateHz * keyBitsPerPair(p.fidelity) }))
      .filter((c) => c.rate > 0);
    const trusted = trustedNodePaths(topology, estimates, src, dst, options).filter((t) => t.keyRateBps > 0);
    type Option = { admitted: Admitted; completionS: number };
    const opts: Option[] = [];
    const trustedOpts: Option[] = [];
    for (const { p, rate } of keyed) {
      const completionS = spec.keyBits / rate;
      opts.push({
        completionS,
        admitted: {
          admitted: true,
          path: p.nodes,
          links: p.links,
          mode: "repeater",
          predicted: { fidelity: p.fidelity, pairRateHz: p.pairRateHz, keyRateBps: rate, completionS },
        },
      });
    }
    for (const t of trusted) {
      const completionS = spec.keyBits / t.keyRateBps;
      trustedOpts.push({
        completionS,
        admitted: {
          admitted: true,
          path: t.nodes,
          links: t.links,
          mode: "trusted",
          predicted: { pairRateHz: 0, keyRateBps: t.keyRateBps, completionS },
        },
      });
    }
    const fastest = (o: Option[]) => o.reduce((x, y) => (y.completionS < x.completionS ? y : x));
    // Trusted relays expose the key to the relaying sites: use one only when no repeater path yields
    // key in time.
    for (const o of [opts, trustedOpts]) {
      if (o.length === 0) continue;
      const best = fastest(o);
      if (best.completionS <= leftS) return best.admitted;
    }
    if (opts.length === 0 && trustedOpts.length === 0) {
      if (candidates.length > 0) {
        const best = candidates.reduce((x, y) => (y.fidelity > x.fidelity ? y : x));
        return {
          admitted: false,
          code: "FIDELITY",
          reason:
            `no path from ${src} to ${dst} yields secret key: the best repeater path ${pathText(best.nodes)} predicts fidelity ` +
            `${fmt(best.fidelity)} (QBER ${fmt((200 * (1 - best.fidelity)) / 3)} %, key needs fidelity above about 0.835) ` +
            "and no trusted-node path exists",
        };
      }
      return noPath(topology, estimates, src, dst);
    }
    const best = fastest([...opts, ...trustedOpts]);
    return {
      admitted: false,
      code: "DEADLINE",
      reason: `${deadlineText} cannot be met: the best path ${pathText(best.admitted.path)} needs about ${fmt(best.completionS)} s for ${spec.keyBits} key bits`,
    };
  }

  if (candidates.length === 0) return noPath(topology, estimates, src, dst);

  const minFidelity = spec.kind === "entanglement" ? spec.minFidelity : undefined;
  const good = minFidelity === undefined ? candidates : candidates.filter((p) => p.fidelity >= minFidelity);
  if (good.length === 0) {
    const best = candidates.reduce((x, y) => (y.fidelity > x.fidelity ? y : x));
    return {
      admitted: false,
      code: "FIDELITY",
      reason: `no path from ${src} to ${dst} meets min_fidelity ${fmt(minFidelity!)}: best path ${pathText(best.nodes)} predicts ${fmt(best.fidelity)}`,
    };
  }
  const fastest = good.reduce((x, y) => (y.pairRateHz > x.pairRateHz ? y : x));
  const accept = (p: PathPrediction, completionS: number, fidelity: number): Admitted => ({
    admitted: true,
    path: p.nodes,
    links: p.links,
    mode: "repeater",
    predicted: { fidelity, pairRateHz: p.pairRateHz, completionS },
  });

  if (spec.kind === "teleportation") {
    const completionS = fastest.timePerPairS;
    if (completionS > leftS)
      return {
        admitted: false,
        code: "DEADLINE",
        reason: `${deadlineText} cannot be met: the best path ${pathText(fastest.nodes)} needs about ${fmt(completionS)} s for one pair`,
      };
    return accept(fastest, completionS, (2 * fastest.fidelity + 1) / 3);
  }

  if (spec.rateHz !== undefined) {
    if (fastest.pairRateHz < spec.rateHz)
      return {
        admitted: false,
        code: "RATE",
        reason: `rate ${fmt(spec.rateHz)} Hz cannot be sustained: the best path ${pathText(fastest.nodes)} delivers about ${fmt(fastest.pairRateHz)} Hz`,
      };
    return accept(fastest, leftS, fastest.fidelity);
  }
  const pairs = spec.pairs ?? 1;
  const completionS = pairs * fastest.timePerPairS;
  if (completionS > leftS)
    return {
      admitted: false,
      code: "DEADLINE",
      reason: `${deadlineText} cannot be met: the best path ${pathText(fastest.nodes)} needs about ${fmt(completionS)} s for ${pairs} pairs`,
    };
  return accept(fastest, completionS, fastest.fidelity);
}

/** Why there is no path: down links in the way, or no connection at all. */
function noPath(topology: Topology, estimates: LinkEstimator, src: string, dst: string): Refused {
  const down = downLinksBlocking(topology, estimates, src, dst);
  if (down.length > 0)
    return {
      admitted: false,
      code: "LINK_DOWN",
      reason: `no path: link${down.length > 1 ? "s" : ""} ${down.join(", ")} ${down.length > 1 ? "are" : "is"} down and no alternative exists`,
    };
  return {
    admitted: false,
    code: "NO_PATH",
    reason: `no path from ${src} to ${dst}: they are not connected by links whose nodes have the memories a path needs (ends ≥ 1 qubit, repeaters ≥ 2)`,
  };
}
