// Hand-made TraceEvents for the unit tests, modelled on design.md's measured sample: a SYN from
// the client pod on node-1 to the web ClusterIP, DNATed to a backend on node-2 over flannel
// VXLAN, and its SYN-ACK with the reverse NAT on node-1. Inodes and ifindexes are invented.
import type { NetnsOwner, IdentityLookup } from '../../identity/types.ts';
import type { ConntrackTuples, DeviceEvent, DropEvent, FreeEvent, HopEvent, IpPacket, PodRef, ServiceRef } from '../../protocol/events.ts';

export const NS = { client: 4026532001, web: 4026532002, sidecar: 4026532003, node1: 4026532101, node2: 4026532102, underlay: 4026532200, ext: 4026532300 };

const client: PodRef = { namespace: 'default', name: 'client', node: 'node-1' };
const web: PodRef = { namespace: 'default', name: 'web-7d9f-abcde', node: 'node-2' };
const sidecar: PodRef = { namespace: 'default', name: 'sidecar-demo', node: 'node-1' };

/** A plain-object IdentityLookup for the lab of the fixtures. */
export function fakeIdentity(over: Partial<{ synced: boolean }> = {}): IdentityLookup & { synced: boolean } {
  const pods = new Map<string, PodRef>([
    ['10.244.1.2', client],
    ['10.244.2.3', web],
    ['10.244.1.4', sidecar],
  ]);
  const nodes = new Map([
    ['10.0.0.1', 'node-1'],
    ['10.0.0.2', 'node-2'],
  ]);
  const owners = new Map<number, NetnsOwner>([
    [NS.client, { pod: client, label: 'client (default)' }],
    [NS.web, { pod: web, label: 'web-7d9f-abcde (default)' }],
    [NS.sidecar, { pod: sidecar, label: 'sidecar-demo (default)' }],
    [NS.node1, { node: 'node-1', label: 'node-1' }],
    [NS.node2, { node: 'node-2', label: 'node-2' }],
    [NS.underlay, { label: 'underlay' }],
    [NS.ext, { label: 'ext-client' }],
  ]);
  const svcWeb: ServiceRef = { namespace: 'default', name: 'web', port: 80, portName: 'http' };
  const svcNodePort: ServiceRef = { namespace: 'default', name: 'web-nodeport', port: 80, portName: 'http' };
  return {
    synced: over.synced ?? true,
    podByIp: (ip) => pods.get(ip),
    nodeByIp: (ip) => nodes.get(ip),
    serviceByAddr: (ip, port, proto) => {
      if (ip === '10.96.0.20' && port === 80 && proto === 'tcp') return svcWeb;
      if (nodes.has(ip) && port === 30080 && proto === 'tcp') return svcNodePort;
      return undefined;
    },
    netnsOwner: (inode) => owners.get(inode),
    podIps: () => [],
    serviceIps: () => [],
  };
}

let seq = 0;
/** Reset the event sequence counter (per test). */
export function resetSeq(): void {
  seq = 0;
}

/** Header fields of a fixture TCP packet. */
export interface TcpOpts {
  flags?: string;
  seq?: number;
  ack?: number;
  ipId?: number;
  len?: number;
}

export function tcp(src: string, sport: number, dst: string, dport: number, o: TcpOpts = {}): IpPacket {
  return {
    family: 4,
    src,
    dst,
    ipId: o.ipId ?? 1111,
    ttl: 64,
    len: o.len ?? 60,
    l4: { proto: 'tcp', sport, dport, flags: o.flags ?? 'S', seq: o.seq ?? 1000, ack: o.ack ?? 0 },
  };
}

export function udp(src: string, sport: number, dst: string, dport: number, o: { ipId?: number; len?: number } = {}): IpPacket {
  return { family: 4, src, dst, ipId: o.ipId ?? 2222, ttl: 64, len: o.len ?? 80, l4: { proto: 'udp', sport, dport } };
}

export function hop(
  tsNs: number,
  hook: 'xmit' | 'recv',
  netns: number,
  ifindex: number,
  dev: string,
  skb: string,
  packet: IpPacket,
  extra: Partial<Pick<HopEvent, 'encap' | 'ct'>> = {},
): HopEvent {
  return { type: 'hop', seq: ++seq, tsNs, hook, netns, ifindex, dev, skb, packet, ...extra };
}

export function free(tsNs: number, skb: string): FreeEvent {
  return { type: 'free', seq: ++seq, tsNs, skb };
}

export function drop(tsNs: number, netns: number, ifindex: number, dev: string, skb: string, reason = 'NETFILTER_DROP'): DropEvent {
  return { type: 'drop', seq: ++seq, tsNs, netns, ifindex, dev, skb, reason, reasonCode: 6, location: 'nf_hook_slow' };
}

export function device(netns: number, ifindex: number, dev: string, kind: string, masterIfindex = 0): DeviceEvent {
  return { type: 'device', seq: ++seq, netns, ifindex, dev, kind, masterIfindex };
}

