// lab up writes its state file a fixed number of times, however many pods it has: once per
// namespace and once per pod sandbox made `lab up` quadratic in pods (the file holds them all
// and is rewritten whole; bench/lab-scale.ts). Counted from the kernel: inotify on the labs
// directory sees every rename of a new state file into place.
import { afterEach, describe, expect, it } from 'vitest';
import { watch } from 'node:fs';
import { labUp, type LabHandle } from '../agent/src/lab/lab.ts';
import { LABS_DIR, readLabState, statePath } from '../agent/src/lab/state.ts';
import { validateTopology } from '../agent/src/lab/topology.ts';
import { sleep } from '../bench/lib.ts';

let lab: LabHandle | undefined;
afterEach(async () => {
  await lab?.down();
  lab = undefined;
});

/** Brings up a one-node lab of `pods` idle pods; the state file's writes during lab up. */
async function writesForPods(name: string, pods: number): Promise<number> {
  const topo = validateTopology({
    name,
    nodes: [{ name: 'node-1', podCIDR: '10.244.1.0/24', address: '10.0.0.1' }],
    pods: Array.from({ length: pods }, (_, i) => ({ name: `p${i}`, node: 'node-1', containers: [{ name: 'c', run: { kind: 'idle' } }] })),
  });
  const file = `${name}.json`;
  let writes = 0;
  const w = watch(LABS_DIR, (event, f) => {
    if (event === 'rename' && f === file) writes++;
  });
  try {
    lab = await labUp(topo, { name, api: false });
    // inotify events are delivered asynchronously.
    await sleep(300);
  } finally {
    w.close();
  }
  const s = readLabState(name);
  // What the fewer writes still record: every pod's namespace (with its inode) and sandbox.
  expect(s.phase).toBe('ready');
  expect(s.netns.filter((n) => n.kind === 'pod')).toHaveLength(pods);
  expect(s.netns.every((n) => n.inode > 0)).toBe(true);
  expect(s.sandboxes?.map((x) => x.pod).sort()).toEqual(Array.from({ length: pods }, (_, i) => `default/p${i}`).sort());
  await lab.down();
  lab = undefined;
  expect(() => readLabState(name)).toThrow(statePath(name));
  return writes;
}

describe('lab up state writes', () => {
  it('do not grow with the pods', async () => {
    const base = `sw${process.pid % 10000}`;
    const few = await writesForPods(`${base}a`, 2);
    const many = await writesForPods(`${base}b`, 14);
    expect(few).toBeGreaterThan(0);
    expect(many).toBe(few);
  });
});
