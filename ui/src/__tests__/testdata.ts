// Hand-made journeys modelled on design.md's measured sample (client on node-1 → ClusterIP
// 10.96.0.10:80 → backend 10.244.2.2:8080 on node-2 over flannel VXLAN), for unit tests only.
import type { Hop, IpPacket, Journey } from '@hopscope/agent/protocol/events.ts';

const tcp = (src: string, dst: string, sport: number, dport: number, flags = 'S'): IpPacket => ({
  family: 4, src, dst, ipId: 7, ttl: 64, len: 60, l4: { proto: 'tcp', sport, dport, flags, seq: 1, ack: 0 },
});
const outer = (src: string, dst: string): IpPacket => ({ family: 4, src, dst, ipId: 0, ttl: 64, len: 110, l4: { proto: 'udp', sport: 41000, dport: 8472 } });
const client = { namespace: 'default', name: 'client', node: 'node-1' };
const web = { namespace: 'default', name: 'web-abc-1', node: 'node-2' };
const n1 = { node: 'node-1', label: 'node-1' };
const n2 = { node: 'node-2', label: 'node-2' };

function hops(list: Omit<Hop, 'tsNs' | 'deltaNs' | 'ifindex' | 'netns' | 'hook'>[], t0: number): Hop[] {
  let t = t0;
  return list.map((h, i) => {
    const d = i === 0 ? 0 : 5000 + i * 1000;
    t += d;
    return { ...h, tsNs: t, deltaNs: d, ifindex: 2, netns: 4026531000 + i, hook: h.kind === 'drop' ? 'drop' : 'recv' };
  });
}

/** A TCP journey of these hops (id f<id> as its fingerprint), from its first hop to its last. */
function journeyOf(id: string, verdict: Journey['verdict'], hs: Hop[], ends: Pick<Journey, 'src' | 'dst'> & Partial<Pick<Journey, 'backend' | 'replyTo'>>): Journey {
  return { type: 'journey', id, fingerprint: `f${id.slice(1)}`, verdict, startNs: hs[0]!.tsNs, endNs: hs.at(-1)!.tsNs, proto: 'tcp', ...ends, hops: hs };
}

const pre = tcp('10.244.1.2', '10.96.0.10', 40000, 80);
const post = tcp('10.244.1.2', '10.244.2.2', 40000, 8080);

/** The SYN of a ClusterIP call across nodes. */
export const request: Journey = (() => {
  const hs = hops(
    [
      { kind: 'pod-egress', where: { pod: client, label: 'client (default)' }, dev: 'eth0', packet: pre },
      { kind: 'host-veth', where: n1, dev: 'veth-p1', packet: pre },
      { kind: 'dnat', where: n1, dev: 'cni0', packet: post, nat: { before: { ip: '10.96.0.10', port: 80, service: { namespace: 'default', name: 'web' } }, after: { ip: '10.244.2.2', port: 8080, pod: web }, rule: 'KUBE-SVC-ABC → KUBE-SEP-DEF' } },
      { kind: 'encap', where: n1, dev: 'flannel.1', packet: post },
      { kind: 'underlay', where: n1, dev: 'u1', packet: outer('10.0.0.1', '10.0.0.2'), encap: { kind: 'vxlan', vni: 1, inner: post } },
      { kind: 'underlay', where: n2, dev: 'u2', packet: outer('10.0.0.1', '10.0.0.2'), encap: { kind: 'vxlan', vni: 1, inner: post } },
      { kind: 'decap', where: n2, dev: 'flannel.1', packet: post },
      { kind: 'deliver', where: { pod: web, label: 'web-abc-1 (default)' }, dev: 'eth0', packet: post },
    ],
    1_000_000,
  );
  return journeyOf('j1', 'delivered', hs, {
    src: { ip: '10.244.1.2', port: 40000, pod: client },
    dst: { ip: '10.96.0.10', port: 80, service: { namespace: 'default', name: 'web', port: 80 } },
    backend: { ip: '10.244.2.2', port: 8080, pod: web },
  });
})();

