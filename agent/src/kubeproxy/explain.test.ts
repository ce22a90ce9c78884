// The rule behind a DNAT, against real nodes' rules (fixtures/README.md), and what is said when
// the rules and the packet disagree.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { explainDnat, type DnatFacts } from './explain.ts';
import { parseIptablesSave } from './iptables-save.ts';
import { parseNftText } from './nft-text.ts';
import { parseIpvs } from './ipvs.ts';
import { describePick, ruleLines } from '../protocol/kube-proxy-text.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const jtestText = fixture('jtest.iptables-save');
const jtest = { mode: 'iptables' as const, nat: parseIptablesSave(jtestText) };
const jtestEndpoints = [
  { ip: '10.244.1.21', port: 8080 },
  { ip: '10.244.2.18', port: 8080 },
];
const toJtest = (after: string, viaNodePort = false): DnatFacts => ({
  service: { namespace: 'default', name: 'jtest', portName: '', proto: 'tcp' },
  before: viaNodePort ? { ip: '192.168.205.146', port: 31455 } : { ip: '10.97.121.82', port: 8080 },
  after: { ip: after, port: 8080 },
  viaNodePort,
  endpoints: jtestEndpoints,
});

describe('explainDnat with iptables rules', () => {
  it('finds the chain path, the rule that picked the backend and its probability', () => {
    const r = explainDnat(toJtest('10.244.1.21'), 'iptables', jtest)!;
    expect(r).toMatchObject({ mode: 'iptables', source: 'node', chains: ['KUBE-SERVICES', 'KUBE-SVC-FXJ34XFJ55FJZHFP', 'KUBE-SEP-KN35ORIINUKINMGQ'] });
    expect(r.ruleText).toBe(
      '-A KUBE-SVC-FXJ34XFJ55FJZHFP -m comment --comment "default/jtest -> 10.244.1.21:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-KN35ORIINUKINMGQ',
    );
    expect(describePick(r)).toBe('1 of 2: probability 0.5');
    expect(r.disagreements).toBeUndefined();
    const last = explainDnat(toJtest('10.244.2.18'), 'iptables', jtest)!;
    expect(describePick(last)).toBe('2 of 2: the last rule, taking the rest');
  });
  it('names the NodePort path through KUBE-NODEPORTS and KUBE-EXT', () => {
    const r = explainDnat(toJtest('10.244.2.18', true), 'iptables', jtest)!;
    expect(r.chains).toEqual(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-EXT-FXJ34XFJ55FJZHFP', 'KUBE-SVC-FXJ34XFJ55FJZHFP', 'KUBE-SEP-D4L6XHEA34PXVJE3']);
    expect(r.disagreements).toBeUndefined();
  });
  it('says when the backend is no endpoint of the Service and no rule leads there', () => {
    const r = explainDnat(toJtest('10.244.3.9'), 'iptables', jtest)!;
    expect(r.disagreements!.map((d) => d.kind)).toEqual(['backend-not-endpoint', 'chain-missing']);
    expect(r.disagreements![0]!.detail).toContain('10.244.3.9:8080, which is not an endpoint of default/jtest (its EndpointSlices list 10.244.1.21:8080, 10.244.2.18:8080)');
  });
  it('says when a KUBE-SEP chain was deleted behind kube-proxy’s back', () => {
    const cut = jtestText
      .split('\n')
      .filter((l) => !l.includes('KUBE-SEP-KN35ORIINUKINMGQ'))
      .join('\n');
    const r = explainDnat(toJtest('10.244.1.21'), 'iptables', { mode: 'iptables', nat: parseIptablesSave(cut) })!;
    expect(r.disagreements).toEqual([expect.objectContaining({ kind: 'chain-missing', chain: 'KUBE-SEP-KN35ORIINUKINMGQ' })]);
    expect(ruleLines(r)).toEqual([expect.stringMatching(/^⚠ KUBE-SEP-KN35ORIINUKINMGQ is not in the node's iptables nat table/)]);
  });
});

describe('explainDnat with nftables rules', () => {
  const table = { mode: 'nftables' as const, table: parseNftText(fixture('k3s-nftables.nft')) };
  const facts = (after: string, viaNodePort = false): DnatFacts => ({
    service: { namespace: 'riset', name: 'hellopod-np-svc', portName: '', proto: 'tcp' },
    before: viaNodePort ? { ip: '10.34.4.246', port: 30000 } : { ip: '10.43.195.72', port: 8000 },
    after: { ip: after, port: 8080 },
    viaNodePort,
  });
  it('finds the endpoint chain and its numgen index', () => {
    const r = explainDnat(facts('10.42.4.204'), 'iptables', table)!;
    expect(r.mode).toBe('nftables');
    expect(r.chains).toEqual(['services', '@service-ips', 'service-P6J77WGM-riset/hellopod-np-svc/tcp/', 'endpoint-YDP3M3R6-riset/hellopod-np-svc/tcp/__10.42.4.204/8080']);
    expect(describePick(r)).toBe('5 of 9: probability 0.11111');
    expect(r.ruleText).toMatch(/^numgen random mod 9 vmap \{ 0 : goto endpoint-VNXJG24O/);
    expect(r.disagreements).toBeUndefined();
  });
  it('names the NodePort path through the external chain', () => {
    expect(explainDnat(facts('10.42.5.164', true), 'iptables', table)!.chains.slice(0, 3)).toEqual(['services', '@service-nodeports', 'external-P6J77WGM-riset/hellopod-np-svc/tcp/']);
  });
  it('says when an endpoint chain was deleted behind kube-proxy’s back (its real name, from the table)', () => {
    const ep = 'endpoint-YDP3M3R6-riset/hellopod-np-svc/tcp/__10.42.4.204/8080';
    const text = fixture('k3s-nftables.nft');
    const cut = text.replace(new RegExp(`\\n\\s*chain ${ep.replaceAll('.', '\\.')} \\{[^}]*\\}`), '');
    expect(cut.length).toBeLessThan(text.length);
    const r = explainDnat(facts('10.42.4.204'), 'nftables', { mode: 'nftables', table: parseNftText(cut) })!;
    // said once: missing from the table (the service chain's numgen map still points there)
    expect(r.disagreements).toEqual([expect.objectContaining({ kind: 'chain-missing', chain: ep })]);
  });
  it('says when the service chain has no numgen entry for the backend', () => {
    const r = explainDnat(facts('10.42.9.9'), 'nftables', table)!;
    expect(r.disagreements!.map((d) => d.kind)).toEqual(['chain-missing']);
    expect(r.disagreements![0]).toMatchObject({ chain: r.chains[3] });
  });
});

describe('explainDnat with IPVS', () => {
  const ipvs = { mode: 'ipvs' as const, ipvs: parseIpvs(fixture('ipvs-procfs.txt')) };
  const facts = (after: string): DnatFacts => ({
    service: { namespace: 'db', name: 'mysql', portName: '', proto: 'tcp' },
    before: { ip: '192.168.0.22', port: 3306 },
    after: { ip: after, port: 3306 },
    viaNodePort: false,
  });
  it('names the virtual and the real server', () => {
    const r = explainDnat(facts('192.168.83.24'), 'iptables', ipvs)!;
    expect(r.chains).toEqual(['IPVS TCP 192.168.0.22:3306 wlc', '192.168.83.24:3306']);
    expect(r.ruleText).toBe('-> 192.168.83.24:3306 Tunnel weight 100 (248 active, 2 inactive)');
    expect(describePick(r)).toBe('2 of 3: chosen by the IPVS scheduler');
  });
  it('says when the real server is not in the table', () => {
    expect(explainDnat(facts('10.0.0.1'), 'iptables', ipvs)!.disagreements![0]!.kind).toBe('chain-missing');
  });
});

describe('explainDnat from the API alone', () => {
  it('names the chains kube-proxy would make, in the assumed mode, and checks the endpoints', () => {
    const r = explainDnat(toJtest('10.244.1.21'), 'iptables')!;
    expect(r).toEqual({ mode: 'iptables', source: 'api', chains: ['KUBE-SERVICES', 'KUBE-SVC-FXJ34XFJ55FJZHFP', 'KUBE-SEP-KN35ORIINUKINMGQ'] });
    // nftables names as the real k3s table has them (no rules handed in: from the API alone).
    const k3s = { service: { namespace: 'riset', name: 'hellopod-np-svc', portName: '', proto: 'tcp' as const }, before: { ip: '10.43.195.72', port: 8000 }, viaNodePort: false };
    const nft = explainDnat({ ...k3s, after: { ip: '10.42.4.204', port: 8080 } }, 'nftables')!;
    expect(nft).toEqual({ mode: 'nftables', source: 'api', chains: ['services', '@service-ips', 'service-P6J77WGM-riset/hellopod-np-svc/tcp/', 'endpoint-YDP3M3R6-riset/hellopod-np-svc/tcp/__10.42.4.204/8080'] });
    const stray = explainDnat({ ...k3s, after: { ip: '10.42.9.9', port: 8080 }, endpoints: [{ ip: '10.42.4.204', port: 8080 }] }, 'nftables')!;
    expect(stray.disagreements![0]!.kind).toBe('backend-not-endpoint');
    expect(explainDnat(toJtest('10.244.1.21'), 'ipvs')).toBeUndefined();
  });
});
