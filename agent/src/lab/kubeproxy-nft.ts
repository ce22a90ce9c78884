// kube-proxy's nftables mode as a pure renderer: table `ip kube-proxy` with the chains, maps
// and verdict maps of pkg/proxy/nftables/proxier.go (service-ips / service-nodeports vmaps,
// service-<hash>-<ns>/<svc>/<proto>/<port> chains choosing an endpoint chain with
// `numgen random mod N vmap`, endpoint chains doing dnat, masquerading by mark).
import type { ClusterModel } from './model.ts';
import { clusterCidr, portKey } from './kubeproxy-common.ts';
import { nftEndpointChain, nftExternalChain, nftServiceChain } from '../kubeproxy/names.ts';

const MARK = '0x00004000';

/** An `nft -f` script that atomically replaces table `ip kube-proxy` of a node. */
export function renderNftables(model: ClusterModel): string {
  const cidr = clusterCidr(model);
  const serviceIps: string[] = [];
  const nodePorts: string[] = [];
  const chains: string[] = [];
  for (const s of model.services) {
    for (const p of s.ports) {
      if (s.endpoints.length === 0) continue;
      const proto = p.protocol.toLowerCase();
      const key = portKey(s, p);
      const svc = nftServiceChain(key);
      serviceIps.push(`${s.clusterIP} . ${proto} . ${p.port} : goto ${svc}`);
      const eps = s.endpoints.map((e) => ({ ip: e.ip, chain: nftEndpointChain(key, e.ip, p.targetPort) }));
      chains.push(
        `  chain ${svc} {`,
        `    ip daddr ${s.clusterIP} ${proto} dport ${p.port} ip saddr != ${cidr} jump mark-for-masquerade`,
        `    numgen random mod ${eps.length} vmap { ${eps.map((e, i) => `${i} : goto ${e.chain}`).join(', ')} }`,
        '  }',
      );
      if (s.type === 'NodePort' && p.nodePort !== undefined) {
        const ext = nftExternalChain(key);
        nodePorts.push(`${proto} . ${p.nodePort} : goto ${ext}`);
        chains.push(`  chain ${ext} {`, '    jump mark-for-masquerade', `    goto ${svc}`, '  }');
      }
      for (const e of eps)
        chains.push(
          `  chain ${e.chain} {`,
          // A pod reaching itself through its Service must be masqueraded (hairpin).
          `    ip saddr ${e.ip} jump mark-for-masquerade`,
          `    meta l4proto ${proto} dnat to ${e.ip}:${p.targetPort}`,
          '  }',
        );
    }
  }
  const elements = (xs: string[]) => (xs.length ? `    elements = { ${xs.join(', ')} }\n` : '');
  return (
    [
      // add + delete + define: one transaction that replaces the table whether or not it exists.
      'add table ip kube-proxy',
      'delete table ip kube-proxy',
      'table ip kube-proxy {',
      '  comment "rules for kube-proxy"',
      '  chain nat-prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      '    jump services',
      '  }',
      '  chain nat-output {',
      '    type nat hook output priority -100; policy accept;',
      '    jump services',
      '  }',
      '  chain nat-postrouting {',
      '    type nat hook postrouting priority srcnat; policy accept;',
      '    jump masquerading',
      '  }',
      '  chain mark-for-masquerade {',
      `    meta mark set meta mark or ${MARK}`,
      '  }',
      '  chain masquerading {',
      `    meta mark & ${MARK} == 0 return`,
      `    meta mark set meta mark xor ${MARK}`,
      '    masquerade fully-random',
      '  }',
      '  map service-ips {',
      '    type ipv4_addr . inet_proto . inet_service : verdict',
      '    comment "ClusterIP, ExternalIP and LoadBalancer IP traffic"',
      elements(serviceIps) + '  }',
      '  map service-nodeports {',
      '    type inet_proto . inet_service : verdict',
      '    comment "NodePort traffic"',
      elements(nodePorts) + '  }',
      '  chain services {',
      '    ip daddr . meta l4proto . th dport vmap @service-ips',
      '    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports',
      '  }',
      ...chains,
      '}',
    ].join('\n') + '\n'
  );
}
