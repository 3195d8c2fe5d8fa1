import { wernerState } from "../quantum/bell-diagonal.js";
import type { LinkAttemptModel } from "./plan.js";
import type { LinkSpec, NodeSpec } from "./topology.js";

/**
 * The attempt model of a topology link: abstract links state it directly; physical links derive it
 * from fiber, detectors and heralding scheme.
 */
export function linkAttemptModel(link: LinkSpec, a: NodeSpec, b: NodeSpec): LinkAttemptModel {
  const q = link.quantum;
  if (q.kind === "abstract") {
    return {
      successProbability: q.successProbability,
      attemptPeriodNs: q.attemptDurationNs,
      heraldDelayNs: q.attemptDurationNs,
      storedBeforeHeraldNs: 0,
      state: wernerState(q.fidelity),
    };
  }
  void a;
  void b;
  throw new RangeError(`link ${link.id}: physical links are not supported yet`);
}