/** Its SYN-ACK, un-NATed on node-1. */
export const reply: Journey = (() => {
  const back = tcp('10.244.2.2', '10.244.1.2', 8080, 40000, 'SA');
  const unnat = tcp('10.96.0.10', '10.244.1.2', 80, 40000, 'SA');
  const hs = hops(
    [
      { kind: 'pod-egress', where: { pod: web, label: 'web-abc-1 (default)' }, dev: 'eth0', packet: back },
      { kind: 'encap', where: n2, dev: 'flannel.1', packet: back },
      { kind: 'underlay', where: n2, dev: 'u2', packet: outer('10.0.0.2', '10.0.0.1'), encap: { kind: 'vxlan', vni: 1, inner: back } },
      { kind: 'decap', where: n1, dev: 'flannel.1', packet: back },
      { kind: 'reverse-nat', where: n1, dev: 'cni0', packet: unnat, nat: { before: { ip: '10.244.2.2', port: 8080, pod: web }, after: { ip: '10.96.0.10', port: 80, service: { namespace: 'default', name: 'web' } } } },
      { kind: 'deliver', where: { pod: client, label: 'client (default)' }, dev: 'eth0', packet: unnat },
    ],
    2_000_000,
  );
  return journeyOf('j1r', 'delivered', hs, {
    src: { ip: '10.244.2.2', port: 8080, pod: web }, dst: { ip: '10.244.1.2', port: 40000, pod: client }, replyTo: 'j1',
  });
})();

/** A SYN to a closed port, dropped with NO_SOCKET. */
export const dropped: Journey = (() => {
  const p = tcp('10.244.1.2', '10.244.2.2', 40001, 9);
  const hs = hops(
    [
      { kind: 'pod-egress', where: { pod: client, label: 'client (default)' }, dev: 'eth0', packet: p },
      { kind: 'drop', where: { pod: web, label: 'web-abc-1 (default)' }, dev: 'eth0', packet: p, drop: { reason: 'NO_SOCKET', location: 'tcp_v4_rcv' } },
    ],
    3_000_000,
  );
  return journeyOf('j2', 'dropped', hs, {
    src: { ip: '10.244.1.2', port: 40001, pod: client }, dst: { ip: '10.244.2.2', port: 9, pod: web },
  });
})();

/** Two containers of one pod over lo: a sidecar calling its neighbour. */
export const loopback: Journey = (() => {
  const p = tcp('127.0.0.1', '127.0.0.1', 49868, 9090);
  const side = { namespace: 'default', name: 'sidecar-demo', node: 'node-1' };
  const hs = hops(
    [
      { kind: 'loopback', where: { pod: side, label: 'sidecar-demo (default)' }, dev: 'lo', packet: p },
      { kind: 'loopback', where: { pod: side, label: 'sidecar-demo (default)' }, dev: 'lo', packet: p },
    ],
    4_000_000,
  );
  return journeyOf('j3', 'delivered', hs, {
    src: { ip: '127.0.0.1', port: 49868 }, dst: { ip: '127.0.0.1', port: 9090 },
  });
})();

/** What the kernel reports when a socket closes with data its application never read. */
export const socketDiscard: Hop = {
  ...loopback.hops[1]!,
  kind: 'drop',
  hook: 'drop',
  netns: 0,
  ifindex: 0,
  dev: '-',
  where: { label: 'socket' },
  deltaNs: 29_000,
  drop: { reason: 'QUEUE_PURGE', location: 'sk_stream_kill_queues' },
};

const ext = { label: 'ext-client' };
const fabric = { label: 'underlay' };
const fromOutside = tcp('10.0.0.100', '10.0.0.1', 51000, 30080);
const toBackend = tcp('10.0.0.1', '10.244.2.2', 62000, 8080);

/**
 * The SYN of a NodePort call from the lab's external host (10.0.0.100 → node-1:30080), DNAT'd and
 * masqueraded on node-1 and tunnelled to a backend on node-2: the hop kinds and places the
 * flannel lab records (test/trace-flannel.test.ts). It crosses the underlay twice.
 */
