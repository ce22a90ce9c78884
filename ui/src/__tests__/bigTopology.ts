// A topology view shaped like agent/src/lab/topologies/six-node.yaml (6 nodes, 3 Deployments x
// 12 replicas in three namespaces, 30 Services), built here so UI tests need no agent internals.
import type { TopologyView } from '@hopscope/agent/protocol/messages.ts';

const DEPLOYS = [
  { name: 'web', namespace: 'default', port: 8080 },
  { name: 'api', namespace: 'backend', port: 8081 },
  { name: 'shop', namespace: 'shop', port: 8082 },
] as const;
const SUFFIXES = ['', '-nodeport', '-internal', '-admin', '-metrics', '-canary', '-legacy', '-v2', '-v3', '-blue'];

export function bigTopology(): TopologyView {
  const nodes = [1, 2, 3, 4, 5, 6].map((n) => ({ name: `node-${n}`, address: `10.0.0.${n}`, podCIDR: `10.244.${n}.0/24` }));
  const next = new Map(nodes.map((n) => [n.name, 2]));
  const pod = (namespace: string, name: string, node: string, deployment?: string) => {
    const k = next.get(node)!;
    next.set(node, k + 1);
    return { namespace, name, node, ip: `10.244.${node.slice(5)}.${k}`, ...(deployment ? { deployment } : {}) };
  };
  const pods = [pod('default', 'client', 'node-1'), pod('kube-system', 'coredns', 'node-2')];
  for (const d of DEPLOYS) for (let i = 0; i < 12; i++) pods.push(pod(d.namespace, `${d.name}-5f7c9-${String.fromCharCode(97 + i)}x${i}`, `node-${(i % 6) + 1}`, d.name));
  const services: TopologyView['services'] = [
    {
      namespace: 'kube-system',
      name: 'kube-dns',
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 }],
      endpoints: [{ namespace: 'kube-system', name: 'coredns', ip: pods[1]!.ip, node: 'node-2' }],
    },
  ];
  DEPLOYS.forEach((d, i) =>
    SUFFIXES.forEach((suf, j) => {
      if (d.name === 'shop' && suf === '-blue') return;
      services.push({
        namespace: d.namespace,
        name: `${d.name}${suf}`,
        type: suf === '-nodeport' ? 'NodePort' : 'ClusterIP',
        clusterIP: `10.96.${i + 1}.${10 + j}`,
        ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: d.port, ...(suf === '-nodeport' ? { nodePort: 30080 + i } : {}) }],
        endpoints: pods.filter((p) => p.deployment === d.name).map((p) => ({ namespace: p.namespace, name: p.name, ip: p.ip, node: p.node })),
      });
    }),
  );
  return {
    name: 'six',
    cni: 'flannel-vxlan',
    nodes,
    pods,
    services,
    externals: [{ name: 'ext-client', address: '10.0.0.100' }],
    deployments: DEPLOYS.map((d) => ({ namespace: d.namespace, name: d.name, replicas: 12 })),
  };
}