/** Devices of the flannel lab: ifindex 1 lo, pods' eth0 = 2; nodes: u = 2, cni0 = 3, flannel.1 = 4, pod veths 5+. */
export function flannelDevices(): DeviceEvent[] {
  return [
    device(NS.client, 1, 'lo', ''),
    device(NS.client, 2, 'eth0', 'veth'),
    device(NS.web, 2, 'eth0', 'veth'),
    device(NS.node1, 2, 'u1', 'veth'),
    device(NS.node1, 3, 'cni0', 'bridge'),
    device(NS.node1, 4, 'flannel.1', 'vxlan'),
    device(NS.node1, 5, 'vethc1', 'veth', 3),
    device(NS.node2, 2, 'u2', 'veth'),
    device(NS.node2, 3, 'cni0', 'bridge'),
    device(NS.node2, 4, 'flannel.1', 'vxlan'),
    device(NS.node2, 6, 'vethw1', 'veth', 3),
    device(NS.underlay, 1, 'br0', 'bridge'),
    device(NS.underlay, 2, 'p-node1', 'veth', 1),
    device(NS.underlay, 3, 'p-node2', 'veth', 1),
    device(NS.ext, 2, 'eth0', 'veth'),
  ];
}

const ctWebNode1: ConntrackTuples = {
  proto: 'tcp',
  orig: { src: '10.244.1.2', dst: '10.96.0.20', sport: 40000, dport: 80 },
  reply: { src: '10.244.2.3', dst: '10.244.1.2', sport: 8080, dport: 40000 },
};
const ctWebNode2: ConntrackTuples = {
  proto: 'tcp',
  orig: { src: '10.244.1.2', dst: '10.244.2.3', sport: 40000, dport: 8080 },
  reply: { src: '10.244.2.3', dst: '10.244.1.2', sport: 8080, dport: 40000 },
};

/** The SYN of client → ClusterIP 10.96.0.20:80, DNAT to web on node-2, over VXLAN. skb A on one kernel. */
export function synPath(t0 = 1_000_000_000, skb = '0xffff888001', o: TcpOpts = {}): HopEvent[] {
  const pre = tcp('10.244.1.2', 40000, '10.96.0.20', 80, o);
  const post = tcp('10.244.1.2', 40000, '10.244.2.3', 8080, o);
  const outer: IpPacket = { family: 4, src: '10.0.0.1', dst: '10.0.0.2', ipId: 77, ttl: 64, len: 110, l4: { proto: 'udp', sport: 51000, dport: 8472 } };
  const encap = { encap: { kind: 'vxlan' as const, vni: 1, inner: post } };
  return [
    hop(t0, 'xmit', NS.client, 2, 'eth0', skb, pre),
    hop(t0 + 10_000, 'recv', NS.node1, 5, 'vethc1', skb, pre),
    hop(t0 + 30_000, 'recv', NS.node1, 3, 'cni0', skb, post, { ct: ctWebNode1 }),
    hop(t0 + 50_000, 'xmit', NS.node1, 4, 'flannel.1', skb, post, { ct: ctWebNode1 }),
    hop(t0 + 60_000, 'xmit', NS.node1, 2, 'u1', skb, outer, encap),
    hop(t0 + 70_000, 'recv', NS.underlay, 2, 'p-node1', skb, outer, encap),
    hop(t0 + 80_000, 'xmit', NS.underlay, 3, 'p-node2', skb, outer, encap),
    hop(t0 + 90_000, 'recv', NS.node2, 2, 'u2', skb, outer, encap),
    hop(t0 + 100_000, 'recv', NS.node2, 4, 'flannel.1', skb, post, { ct: ctWebNode2 }),
    hop(t0 + 120_000, 'xmit', NS.node2, 3, 'cni0', skb, post, { ct: ctWebNode2 }),
    hop(t0 + 130_000, 'xmit', NS.node2, 6, 'vethw1', skb, post, { ct: ctWebNode2 }),
    hop(t0 + 140_000, 'recv', NS.web, 2, 'eth0', skb, post),
  ];
}

/** The SYN-ACK back, reverse-NATed on node-1. skb B. */
export function synAckPath(t0 = 1_001_000_000, skb = '0xffff888002', o: TcpOpts = { flags: 'SA', seq: 5000, ack: 1001, ipId: 0 }): HopEvent[] {
  const back = tcp('10.244.2.3', 8080, '10.244.1.2', 40000, o);
  const unnat = tcp('10.96.0.20', 80, '10.244.1.2', 40000, o);
  const outer: IpPacket = { family: 4, src: '10.0.0.2', dst: '10.0.0.1', ipId: 78, ttl: 64, len: 110, l4: { proto: 'udp', sport: 52000, dport: 8472 } };
  const encap = { encap: { kind: 'vxlan' as const, vni: 1, inner: back } };
  return [
    hop(t0, 'xmit', NS.web, 2, 'eth0', skb, back),
    hop(t0 + 10_000, 'recv', NS.node2, 6, 'vethw1', skb, back),
    hop(t0 + 20_000, 'recv', NS.node2, 3, 'cni0', skb, back, { ct: ctWebNode2 }),
    hop(t0 + 30_000, 'xmit', NS.node2, 4, 'flannel.1', skb, back, { ct: ctWebNode2 }),
    hop(t0 + 40_000, 'xmit', NS.node2, 2, 'u2', skb, outer, encap),
    hop(t0 + 50_000, 'recv', NS.node1, 2, 'u1', skb, outer, encap),
    hop(t0 + 60_000, 'recv', NS.node1, 4, 'flannel.1', skb, back, { ct: ctWebNode1 }),
    hop(t0 + 80_000, 'xmit', NS.node1, 3, 'cni0', skb, unnat, { ct: ctWebNode1 }),
    hop(t0 + 90_000, 'xmit', NS.node1, 5, 'vethc1', skb, unnat, { ct: ctWebNode1 }),
    hop(t0 + 100_000, 'recv', NS.client, 2, 'eth0', skb, unnat),
  ];
}
