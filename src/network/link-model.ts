import { linkAttemptModel as hardwareModel } from "../hardware/heralding.js";
import type { LinkAttemptModel } from "./plan.js";
import type { LinkSpec, NodeSpec } from "./topology.js";

/**
 * The attempt model of a topology link as the simulation uses it: abstract links state it directly;
 * physical links derive it from fiber, memories, detectors and heralding scheme (src/hardware).
 */
export function linkAttemptModel(link: LinkSpec, a: NodeSpec, b: NodeSpec): LinkAttemptModel {
  let m: ReturnType<typeof hardwareModel>;
  try {
    m = hardwareModel(link.quantum, a.memory.efficiency, b.memory.efficiency);
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`link ${link.id}: ${e.message}`);
    throw e;
  }
  return {
    successProbability: m.successProbability,
    attemptPeriodNs: m.attemptDurationNs,
    heraldDelayNs: m.heraldDelayNs,
    // The memories hold their halves from emission; an abstract link's fidelity is stated at delivery.
    storedBeforeHeraldNs: link.quantum.kind === "physical" ? m.heraldDelayNs : 0,
    state: m.state,
  };
}
