// Topology → graph: nodes as groups holding their pods, Services, external hosts; edges from
// Services to their endpoints, and edges lit by the recent journeys between them. Pure.
import type { Journey, Endpoint } from '@hopscope/agent/protocol/events.ts';
import type { TopologyView } from '@hopscope/agent/protocol/messages.ts';

export interface TopoItem {
  id: string;
  group: string;
  kind: 'pod' | 'service' | 'external';
  label: string;
  sub: string;
}

export interface TopoEdge {
  id: string;
  source: string;
  target: string;
  kind: 'endpoint' | 'traffic';
  /** Journeys on this edge among the recent ones (traffic edges). */
  count: number;
  dropped: number;
}

export interface TopoGraph {
  groups: { id: string; label: string }[];
  items: TopoItem[];
  edges: TopoEdge[];
}

const SERVICES = 'services';
const EXTERNAL = 'outside';

/** Id of the topology item an endpoint is, if the topology knows it. */
export function itemIdOf(t: TopologyView, e: Endpoint | undefined): string | undefined {
  if (!e) return undefined;
  if (e.service) return `svc:${e.service.namespace}/${e.service.name}`;
  if (e.pod) return `pod:${e.pod.namespace}/${e.pod.name}`;
  const pod = t.pods.find((p) => p.ip === e.ip);
  if (pod) return `pod:${pod.namespace}/${pod.name}`;
  const svc = t.services.find((s) => s.clusterIP === e.ip);
  if (svc) return `svc:${svc.namespace}/${svc.name}`;
  const ext = t.externals.find((x) => x.address === e.ip);
  if (ext) return `ext:${ext.name}`;
  return undefined;
}

/** What of a journey lights an edge (the page's rows carry just this much). */
export type TrafficEnds = Pick<Journey, 'src' | 'dst' | 'backend' | 'replyTo' | 'verdict'>;

/** Build the topology graph; `recent` are the journeys that light edges (e.g. the last 200). */
export function buildTopologyGraph(t: TopologyView, recent: readonly TrafficEnds[]): TopoGraph {
  const groups = [
    ...t.nodes.map((n) => ({ id: n.name, label: `${n.name} · ${n.address}` })),
    { id: SERVICES, label: 'Services (virtual IPs)' },
    ...(t.externals.length > 0 ? [{ id: EXTERNAL, label: 'outside the cluster' }] : []),
  ];
  const items: TopoItem[] = [
    ...t.pods.map((p): TopoItem => ({ id: `pod:${p.namespace}/${p.name}`, group: p.node, kind: 'pod', label: p.name, sub: `${p.ip} · ${p.namespace}` })),
    ...t.services.map((s): TopoItem => ({
      id: `svc:${s.namespace}/${s.name}`,
      group: SERVICES,
      kind: 'service',
      label: s.name,
      sub: `${s.clusterIP}:${s.ports.map((p) => (p.nodePort ? `${p.port}/${p.nodePort}` : p.port)).join(',')} · ${s.type}`,
    })),
    ...t.externals.map((x): TopoItem => ({ id: `ext:${x.name}`, group: EXTERNAL, kind: 'external', label: x.name, sub: x.address })),
  ];
  const edges = new Map<string, TopoEdge>();
  for (const s of t.services)
    for (const e of s.endpoints) {
      const id = `ep:${s.namespace}/${s.name}->${e.namespace}/${e.name}`;
      edges.set(id, { id, source: `svc:${s.namespace}/${s.name}`, target: `pod:${e.namespace}/${e.name}`, kind: 'endpoint', count: 0, dropped: 0 });
    }
  const known = new Set(items.map((i) => i.id));
  for (const j of recent) {
    if (j.replyTo) continue;
    const src = itemIdOf(t, j.src);
    const dst = itemIdOf(t, j.dst);
    if (!src || !dst || !known.has(src) || !known.has(dst)) continue;
    const id = `tr:${src}->${dst}`;
    const e = edges.get(id) ?? { id, source: src, target: dst, kind: 'traffic' as const, count: 0, dropped: 0 };
    e.count++;
    if (j.verdict === 'dropped') e.dropped++;
    edges.set(id, e);
    // The endpoint edge actually used is lit too.
    const backend = itemIdOf(t, j.backend);
    if (backend && dst.startsWith('svc:')) {
      const ep = edges.get(`ep:${dst.slice(4)}->${backend.slice(4)}`);
      if (ep) ep.count++;
    }
  }
  return { groups: groups.filter((g) => items.some((i) => i.group === g.id)), items, edges: [...edges.values()] };
}

/**
 * What the layout depends on: the groups, the items and the Service → endpoint edges. Traffic
 * edges come and go with the recent journeys; laying out again for each set of them redrew a
 * cluster of a few hundred pods every second (ELK runs on the page's thread), so they are drawn
 * over the positions the structure gave.
 */
export function layoutPart(g: TopoGraph): { graph: TopoGraph; key: string } {
  const edges = g.edges.filter((e) => e.kind === 'endpoint');
  return { graph: { groups: g.groups, items: g.items, edges }, key: JSON.stringify([g.groups, g.items.map((i) => [i.id, i.group]), edges.map((e) => e.id)]) };
}
