// The topology of a real cluster (for `hopscope serve`): nodes, pods, Services, EndpointSlices
// listed from the Kubernetes API and turned into the UI's TopologyView. The mapping is pure.
import { CoreV1Api, DiscoveryV1Api, KubeConfig, type V1Node, type V1Pod, type V1Service, type V1EndpointSlice } from '@kubernetes/client-node';
import type { TopologyView } from '../protocol/messages.ts';

/** Kubernetes lists → TopologyView. Pure. */
export function topologyFromK8s(name: string, nodes: V1Node[], pods: V1Pod[], services: V1Service[], slices: V1EndpointSlice[]): TopologyView {
  const podByIp = new Map(pods.filter((p) => p.status?.podIP).map((p) => [p.status!.podIP!, p]));
  const deployments = new Map<string, { namespace: string; name: string; replicas: number }>();
  const deploymentOf = (p: V1Pod): string | undefined => {
    const rs = p.metadata?.ownerReferences?.find((o) => o.kind === 'ReplicaSet')?.name;
    const hash = p.metadata?.labels?.['pod-template-hash'];
    return rs && hash && rs.endsWith(`-${hash}`) ? rs.slice(0, -hash.length - 1) : undefined;
  };
  const outPods = pods
    .filter((p) => p.status?.podIP && !p.spec?.hostNetwork)
    .map((p) => {
      const dep = deploymentOf(p);
      const ns = p.metadata?.namespace ?? 'default';
      if (dep) {
        const k = `${ns}/${dep}`;
        const d = deployments.get(k) ?? { namespace: ns, name: dep, replicas: 0 };
        d.replicas++;
        deployments.set(k, d);
      }
      return { namespace: ns, name: p.metadata?.name ?? '?', node: p.spec?.nodeName ?? '?', ip: p.status!.podIP!, ...(dep ? { deployment: dep } : {}) };
    });
  return {
    name,
    cni: 'unknown',
    nodes: nodes.map((n) => ({
      name: n.metadata?.name ?? '?',
      address: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '',
      ...(n.spec?.podCIDR ? { podCIDR: n.spec.podCIDR } : {}),
    })),
    pods: outPods,
    services: services
      .filter((s) => s.spec?.clusterIP && s.spec.clusterIP !== 'None')
      .map((s) => {
        const ns = s.metadata?.namespace ?? 'default';
        const sname = s.metadata?.name ?? '?';
        const eps = slices
          .filter((sl) => sl.metadata?.namespace === ns && sl.metadata?.labels?.['kubernetes.io/service-name'] === sname)
          .flatMap((sl) => sl.endpoints ?? [])
          .flatMap((e) => e.addresses ?? [])
          .map((ip) => podByIp.get(ip))
          .filter((p): p is V1Pod => p !== undefined)
          .map((p) => ({ namespace: p.metadata?.namespace ?? ns, name: p.metadata?.name ?? '?', ip: p.status!.podIP!, node: p.spec?.nodeName ?? '?' }));
        return {
          namespace: ns,
          name: sname,
          type: s.spec?.type ?? 'ClusterIP',
          clusterIP: s.spec!.clusterIP!,
          ports: (s.spec?.ports ?? []).map((p) => ({
            ...(p.name ? { name: p.name } : {}),
            protocol: p.protocol ?? 'TCP',
            port: p.port,
            targetPort: typeof p.targetPort === 'number' ? p.targetPort : p.port,
            ...(p.nodePort ? { nodePort: p.nodePort } : {}),
          })),
          endpoints: eps,
        };
      }),
    externals: [],
    deployments: [...deployments.values()],
  };
}

/** A cached topology refreshed from the API every `refreshMs`. */
export function k8sTopology(kubeconfigPath: string | undefined, refreshMs = 10_000): { get(): TopologyView | null; stop(): void; ready: Promise<void> } {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const disco = kc.makeApiClient(DiscoveryV1Api);
  let current: TopologyView | null = null;
  const refresh = async () => {
    const [nodes, pods, services, slices] = await Promise.all([
      core.listNode(),
      core.listPodForAllNamespaces(),
      core.listServiceForAllNamespaces(),
      disco.listEndpointSliceForAllNamespaces(),
    ]);
    current = topologyFromK8s(kc.getCurrentCluster()?.name ?? 'cluster', nodes.items, pods.items, services.items, slices.items);
  };
  const ready = refresh();
  const timer = setInterval(() => refresh().catch(() => undefined), refreshMs);
  timer.unref();
  return { get: () => current, stop: () => clearInterval(timer), ready };
}
