// Topology → graph: nodes as groups holding their pods, the replicas of a Deployment on a node
// as one box, Services, external hosts. Edges are drawn only for what is in focus (a Service's
// endpoints) or carrying traffic (the recent journeys): a 30-Service lab drew 360 hair-thin
// Service→endpoint edges otherwise. Pure.
import type { Journey, Endpoint } from '@hopscope/agent/protocol/events.ts';
import type { TopologyView } from '@hopscope/agent/protocol/messages.ts';

export interface TopoItem {
  id: string;
  group: string;
  /** `replicas`: a Deployment's pods on one node, drawn as one box. */
  kind: 'pod' | 'replicas' | 'service' | 'external';
  label: string;
  sub: string;
  /** Namespace of what the box stands for ('' for an external host). */
  namespace: string;
  /** Pods the box stands for (namespace/name). */
  pods: string[];
  /** Out of the focus: drawn faint. */
  dim: boolean;
}

export interface TopoEdge {
  id: string;
  source: string;
  target: string;
  kind: 'endpoint' | 'traffic';
  /** Journeys on this edge among the recent ones. */
  count: number;
  dropped: number;
  /** Endpoints of the Service in the target box (endpoint edges). */
  endpoints: number;
  dim: boolean;
}

/** What the user looks at: one Service (its endpoints and callers), one namespace, or all. */
export type Focus = { kind: 'all' } | { kind: 'service'; id: string } | { kind: 'namespace'; namespace: string };

export interface TopoGraph {
  groups: { id: string; label: string }[];
  items: TopoItem[];
  edges: TopoEdge[];
  /** Traffic edges left out to keep the drawing bounded (the quietest ones). */
  hiddenTraffic: number;
}

const SERVICES = 'services';
const EXTERNAL = 'outside';
/** At most this many traffic edges are drawn, the busiest first. */
export const MAX_TRAFFIC_EDGES = 24;

const podKey = (ns: string, name: string) => `${ns}/${name}`;
/** The box a pod is drawn in. */
function podItemId(p: TopologyView['pods'][number]): string {
  return p.deployment ? `rs:${p.namespace}/${p.deployment}@${p.node}` : `pod:${p.namespace}/${p.name}`;
}

/** The first of `xs` for each key (as `find` would return it). */
function firstBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T> {
  const m = new Map<string, T>();
  for (const x of xs) if (!m.has(key(x))) m.set(key(x), x);
  return m;
}

/**
 * Id of the topology item an endpoint is, if the topology knows it. Indexed once per graph: three
 * endpoints of each of 200 journeys, each a scan of 1000 pods, ran every second otherwise.
 */
function itemResolver(t: TopologyView): (e: Endpoint | undefined) => string | undefined {
  const byName = firstBy(t.pods, (p) => podKey(p.namespace, p.name));
  const byIp = firstBy(t.pods, (p) => p.ip);
  const svcByIp = firstBy(t.services, (s) => s.clusterIP);
  const extByIp = firstBy(t.externals, (x) => x.address);
  return (e) => {
    if (!e) return undefined;
    if (e.service) return `svc:${e.service.namespace}/${e.service.name}`;
    const pod = e.pod ? byName.get(podKey(e.pod.namespace, e.pod.name)) : byIp.get(e.ip);
    if (pod) return podItemId(pod);
    const svc = svcByIp.get(e.ip);
    if (svc) return `svc:${svc.namespace}/${svc.name}`;
    const ext = extByIp.get(e.ip);
    if (ext) return `ext:${ext.name}`;
    return undefined;
  };
}

/** What of a journey lights an edge (the page's rows carry just this much). */
export type TrafficEnds = Pick<Journey, 'src' | 'dst' | 'backend' | 'replyTo' | 'verdict'>;

/** The generated suffix that tells a Deployment's pods apart (`web-5f7c9-ab12c` → `ab12c`). */
const podSuffix = (name: string) => name.slice(name.lastIndexOf('-') + 1);

/** The boxes: the same for every focus and every traffic, so the layout follows the cluster only. */
function buildItems(t: TopologyView): { groups: TopoGraph['groups']; items: TopoItem[] } {
  const groups = [
    ...t.nodes.map((n) => ({ id: n.name, label: `${n.name} · ${n.address}` })),
    { id: SERVICES, label: 'Services (virtual IPs)' },
    ...(t.externals.length > 0 ? [{ id: EXTERNAL, label: 'outside the cluster' }] : []),
  ];
  const items: TopoItem[] = [];
  const replicas = new Map<string, TopoItem>();
  for (const p of t.pods) {
    if (!p.deployment) {
      items.push({ id: podItemId(p), group: p.node, kind: 'pod', label: p.name, sub: `${p.ip} · ${p.namespace}`, namespace: p.namespace, pods: [podKey(p.namespace, p.name)], dim: false });
      continue;
    }
    const id = podItemId(p);
    let r = replicas.get(id);
    if (!r) {
      r = { id, group: p.node, kind: 'replicas', label: `deploy/${p.deployment}`, sub: '', namespace: p.namespace, pods: [], dim: false };
      replicas.set(id, r);
      items.push(r);
    }
    r.pods.push(podKey(p.namespace, p.name));
  }
  for (const r of replicas.values()) {
    const names = r.pods.map((k) => podSuffix(k));
    const shown = names.length > 3 ? `${names.slice(0, 3).join(' ')} +${names.length - 3}` : names.join(' ');
    r.label = `${r.label} ×${r.pods.length}`;
    r.sub = `${r.namespace} · ${shown}`;
  }
  for (const s of t.services)
    items.push({
      id: `svc:${s.namespace}/${s.name}`,
      group: SERVICES,
      kind: 'service',
      label: s.namespace === 'default' ? s.name : `${s.namespace}/${s.name}`,
      sub: `${s.clusterIP}:${s.ports.map((p) => (p.nodePort ? `${p.port}/${p.nodePort}` : p.port)).join(',')}`,
      namespace: s.namespace,
      pods: [],
      dim: false,
    });
  for (const x of t.externals) items.push({ id: `ext:${x.name}`, group: EXTERNAL, kind: 'external', label: x.name, sub: x.address, namespace: '', pods: [], dim: false });
  return { groups: groups.filter((g) => items.some((i) => i.group === g.id)), items };
}

