// The cluster and the traffic of bench/ui-scale.ts: a topology of N pods on 6 nodes, one Service
// per 10 pods with those 10 as its endpoints, and journeys from pods to Services spread over the
// cluster by a hash.
import type { Endpoint, Journey } from '../agent/src/protocol/events.ts';
import type { TopologyView } from '../agent/src/protocol/messages.ts';
import { syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';

const NODES = 6;
const PER_SERVICE = 10;

const podName = (i: number): string => `app-${Math.floor(i / PER_SERVICE)}-${(i % PER_SERVICE).toString(36)}x${i.toString(36)}`;
const podIp = (i: number): string => `10.244.${(i % NODES) + 1}.${Math.floor(i / NODES) + 2}`;
const nodeOf = (i: number): string => `node-${(i % NODES) + 1}`;

/** The cluster as the server hands it to the page (GET /api/topology). */
export function scaleTopology(pods: number): TopologyView {
  const services = Math.ceil(pods / PER_SERVICE);
  return {
    name: `scale-${pods}`,
    cni: 'flannel-vxlan',
    nodes: Array.from({ length: NODES }, (_, n) => ({ name: `node-${n + 1}`, address: `10.0.0.${n + 1}`, podCIDR: `10.244.${n + 1}.0/24` })),
    pods: Array.from({ length: pods }, (_, i) => ({ namespace: 'default', name: podName(i), node: nodeOf(i), ip: podIp(i), deployment: `app-${Math.floor(i / PER_SERVICE)}` })),
    services: Array.from({ length: services }, (_, s) => ({
      namespace: 'default',
      name: `app-${s}`,
      type: 'ClusterIP' as const,
      clusterIP: `10.96.${Math.floor(s / 250)}.${(s % 250) + 2}`,
      ports: [{ name: 'http', protocol: 'TCP' as const, port: 80, targetPort: 8080 }],
      endpoints: Array.from({ length: Math.min(PER_SERVICE, pods - s * PER_SERVICE) }, (_, k) => {
        const i = s * PER_SERVICE + k;
        return { namespace: 'default', name: podName(i), ip: podIp(i), node: nodeOf(i) };
      }),
    })),
    externals: [],
    deployments: Array.from({ length: services }, (_, s) => ({ namespace: 'default', name: `app-${s}`, replicas: Math.min(PER_SERVICE, pods - s * PER_SERVICE) })),
  };
}

/** Journey n: a pod calling a Service, answered by one of its endpoints (pairs spread by a hash). */
export function journeyMaker(t: TopologyView): (n: number) => Journey {
  const pool = Array.from({ length: 1024 }, (_, i) => syntheticJourney(i));
  const pod = (i: number): Endpoint['pod'] => ({ namespace: 'default', name: t.pods[i]!.name, node: t.pods[i]!.node });
  return (n) => {
    const h = Math.imul(n + 1, 2654435761) >>> 0;
    const from = h % t.pods.length;
    const svc = t.services[(h >>> 12) % t.services.length]!;
    const to = t.pods.findIndex((p) => p.name === svc.endpoints[n % svc.endpoints.length]!.name);
    const base = pool[n % 1024]!;
    const hops = [...base.hops];
    hops[0] = { ...hops[0]!, where: { pod: pod(from)!, label: `${t.pods[from]!.name} (default)` } };
    hops[hops.length - 1] = { ...hops[hops.length - 1]!, where: { pod: pod(to)!, label: `${t.pods[to]!.name} (default)` } };
    return {
      ...base,
      id: `u-${n}`,
      src: { ...base.src, ip: t.pods[from]!.ip, pod: pod(from)! },
      dst: { ip: svc.clusterIP, port: 80, service: { namespace: 'default', name: svc.name, port: 80, portName: 'http' } },
      backend: { ip: t.pods[to]!.ip, port: 8080, pod: pod(to)! },
      hops,
    };
  };
}
