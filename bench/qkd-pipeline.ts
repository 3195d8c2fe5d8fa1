import { QkdSession } from "../src/qkd/pipeline.js";
import type { Bench, BenchResult } from "./harness.js";

/**
 * The whole decoy-state BB84 stack at 1 GHz (pulses, sifting, finite-key estimation, Cascade,
 * verification, Toeplitz hashing, authentication) on 10^6-bit blocks: wall time per block, simulated
 * seconds per wall second (quantum transmission time over wall time: above 1 is faster than the link
 * itself), and secret bits per wall second.
 */
function pipelineBench(km: number): BenchResult[] {
  const s = new QkdSession({ link: { lengthKm: km }, seed: 1 });
  s.nextBlock(); // warm-up
  const blocks = 3;
  const t0 = performance.now();
  let quantumNs = 0;
  let bits = 0;
  for (let i = 0; i < blocks; i++) {
    const b = s.nextBlock();
    quantumNs += b.quantumEndNs - b.startNs;
    bits += b.deliveredBits;
  }
  const wall = (performance.now() - t0) / 1e3;
  const name = `qkd.pipeline_${km}km`;
  return [
    { name: `${name}_wall_per_block`, value: wall / blocks, unit: "s" },
    { name: `${name}_simulated_per_wall`, value: quantumNs / 1e9 / wall, unit: "x" },
    { name: `${name}_secret_bits_per_wall_s`, value: bits / wall, unit: "bit/s" },
    { name: `${name}_secret_bits_per_simulated_s`, value: bits / (quantumNs / 1e9), unit: "bit/s" },
  ];
}

export const benches: Bench[] = [10, 50].map((km) => ({
  name: `qkd.pipeline_${km}km`,
  run: () => pipelineBench(km),
}));
