import { describe, expect, it } from 'vitest';
import { twoNodesWithWeb } from './__tests__/two-nodes.ts';
import { renderNftables } from './kubeproxy-nft.ts';
import { portKey } from './kubeproxy-common.ts';
import * as names from '../kubeproxy/names.ts';
import type { ModelService } from './model.ts';

type Port = ModelService['ports'][number];
const nftServiceChain = (s: ModelService, p: Port) => names.nftServiceChain(portKey(s, p));
const nftExternalChain = (s: ModelService, p: Port) => names.nftExternalChain(portKey(s, p));
const nftEndpointChain = (s: ModelService, p: Port, ip: string) => names.nftEndpointChain(portKey(s, p), ip, p.targetPort);

const model = twoNodesWithWeb([{ name: 'dns', clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ protocol: 'UDP', port: 53, targetPort: 53 }] }]);

describe('renderNftables', () => {
  const text = renderNftables(model);
  const web = model.services[0]!;
  const port = web.ports[0]!;
  const [a, b] = web.endpoints;

  it('names chains like kube-proxy: service-<hash>-<ns>/<svc>/<proto>/<port>', () => {
    expect(nftServiceChain(web, port)).toMatch(/^service-[A-Z2-7]{8}-default\/web\/tcp\/http$/);
    expect(nftExternalChain(web, port)).toMatch(/^external-[A-Z2-7]{8}-default\/web\/tcp\/http$/);
    expect(nftEndpointChain(web, port, a!.ip)).toMatch(new RegExp(`^endpoint-[A-Z2-7]{8}-default/web/tcp/http__${a!.ip.replaceAll('.', '\\.')}/8080$`));
    // an unnamed port leaves the last part empty, as kube-proxy does ("…/tcp/" on real nodes)
    expect(nftServiceChain(model.services[1]!, model.services[1]!.ports[0]!)).toMatch(/-default\/dns\/udp\/$/);
  });

  it('replaces the table atomically', () => {
    expect(text.startsWith('add table ip kube-proxy\ndelete table ip kube-proxy\ntable ip kube-proxy {\n')).toBe(true);
  });

  it('renders a 2-endpoint NodePort service with vmaps, numgen and dnat', () => {
    const svc = nftServiceChain(web, port);
    const ext = nftExternalChain(web, port);
    const epA = nftEndpointChain(web, port, a!.ip);
    const epB = nftEndpointChain(web, port, b!.ip);
    expect(text).toContain(`10.96.0.20 . tcp . 80 : goto ${svc}`);
    expect(text).toContain(`tcp . 30080 : goto ${ext}`);
    expect(text).toContain(
      [
        `  chain ${svc} {`,
        `    ip daddr 10.96.0.20 tcp dport 80 ip saddr != 10.244.0.0/22 jump mark-for-masquerade`,
        `    numgen random mod 2 vmap { 0 : goto ${epA}, 1 : goto ${epB} }`,
        '  }',
        `  chain ${ext} {`,
        '    jump mark-for-masquerade',
        `    goto ${svc}`,
        '  }',
        `  chain ${epA} {`,
        `    ip saddr ${a!.ip} jump mark-for-masquerade`,
        `    meta l4proto tcp dnat to ${a!.ip}:8080`,
        '  }',
      ].join('\n'),
    );
    expect(text).toContain('    ip daddr . meta l4proto . th dport vmap @service-ips\n');
    expect(text).toContain('    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports\n');
    expect(text).toContain('    meta mark & 0x00004000 == 0 return\n    meta mark set meta mark xor 0x00004000\n    masquerade fully-random\n');
  });
});
