import { describe, expect, it } from 'vitest';
import { twoNodesWithWeb } from './__tests__/two-nodes.ts';
import { renderIptablesNat } from './kubeproxy-iptables.ts';
import { sepChain as sepOf, svcChain as svcOf } from '../kubeproxy/names.ts';

const key = (spn: string, proto: 'tcp' | 'udp') => {
  const [ns, rest] = spn.split('/') as [string, string];
  const [name, portName = ''] = rest.split(':') as [string, string?];
  return { namespace: ns, name, portName, proto };
};
const svcChain = (spn: string, proto: 'tcp' | 'udp') => svcOf(key(spn, proto));
const sepChain = (spn: string, proto: 'tcp' | 'udp', ep: string) => sepOf(key(spn, proto), ep.split(':')[0]!, Number(ep.split(':')[1]));

const model = twoNodesWithWeb([{ name: 'empty', clusterIP: '10.96.0.21', selector: { app: 'none' }, ports: [{ port: 80, targetPort: 80 }] }]);

describe('renderIptablesNat', () => {
  const text = renderIptablesNat(model);
  const lines = text.split('\n');
  const [a, b] = model.services[0]!.endpoints;
  const svc = svcChain('default/web:http', 'tcp');
  const sepA = sepChain('default/web:http', 'tcp', `${a!.ip}:8080`);
  const sepB = sepChain('default/web:http', 'tcp', `${b!.ip}:8080`);
  const ext = svc.replace('KUBE-SVC-', 'KUBE-EXT-');

  it('is one nat table for iptables-restore', () => {
    expect(lines[0]).toBe('*nat');
    expect(lines.filter((l) => l === 'COMMIT')).toHaveLength(1);
    for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', svc, ext, sepA, sepB]) expect(lines).toContain(`:${c} - [0:0]`);
  });

  it('hooks the kube chains into PREROUTING, OUTPUT and POSTROUTING', () => {
    expect(lines).toContain('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
    expect(lines).toContain('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
    expect(lines).toContain('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
    expect(lines).toContain('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000');
    expect(lines).toContain('-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN');
    expect(lines).toContain('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
  });

  it('renders a 2-endpoint service exactly as kube-proxy does', () => {
    expect(lines.filter((l) => l.includes(svc) || l.includes(sepA) || l.includes(sepB) || l.includes(ext)).filter((l) => l.startsWith('-A'))).toEqual([
      `-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 -j ${svc}`,
      `-A KUBE-NODEPORTS -m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j ${ext}`,
      `-A ${svc} -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 ! -s 10.244.0.0/22 -j KUBE-MARK-MASQ`,
      `-A ${ext} -m comment --comment "masquerade traffic for default/web:http external destinations" -j KUBE-MARK-MASQ`,
      `-A ${ext} -j ${svc}`,
      `-A ${svc} -m comment --comment "default/web:http -> ${a!.ip}:8080" -m statistic --mode random --probability 0.5000000000 -j ${sepA}`,
      `-A ${svc} -m comment --comment "default/web:http -> ${b!.ip}:8080" -j ${sepB}`,
      `-A ${sepA} -m comment --comment default/web:http -s ${a!.ip} -j KUBE-MARK-MASQ`,
      `-A ${sepA} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination ${a!.ip}:8080`,
      `-A ${sepB} -m comment --comment default/web:http -s ${b!.ip} -j KUBE-MARK-MASQ`,
      `-A ${sepB} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination ${b!.ip}:8080`,
    ]);
  });

  it('puts the nodeport jump last in KUBE-SERVICES and skips services without endpoints', () => {
    const services = lines.filter((l) => l.startsWith('-A KUBE-SERVICES'));
    expect(services.at(-1)).toContain('-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
    expect(text).not.toContain('10.96.0.21');
  });
});
