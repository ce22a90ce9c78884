// The pure part of the identity index: Kubernetes objects kept per kind, updated by list
// replacement and watch events (stale resourceVersions ignored, as headlamp's
// KubeList.applyUpdate), and the lookup tables derived from them. No I/O.
import type { V1EndpointSlice, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import type { PodRef, ServiceRef } from '../protocol/events.ts';

/** The kinds the index watches. */
export type WatchedKind = 'pods' | 'services' | 'endpointslices' | 'nodes';
export const WATCHED_KINDS: readonly WatchedKind[] = ['pods', 'services', 'endpointslices', 'nodes'];

interface KindObjects {
  pods: V1Pod;
  services: V1Service;
  endpointslices: V1EndpointSlice;
  nodes: V1Node;
}

/** Objects by kind, keyed "namespace/name" (or "name"). */
export type IndexState = { [K in WatchedKind]: Map<string, KindObjects[K]> };

/** A watch event as the informer delivers it. */
export type WatchUpdate<K extends WatchedKind = WatchedKind> = { kind: K; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KindObjects[K] };

export function emptyState(): IndexState {
  return { pods: new Map(), services: new Map(), endpointslices: new Map(), nodes: new Map() };
}

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

function keyOf(o: Meta): string | undefined {
  const name = o.metadata?.name;
  if (!name) return undefined;
  return o.metadata?.namespace ? `${o.metadata.namespace}/${name}` : name;
}

/**
 * Whether `incoming` is older than `current`. resourceVersions are opaque to clients, but every
 * real server (etcd) and the lab API use integers; anything else is treated as not comparable.
 */
export function isStale(current: string | undefined, incoming: string | undefined): boolean {
  if (!current || !incoming || !/^\d+$/.test(current) || !/^\d+$/.test(incoming)) return false;
  return BigInt(incoming) < BigInt(current);
}

/** Replace every object of a kind with a fresh list (relist). Mutates `state`; returns it. */
export function applyList<K extends WatchedKind>(state: IndexState, kind: K, items: KindObjects[K][]): IndexState {
  const m = new Map<string, KindObjects[K]>();
  for (const o of items) {
    const k = keyOf(o);
    if (k) m.set(k, o);
  }
  (state as Record<WatchedKind, Map<string, unknown>>)[kind] = m;
  return state;
}

/** Apply one watch event; returns false (and changes nothing) for stale or keyless events. */
export function applyUpdate<K extends WatchedKind>(state: IndexState, u: WatchUpdate<K>): boolean {
  const map = state[u.kind] as Map<string, KindObjects[K]>;
  const k = keyOf(u.object);
  if (!k) return false;
  const have = map.get(k);
  const rv = u.object.metadata?.resourceVersion;
  switch (u.type) {
    case 'ADDED':
    case 'MODIFIED':
      // Same version again (a relist replaying what we have) is no change either.
      if (have && (isStale(have.metadata?.resourceVersion, rv) || have.metadata?.resourceVersion === rv)) return false;
      map.set(k, u.object);
      return true;
    case 'DELETED':
      if (!have || isStale(have.metadata?.resourceVersion, rv)) return false;
      map.delete(k);
      return true;
    default: {
      const never: never = u.type;
      throw new Error(`unknown watch event type ${String(never)}`);
    }
  }
}

type Proto = 'tcp' | 'udp';

/** Lookup tables derived from the state; rebuilt when it changes. */
export interface Lookups {
  podByIp: Map<string, PodRef>;
  podByUid: Map<string, PodRef>;
  /** containerd/CRI-O/docker container id (no `runtime://` prefix) → pod, from the container statuses. */
  podByContainerId: Map<string, PodRef>;
  podIps: Map<string, string[]>;
  nodeByIp: Map<string, string>;
  /** "ip:port/proto" → service, for ClusterIPs, external IPs and load-balancer IPs. */
  serviceByVip: Map<string, ServiceRef>;
  /** "nodePort/proto" → service; valid on any node address. */
  serviceByNodePort: Map<string, ServiceRef>;
  /** Per service "ns/name": its virtual IPs with each port, then every node address with each NodePort. */
  serviceIps: Map<string, { ip: string; port: number; proto: Proto }[]>;
  /** Backends per service "ns/name", from its EndpointSlices. */
  endpoints: Map<string, { ip: string; port: number; proto: Proto; ready: boolean; portName: string; pod?: PodRef }[]>;
}

function protoOf(p: string | undefined): Proto | undefined {
  const l = (p ?? 'TCP').toLowerCase();
  return l === 'tcp' || l === 'udp' ? l : undefined;
}

/** Build the lookup tables. */
export function buildLookups(state: IndexState): Lookups {
  const out: Lookups = {
    podByIp: new Map(),
    podByUid: new Map(),
    podByContainerId: new Map(),
    podIps: new Map(),
    nodeByIp: new Map(),
    serviceByVip: new Map(),
    serviceByNodePort: new Map(),
    serviceIps: new Map(),
    endpoints: new Map(),
  };
  for (const n of state.nodes.values()) {
    const name = n.metadata?.name;
    if (!name) continue;
    for (const a of n.status?.addresses ?? []) if (a.type === 'InternalIP' || a.type === 'ExternalIP') out.nodeByIp.set(a.address, name);
  }
  for (const p of state.pods.values()) {
    const namespace = p.metadata?.namespace ?? 'default';
    const name = p.metadata?.name;
    if (!name) continue;
    const ref: PodRef = { namespace, name, ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}) };
    if (p.metadata?.uid) out.podByUid.set(p.metadata.uid, ref);
    for (const c of [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? []), ...(p.status?.ephemeralContainerStatuses ?? [])]) {
      const id = c.containerID?.replace(/^[a-z0-9-]+:\/\//, '');
      if (id) out.podByContainerId.set(id, ref);
    }
    // NOTE: hostNetwork pods carry their node's address and finished pods' IPs get reused:
    // neither may claim an IP, or node traffic would be named after a pod.
    const phase = p.status?.phase;
    if (p.spec?.hostNetwork || phase === 'Succeeded' || phase === 'Failed') continue;
    const ips = (p.status?.podIPs ?? []).map((x) => x.ip).filter((x): x is string => !!x);
    if (ips.length === 0 && p.status?.podIP) ips.push(p.status.podIP);
    out.podIps.set(`${namespace}/${name}`, ips);
    for (const ip of ips) out.podByIp.set(ip, ref);
  }
  for (const s of state.services.values()) {
    const namespace = s.metadata?.namespace ?? 'default';
    const name = s.metadata?.name;
    if (!name || !s.spec) continue;
    const vips = new Set<string>();
    for (const ip of [...(s.spec.clusterIPs ?? []), s.spec.clusterIP, ...(s.spec.externalIPs ?? [])]) if (ip && ip !== 'None') vips.add(ip);
    for (const ing of s.status?.loadBalancer?.ingress ?? []) if (ing.ip) vips.add(ing.ip);
    const addrs: { ip: string; port: number; proto: Proto }[] = [];
    const nodePorts: { ip: string; port: number; proto: Proto }[] = [];
    for (const port of s.spec.ports ?? []) {
      const proto = protoOf(port.protocol);
      if (!proto) continue;
      const ref: ServiceRef = { namespace, name, port: port.port, ...(port.name ? { portName: port.name } : {}) };
      for (const ip of vips) {
        out.serviceByVip.set(`${ip}:${port.port}/${proto}`, ref);
        addrs.push({ ip, port: port.port, proto });
      }
      if (port.nodePort) {
        out.serviceByNodePort.set(`${port.nodePort}/${proto}`, { ...ref, port: port.nodePort });
        for (const ip of out.nodeByIp.keys()) nodePorts.push({ ip, port: port.nodePort, proto });
      }
    }
    out.serviceIps.set(`${namespace}/${name}`, [...addrs, ...nodePorts]);
  }
  for (const es of state.endpointslices.values()) {
    const namespace = es.metadata?.namespace ?? 'default';
    const svc = es.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${namespace}/${svc}`;
    const list = out.endpoints.get(key) ?? [];
    for (const e of es.endpoints ?? []) {
      const t = e.targetRef;
      const pod = t?.kind === 'Pod' && t.name ? { namespace: t.namespace ?? namespace, name: t.name, ...(e.nodeName ? { node: e.nodeName } : {}) } : undefined;
      for (const port of es.ports ?? []) {
        const proto = protoOf(port.protocol);
        if (!proto || port.port === undefined) continue;
        for (const ip of e.addresses) list.push({ ip, port: port.port, proto, ready: e.conditions?.ready !== false, portName: port.name ?? '', ...(pod ? { pod } : {}) });
      }
      // A backend the pod informer has not delivered yet is still named by its slice.
      if (pod) for (const ip of e.addresses) if (!out.podByIp.has(ip)) out.podByIp.set(ip, pod);
    }
    out.endpoints.set(key, list);
  }
  return out;
}

/** Service addressed by ip:port/proto: a virtual IP, or a NodePort on a node address. */
export function lookupService(l: Lookups, ip: string, port: number, proto: Proto): ServiceRef | undefined {
  const vip = l.serviceByVip.get(`${ip}:${port}/${proto}`);
  if (vip) return vip;
  if (l.nodeByIp.has(ip)) return l.serviceByNodePort.get(`${port}/${proto}`);
  return undefined;
}
