// The chain names checked against real nodes' rules (fixtures/README.md says where each comes
// from): every KUBE-SVC/KUBE-EXT/KUBE-SEP of two iptables-save dumps and every service-/
// external-/endpoint- chain of a kube-proxy nftables table, recomputed from the Service port
// and endpoint their own comments and names spell out. The oracle is the real text, read with
// regular expressions here, not with the parsers under test elsewhere.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { base32Sha256, extChain, nftEndpointChain, nftExternalChain, nftServiceChain, probability, sepChain, servicePortName, svcChain, type ServicePortKey } from './names.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** "ns/name:port" (or "ns/name") as kube-proxy writes it in comments → the key. */
function keyOf(spn: string, proto: string): ServicePortKey {
  const m = /^([^/]+)\/([^:]+)(?::(.*))?$/.exec(spn)!;
  return { namespace: m[1]!, name: m[2]!, portName: m[3] ?? '', proto: proto as ServicePortKey['proto'] };
}

describe('iptables chain names', () => {
  it('match the issue example and kube-proxy test names', () => {
    const vote = keyOf('vote/vote:vote-service', 'tcp');
    expect(svcChain(vote)).toBe('KUBE-SVC-DUGGATBIC525RBNS');
    expect(sepChain(vote, '10.47.0.4', 80)).toBe('KUBE-SEP-QACHRRHBJBZ6KHV4');
    expect(sepChain(keyOf('ns1/svc1:p80', 'tcp'), '10.180.0.1', 80)).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(servicePortName(keyOf('default/registry', 'tcp'))).toBe('default/registry');
  });

  for (const file of ['k3s.iptables-save', 'jtest.iptables-save']) {
    const text = fixture(file);
    it(`name every ClusterIP chain of ${file} (KUBE-SERVICES → KUBE-SVC)`, () => {
      const rows = [...text.matchAll(/^-A KUBE-SERVICES .*-p (tcp|udp) .*--comment "(\S+) cluster IP".* -j (KUBE-SVC-\w+)$/gm)];
      expect(rows.length).toBeGreaterThan(0);
      for (const [, proto, spn, chain] of rows) expect(svcChain(keyOf(spn!, proto!)), spn).toBe(chain);
    });
    it(`name every NodePort chain of ${file} (KUBE-NODEPORTS → KUBE-EXT → KUBE-SVC)`, () => {
      const rows = [...text.matchAll(/^-A KUBE-NODEPORTS -p (tcp|udp) -m comment --comment "?([^" ]+)"? .* -j (KUBE-EXT-\w+)$/gm)];
      expect(rows.length).toBeGreaterThan(0);
      for (const [, proto, spn, chain] of rows) {
        expect(extChain(keyOf(spn!, proto!)), spn).toBe(chain);
        // The EXT chain hands over to the SVC chain of the same hash.
        expect(text).toContain(`-A ${chain} -j ${svcChain(keyOf(spn!, proto!))}`);
      }
    });
    it(`name every endpoint chain of ${file} (KUBE-SVC → KUBE-SEP, "ns/name:port -> ip:port")`, () => {
      // The protocol of a SVC chain is on its KUBE-SERVICES rule.
      const protoOf = new Map([...text.matchAll(/^-A KUBE-SERVICES .*-p (tcp|udp) .* -j (KUBE-SVC-\w+)$/gm)].map((m) => [m[2]!, m[1]!]));
      const rows = [...text.matchAll(/^-A (KUBE-SVC-\w+) -m comment --comment "(\S+) -> ([\d.]+):(\d+)".* -j (KUBE-SEP-\w+)$/gm)];
      expect(rows.length).toBeGreaterThan(1);
      for (const [, svc, spn, ip, port, sep] of rows) {
        const key = keyOf(spn!, protoOf.get(svc!)!);
        expect(svcChain(key)).toBe(svc);
        expect(sepChain(key, ip!, Number(port))).toBe(sep);
      }
    });
  }

  it('print probabilities as kube-proxy does', () => {
    expect(probability(2)).toBe('0.5000000000');
    expect(probability(3)).toBe('0.3333333333');
  });
});

describe('nftables chain names', () => {
  const text = fixture('k3s-nftables.nft');
  it('name every service-, external- and endpoint- chain of a real kube-proxy table', () => {
    const chains = [...text.matchAll(/^\s*chain ((service|external|endpoint)-(\w{8})-([^/\s]+)\/([^/\s]+)\/(tcp|udp)\/([^_\s]*)(?:__([\d.]+)\/(\d+))?) \{$/gm)];
    expect(chains.filter((c) => c[2] === 'endpoint').length).toBeGreaterThan(8);
    expect(chains.some((c) => c[2] === 'external')).toBe(true);
    for (const [, chain, kind, , ns, name, proto, portName, ip, port] of chains) {
      const key: ServicePortKey = { namespace: ns!, name: name!, portName: portName!, proto: proto as 'tcp' | 'udp' };
      const mine = kind === 'service' ? nftServiceChain(key) : kind === 'external' ? nftExternalChain(key) : nftEndpointChain(key, ip!, Number(port));
      expect(mine, chain).toBe(chain);
    }
  });
  it('name the goto targets of the service-ips and service-nodeports maps (an unnamed port too)', () => {
    expect(nftServiceChain({ namespace: 'riset', name: 'hellopod-np-svc', portName: '', proto: 'tcp' })).toBe('service-P6J77WGM-riset/hellopod-np-svc/tcp/');
    expect(nftExternalChain({ namespace: 'riset', name: 'hellopod-np-svc', portName: '', proto: 'tcp' })).toBe('external-P6J77WGM-riset/hellopod-np-svc/tcp/');
    expect(nftServiceChain({ namespace: 'kube-system', name: 'kube-dns', portName: 'dns', proto: 'udp' })).toBe('service-FY5PMXPG-kube-system/kube-dns/udp/dns');
  });
});

describe('base32Sha256', () => {
  it('is the RFC 4648 alphabet, any length', () => {
    expect(base32Sha256('', 16)).toBe('4OYMIQUY7QOBJGX3');
    expect(base32Sha256('x', 8)).toMatch(/^[A-Z2-7]{8}$/);
  });
});
