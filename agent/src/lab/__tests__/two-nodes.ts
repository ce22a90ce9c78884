// For the kube-proxy renderers' tests: the cluster both render rules for.
import { expandTopology, type ClusterModel } from '../model.ts';
import { validateTopology, type TopologyInput } from '../topology.ts';

/** Two nodes, two web replicas behind the NodePort Service web (80 → 8080, node port 30080), and `services`. */
export function twoNodesWithWeb(services: NonNullable<TopologyInput['services']>): ClusterModel {
  return expandTopology(
    validateTopology({
      name: 't',
      nodes: [
        { name: 'node-1', podCIDR: '10.244.1.0/24', address: '10.0.0.1' },
        { name: 'node-2', podCIDR: '10.244.2.0/24', address: '10.0.0.2' },
      ],
      deployments: [{ name: 'web', replicas: 2, labels: { app: 'web' }, containers: [{ name: 'web', run: { kind: 'http' } }] }],
      services: [
        { name: 'web', type: 'NodePort', clusterIP: '10.96.0.20', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] },
        ...services,
      ],
    } satisfies TopologyInput),
  );
}
