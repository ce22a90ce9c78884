import { describe, expect, it } from 'vitest';
import { buildDiagram, pairOf, laneOf } from './diagram.ts';
import { explainHop } from './explain.ts';
import { journeyStory, storyText, duration } from './format.ts';
import { buildTopologyGraph, layoutKey } from './topologyGraph.ts';
import { GRID_ABOVE, gridTopology, layoutDiagram, layoutTopology } from './layout.ts';
import { dropped, loopback, nodePortFromOutside, nodePortReply, reply, request, socketDiscard } from '../__tests__/testdata.ts';
import type { TopologyView } from '@hopscope/agent/protocol/messages.ts';
import type { Journey } from '@hopscope/agent/protocol/events.ts';

describe('story', () => {
  it('tells a ClusterIP call in one line', () => {
    expect(storyText(journeyStory(request))).toBe('client → web-abc-1 via svc/web:80 · TCP [S] · delivered · 63 µs');
    expect(journeyStory(reply).reply).toBe(true);
    // loopback addresses take the pod's name from where the hops happened
    const lo = { ...dropped, src: { ip: '127.0.0.1', port: 5000 }, dst: { ip: '127.0.0.1', port: 9090 } };
    expect(journeyStory(lo).from).toBe('client:5000');
    expect(journeyStory(lo).to).toBe('web-abc-1:9090');
    expect(duration(1_500_000)).toBe('1.5 ms');
  });
});

