import { mkdtempSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PodRef } from '../protocol/events.ts';
import { containerCgroupPath, containerId, sandboxId, type QosClass } from '../lab/kubelet.ts';
import { containerIdFromCgroup, netnsOwnersFromLabState, netnsOwnersFromProc, nodeNetnsInodes, parseNetnsLink, podUidFromCgroup, procNetnsSource, type PodResolver } from './netns.ts';

const fixture = (f: string): string => readFileSync(new URL(`./fixtures/proc/${f}`, import.meta.url), 'utf8');
const UID = '3d3c1f1e-8a2b-4c5d-9e0f-123456789abc';
const CID = '8c5a0e6f4b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e';
const pods = new Map<string, PodRef>([[UID, { namespace: 'default', name: 'web-1', node: 'node-a' }]]);
const byUid: PodResolver = { podByUid: (u) => pods.get(u), podByContainerId: () => undefined };

describe('parsers', () => {
  it('reads the netns inode from a /proc/<pid>/ns/net link', () => {
    expect(parseNetnsLink('net:[4026531833]')).toBe(4026531833);
    expect(parseNetnsLink('mnt:[4026531833]')).toBeUndefined();
    expect(parseNetnsLink('')).toBeUndefined();
  });
  it.each([
    ['cgroup-v1-cgroupfs', UID],
    ['cgroup-v2-systemd', UID],
    ['cgroup-v2-cgroupfs', UID],
    ['cgroup-host', undefined],
  ])('pod uid from %s', (f, want) => expect(podUidFromCgroup(fixture(f))).toBe(want));
  it.each([
    ['cgroup-v1-cgroupfs', CID],
    ['cgroup-v2-systemd', CID],
    ['cgroup-v2-cgroupfs', CID],
    ['cgroup-host', undefined],
  ])('container id from %s', (f, want) => expect(containerIdFromCgroup(fixture(f))).toBe(want));
  it('reads a CRI-O scope and a cgroupfs container below a nested kubelet root (kind, a lab)', () => {
    expect(containerIdFromCgroup(`0::/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${CID}.scope\n`)).toBe(CID);
    expect(containerIdFromCgroup(`4:memory:/docker/abc/kubepods/besteffort/pod${UID}/${CID}\n0::/\n`)).toBe(CID);
    // The pod's own group (no container below it) names no container.
    expect(containerIdFromCgroup(`0::/kubepods/besteffort/pod${UID}\n`)).toBeUndefined();
  });
});

describe('the lab writes the cgroup paths a real node has', () => {
  // The lab's paths (lab/kubelet.ts) must be what kubelet + containerd write: the fixtures above
  // hold real shapes, and what the agent parses back out must be the lab's uid and id.
  it('is the fixtures\' shape for both drivers', () => {
    expect(`0::/${containerCgroupPath('systemd', 'Burstable', UID, CID)}\n`).toBe(fixture('cgroup-v2-systemd'));
    expect(`0::/${containerCgroupPath('cgroupfs', 'Burstable', UID, CID)}\n`).toBe(fixture('cgroup-v2-cgroupfs'));
    expect(fixture('cgroup-v1-cgroupfs')).toContain(`:/${containerCgroupPath('cgroupfs', 'BestEffort', UID, CID)}\n`);
  });
  it.each(['cgroupfs', 'systemd'] as const)('%s: every QoS class parses back to the pod uid and container id', (driver) => {
    for (const qos of ['Guaranteed', 'Burstable', 'BestEffort'] as QosClass[]) {
      for (const id of [containerId(UID, 'app'), sandboxId(UID)]) {
        const text = `9:name=systemd:/hs-lab.ab12-kubelet/${containerCgroupPath(driver, qos, UID, id)}\n0::/hs-lab.ab12-kubelet/${containerCgroupPath(driver, qos, UID, id)}\n`;
        expect(podUidFromCgroup(text), `${driver} ${qos}`).toBe(UID);
        expect(containerIdFromCgroup(text), `${driver} ${qos}`).toBe(id);
      }
    }
  });
});

