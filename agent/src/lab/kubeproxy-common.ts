// What both kube-proxy renderers share. Pure.
import { intToIp, ipToInt, type ClusterModel, type ModelService } from './model.ts';
import type { ServicePortKey } from '../kubeproxy/names.ts';

/** A lab Service port as kube-proxy keys it (an unnamed port has the empty name, as in kube-proxy). */
export function portKey(s: ModelService, p: ModelService['ports'][number]): ServicePortKey {
  return { namespace: s.namespace, name: s.name, portName: p.name ?? '', proto: p.protocol.toLowerCase() as ServicePortKey['proto'] };
}

/**
 * The cluster CIDR kube-proxy is given (--cluster-cidr): the smallest prefix covering every
 * node's pod CIDR. Traffic to a ClusterIP from outside it is marked for masquerade.
 */
export function clusterCidr(model: ClusterModel): string {
  const ranges = model.nodes.map((n) => {
    const [base, bits] = n.podCIDR.split('/');
    const size = 2 ** (32 - Number(bits));
    const first = ipToInt(base!) - (ipToInt(base!) % size);
    return { first, last: first + size - 1 };
  });
  const lo = Math.min(...ranges.map((r) => r.first));
  const hi = Math.max(...ranges.map((r) => r.last));
  for (let bits = 32; bits >= 0; bits--) {
    const size = 2 ** (32 - bits);
    const net = lo - (lo % size);
    if (net + size - 1 >= hi) return `${intToIp(net)}/${bits}`;
  }
  return '0.0.0.0/0';
}
