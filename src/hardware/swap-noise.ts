/**
 * Imperfections of an entanglement swap at a node, from its gate and measurement fidelities.
 *
 * @module
 */

import type { NodeSpec } from "../network/topology.js";
import type { SwapNoise } from "../quantum/bell-diagonal.js";

/**
 * The {@link SwapNoise} of a Bell-state measurement at `node`:
 * - `depolarizing = 1 − gateFidelity`: the topology model defines the gate fidelity as a depolarizing error
 *   of 1 − fidelity on the pair after the two-qubit gate (the CNOT of the Bell-state measurement), i.e. the
 *   swapped pair is replaced by I/4 with probability p = 1 − gateFidelity. (So `gateFidelity` is not the
 *   average gate fidelity of that channel, which is 1 − 3p/4, nor its process fidelity, 1 − 15p/16.)
 * - `measurementError = 1 − measurementFidelity`: each of the two outcome bits is misread independently
 *   with that probability, which leaves a needless X or Z correction on the swapped pair.
 *
 * The node's `swapSuccessProbability` is separate: the simulator draws whether the swap succeeds at all.
 * Computed once per node; allocates a small object.
 */
export function swapNoise(node: NodeSpec): SwapNoise {
  const { gateFidelity, measurementFidelity } = node;
  if (!(gateFidelity >= 0 && gateFidelity <= 1))
    throw new RangeError(`node ${node.id}: gate fidelity must be in [0, 1], got ${gateFidelity}`);
  if (!(measurementFidelity >= 0 && measurementFidelity <= 1))
    throw new RangeError(
      `node ${node.id}: measurement fidelity must be in [0, 1], got ${measurementFidelity}`,
    );
  return { depolarizing: 1 - gateFidelity, measurementError: 1 - measurementFidelity };
}