describe('diagram model', () => {
  it('puts hops in node lanes with the underlay between, request then reply', () => {
    const m = buildDiagram(request, reply);
    expect(m.lanes.map((l) => l.id)).toEqual(['node-1', 'underlay', 'node-2']);
    expect(m.laneOrder).toEqual([
      ['node-1', 'underlay'],
      ['underlay', 'node-2'],
    ]);
    expect(m.boxes.filter((b) => b.direction === 'reply')).toHaveLength(reply.hops.length);
    // u1 and u2 carry the same outer packet: one underlay box stands for both hops
    expect(m.edges).toHaveLength(request.hops.length - 2 + reply.hops.length - 1);
    const under = m.boxes.find((b) => b.kind === 'underlay')!;
    expect(under.indices).toEqual([4, 5]);
    expect(under.title).toBe('underlay · u1 → u2');
    expect(under.where).toBe('node-1 → node-2');
    expect(under.delta).toBe('+19 µs');
    expect(under.encap).toEqual({ label: 'VXLAN VNI 1', outer: '10.0.0.1:41000 → 10.0.0.2:8472 UDP' });
    expect(under.header).toBe('10.244.1.2:40000 → 10.244.2.2:8080 TCP [S]');
    const dnat = m.boxes.find((b) => b.kind === 'dnat')!;
    expect(dnat.nat).toEqual({ before: '10.96.0.10:80 (svc/default/web)', after: '10.244.2.2:8080 (pod web-abc-1)', rule: 'KUBE-SVC-ABC → KUBE-SEP-DEF' });
    const d = buildDiagram(dropped).boxes.at(-1)!;
    expect(d.drop).toBe('NO_SOCKET at tcp_v4_rcv');
    expect(laneOf(dropped.hops[1]!)).toBe('node-2');
  });
  it("shows the kube-proxy rule that picked the backend, and marks a disagreement in the box and the workshop", () => {
    const i = request.hops.findIndex((h) => h.kind === 'dnat');
    const withRule = (kubeProxy: NonNullable<NonNullable<(typeof request.hops)[number]['nat']>['kubeProxy']>) => ({
      ...request,
      hops: request.hops.map((h, k) => (k === i ? { ...h, nat: { ...h.nat!, kubeProxy } } : h)),
    });
    const ok = withRule({
      mode: 'iptables',
      source: 'node',
      chains: ['KUBE-SERVICES', 'KUBE-SVC-ABC', 'KUBE-SEP-DEF'],
      pick: { index: 1, of: 3, probability: 0.3333333333 },
      ruleText: '-A KUBE-SVC-ABC -m comment --comment "default/web:http -> 10.244.2.2:8080" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-DEF',
    });
    const box = buildDiagram(ok).boxes.find((b) => b.kind === 'dnat')!;
    expect(box.nat!.lines![0]).toBe('picked 1 of 3: probability 0.33333');
    expect(box.nat!.lines![1]!.length).toBeLessThanOrEqual(96);
    expect(box.nat!.disagree).toBeUndefined();
    const told = explainHop(ok, i);
    expect(told.facts).toContain('Picked 1 of 3: probability 0.33333');
    expect(told.facts).toContain("Rules: kube-proxy iptables, read from the node's rules");
    const bad = withRule({
      mode: 'iptables',
      source: 'node',
      chains: ['KUBE-SERVICES', 'KUBE-SVC-ABC', 'KUBE-SEP-DEF'],
      disagreements: [{ kind: 'chain-missing', chain: 'KUBE-SEP-DEF', detail: "KUBE-SEP-DEF is not in the node's iptables nat table (stale rules, or kube-proxy not running)" }],
    });
    const badBox = buildDiagram(bad).boxes.find((b) => b.kind === 'dnat')!;
    expect(badBox.nat!.disagree).toBe(true);
    expect(badBox.nat!.lines).toEqual([expect.stringMatching(/^⚠ KUBE-SEP-DEF is not in the node's iptables nat table/)]);
    // chains named from the API alone say so in the box, as in the workshop and `trace`
    const api = buildDiagram(withRule({ mode: 'iptables', source: 'api', chains: ['KUBE-SERVICES', 'KUBE-SVC-ABC', 'KUBE-SEP-DEF'] })).boxes.find((b) => b.kind === 'dnat')!;
    expect(api.nat!.lines).toEqual(["kube-proxy iptables, named from the API (the node's rules were not read)"]);
    const badTold = explainHop(bad, i);
    expect(badTold.title).toBe('kube-proxy DNAT: Service → pod (rules disagree)');
    expect(badTold.text[0]).toMatch(/^The rules and the packet disagree: KUBE-SEP-DEF is not in the node's iptables nat table/);
  });
  it('pairs a request with its reply from either side', () => {
    expect(pairOf(request, [request, reply])).toEqual({ request, reply });
    expect(pairOf(reply, [request, reply])).toEqual({ request, reply });
    expect(pairOf(dropped, [request, reply, dropped])).toEqual({ request: dropped });
  });
  it('lays out lanes left to right in crossing order with elk, boxes inside their lane', async () => {
    const p = await layoutDiagram(buildDiagram(request, reply));
    expect(p.lanes['node-1']!.x).toBeLessThan(p.lanes['underlay']!.x);
    expect(p.lanes['underlay']!.x).toBeLessThan(p.lanes['node-2']!.x);
    for (const [id, b] of Object.entries(p.boxes)) {
      expect(b.x, id).toBeGreaterThanOrEqual(0);
      expect(b.y, id).toBeGreaterThanOrEqual(0);
    }
    // inside one lane, the request's hops go down the page
    expect(p.boxes['request-1']!.y).toBeGreaterThan(p.boxes['request-0']!.y);
    // and the reply sits beside the request, not on top of it
    const overlap = (a: { x: number; y: number; width: number; height: number }, b: typeof a) =>
      a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
    expect(overlap(p.boxes['request-0']!, p.boxes['reply-5']!)).toBe(false);
  });
  it('a call on one node: its one lane has the request\'s column left of the reply\'s, where the view opens', async () => {
    const local = new Set(['pod-egress', 'host-veth', 'dnat', 'reverse-nat', 'deliver']);
    // The same call with its backend on node-1: no tunnel, every hop in node-1 or its pods.
    const here = (w: (typeof request)['hops'][number]['where']) => (w.node === 'node-2' ? request.hops[1]!.where : w.pod ? { ...w, pod: { ...w.pod, node: 'node-1' } } : w);
    const onNode1 = (j: typeof request): typeof request => ({ ...j, hops: j.hops.filter((h) => local.has(h.kind)).map((h) => ({ ...h, where: here(h.where) })) });
    const m = buildDiagram(onNode1(request), onNode1(reply));
    expect(m.lanes.map((l) => l.id)).toEqual(['node-1']);
    const p = await layoutDiagram(m);
    const req = m.boxes.filter((b) => b.direction === 'request').map((b) => p.boxes[b.id]!);
    const rep = m.boxes.filter((b) => b.direction === 'reply').map((b) => p.boxes[b.id]!);
    expect(req.length).toBeGreaterThan(2);
    expect(rep.length).toBeGreaterThan(1);
    expect(Math.max(...req.map((b) => b.x + b.width))).toBeLessThanOrEqual(Math.min(...rep.map((b) => b.x)));
  });

  it('a NodePort call from outside, which crosses the underlay twice, keeps its lanes in the order it reached them, tops aligned', async () => {
    const m = buildDiagram(nodePortFromOutside);
    expect(m.lanes.map((l) => l.id)).toEqual(['ext-client', 'underlay', 'node-1', 'node-2']);
    const p = await layoutDiagram(m);
    const x = (lane: string) => p.lanes[lane]!.x;
    // the external host, where the request starts, is the first column, not stacked under node-1
    expect(x('ext-client')).toBeLessThan(x('underlay'));
    expect(x('underlay')).toBeLessThan(x('node-1'));
    expect(x('node-1')).toBeLessThan(x('node-2'));
    // columns side by side: no lane starts before the one on its left ends
    const byX = Object.values(p.lanes).sort((a, b) => a.x - b.x);
    for (let k = 1; k < byX.length; k++) expect(byX[k]!.x).toBeGreaterThanOrEqual(byX[k - 1]!.x + byX[k - 1]!.width);
    // and they start at one height: a view opened at the first lane's top shows every lane's top
    for (const [a, b] of [[nodePortFromOutside, nodePortReply], [request, reply]] as const) {
      const ys = Object.values((await layoutDiagram(buildDiagram(a, b))).lanes).map((l) => l.y);
      expect(new Set(ys).size, ys.join(' ')).toBe(1);
    }
  });
});

describe('workshop explanations', () => {
  it('explains DNAT with the Service, the backend and the chain', () => {
    const e = explainHop(request, 2);
    expect(e.title).toBe('kube-proxy DNAT: Service → pod');
    expect(e.text[0]).toContain('10.96.0.10:80 (svc/default/web)');
    expect(e.text[0]).toContain('10.244.2.2:8080 (pod web-abc-1)');
    expect(e.facts).toContain('Rule chain: KUBE-SVC-ABC → KUBE-SEP-DEF');
    expect(e.text[0]).toContain("kube-proxy's rules (KUBE-SVC-ABC → KUBE-SEP-DEF)");
  });
  it('explains the underlay with outer and inner headers and the VNI', () => {
    const e = explainHop(request, 4);
    expect(e.text.join(' ')).toContain('VXLAN VNI 1');
    expect(e.text.join(' ')).toContain('10.244.1.2:40000 → 10.244.2.2:8080');
  });
  it('a host veth is where the packet arrives from a pod (recv) or leaves for one (xmit)', () => {
    const from = explainHop(request, 1);
    expect(from.title).toBe('Arrives on node-1 via veth-p1');
    // the node-2 end of the same call: sent into the backend's veth, the hop before delivery
    const intoPod = { ...request.hops[1]!, where: { node: 'node-2', label: 'node-2' }, dev: 'veth-p2', hook: 'xmit' as const };
    const j = { ...request, hops: [...request.hops.slice(0, -1), intoPod, request.hops.at(-1)!] };
    const to = explainHop(j, j.hops.length - 2);
    expect(to.title).toBe('Leaves node-2 via veth-p2');
    expect(to.text[0]).toBe("node node-2 is done with the packet: it sends it into veth-p2, the host side of pod web-abc-1's veth pair.");
  });
  it('delivery names the listening socket for a request and the calling one for a reply', () => {
    expect(explainHop(request, request.hops.length - 1).text[0]).toContain('the socket listening on port 8080');
    expect(explainHop(reply, reply.hops.length - 1).text[0]).toContain('the socket that sent the request, on port 40000');
  });
  it('a NodePort call: arrives on the node, its DNAT is a NodePort rule, the outside leg is no tunnel', () => {
    const inbound = { family: 4 as const, src: '10.0.0.100', dst: '10.0.0.1', ipId: 1, ttl: 64, len: 60, l4: { proto: 'tcp' as const, sport: 33000, dport: 30080, flags: 'S', seq: 1, ack: 0 } };
    const dnat = request.hops[2]!;
    const hops = [
      { ...request.hops[4]!, kind: 'egress' as const, dev: 'eth0', where: { label: 'ext-client' }, packet: inbound, encap: undefined },
      { ...request.hops[1]!, kind: 'route' as const, dev: 'eth0', packet: inbound, hook: 'recv' as const },
      { ...dnat, nat: { ...dnat.nat!, before: { ip: '10.0.0.1', port: 30080, node: 'node-1', service: { namespace: 'default', name: 'web-nodeport' } } } },
    ];
    const j = { ...request, hops };
    expect(explainHop(j, 0).title).toBe('Leaves ext-client through eth0');
    expect(explainHop(j, 0).text[0]).toContain('outside the cluster');
    // the outside host's own send is drawn in its lane (where its reply is delivered), not the fabric's
    expect(buildDiagram(j).boxes.map((b) => b.lane)).toEqual(['ext-client', 'node-1', 'node-1']);
    expect(laneOf(request.hops[4]!)).toBe('underlay');
    expect(explainHop(j, 1).title).toBe('Arrives at node node-1 on eth0');
    expect(explainHop(j, 1).text[0]).toContain('came in on eth0, addressed to 10.0.0.1');
    const d = explainHop(j, 2).text[0]!;
    expect(d).toContain('That is a NodePort: kube-proxy\'s rules catch port 30080 on any address of the node');
    expect(d).not.toContain('belongs to no interface');
    expect(explainHop(request, 2).text[0]).toContain('A Service address belongs to no interface');
  });
  it('explains reverse NAT and drops with the reason in words', () => {
    expect(explainHop(reply, 4).title).toBe('Reverse NAT on the reply');
    const d = explainHop(dropped, 1);
    expect(d.title).toBe('Dropped: NO_SOCKET');
    expect(d.text[1]).toContain('nothing listens on that port');
    // the step before a NO_SOCKET drop does not hand the packet to a listening socket
    const arrived = { ...dropped.hops[1]!, kind: 'deliver' as const, hook: 'recv' as const, drop: undefined };
    const j = { ...dropped, hops: [dropped.hops[0]!, arrived, dropped.hops[1]!] };
    expect(explainHop(j, 1).title).toBe('Arrives at pod web-abc-1');
    expect(explainHop(j, 1).text[0]).toContain('The kernel looks for a socket on port 9.');
  });
  it('a socket freeing what it was delivered is told as such, not as a drop on the way', () => {
    const purged = { ...loopback, hops: [...loopback.hops, socketDiscard] };
    const e = explainHop(purged, 2);
    expect(e.title).toBe('Discarded by the socket: QUEUE_PURGE');
    expect(e.text.join(' ')).toMatch(/already been delivered.*not read/);
    const box = buildDiagram(purged).boxes.at(-1)!;
    expect(box.title).toBe('discarded by the socket');
    expect(box.drop).toBe('QUEUE_PURGE at sk_stream_kill_queues');
    expect(buildDiagram(dropped).boxes.at(-1)!.title).toBe('DROP · eth0');
  });

  it('every hop kind has a title', () => {
    for (const j of [request, reply, dropped]) j.hops.forEach((_, i) => expect(explainHop(j, i).title.length).toBeGreaterThan(3));
  });
});

describe('topology graph', () => {
  const t: TopologyView = {
    name: 'lab', cni: 'flannel-vxlan',
    nodes: [{ name: 'node-1', address: '10.0.0.1' }, { name: 'node-2', address: '10.0.0.2' }],
    pods: [
      { namespace: 'default', name: 'client', node: 'node-1', ip: '10.244.1.2' },
      { namespace: 'default', name: 'web-abc-1', node: 'node-2', ip: '10.244.2.2', deployment: 'web' },
    ],
    services: [{ namespace: 'default', name: 'web', type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }], endpoints: [{ namespace: 'default', name: 'web-abc-1', ip: '10.244.2.2', node: 'node-2' }] }],
    externals: [],
    deployments: [{ namespace: 'default', name: 'web', replicas: 1 }],
  };
  it('lights the client → service edge and the endpoint used, and draws no idle endpoint edge', () => {
    const g = buildTopologyGraph(t, [request, reply, dropped]);
    expect(g.groups.map((x) => x.id)).toEqual(['node-1', 'node-2', 'services']);
    // the Deployment's pod is drawn in its node's replicas box
    expect(g.items.find((i) => i.kind === 'replicas')).toMatchObject({ id: 'rs:default/web@node-2', label: 'deploy/web ×1', pods: ['default/web-abc-1'] });
    const traffic = g.edges.filter((e) => e.kind === 'traffic');
    expect(traffic).toEqual([
      { id: 'tr:pod:default/client->svc:default/web', source: 'pod:default/client', target: 'svc:default/web', kind: 'traffic', count: 1, dropped: 0, endpoints: 0, dim: false },
      { id: 'tr:pod:default/client->rs:default/web@node-2', source: 'pod:default/client', target: 'rs:default/web@node-2', kind: 'traffic', count: 1, dropped: 1, endpoints: 0, dim: false },
    ]);
    expect(g.edges.filter((e) => e.kind === 'endpoint')).toMatchObject([{ target: 'rs:default/web@node-2', count: 1, endpoints: 1 }]);
    expect(buildTopologyGraph(t, []).edges).toEqual([]);
  });
});

describe('topology layout at scale', () => {
  /** `pods` pods on 6 nodes, a Service per 10 pods with those as endpoints. */
  const big = (pods: number): TopologyView => ({
    name: 'big', cni: 'flannel-vxlan',
    nodes: Array.from({ length: 6 }, (_, n) => ({ name: `node-${n + 1}`, address: `10.0.0.${n + 1}` })),
    pods: Array.from({ length: pods }, (_, i) => ({ namespace: 'default', name: `p${i}`, node: `node-${(i % 6) + 1}`, ip: `10.244.${(i % 6) + 1}.${Math.floor(i / 6) + 2}` })),
    services: Array.from({ length: Math.ceil(pods / 10) }, (_, s) => ({
      namespace: 'default', name: `s${s}`, type: 'ClusterIP' as const, clusterIP: `10.96.${s >> 8}.${s & 255}`, ports: [{ protocol: 'TCP' as const, port: 80, targetPort: 8080 }],
      endpoints: Array.from({ length: 10 }, (_, k) => s * 10 + k).filter((i) => i < pods).map((i) => ({ namespace: 'default', name: `p${i}`, ip: `10.244.${(i % 6) + 1}.${Math.floor(i / 6) + 2}`, node: `node-${(i % 6) + 1}` })),
    })),
    externals: [],
    deployments: [],
  });
  const call = (from: number, svc: number): Journey => ({
    ...request,
    id: `c${from}-${svc}`,
    replyTo: undefined,
    src: { ip: `10.244.${(from % 6) + 1}.${Math.floor(from / 6) + 2}`, pod: { namespace: 'default', name: `p${from}`, node: `node-${(from % 6) + 1}` } },
    dst: { ip: '10.96.0.1', port: 80, service: { namespace: 'default', name: `s${svc}`, port: 80 } },
  });

  it('lays out the structure only: the traffic of the moment does not change what is laid out', () => {
    const t = big(40);
    const quiet = layoutKey(buildTopologyGraph(t, []));
    const busy = buildTopologyGraph(t, [call(1, 2), call(7, 3), call(30, 0)]);
    expect(busy.edges.some((e) => e.kind === 'traffic')).toBe(true);
    expect(layoutKey(busy)).toBe(quiet);
    expect(layoutKey(buildTopologyGraph(big(41), []))).not.toBe(quiet);
  });

  it('a big cluster gets a grid: every item in its lane, no two overlapping, lanes side by side, Services first', async () => {
    const g = buildTopologyGraph(big(1000), []);
    expect(g.items.length).toBeGreaterThan(GRID_ABOVE);
    const p = await layoutTopology(g);
    expect(p).toEqual(gridTopology(g));
    expect(Object.keys(p.boxes)).toHaveLength(g.items.length);
    expect(p.lanes.services!.x).toBe(0);
    const lanes = Object.values(p.lanes).sort((a, b) => a.x - b.x);
    lanes.slice(1).forEach((l, k) => expect(l.x).toBeGreaterThanOrEqual(lanes[k]!.x + lanes[k]!.width));
    for (const grp of g.groups) {
      const lane = p.lanes[grp.id]!;
      const boxes = g.items.filter((i) => i.group === grp.id).map((i) => p.boxes[i.id]!);
      for (const b of boxes) {
        expect(b.x).toBeGreaterThanOrEqual(0);
        expect(b.y).toBeGreaterThanOrEqual(0);
        expect(b.x + b.width).toBeLessThanOrEqual(lane.width);
        expect(b.y + b.height).toBeLessThanOrEqual(lane.height);
      }
      const overlaps = boxes.filter((a, i) => boxes.some((b, k) => k > i && a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height));
      expect(overlaps).toEqual([]);
    }
  });
});
