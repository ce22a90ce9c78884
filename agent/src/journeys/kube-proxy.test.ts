// DNAT hops of real journeys shapes get their kube-proxy rule; the text view shows it.
import { describe, expect, it } from 'vitest';
import { kubeProxyNamer, withKubeProxyRules, type KubeProxyContext } from './kube-proxy.ts';
import { renderOneLine, renderStory } from './story.ts';
import { parseIptablesSave } from '../kubeproxy/iptables-save.ts';
import { journeySchema } from '../protocol/messages.ts';
import { syntheticJourney } from '../server/__tests__/synthetic.ts';
import type { Journey } from '../protocol/events.ts';

const web = { namespace: 'default', name: 'web', port: 80, portName: 'http' };
function dnat(after: string, node?: string): Journey {
  const j = syntheticJourney(1);
  return {
    ...j,
    proto: 'tcp',
    hops: j.hops.map((h) =>
      h.kind === 'dnat' ? { ...h, nat: { before: { ip: node ? '10.0.0.2' : '10.96.0.20', port: node ? 30080 : 80, service: web, ...(node ? { node } : {}) }, after: { ip: after, port: 8080 } } } : h,
    ),
  };
}
const ctx = (over: Partial<KubeProxyContext> = {}): KubeProxyContext => ({
  mode: 'iptables',
  endpoints: () => [
    { ip: '10.244.1.3', port: 8080 },
    { ip: '10.244.2.3', port: 8080 },
  ],
  ...over,
});

describe('withKubeProxyRules', () => {
  it('names the chains of a ClusterIP and a NodePort DNAT from the API alone', () => {
    const j = withKubeProxyRules(dnat('10.244.2.3'), ctx());
    const kp = j.hops.find((h) => h.kind === 'dnat')!.nat!.kubeProxy!;
    expect(kp).toMatchObject({ mode: 'iptables', source: 'api' });
    expect(kp.chains).toEqual(['KUBE-SERVICES', expect.stringMatching(/^KUBE-SVC-[A-Z2-7]{16}$/), expect.stringMatching(/^KUBE-SEP-[A-Z2-7]{16}$/)]);
    expect(j.hops.find((h) => h.kind === 'dnat')!.nat!.rule).toBe(kp.chains.join(' → '));
    expect(journeySchema.safeParse(j).success).toBe(true);
    const np = withKubeProxyRules(dnat('10.244.2.3', 'node-2'), ctx({ mode: 'nftables' })).hops.find((h) => h.kind === 'dnat')!.nat!.kubeProxy!;
    expect(np.chains.slice(0, 3)).toEqual(['services', '@service-nodeports', expect.stringMatching(/^external-[A-Z2-7]{8}-default\/web\/tcp\/http$/)]);
  });
  it('marks a backend that is no endpoint, in the story, the one-line view and --json', () => {
    const j = withKubeProxyRules(dnat('10.244.9.9'), ctx());
    expect(renderStory(j)).toMatch(/⚠ conntrack sent it to 10\.244\.9\.9:8080, which is not an endpoint of default\/web/);
    expect(renderOneLine(j)).toContain('⚠ kube-proxy rules disagree');
    expect(JSON.parse(JSON.stringify(j)).hops.find((h: { kind: string }) => h.kind === 'dnat').nat.kubeProxy.disagreements[0].kind).toBe('backend-not-endpoint');
    expect(journeySchema.safeParse(j).success).toBe(true);
  });
  it('checks the node rules: a chain missing there is said, once per chain', () => {
    const rules = parseIptablesSave('-A KUBE-SERVICES -j RETURN\n');
    const j = withKubeProxyRules(dnat('10.244.2.3'), ctx({ rules: { mode: 'iptables', nat: rules } }));
    const kp = j.hops.find((h) => h.kind === 'dnat')!.nat!.kubeProxy!;
    expect(kp.source).toBe('node');
    expect(kp.disagreements!.map((d) => d.kind)).toEqual(['chain-missing', 'chain-missing']);
  });
  it('leaves journeys without a Service DNAT, and those whose names are withheld, untouched', () => {
    const plain = syntheticJourney(2);
    const noSvc = { ...plain, hops: plain.hops.map((h) => (h.kind === 'dnat' ? { ...h, nat: { before: { ip: '10.1.1.1', port: 1 }, after: { ip: '10.2.2.2', port: 2 } } } : h)) };
    expect(withKubeProxyRules(noSvc, ctx())).toBe(noSvc);
    const withheld = { ...dnat('10.244.2.3'), identityUnknown: true };
    expect(withKubeProxyRules(withheld, ctx())).toBe(withheld);
  });
});

describe('kubeProxyNamer (the hot path)', () => {
  const counted = (over: Partial<KubeProxyContext> = {}) => {
    let eps = [
      { ip: '10.244.1.3', port: 8080 },
      { ip: '10.244.2.3', port: 8080 },
    ];
    const c = {
      lookups: 0,
      setEndpoints: (e: typeof eps) => (eps = e),
      ctx: ctx({
        endpoints: () => {
          c.lookups++;
          return eps;
        },
        ...over,
      }),
    };
    return c;
  };
  const kpOf = (j: Journey) => j.hops.find((h) => h.kind === 'dnat')!.nat!.kubeProxy;

  it('names as withKubeProxyRules does, working each DNAT out once', () => {
    const c = counted();
    const namer = kubeProxyNamer(c.ctx);
    for (const node of [undefined, 'node-2']) {
      const j = dnat('10.244.2.3', node);
      expect(namer.name(j)).toEqual(withKubeProxyRules(j, ctx()));
    }
    const before = c.lookups;
    for (let i = 0; i < 50; i++) namer.name(dnat(i % 2 ? '10.244.2.3' : '10.244.1.3'));
    // One more DNAT (the other backend) was new; the rest came from the cache.
    expect(c.lookups - before).toBe(1);
    expect(namer.size).toBe(3);
  });

  it('forgets on invalidate (endpoints changed), on new node rules and on a new mode', () => {
    const c = counted();
    const namer = kubeProxyNamer(c.ctx);
    expect(kpOf(namer.name(dnat('10.244.2.3')))!.disagreements).toBeUndefined();
    c.setEndpoints([{ ip: '10.244.1.3', port: 8080 }]);
    expect(kpOf(namer.name(dnat('10.244.2.3')))!.disagreements).toBeUndefined();
    namer.invalidate();
    expect(kpOf(namer.name(dnat('10.244.2.3')))!.disagreements![0]!.kind).toBe('backend-not-endpoint');
    c.setEndpoints([{ ip: '10.244.2.3', port: 8080 }]);
    namer.invalidate();
    c.ctx.rules = { mode: 'iptables', nat: parseIptablesSave('-A KUBE-SERVICES -j RETURN\n') };
    expect(kpOf(namer.name(dnat('10.244.2.3')))).toMatchObject({ source: 'node', disagreements: [{ kind: 'chain-missing' }, { kind: 'chain-missing' }] });
    c.ctx.rules = undefined;
    c.ctx.mode = 'nftables';
    expect(kpOf(namer.name(dnat('10.244.2.3')))).toMatchObject({ mode: 'nftables', source: 'api' });
  });

  it('holds at most maxEntries DNATs', () => {
    const namer = kubeProxyNamer(ctx(), 10);
    for (let i = 0; i < 25; i++) namer.name(dnat(`10.244.3.${i}`));
    expect(namer.size).toBeLessThanOrEqual(10);
    expect(namer.size).toBeGreaterThan(0);
  });
});
