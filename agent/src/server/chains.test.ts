import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { expandTopology } from '../lab/model.ts';
import { parseTopology } from '../lab/topology.ts';
import { renderIptablesNat } from '../lab/kubeproxy-iptables.ts';
import { renderNftables } from '../lab/kubeproxy-nft.ts';
import { withKubeProxyChains } from './chains.ts';
import { syntheticJourney } from './__tests__/synthetic.ts';
import type { Journey } from '../protocol/events.ts';

const model = expandTopology(parseTopology(readFileSync(new URL('../lab/topologies/default.yaml', import.meta.url), 'utf8')));
const web = model.services.find((s) => s.name === 'web')!;
const backend = web.endpoints[1]!;

function dnatJourney(beforeIp: string, beforePort: number): Journey {
  const j = syntheticJourney(1);
  return {
    ...j,
    hops: j.hops.map((h) =>
      h.kind === 'dnat' ? { ...h, nat: { before: { ip: beforeIp, port: beforePort }, after: { ip: backend.ip, port: 8080 } } } : h,
    ),
  };
}

describe('withKubeProxyChains', () => {
  it('names the iptables chains the rules really contain for a ClusterIP call', () => {
    const rule = withKubeProxyChains(dnatJourney(web.clusterIP, 80), model).hops.find((h) => h.kind === 'dnat')!.nat!.rule!;
    expect(rule).toMatch(/^KUBE-SERVICES → KUBE-SVC-[A-Z2-7]{16} → KUBE-SEP-[A-Z2-7]{16}$/);
    const rules = renderIptablesNat(model);
    const [, svc, sep] = rule.split(' → ');
    // the SVC chain jumps to this SEP chain, whose DNAT goes to the backend
    expect(rules).toMatch(new RegExp(`-A ${svc} .*-j ${sep}`));
    expect(rules).toMatch(new RegExp(`-A ${sep} .*--to-destination ${backend.ip.replace(/\./g, '\\.')}:8080`));
  });
  it('names the NodePort path and the nftables chains', () => {
    const np = model.services.find((s) => s.name === 'web-nodeport')!;
    const viaNode = withKubeProxyChains(dnatJourney(model.nodes[1]!.address, 30080), { ...model, services: model.services.filter((s) => s === np) });
    expect(viaNode.hops.find((h) => h.kind === 'dnat')!.nat!.rule).toMatch(/^KUBE-NODEPORTS → KUBE-EXT-\w+ → KUBE-SVC-\w+ → KUBE-SEP-\w+$/);
    const nft = withKubeProxyChains(dnatJourney(web.clusterIP, 80), { ...model, kubeProxy: 'nftables' }).hops.find((h) => h.kind === 'dnat')!.nat!.rule!;
    const [, svc, ep] = nft.split(' → ');
    const script = renderNftables({ ...model, kubeProxy: 'nftables' });
    expect(script).toContain(svc);
    expect(script).toContain(ep);
  });
  it('leaves journeys alone when the rewrite matches no rule or a rule is already known', () => {
    const stranger = dnatJourney('10.96.9.9', 80);
    expect(withKubeProxyChains(stranger, model)).toBe(stranger);
    const known = syntheticJourney(2);
    expect(withKubeProxyChains(known, model)).toBe(known);
  });
});