describe('netnsOwnersFromProc', () => {
  it('maps the root netns to the node and a pod process netns to its pod', () => {
    const owners = netnsOwnersFromProc(
      [
        { pid: 1, netLink: 'net:[4026531833]', cgroup: fixture('cgroup-host') },
        { pid: 4242, netLink: 'net:[4026532500]', cgroup: fixture('cgroup-v2-systemd') },
        { pid: 4243, netLink: 'net:[4026532500]', cgroup: fixture('cgroup-v2-systemd') },
        // A container of a pod the informer does not know yet, and a non-Kubernetes netns.
        { pid: 5000, netLink: 'net:[4026532600]', cgroup: fixture('cgroup-v1-cgroupfs').replace(/3d3c1f1e/g, 'aaaaaaaa') },
        { pid: 6000, netLink: 'net:[4026532700]', cgroup: fixture('cgroup-host') },
        { pid: 7000 }, // exited before we could read it
      ],
      'net:[4026531833]',
      'node-a',
      byUid,
    );
    expect([...owners]).toEqual([
      [4026531833, { node: 'node-a', label: 'node-a' }],
      [4026532500, { pod: { namespace: 'default', name: 'web-1', node: 'node-a' }, node: 'node-a', label: 'web-1 (default)' }],
    ]);
  });

  it('reads a /proc-shaped directory', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hopscope-proc-'));
    try {
      const proc = (pid: number, inode: number, cgroup: string) => {
        mkdirSync(join(root, String(pid), 'ns'), { recursive: true });
        symlinkSync(`net:[${inode}]`, join(root, String(pid), 'ns', 'net'));
        writeFileSync(join(root, String(pid), 'cgroup'), cgroup);
      };
      proc(1, 4026531833, fixture('cgroup-host'));
      proc(300, 4026532500, fixture('cgroup-v2-cgroupfs'));
      mkdirSync(join(root, 'self'));
      writeFileSync(join(root, 'meminfo'), '');
      const owners = await procNetnsSource({ procRoot: root, nodeName: 'node-a' }).read(byUid);
      expect(owners.get(4026531833)).toEqual({ node: 'node-a', label: 'node-a' });
      expect(owners.get(4026532500)?.pod?.name).toBe('web-1');
      expect(owners.size).toBe(2);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('names a container by its id when the API lists it, by its pod uid otherwise', () => {
    const other: PodRef = { namespace: 'kube-system', name: 'coredns-1', node: 'node-b' };
    const ids: PodResolver = { podByUid: () => undefined, podByContainerId: (id) => (id === CID ? other : undefined) };
    const owners = netnsOwnersFromProc([{ pid: 10, netLink: 'net:[4026532800]', cgroup: fixture('cgroup-v2-systemd') }], 'net:[4026531833]', 'node-a', ids);
    expect(owners.get(4026532800)).toEqual({ pod: other, node: 'node-b', label: 'coredns-1 (kube-system)' });
  });

  it('on a kernel other nodes share, the node is the agent\'s own netns and only its pods are its scope', async () => {
    const root = mkdtempSync(join(tmpdir(), 'hopscope-proc-'));
    try {
      const proc = (pid: string, inode: number, cgroup: string) => {
        mkdirSync(join(root, pid, 'ns'), { recursive: true });
        symlinkSync(`net:[${inode}]`, join(root, pid, 'ns', 'net'));
        writeFileSync(join(root, pid, 'cgroup'), cgroup);
      };
      // The machine's init may not be readable (as here); kthreadd is in the kernel's first netns.
      mkdirSync(join(root, '1'));
      proc('2', 4026531833, '0::/\n');
      writeFileSync(join(root, '2', 'comm'), 'kthreadd\n');
      proc('self', 4026532001, fixture('cgroup-host')); // the agent, in node-a's netns (hostNetwork)
      proc('300', 4026532500, fixture('cgroup-v2-cgroupfs')); // web-1 on node-a
      const uid2 = '11111111-2222-4333-8444-555555555555';
      proc('400', 4026532600, `0::/kubepods/besteffort/pod${uid2}/${CID.replace(/8/g, '9')}\n`); // a pod of node-b
      const both: PodResolver = { podByUid: (u) => (u === uid2 ? { namespace: 'default', name: 'web-2', node: 'node-b' } : pods.get(u)), podByContainerId: () => undefined };
      const src = procNetnsSource({ procRoot: root, nodeName: 'node-a' });
      const owners = await src.read(both);
      expect(src.node?.sharedKernel()).toBe(true);
      expect(owners.get(4026532001)).toEqual({ node: 'node-a', label: 'node-a' });
      expect(owners.has(4026531833)).toBe(false);
      expect(owners.get(4026532600)?.pod?.name).toBe('web-2');
      expect(nodeNetnsInodes(owners, 'node-a')).toEqual([4026532001, 4026532500]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads the real /proc of this machine: the root netns is this node', async () => {
    const link = readlinkSync('/proc/self/ns/net');
    const owners = await procNetnsSource({ nodeName: 'this-node' }).read({ podByUid: () => undefined, podByContainerId: () => undefined });
    expect(owners.get(parseNetnsLink(link)!)).toEqual({ node: 'this-node', label: 'this-node' });
  });
});

describe('netnsOwnersFromLabState', () => {
  it('names pods, nodes, externals and the underlay', () => {
    const owners = netnsOwnersFromLabState({
      netns: [
        { name: 'hs1a2b-n-node-1', kind: 'node', owner: 'node-1', inode: 4026532901 },
        { name: 'hs1a2b-p-client', kind: 'pod', owner: 'default/client', node: 'node-1', inode: 4026532902 },
        { name: 'hs1a2b-x-ext', kind: 'external', owner: 'ext-client', inode: 4026532903 },
        { name: 'hs1a2b-underlay', kind: 'underlay', owner: 'underlay', inode: 4026532904 },
        { name: 'hs1a2b-broken', kind: 'node', owner: 'node-9', inode: 0 },
      ],
    });
    expect([...owners.values()]).toEqual([
      { node: 'node-1', label: 'node-1' },
      { pod: { namespace: 'default', name: 'client', node: 'node-1' }, node: 'node-1', label: 'client (default)' },
      { label: 'ext-client' },
      { label: 'underlay' },
    ]);
    expect(owners.get(4026532902)?.pod?.name).toBe('client');
  });
});
