// The cluster model as the UI draws it, and identities by address. Pure.
import type { ClusterModel } from '../lab/model.ts';
import type { TopologyView } from '../protocol/messages.ts';

/** Lab cluster model → the UI's topology. */
export function topologyFromModel(m: ClusterModel): TopologyView {
  return {
    name: m.name,
    cni: m.cni,
    nodes: m.nodes.map((n) => ({ name: n.name, address: n.address, podCIDR: n.podCIDR })),
    pods: m.pods.map((p) => ({
      namespace: p.namespace,
      name: p.name,
      node: p.node,
      ip: p.ip,
      ...(p.deployment ? { deployment: p.deployment.name } : {}),
    })),
    services: m.services.map((s) => ({
      namespace: s.namespace,
      name: s.name,
      type: s.type,
      clusterIP: s.clusterIP,
      ports: s.ports.map((p) => ({ ...p })),
      endpoints: s.endpoints.map((e) => ({ namespace: e.podNamespace, name: e.podName, ip: e.ip, node: e.node })),
    })),
    externals: m.externals.map((e) => ({ ...e })),
    deployments: m.deployments.map((d) => ({ namespace: d.namespace, name: d.name, replicas: d.replicas })),
  };
}

/** One named address. */
export interface IdentityRow {
  ip: string;
  kind: 'pod' | 'service' | 'node' | 'external';
  namespace?: string;
  name: string;
  node?: string;
}

/** Every address the topology names, for GET /api/identities. */
export function identitiesFromTopology(t: TopologyView): IdentityRow[] {
  return [
    ...t.nodes.map((n): IdentityRow => ({ ip: n.address, kind: 'node', name: n.name })),
    ...t.pods.map((p): IdentityRow => ({ ip: p.ip, kind: 'pod', namespace: p.namespace, name: p.name, node: p.node })),
    ...t.services.map((s): IdentityRow => ({ ip: s.clusterIP, kind: 'service', namespace: s.namespace, name: s.name })),
    ...t.externals.map((e): IdentityRow => ({ ip: e.address, kind: 'external', name: e.name })),
  ];
}
