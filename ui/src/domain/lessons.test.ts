import { describe, expect, it } from 'vitest';
import type { TopologyView } from '@hopscope/agent/protocol/messages.ts';
import { journeyPickSchema } from '@hopscope/agent/protocol/lessons.ts';
import { request, reply, loopback } from '../__tests__/testdata.ts';
import { toRow } from '../store/journeyStore.ts';
import { hopChecks, matchesPick, pickJourney, resolveTraffic, walkSteps } from './lessons.ts';

const topo: TopologyView = {
  name: 'lab',
  cni: 'flannel-vxlan',
  nodes: [
    { name: 'node-1', address: '10.0.0.1' },
    { name: 'node-2', address: '10.0.0.2' },
  ],
  pods: [
    { namespace: 'default', name: 'client', node: 'node-1', ip: '10.244.1.2' },
    { namespace: 'default', name: 'web-abc-0', node: 'node-1', ip: '10.244.1.4', deployment: 'web' },
    { namespace: 'default', name: 'web-abc-1', node: 'node-2', ip: '10.244.2.2', deployment: 'web' },
  ],
  services: [],
  externals: [],
  deployments: [{ namespace: 'default', name: 'web', replicas: 2 }],
};
const flannel = { cni: 'flannel-vxlan', kubeProxy: 'iptables' } as const;
const pick = (p: unknown) => journeyPickSchema.parse(p);

describe('lessons on the page', () => {
  it('resolves a pod by Deployment and node, and says when there is none', () => {
    const a = resolveTraffic({ kind: 'connect', to: { namespace: 'default', deployment: 'web', node: 'node-2' }, port: 8080 }, topo);
    const web2 = topo.pods.find((p) => p.deployment === 'web' && p.node === 'node-2')!;
    expect(a).toEqual({ kind: 'connect', pod: { namespace: 'default', name: web2.name }, port: 8080 });
    expect(() => resolveTraffic({ kind: 'connect', to: { namespace: 'default', deployment: 'web', node: 'node-9' }, port: 1 }, topo)).toThrow(/no pod of deployment web on node-9/);
  });

  it('picks the first new journey that has every hop kind asked for, and none refused', () => {
    const rows = [toRow(loopback), toRow(request), toRow(reply)];
    const none = new Set<string>();
    expect(pickJourney(rows, pick({ proto: 'tcp', flags: 'S', service: 'web', hops: ['dnat', 'encap'] }), none, none)?.id).toBe('j1');
    expect(pickJourney(rows, pick({ hops: ['dnat'] }), new Set(['j1']), none)).toBeUndefined();
    expect(matchesPick(toRow(request), pick({ hops: ['dnat'], withoutHops: ['encap'] }), none)).toBe(false);
    expect(matchesPick(toRow(request), pick({ hops: ['dnat'], newBackend: true }), new Set(['web-abc-1']))).toBe(false);
    expect(matchesPick(toRow(request), pick({ hops: ['dnat'], newBackend: true }), new Set(['web-abc-0']))).toBe(true);
    expect(pickJourney(rows, pick({ loopback: true }), none, none)?.id).toBe(loopback.id);
  });

  it('walks the request, then its reply', () => {
    const s = walkSteps(request, reply);
    expect(s.map((x) => `${x.direction}:${x.journey.hops[x.index]!.kind}`)).toEqual([
      ...request.hops.map((h) => `request:${h.kind}`),
      ...reply.hops.map((h) => `reply:${h.kind}`),
    ]);
  });

  it('shows the rules and endpoints at the DNAT, FDB and neighbours at the encapsulation, conntrack of what was called at the reverse NAT', () => {
    const at = (j: typeof request, kind: string) => hopChecks(j, j.hops.findIndex((h) => h.kind === kind), flannel, topo, request);
    expect(at(request, 'dnat')).toEqual([
      { what: 'service-rules', node: 'node-1', service: { namespace: 'default', name: 'web' } },
      { what: 'endpoints', service: { namespace: 'default', name: 'web' } },
    ]);
    expect(at(request, 'encap')).toEqual([{ what: 'vxlan-fdb', node: 'node-1' }, { what: 'neigh', at: { kind: 'node', node: 'node-1' }, dev: 'flannel.1' }]);
    expect(at(reply, 'reverse-nat')).toEqual([{ what: 'conntrack', node: 'node-1', proto: 'tcp', origDst: '10.96.0.10', origDport: 80 }]);
    const masqueraded = { ...request, hops: request.hops.map((h) => (h.kind === 'dnat' ? { ...h, kind: 'snat' as const } : h)) };
    expect(hopChecks(masqueraded, masqueraded.hops.findIndex((h) => h.kind === 'snat'), flannel, topo)).toEqual([{ what: 'conntrack', node: 'node-1', proto: 'tcp', origDst: '10.96.0.10', origDport: 80 }]);
    expect(at(request, 'pod-egress')).toEqual([
      { what: 'route-get', at: { kind: 'pod', namespace: 'default', name: 'client' }, dst: '10.96.0.10' },
      { what: 'neigh', at: { kind: 'pod', namespace: 'default', name: 'client' } },
    ]);
    expect(at(request, 'deliver')).toEqual([{ what: 'listening', at: { kind: 'pod', namespace: 'default', name: 'web-abc-1' } }]);
  });
});
