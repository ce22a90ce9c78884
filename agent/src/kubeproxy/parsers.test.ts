// The rule parsers on real captured text (fixtures/README.md): what they find is checked against
// facts read off the text by eye.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseIptablesSave, splitWords } from './iptables-save.ts';
import { dnatTarget, numgenTargets, parseNftText } from './nft-text.ts';
import { parseIpvs } from './ipvs.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseIptablesSave', () => {
  it('reads chains, jumps, comments, statistic and DNAT of a real nat table', () => {
    const nat = parseIptablesSave(fixture('jtest.iptables-save'));
    expect(nat.chains.has('KUBE-SVC-FXJ34XFJ55FJZHFP')).toBe(true);
    const svc = nat.rules.get('KUBE-SVC-FXJ34XFJ55FJZHFP')!;
    expect(svc.map((r) => r.jump)).toEqual(['KUBE-MARK-MASQ', 'KUBE-SEP-KN35ORIINUKINMGQ', 'KUBE-SEP-D4L6XHEA34PXVJE3']);
    expect(svc[1]!.probability).toBe(0.5);
    expect(svc[1]!.comment).toBe('default/jtest -> 10.244.1.21:8080');
    expect(svc[2]!.probability).toBeUndefined();
    const dnat = nat.rules.get('KUBE-SEP-D4L6XHEA34PXVJE3')!.find((r) => r.jump === 'DNAT')!;
    expect(dnat.dnatTo).toEqual({ ip: '10.244.2.18', port: 8080 });
    expect(dnat.text).toBe('-p tcp -m comment --comment "default/jtest" -m tcp -j DNAT --to-destination 10.244.2.18:8080');
  });
  it('takes declared chains and skips what is not a rule (a grep separator), counting it only when unreadable', () => {
    const nat = parseIptablesSave(fixture('k3s.iptables-save'));
    // declared (":KUBE-SEP-PQ2L…") though its rules were cut from the paste
    expect(nat.chains.has('KUBE-SEP-PQ2LHDKKDGM72FNX')).toBe(true);
    expect(nat.rules.has('KUBE-SEP-PQ2LHDKKDGM72FNX')).toBe(false);
    expect(nat.rules.get('KUBE-NODEPORTS')).toHaveLength(5);
    expect(nat.unreadable).toBe(0);
  });
  it('keeps only the nat table of a full dump and never throws on garbage', () => {
    const nat = parseIptablesSave('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j KUBE-FIREWALL\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j RETURN\nnonsense "unterminated\nCOMMIT\n');
    expect([...nat.chains]).toEqual(['KUBE-SERVICES']);
    expect(nat.unreadable).toBe(1);
    for (let i = 0; i < 200; i++) parseIptablesSave(String.fromCharCode(...Array.from({ length: 80 }, (_, k) => 32 + ((i * 7 + k * 13) % 95))));
  });
  it('splits words as the shell does', () => {
    expect(splitWords('-m comment --comment "a b \\"c\\"" -j X')).toEqual(['-m', 'comment', '--comment', 'a b "c"', '-j', 'X']);
  });
});

describe('parseNftText', () => {
  const t = parseNftText(fixture('k3s-nftables.nft'));
  it("reads kube-proxy's chains and maps (elements wrapped over lines)", () => {
    expect(t.chains.has('service-P6J77WGM-riset/hellopod-np-svc/tcp/')).toBe(true);
    expect(t.maps.get('service-ips')).toHaveLength(9);
    expect(t.maps.get('service-ips')![2]).toEqual({ key: '10.43.195.72 . tcp . 8000', verdict: 'goto service-P6J77WGM-riset/hellopod-np-svc/tcp/' });
    expect(t.maps.get('service-nodeports')).toEqual([{ key: 'tcp . 30000', verdict: 'goto external-P6J77WGM-riset/hellopod-np-svc/tcp/' }]);
    // a key carrying a comment
    expect(t.maps.get('no-endpoint-services')![0]!.verdict).toBe('goto reject-chain');
    expect(t.unreadable).toBe(0);
  });
  it('reads the numgen pick and the DNAT', () => {
    const pick = t.chains.get('service-P6J77WGM-riset/hellopod-np-svc/tcp/')!.map(numgenTargets).find((x) => !!x)!;
    expect(pick.mod).toBe(9);
    expect(pick.targets.get(4)).toBe('endpoint-YDP3M3R6-riset/hellopod-np-svc/tcp/__10.42.4.204/8080');
    const ep = t.chains.get('endpoint-YDP3M3R6-riset/hellopod-np-svc/tcp/__10.42.4.204/8080')!;
    expect(ep.map(dnatTarget).find((d) => !!d)).toEqual({ ip: '10.42.4.204', port: 8080 });
  });
  it('joins a statement nft wrapped over lines', () => {
    const w = parseNftText('table ip kube-proxy {\n\tchain service-X {\n\t\tnumgen random mod 2 vmap { 0 : goto endpoint-A,\n\t\t\t1 : goto endpoint-B }\n\t}\n}\n');
    expect(numgenTargets(w.chains.get('service-X')![0]!)!.targets.get(1)).toBe('endpoint-B');
  });
});

describe('parseIpvs', () => {
  const t = parseIpvs(fixture('ipvs-procfs.txt'));
  it('reads virtual and real servers from hex, IPv6 and firewall marks', () => {
    expect(t.unreadable).toBe(0);
    expect(t.virtuals).toHaveLength(5);
    expect(t.virtuals[0]).toMatchObject({ proto: 'TCP', ip: '192.168.0.22', port: 3306, scheduler: 'wlc' });
    expect(t.virtuals[0]!.reals[0]).toEqual({ ip: '192.168.82.22', port: 3306, forward: 'Tunnel', weight: 100, active: 248, inactive: 2 });
    expect(t.virtuals[3]).toMatchObject({ ip: '2620:0:0:0:0:0:0:1', port: 80, scheduler: 'sh' });
    expect(t.virtuals[4]).toMatchObject({ proto: 'FWM', fwmark: 0x10001000, scheduler: 'wlc' });
    expect(t.virtuals[4]!.reals).toHaveLength(2);
  });
});
