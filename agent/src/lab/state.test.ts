import { describe, expect, it } from 'vitest';
import { findPodNetns, type LabState } from './state.ts';
import { workloadArgv } from './workloads.ts';
import { expandTopology } from './model.ts';
import { validateTopology } from './topology.ts';

const state = {
  name: 'lab',
  netns: [
    { name: 'hs-lab.0000-p-default.web', kind: 'pod', owner: 'default/web', node: 'node-1', inode: 11 },
    { name: 'hs-lab.0000-p-other.web', kind: 'pod', owner: 'other/web', node: 'node-1', inode: 12 },
    { name: 'hs-lab.0000-p-default.client', kind: 'pod', owner: 'default/client', node: 'node-1', inode: 13 },
    { name: 'hs-lab.0000-n-node-1', kind: 'node', owner: 'node-1', inode: 14 },
  ],
} as unknown as LabState;

describe('findPodNetns', () => {
  it('finds a pod by bare name or namespace/name', () => {
    expect(findPodNetns(state, 'client').inode).toBe(13);
    expect(findPodNetns(state, 'other/web').inode).toBe(12);
  });
  it('says when a bare name is ambiguous or unknown, listing the pods', () => {
    expect(() => findPodNetns(state, 'web')).toThrow('pod name "web" is ambiguous: default/web, other/web');
    expect(() => findPodNetns(state, 'node-1')).toThrow('no pod "node-1" in lab lab; pods: default/web, other/web, default/client');
  });
});

describe('workloadArgv', () => {
  const m = expandTopology(
    validateTopology({
      nodes: [{ name: 'n1', podCIDR: '10.244.1.0/24', address: '10.0.0.1' }],
      pods: [
        {
          name: 'p',
          node: 'n1',
          containers: [
            { name: 'a', run: { kind: 'http', port: 9090, bind: '127.0.0.1' } },
            { name: 'b', run: { kind: 'client', target: 'http://127.0.0.1:9090/', intervalMs: 1000 } },
            { name: 'c', run: { kind: 'idle' } },
            { name: 'd', run: { kind: 'dns' } },
          ],
        },
      ],
    }),
  );
  const pod = m.pods[0]!;
  const argv = (i: number) => workloadArgv(pod, pod.containers[i]!.run, '/x/records.json');
  it('passes each workload its parameters as separate arguments, and runs nothing for idle', () => {
    expect(argv(0)!.slice(1)).toEqual(['p', 'default', 'n1', '127.0.0.1', '9090']);
    expect(argv(0)![0]).toMatch(/workloads\/http\.mjs$/);
    expect(argv(1)!.slice(1)).toEqual(['http://127.0.0.1:9090/', '1000']);
    expect(argv(2)).toBeUndefined();
    expect(argv(3)!.slice(1)).toEqual(['/x/records.json', '53']);
  });
});