export const nodePortFromOutside: Journey = (() => {
  const underlay = (where: Hop['where'], dev: string) => ({ kind: 'underlay' as const, where, dev, packet: outer('10.0.0.1', '10.0.0.2'), encap: { kind: 'vxlan' as const, vni: 1, inner: toBackend } });
  const hs = hops(
    [
      { kind: 'egress', where: ext, dev: 'eth0', packet: fromOutside },
      { kind: 'underlay', where: fabric, dev: 'ul-ext', packet: fromOutside },
      { kind: 'underlay', where: fabric, dev: 'ul-n1', packet: fromOutside },
      { kind: 'route', where: n1, dev: 'eth0', packet: fromOutside },
      { kind: 'dnat', where: n1, dev: 'eth0', packet: tcp('10.0.0.100', '10.244.2.2', 51000, 8080), nat: { before: { ip: '10.0.0.1', port: 30080, node: 'node-1', service: { namespace: 'default', name: 'web-nodeport' } }, after: { ip: '10.244.2.2', port: 8080, pod: web } } },
      { kind: 'snat', where: n1, dev: 'eth0', packet: toBackend, nat: { before: { ip: '10.0.0.100', port: 51000, external: true }, after: { ip: '10.0.0.1', port: 62000, node: 'node-1' } } },
      { kind: 'encap', where: n1, dev: 'flannel.1', packet: toBackend },
      underlay(n1, 'eth0'),
      underlay(fabric, 'ul-n1'),
      underlay(fabric, 'ul-n2'),
      underlay(n2, 'eth0'),
      { kind: 'decap', where: n2, dev: 'flannel.1', packet: toBackend },
      { kind: 'bridge', where: n2, dev: 'cni0', packet: toBackend },
      { kind: 'host-veth', where: n2, dev: 'veth-p2', packet: toBackend },
      { kind: 'deliver', where: { pod: web, label: 'web-abc-1 (default)' }, dev: 'eth0', packet: toBackend },
    ],
    5_000_000,
  );
  return journeyOf('j4', 'delivered', hs, {
    src: { ip: '10.0.0.100', port: 51000, external: true },
    dst: { ip: '10.0.0.1', port: 30080, node: 'node-1', service: { namespace: 'default', name: 'web-nodeport', port: 30080 } },
    backend: { ip: '10.244.2.2', port: 8080, pod: web },
  });
})();

/** Its SYN-ACK: un-NATed on node-1 twice (masquerade, then the NodePort) and delivered to the external host. */
export const nodePortReply: Journey = (() => {
  const back = tcp('10.244.2.2', '10.0.0.1', 8080, 62000, 'SA');
  const out = tcp('10.0.0.1', '10.0.0.100', 30080, 51000, 'SA');
  const hs = hops(
    [
      { kind: 'pod-egress', where: { pod: web, label: 'web-abc-1 (default)' }, dev: 'eth0', packet: back },
      { kind: 'encap', where: n2, dev: 'flannel.1', packet: back },
      { kind: 'underlay', where: n2, dev: 'eth0', packet: outer('10.0.0.2', '10.0.0.1'), encap: { kind: 'vxlan', vni: 1, inner: back } },
      { kind: 'decap', where: n1, dev: 'flannel.1', packet: back },
      { kind: 'reverse-nat', where: n1, dev: 'eth0', packet: out, nat: { before: { ip: '10.0.0.1', port: 62000, node: 'node-1' }, after: { ip: '10.0.0.100', port: 51000, external: true } } },
      { kind: 'underlay', where: fabric, dev: 'ul-n1', packet: out },
      { kind: 'deliver', where: ext, dev: 'eth0', packet: out },
    ],
    6_000_000,
  );
  return journeyOf('j4r', 'delivered', hs, {
    src: { ip: '10.244.2.2', port: 8080, pod: web }, dst: { ip: '10.0.0.100', port: 51000, external: true }, replyTo: 'j4',
  });
})();
