// Cluster DNS of the lab, pure: the resolv.conf kubelet writes into every pod and the records
// the kube-dns workload answers.
import type { ClusterModel } from './model.ts';

/** resolv.conf of a pod in `namespace`, as kubelet renders it for dnsPolicy ClusterFirst. */
export function renderResolvConf(dnsIp: string, namespace: string, domain: string): string {
  return [
    `nameserver ${dnsIp}`,
    `search ${namespace}.svc.${domain} svc.${domain} ${domain}`,
    'options ndots:5',
    '',
  ].join('\n');
}

/** A-record table of the cluster: fully qualified name (lower case, no trailing dot) → address. */
export function dnsRecords(model: ClusterModel): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of model.services) out[`${s.name}.${s.namespace}.svc.${model.clusterDomain}`] = s.clusterIP;
  // Pod A records in the dashed form CoreDNS serves (pods insecure): 10-244-1-2.<ns>.pod.<domain>.
  for (const p of model.pods) out[`${p.ip.replaceAll('.', '-')}.${p.namespace}.pod.${model.clusterDomain}`] = p.ip;
  return out;
}
