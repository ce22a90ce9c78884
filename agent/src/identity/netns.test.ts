import { mkdtempSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PodRef } from '../protocol/events.ts';
import { netnsOwnersFromLabState, netnsOwnersFromProc, parseNetnsLink, podUidFromCgroup, procNetnsSource } from './netns.ts';

const fixture = (f: string): string => readFileSync(new URL(`./fixtures/proc/${f}`, import.meta.url), 'utf8');
const UID = '3d3c1f1e-8a2b-4c5d-9e0f-123456789abc';
const pods = new Map<string, PodRef>([[UID, { namespace: 'default', name: 'web-1', node: 'node-a' }]]);

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
      (uid) => pods.get(uid),
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
      const owners = await procNetnsSource({ procRoot: root, nodeName: 'node-a' }).read({ podByUid: (u) => pods.get(u) });
      expect(owners.get(4026531833)).toEqual({ node: 'node-a', label: 'node-a' });
      expect(owners.get(4026532500)?.pod?.name).toBe('web-1');
      expect(owners.size).toBe(2);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads the real /proc of this machine: the root netns is this node', async () => {
    const link = readlinkSync('/proc/self/ns/net');
    const owners = await procNetnsSource({ nodeName: 'this-node' }).read({ podByUid: () => undefined });
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
