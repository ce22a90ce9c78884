// kube-proxy's iptables mode as a pure renderer: the nat table kube-proxy programs on a node
// for the lab's Services, in iptables-restore format. Chain names, comments, the statistic
// probabilities and the masquerade marking follow pkg/proxy/iptables/proxier.go.
import type { ClusterModel } from './model.ts';
import { clusterCidr, portKey } from './kubeproxy-common.ts';
import { extChain, probability, sepChain, servicePortName, svcChain } from '../kubeproxy/names.ts';

/** The fwmark kube-proxy uses to ask KUBE-POSTROUTING for masquerade. */
export const MASQ_MARK = '0x4000';

/** The nat table of one node, for `iptables-restore` (replaces the whole nat table). */
export function renderIptablesNat(model: ClusterModel): string {
  const chains = new Set<string>(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']);
  const rules: string[] = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    `-A KUBE-POSTROUTING -m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    // Clear the mark so a re-traversal (e.g. after encapsulation) does not masquerade again.
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${MASQ_MARK}`,
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${MASQ_MARK}`,
  ];
  const clusterCIDR = clusterCidr(model);
  const services: string[] = [];
  const nodeports: string[] = [];
  const perChain: string[] = [];
  for (const s of model.services) {
    for (const p of s.ports) {
      const proto = p.protocol.toLowerCase();
      const key = portKey(s, p);
      const spn = servicePortName(key);
      const svc = svcChain(key);
      const match = `-m ${proto} -p ${proto} -d ${s.clusterIP} --dport ${p.port}`;
      if (s.endpoints.length === 0) {
        // kube-proxy rejects traffic to a Service without endpoints (filter table); in the
        // nat table it simply has no KUBE-SVC chain.
        continue;
      }
      chains.add(svc);
      services.push(`-A KUBE-SERVICES -m comment --comment "${spn} cluster IP" ${match} -j ${svc}`);
      perChain.push(`-A ${svc} -m comment --comment "${spn} cluster IP" ${match} ! -s ${clusterCIDR} -j KUBE-MARK-MASQ`);
      if (s.type === 'NodePort' && p.nodePort !== undefined) {
        const ext = extChain(key);
        chains.add(ext);
        nodeports.push(`-A KUBE-NODEPORTS -m comment --comment ${spn} -m ${proto} -p ${proto} --dport ${p.nodePort} -j ${ext}`);
        perChain.push(`-A ${ext} -m comment --comment "masquerade traffic for ${spn} external destinations" -j KUBE-MARK-MASQ`);
        perChain.push(`-A ${ext} -j ${svc}`);
      }
      const n = s.endpoints.length;
      s.endpoints.forEach((ep, i) => {
        const endpoint = `${ep.ip}:${p.targetPort}`;
        const sep = sepChain(key, ep.ip, p.targetPort);
        chains.add(sep);
        const pick = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
        perChain.push(`-A ${svc} -m comment --comment "${spn} -> ${endpoint}"${pick} -j ${sep}`);
      });
      for (const ep of s.endpoints) {
        const endpoint = `${ep.ip}:${p.targetPort}`;
        const sep = sepChain(key, ep.ip, p.targetPort);
        // A pod reaching itself through its Service must be masqueraded or the reply would
        // short-circuit inside the pod.
        perChain.push(`-A ${sep} -m comment --comment ${spn} -s ${ep.ip} -j KUBE-MARK-MASQ`);
        perChain.push(`-A ${sep} -m comment --comment ${spn} -m ${proto} -p ${proto} -j DNAT --to-destination ${endpoint}`);
      }
    }
  }
  services.push(
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
  );
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...[...chains].map((c) => `:${c} - [0:0]`),
    ...rules,
    ...services,
    ...nodeports,
    ...perChain,
    'COMMIT',
    '',
  ].join('\n');
}
