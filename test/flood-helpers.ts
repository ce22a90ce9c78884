// A lab with the flood rig of bench/flood.ts (the agent in its own process, one websocket client
// here) for the whole test file: up before its tests, down after.
import { afterAll, beforeAll } from 'vitest';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { startFloodRig, type FloodRig } from '../bench/flood.ts';

/** The file's rig; `prefix` names its lab (with this process's id, so runs do not collide). */
export function floodRigForFile(prefix: string): () => FloodRig {
  let lab: LabHandle | undefined;
  let rig: FloodRig | undefined;
  beforeAll(async () => {
    lab = await labUp(loadTopology(), { name: `${prefix}${process.pid % 100000}`, api: true });
    rig = await startFloodRig(lab);
  }, 90_000);
  afterAll(async () => {
    await rig?.stop().catch(() => {});
    await lab?.down();
  }, 60_000);
  return () => {
    if (!rig) throw new Error('the flood rig is not up (beforeAll failed?)');
    return rig;
  };
}
