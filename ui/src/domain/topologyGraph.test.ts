// The 6-node topology stays readable: boxes per Deployment and node, edges only for the focus
// and the traffic, the rest dimmed, and a layout whose boxes fit a projector.
import { describe, expect, it } from 'vitest';
import type { TrafficEnds } from './topologyGraph.ts';
import { MAX_TRAFFIC_EDGES, buildTopologyGraph, namespacesOf } from './topologyGraph.ts';
import { TOPO_ITEM, layoutTopology } from './layout.ts';
import { bigTopology } from '../__tests__/bigTopology.ts';

const t = bigTopology();
const client = t.pods.find((p) => p.name === 'client')!;
/** A call from client through a Service to one of its endpoints. */
function call(svc: string, backendIndex: number, verdict: TrafficEnds['verdict'] = 'delivered'): TrafficEnds {
  const s = t.services.find((x) => `${x.namespace}/${x.name}` === svc)!;
  const b = s.endpoints[backendIndex]!;
  return {
    src: { ip: client.ip, port: 40000, pod: { namespace: 'default', name: 'client', node: 'node-1' } },
    dst: { ip: s.clusterIP, port: 80, service: { namespace: s.namespace, name: s.name, port: 80 } },
    backend: { ip: b.ip, port: 8080, pod: { namespace: b.namespace, name: b.name, node: b.node } },
    verdict,
  } as TrafficEnds;
}

describe('the 6-node topology', () => {
  it('draws a Deployment’s replicas on a node as one box: 20 pod boxes for 38 pods', () => {
    const g = buildTopologyGraph(t, []);
    const pods = g.items.filter((i) => i.kind === 'pod' || i.kind === 'replicas');
    expect(pods).toHaveLength(2 + 3 * 6);
    expect(pods.reduce((n, i) => n + i.pods.length, 0)).toBe(38);
    expect(g.items.filter((i) => i.kind === 'service')).toHaveLength(30);
    const box = g.items.find((i) => i.id === 'rs:backend/api@node-3')!;
    expect(box.label).toBe('deploy/api ×2');
    expect(box.sub).toMatch(/^backend · \w+ \w+$/);
  });

  it('draws no edge at rest (the old view drew 360), a focused Service’s endpoints as one edge per box', () => {
    expect(buildTopologyGraph(t, []).edges).toEqual([]);
    const g = buildTopologyGraph(t, [], { kind: 'service', id: 'svc:backend/api-v2' });
    expect(g.edges).toHaveLength(6);
    expect(g.edges.every((e) => e.kind === 'endpoint' && e.endpoints === 2 && e.source === 'svc:backend/api-v2')).toBe(true);
    // in focus: the Service and its six boxes; everything else dimmed
    expect(g.items.filter((i) => !i.dim).map((i) => i.id).sort()).toEqual(['svc:backend/api-v2', ...[1, 2, 3, 4, 5, 6].map((n) => `rs:backend/api@node-${n}`)].sort());
  });

  it('draws traffic: the call, the endpoint it used, its caller in focus too', () => {
    const g = buildTopologyGraph(t, [call('default/web', 2), call('default/web', 2), call('shop/shop', 0, 'dropped')], { kind: 'service', id: 'svc:default/web' });
    const traffic = g.edges.filter((e) => e.kind === 'traffic');
    expect(traffic.map((e) => [e.target, e.count, e.dropped, e.dim])).toEqual([
      ['svc:default/web', 2, 0, false],
      ['svc:shop/shop', 1, 1, true],
    ]);
    const used = g.edges.find((e) => e.kind === 'endpoint' && e.count > 0)!;
    expect(used).toMatchObject({ source: 'svc:default/web', target: 'rs:default/web@node-3', count: 2 });
    expect(g.edges.filter((e) => e.kind === 'endpoint')).toHaveLength(6 + 1); // web's six boxes + shop's used one
    expect(g.items.find((i) => i.id === 'pod:default/client')!.dim).toBe(false);
    expect(g.items.find((i) => i.id === 'svc:shop/shop')!.dim).toBe(true);
  });

  it('focuses a namespace: its pods and Services bright, the rest dim', () => {
    expect(namespacesOf(t)).toEqual(['backend', 'default', 'kube-system', 'shop']);
    const g = buildTopologyGraph(t, [], { kind: 'namespace', namespace: 'shop' });
    const bright = g.items.filter((i) => !i.dim);
    expect(bright).toHaveLength(6 + 9);
    expect(bright.every((i) => i.namespace === 'shop')).toBe(true);
  });

  it('bounds the traffic edges, busiest first, and counts the rest', () => {
    const calls: TrafficEnds[] = [];
    // every Service, from every box's first pod: far more pairs than can be drawn
    for (const s of t.services.filter((x) => x.name !== 'kube-dns'))
      for (const p of t.pods.filter((x) => x.deployment))
        calls.push({ ...call(`${s.namespace}/${s.name}`, 0), src: { ip: p.ip, port: 1, pod: { namespace: p.namespace, name: p.name, node: p.node } } } as TrafficEnds);
    calls.push(call('default/web', 0), call('default/web', 0), call('default/web', 0));
    const g = buildTopologyGraph(t, calls);
    const traffic = g.edges.filter((e) => e.kind === 'traffic');
    expect(traffic).toHaveLength(MAX_TRAFFIC_EDGES);
    expect(traffic[0]).toMatchObject({ source: 'pod:default/client', target: 'svc:default/web', count: 3 });
    expect(g.hiddenTraffic).toBeGreaterThan(100);
  });

  it('lays out to a screen-shaped block that fits 1920×1080 at a zoom keeping 18 px text ≥ 14 px', async () => {
    const p = await layoutTopology(buildTopologyGraph(t, []));
    const lanes = Object.values(p.lanes);
    const width = Math.max(...lanes.map((l) => l.x + l.width));
    const height = Math.max(...lanes.map((l) => l.y + l.height));
    // the pane at 1920×1080: the window less the header, the picker, the focus bar and the status bar
    const zoom = Math.min(1920 / width, (1080 - 250) / height);
    expect(zoom * 18, `${width}×${height}`).toBeGreaterThanOrEqual(14);
    // no two boxes overlap within a group
    for (const lane of Object.keys(p.lanes)) {
      const boxes = Object.entries(p.boxes).filter(([id]) => buildTopologyGraph(t, []).items.find((i) => i.id === id)?.group === lane).map(([, b]) => b);
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i]!, boxes[j]!];
          expect(a.x + TOPO_ITEM.width <= b.x || b.x + TOPO_ITEM.width <= a.x || a.y + TOPO_ITEM.height <= b.y || b.y + TOPO_ITEM.height <= a.y).toBe(true);
        }
    }
  });
});
