// The pure part of the identity index: Kubernetes objects kept per kind, updated by list
// replacement and watch events (stale resourceVersions ignored, as headlamp's
// KubeList.applyUpdate), and the lookup tables derived from them. No I/O.
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import type { PodRef, ServiceRef } from '../protocol/events.ts';

/** The kinds the index watches. */
export type WatchedKind = 'pods' | 'services' | 'endpointslices' | 'nodes';
export const WATCHED_KINDS: readonly WatchedKind[] = ['pods', 'services', 'endpointslices', 'nodes'];

// NOTE: what the index keeps of each object: only the fields buildLookups and the stale check
// read. A whole V1Pod as the API sends it (conditions, container statuses, timestamps as Dates,
// labels, annotations) held ~4.5 KB of heap a pod; the informer caches the very objects it hands
// over, so trimming before it sees them is what frees the memory (index.ts).
type Slim<T, K extends keyof T> = { [P in K]?: T[P] };
type SlimMeta = { name?: string; namespace?: string; resourceVersion?: string };
type SlimContainer = Slim<NonNullable<NonNullable<V1Pod['status']>['containerStatuses']>[number], 'containerID'>;

/** The part of a pod the index keeps. */
export interface IndexPod {
  metadata?: SlimMeta & { uid?: string };
  spec?: Slim<NonNullable<V1Pod['spec']>, 'nodeName' | 'hostNetwork'>;
  status?: Slim<NonNullable<V1Pod['status']>, 'phase' | 'podIP' | 'podIPs'> & {
    containerStatuses?: SlimContainer[];
    initContainerStatuses?: SlimContainer[];
    ephemeralContainerStatuses?: SlimContainer[];
  };
}
type ServicePort = NonNullable<NonNullable<V1Service['spec']>['ports']>[number];
/** The part of a Service the index keeps. */
export interface IndexService {
  metadata?: SlimMeta;
  spec?: Slim<NonNullable<V1Service['spec']>, 'clusterIP' | 'clusterIPs' | 'externalIPs'> & { ports?: (Pick<ServicePort, 'port'> & Slim<ServicePort, 'name' | 'protocol' | 'nodePort'>)[] };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}
type SliceEndpoint = V1EndpointSlice['endpoints'][number];
/** The part of an EndpointSlice the index keeps. */
export interface IndexEndpointSlice {
  metadata?: SlimMeta & { labels?: Record<string, string> };
  endpoints?: (Slim<SliceEndpoint, 'nodeName'> & { addresses: string[]; conditions?: { ready?: boolean }; targetRef?: Slim<NonNullable<SliceEndpoint['targetRef']>, 'kind' | 'name' | 'namespace'> })[];
  ports?: Slim<NonNullable<V1EndpointSlice['ports']>[number], 'name' | 'protocol' | 'port'>[];
}
/** The part of a node the index keeps. */
export interface IndexNode {
  metadata?: SlimMeta;
  status?: { addresses?: { type: string; address: string }[] };
}

interface KindObjects {
  pods: IndexPod;
  services: IndexService;
  endpointslices: IndexEndpointSlice;
  nodes: IndexNode;
}

/** The label that ties an EndpointSlice to its Service. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const meta = (m: SlimMeta | undefined): SlimMeta | undefined =>
  m && { ...(m.name !== undefined ? { name: m.name } : {}), ...(m.namespace !== undefined ? { namespace: m.namespace } : {}), ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}) };
const containers = (cs: SlimContainer[] | undefined): SlimContainer[] | undefined => cs?.filter((c) => c.containerID).map((c) => ({ containerID: c.containerID }));
/**
 * A copy without the keys whose value is undefined. A copy rather than `delete`: an object
 * something was deleted from turns into a dictionary, ~3 times its size in the heap.
 */
