import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { planAction } from './actions.ts';
import { topologyFromModel, identitiesFromTopology } from './topology.ts';
import { expandTopology } from '../lab/model.ts';
import { parseTopology } from '../lab/topology.ts';

const t = topologyFromModel(expandTopology(parseTopology(readFileSync(new URL('../lab/topologies/default.yaml', import.meta.url), 'utf8'))));

describe('planAction on the default lab', () => {
  it('curls a ClusterIP from the client pod', () => {
    const p = planAction(t, { kind: 'curl', service: { namespace: 'default', name: 'web' } });
    expect(p).toMatchObject({ kind: 'exec', target: { type: 'pod', namespace: 'default', name: 'client' } });
    expect(p.kind === 'exec' && p.argv.at(-1)).toBe('http://10.96.0.20:80/');
  });
  it('connects straight to a pod port', () => {
    const web = t.pods.find((p) => p.deployment === 'web')!;
    const p = planAction(t, { kind: 'connect', pod: { namespace: 'default', name: web.name }, port: 9 });
    expect(p.kind === 'exec' && p.argv.at(-1)).toBe(`http://${web.ip}:9/`);
    expect(() => planAction(t, { kind: 'connect', pod: { namespace: 'default', name: 'ghost' }, port: 9 })).toThrow(/no pod default\/ghost/);
  });
  it('digs through kube-dns', () => {
    const p = planAction(t, { kind: 'dig', name: 'web.default.svc.cluster.local' });
    expect(p.kind === 'exec' && p.argv).toEqual(['dig', '+short', '+time=2', '+tries=1', '@10.96.0.10', 'web.default.svc.cluster.local']);
  });
  it('hits a NodePort from the external host', () => {
    const p = planAction(t, { kind: 'nodeport', service: { namespace: 'default', name: 'web-nodeport' }, node: 'node-2' });
    expect(p).toMatchObject({ kind: 'exec', target: { type: 'external', name: 'ext-client' } });
    expect(p.kind === 'exec' && p.argv.at(-1)).toBe('http://10.0.0.2:30080/');
  });
  it('refuses unknown services, ports, nodeports and deployments clearly', () => {
    expect(() => planAction(t, { kind: 'curl', service: { namespace: 'default', name: 'nope' } })).toThrow(/no service default\/nope/);
    expect(() => planAction(t, { kind: 'curl', service: { namespace: 'default', name: 'web' }, port: 81 })).toThrow(/no TCP port 81/);
    expect(() => planAction(t, { kind: 'nodeport', service: { namespace: 'default', name: 'web' } })).toThrow(/no NodePort/);
    expect(() => planAction(t, { kind: 'scale', namespace: 'default', deployment: 'db', replicas: 1 })).toThrow(/no deployment/);
  });
  it('lists identities for every pod, service, node and external', () => {
    const ids = identitiesFromTopology(t);
    expect(ids.find((i) => i.ip === '10.96.0.20')).toEqual({ ip: '10.96.0.20', kind: 'service', namespace: 'default', name: 'web' });
    expect(ids.filter((i) => i.kind === 'pod')).toHaveLength(t.pods.length);
  });
});

describe('planAction: rebuild and inspections', () => {
  const mode = { cni: 'flannel-vxlan', kubeProxy: 'iptables' } as const;
  it('plans a rebuild and an inspection of names the lab has', () => {
    expect(planAction(t, { kind: 'rebuild', cni: 'calico-routed', kubeProxy: 'nftables' })).toMatchObject({ kind: 'rebuild', mode: { cni: 'calico-routed', kubeProxy: 'nftables' } });
    const p = planAction(t, { kind: 'inspect', check: { what: 'endpoints', service: { namespace: 'default', name: 'web' } } }, mode);
    expect(p.kind === 'inspect' && p.command.line).toBe('kubectl get endpoints web -n default');
  });
  it('refuses a node, pod or Service the lab does not have', () => {
    expect(() => planAction(t, { kind: 'inspect', check: { what: 'vxlan-fdb', node: 'node-9' } }, mode)).toThrow(/no node node-9/);
    expect(() => planAction(t, { kind: 'inspect', check: { what: 'listening', at: { kind: 'pod', namespace: 'default', name: 'ghost' } } }, mode)).toThrow(/no pod default\/ghost/);
    expect(() => planAction(t, { kind: 'inspect', check: { what: 'endpoints', service: { namespace: 'default', name: 'nope' } } }, mode)).toThrow(/no service default\/nope/);
  });
});