/** Build the topology graph; `recent` are the journeys that light edges (e.g. the last 200). */
export function buildTopologyGraph(t: TopologyView, recent: readonly TrafficEnds[], focus: Focus = { kind: 'all' }): TopoGraph {
  const { groups, items } = buildItems(t);
  const known = new Set(items.map((i) => i.id));
  const itemIdOf = itemResolver(t);
  const podItem = new Map(t.pods.map((p) => [podKey(p.namespace, p.name), podItemId(p)]));
  const services = new Map(t.services.map((s) => [`svc:${s.namespace}/${s.name}`, s]));

  // Endpoint edges of one Service: one per box holding its endpoints, not one per endpoint.
  const endpointEdges = (svcId: string): TopoEdge[] => {
    const per = new Map<string, number>();
    for (const e of services.get(svcId)?.endpoints ?? []) {
      const target = podItem.get(podKey(e.namespace, e.name));
      if (target) per.set(target, (per.get(target) ?? 0) + 1);
    }
    return [...per].map(([target, n]) => ({ id: `ep:${svcId}->${target}`, source: svcId, target, kind: 'endpoint', count: 0, dropped: 0, endpoints: n, dim: false }));
  };

  const traffic = new Map<string, TopoEdge>();
  const usedEndpoints = new Map<string, TopoEdge>();
  for (const j of recent) {
    if (j.replyTo) continue;
    const src = itemIdOf(j.src);
    const dst = itemIdOf(j.dst);
    if (!src || !dst || !known.has(src) || !known.has(dst) || src === dst) continue;
    const id = `tr:${src}->${dst}`;
    const e = traffic.get(id) ?? { id, source: src, target: dst, kind: 'traffic' as const, count: 0, dropped: 0, endpoints: 0, dim: false };
    e.count++;
    if (j.verdict === 'dropped') e.dropped++;
    traffic.set(id, e);
    // The endpoint edge actually used is drawn, lit.
    const backend = itemIdOf(j.backend);
    if (backend && dst.startsWith('svc:') && known.has(backend)) {
      const epId = `ep:${dst}->${backend}`;
      const cur = usedEndpoints.get(epId) ?? endpointEdges(dst).find((x) => x.id === epId);
      if (cur) {
        cur.count++;
        usedEndpoints.set(epId, cur);
      }
    }
  }
  const busiest = [...traffic.values()].sort((a, b) => b.count - a.count);
  const drawnTraffic = busiest.slice(0, MAX_TRAFFIC_EDGES);

  const edges = new Map<string, TopoEdge>();
  if (focus.kind === 'service') for (const e of endpointEdges(focus.id)) edges.set(e.id, e);
  for (const e of usedEndpoints.values()) edges.set(e.id, { ...e, endpoints: edges.get(e.id)?.endpoints ?? e.endpoints });
  for (const e of drawnTraffic) edges.set(e.id, e);

  // What stays bright: everything, or what the focus touches (computed once, not per box: a
  // namespace focus looked each of 1000 boxes up among the 1000 every second).
  const touches = new Set([...edges.values()].flatMap((e) => (focus.kind === 'service' && (e.source === focus.id || e.target === focus.id) ? [e.source, e.target] : [])));
  const related = (i: TopoItem): boolean => {
    switch (focus.kind) {
      case 'all':
        return true;
      case 'service':
        return i.id === focus.id || touches.has(i.id);
      case 'namespace':
        return i.namespace === focus.namespace;
      default:
        return focus satisfies never;
    }
  };
  const bright = new Set(items.filter(related).map((i) => i.id));
  for (const i of items) i.dim = !bright.has(i.id);
  const out = [...edges.values()].map((e) => ({ ...e, dim: !(bright.has(e.source) && bright.has(e.target)) }));
  return { groups, items, edges: out, hiddenTraffic: busiest.length - drawnTraffic.length };
}

/** The namespaces a topology has, for the focus menu. */
export function namespacesOf(t: TopologyView): string[] {
  return [...new Set([...t.pods.map((p) => p.namespace), ...t.services.map((s) => s.namespace)])].sort();
}

/**
 * What the layout depends on: the groups and the boxes, no edges. Traffic edges come and go with
 * the recent journeys and endpoint edges with the focus; laying out again for each set of them
 * redrew a cluster of a few hundred pods every second (ELK runs on the page's thread) and moved
 * every box when a Service was clicked, so edges are drawn over the positions the boxes got.
 */
export function layoutKey(g: TopoGraph): string {
  return JSON.stringify([g.groups, g.items.map((i) => [i.id, i.group])]);
}
