// Names the kube-proxy chains a DNAT went through, when the pipeline did not: for a lab the
// rules are known (kube-proxy's own chain-name hashes, iptables or nftables mode), so the
// ClusterIP/NodePort and the backend pick exactly one KUBE-SVC/KUBE-SEP pair. Pure.
import type { Hop, Journey } from '../protocol/events.ts';
import type { ClusterModel, ModelService } from '../lab/model.ts';
import { extChain, sepChain, servicePortName, svcChain } from '../lab/kubeproxy-iptables.ts';
import { nftEndpointChain, nftExternalChain, nftServiceChain } from '../lab/kubeproxy-nft.ts';

function chainFor(model: ClusterModel, h: Hop, proto: string): string | undefined {
  const nat = h.nat;
  if (!nat || nat.rule || nat.before.port === undefined || nat.after.port === undefined) return undefined;
  const viaNodePort = !model.services.some((s) => s.clusterIP === nat.before.ip) && model.nodes.some((n) => n.address === nat.before.ip);
  let svc: ModelService | undefined;
  let port: ModelService['ports'][number] | undefined;
  for (const s of model.services) {
    const p = s.ports.find(
      (x) => x.protocol.toLowerCase() === proto && (viaNodePort ? x.nodePort === nat.before.port : s.clusterIP === nat.before.ip && x.port === nat.before.port),
    );
    if (p) {
      svc = s;
      port = p;
      break;
    }
  }
  if (!svc || !port || port.targetPort !== nat.after.port || !svc.endpoints.some((e) => e.ip === nat.after.ip)) return undefined;
  if (model.kubeProxy === 'iptables') {
    const spn = servicePortName(svc, port.name);
    const chain = [svcChain(spn, proto), sepChain(spn, proto, `${nat.after.ip}:${port.targetPort}`)];
    return (viaNodePort ? ['KUBE-NODEPORTS', extChain(spn, proto), ...chain] : ['KUBE-SERVICES', ...chain]).join(' → ');
  }
  const chain = [nftServiceChain(svc, port), nftEndpointChain(svc, port, nat.after.ip)];
  return (viaNodePort ? ['nodeports', nftExternalChain(svc, port), ...chain] : ['services', ...chain]).join(' → ');
}

/** The journey with `nat.rule` filled on DNAT hops whose chain the lab's rules determine. */
export function withKubeProxyChains(j: Journey, model: ClusterModel): Journey {
  if (j.proto !== 'tcp' && j.proto !== 'udp') return j;
  let changed = false;
  const hops = j.hops.map((h) => {
    if (h.kind !== 'dnat') return h;
    const rule = chainFor(model, h, j.proto);
    if (!rule || !h.nat) return h;
    changed = true;
    return { ...h, nat: { ...h.nat, rule } };
  });
  return changed ? { ...j, hops } : j;
}