function defined<T extends object>(o: T): T {
  const out = {} as T;
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * What the index keeps of an object of `kind` (a V1Pod, V1Service, ... or an already trimmed
 * one): a new object with only the fields the lookups and the stale check read. Pure.
 */
export function trimObject<K extends WatchedKind>(kind: K, o: KindObjects[K]): KindObjects[K] {
  switch (kind as WatchedKind) {
    case 'pods': {
      const p = o as IndexPod;
      const st = p.status;
      return defined<IndexPod>({
        metadata: p.metadata && defined({ ...meta(p.metadata), uid: p.metadata.uid }),
        spec: p.spec && defined({ nodeName: p.spec.nodeName, hostNetwork: p.spec.hostNetwork }),
        status:
          st &&
          defined({
            phase: st.phase,
            podIP: st.podIP,
            podIPs: st.podIPs?.map((x) => ({ ip: x.ip })),
            containerStatuses: containers(st.containerStatuses),
            initContainerStatuses: containers(st.initContainerStatuses),
            ephemeralContainerStatuses: containers(st.ephemeralContainerStatuses),
          }),
      }) as KindObjects[K];
    }
    case 'services': {
      const s = o as IndexService;
      const ingress = s.status?.loadBalancer?.ingress?.filter((i) => i.ip).map((i) => ({ ip: i.ip }));
      return defined<IndexService>({
        metadata: meta(s.metadata),
        spec:
          s.spec &&
          defined({
            clusterIP: s.spec.clusterIP,
            clusterIPs: s.spec.clusterIPs,
            externalIPs: s.spec.externalIPs,
            ports: s.spec.ports?.map((p) => defined({ name: p.name, protocol: p.protocol, port: p.port, nodePort: p.nodePort })),
          }),
        status: ingress?.length ? { loadBalancer: { ingress } } : undefined,
      }) as KindObjects[K];
    }
    case 'endpointslices': {
      const e = o as IndexEndpointSlice;
      const svc = e.metadata?.labels?.[SERVICE_NAME_LABEL];
      return defined<IndexEndpointSlice>({
        metadata: e.metadata && defined({ ...meta(e.metadata), labels: svc !== undefined ? { [SERVICE_NAME_LABEL]: svc } : undefined }),
        endpoints: e.endpoints?.map((x) =>
          defined({
            addresses: x.addresses,
            conditions: x.conditions?.ready !== undefined ? { ready: x.conditions.ready } : undefined,
            nodeName: x.nodeName,
            targetRef: x.targetRef && defined({ kind: x.targetRef.kind, name: x.targetRef.name, namespace: x.targetRef.namespace }),
          }),
        ),
        ports: e.ports?.map((p) => defined({ name: p.name, protocol: p.protocol, port: p.port })),
      }) as KindObjects[K];
    }
    case 'nodes': {
      const n = o as IndexNode;
      const addresses = n.status?.addresses?.filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP').map((a) => ({ type: a.type, address: a.address }));
      return defined<IndexNode>({ metadata: meta(n.metadata), status: addresses ? { addresses } : undefined }) as KindObjects[K];
    }
    default: {
      const never: never = kind as never;
      throw new Error(`unknown kind ${String(never)}`);
    }
  }
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

/**
 * Replace every object of a kind with a fresh list (relist). Mutates `state`; returns it.
 * NOTE: an object whose version did not change stays the one already held: the informer keeps
 * its cached object then too, and taking the listed copy would hold every unchanged object twice
 * after each relist (one copy in its cache, one here).
 */
export function applyList<K extends WatchedKind>(state: IndexState, kind: K, items: KindObjects[K][]): IndexState {
  const old = state[kind] as Map<string, KindObjects[K]>;
  const m = new Map<string, KindObjects[K]>();
  for (const o of items) {
    const k = keyOf(o);
    if (!k) continue;
    const have = old.get(k);
    const rv = have?.metadata?.resourceVersion;
    m.set(k, have && rv !== undefined && rv === o.metadata?.resourceVersion ? have : o);
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
  // The literals, not `l`: toLowerCase makes a new string each call, one per port and backend
  // kept in the tables (12k copies of "tcp" at 10k pods).
  const l = (p ?? 'TCP').toLowerCase();
  return l === 'tcp' ? 'tcp' : l === 'udp' ? 'udp' : undefined;
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
    const svc = es.metadata?.labels?.[SERVICE_NAME_LABEL];
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
