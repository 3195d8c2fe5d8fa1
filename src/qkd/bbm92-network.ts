/**
 * Entanglement-based QKD (BBM92) carried by a simulated network: the pairs a request delivers end to
 * end — over a repeater chain, say — are measured by the two end nodes in random bases, sifted, and the
 * observed error rates give the secret fraction. This is what lets a repeater chain carry QKD.
 */

import type { SimulationReport } from "../network/simulation.js";
import { simulate } from "../network/simulation.js";
import type { Topology } from "../network/topology.js";
import { RngStreams } from "../sim/rng.js";
import { Basis } from "./bb84.js";
import { type Bbm92Params, bbm92ErrorRates, measureBbm92 } from "./bbm92.js";
import { binaryEntropy } from "./bits.js";
import { sift } from "./sifting.js";

export interface Bbm92OverNetworkOptions {
  /** The request whose delivered pairs carry the key. Default: the topology's first request. */
  requestId?: string;
  /** Simulated time to run, ns. */
  untilNs: number;
  /** Seed of the network simulation and of the measurements. Default 1. */
  seed?: number | string;
  /** Measurement settings at the end nodes. Default: both bases with probability ½, no extra errors. */
  measurement?: Bbm92Params;
  /** Error-correction inefficiency f applied to the key-basis leakage. Default 1.1. */
  ecEfficiency?: number;
}

export interface Bbm92OverNetworkReport {
  request: string;
  /** Pairs delivered by the network, and the simulated seconds it ran. */
  pairs: number;
  simulated_time_s: number;
  /** Sifted bits per basis, and the error rates observed on them. */
  sifted: { z: number; x: number };
  qber: { z: number; x: number };
  /** The error rates the delivered pairs' mean Bell-diagonal state predicts. */
  expected_qber: { z: number; x: number };
  /**
   * Asymptotic secret key: sifted Z bits × [1 − f·h(e_Z) − h(e_X)] (Shor–Preskill), as bits and bits
   * per simulated second.
   */
  secret_bits: number;
  secret_key_rate_bps: number;
  network: SimulationReport;
}

/**
 * Runs the network, measures every delivered pair of the request as the BBM92 end nodes would, sifts
 * and reports the observed error rates and the asymptotic secret key they allow. X-basis bits are all
 * disclosed to estimate the phase error; Z-basis errors are counted as reconciliation would find them.
 */
export function runBbm92OverNetwork(
  topology: Topology,
  options: Bbm92OverNetworkOptions,
): Bbm92OverNetworkReport {
  const requestId = options.requestId ?? topology.requests[0]?.id;
  if (requestId === undefined) throw new RangeError("BBM92 over a network: the topology has no request");
  if (!topology.requests.some((r) => r.id === requestId))
    throw new RangeError(
      `BBM92 over a network: no request '${requestId}' (requests: ${topology.requests.map((r) => r.id).join(", ")})`,
    );
  const states: number[] = [];
  const mean = [0, 0, 0, 0];
  const network = simulate(topology, options.untilNs, {
    seed: options.seed ?? 1,
    onPairDelivered: (id, state) => {
      if (id !== requestId) return;
      for (let i = 0; i < 4; i++) {
        states.push(state[i]);
        mean[i] += state[i];
      }
    },
  });
  const n = states.length / 4;
  const rng = new RngStreams(options.seed ?? 1).stream(`bbm92:${requestId}`);
  const pairs = (function* () {
    for (let i = 0; i < n; i++) yield states.slice(4 * i, 4 * i + 4);
  })();
  const batch = measureBbm92(pairs, options.measurement ?? {}, rng);
  const s = sift(batch, rng, { disclosedFraction: [1, 1], keyClasses: [0] });
  const z = s.blocks[0][Basis.Z];
  const x = s.blocks[0][Basis.X];
  const eZ = z.disclosed > 0 ? z.disclosedErrors / z.disclosed : 0.5;
  const eX = x.disclosed > 0 ? x.disclosedErrors / x.disclosed : 0.5;
  const f = options.ecEfficiency ?? 1.1;
  const fraction = Math.max(0, 1 - f * binaryEntropy(eZ) - binaryEntropy(eX));
  const secret = z.sifted * fraction;
  const expected =
    n > 0
      ? bbm92ErrorRates(
          mean.map((v) => v / n),
          options.measurement?.measurementError ?? 0,
        )
      : { z: 0.5, x: 0.5 };
  return {
    request: requestId,
    pairs: n,
    simulated_time_s: network.simulated_time_s,
    sifted: { z: z.sifted, x: x.sifted },
    qber: { z: eZ, x: eX },
    expected_qber: expected,
    secret_bits: secret,
    secret_key_rate_bps: network.simulated_time_s > 0 ? secret / network.simulated_time_s : 0,
    network,
  };
}
