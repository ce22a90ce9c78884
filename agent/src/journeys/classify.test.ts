import { beforeEach, describe, expect, it } from 'vitest';
import type { ConntrackTuples, DeviceEvent, IpPacket } from '../protocol/events.ts';
import { buildJourney, type DeviceInfo } from './classify.ts';
import { NS, device, fakeIdentity, flannelDevices, hop, resetSeq, tcp } from './__tests__/testdata.ts';

function devicesOf(list: DeviceEvent[]) {
  const m = new Map<string, DeviceInfo>(list.map((d) => [`${d.netns}:${d.ifindex}`, { kind: d.kind, masterIfindex: d.masterIfindex, dev: d.dev }]));
  return (netns: number, ifindex: number) => m.get(`${netns}:${ifindex}`);
}

beforeEach(() => resetSeq());

/** node-1's conntrack entry for an outside host's call to the NodePort, SNATed to flannel.1's address. */
const ctNodePort: ConntrackTuples = {
  proto: 'tcp',
  orig: { src: '10.0.0.100', dst: '10.0.0.1', sport: 33000, dport: 30080 },
  reply: { src: '10.244.2.3', dst: '10.244.1.0', sport: 8080, dport: 61000 },
};

describe('classification', () => {
  it('NodePort from an external host: DNAT and masquerade at one event, then the encap', () => {
    const identity = fakeIdentity();
    const inbound = tcp('10.0.0.100', 33000, '10.0.0.1', 30080);
    const natted = tcp('10.244.1.0', 61000, '10.244.2.3', 8080);
    const ct = ctNodePort;
    const j = buildJourney(
      {
        id: 'j1',
        events: [
          hop(10, 'xmit', NS.ext, 2, 'eth0', '0x1', inbound),
          hop(20, 'recv', NS.underlay, 3, 'p-ext', '0x1', inbound),
          hop(30, 'recv', NS.node1, 2, 'u1', '0x1', inbound),
          hop(40, 'xmit', NS.node1, 4, 'flannel.1', '0x1', natted, { ct }),
        ],
        isReply: false,
        identityUnknown: false,
        end: 'idle',
      },
      identity,
      devicesOf([...flannelDevices(), device(NS.underlay, 3, 'p-ext', 'veth', 1)]),
    )!;
    // The external host sends like a pod does (its own hop, its own lane); the bridge port after it is the underlay.
    expect(j.hops.map((h) => h.kind)).toEqual(['egress', 'underlay', 'route', 'dnat', 'snat', 'encap']);
    expect(j.hops[0]!.where.label).toBe('ext-client');
    expect(j.src).toMatchObject({ ip: '10.0.0.100', external: true });
    expect(j.dst).toMatchObject({ ip: '10.0.0.1', port: 30080, node: 'node-1', service: { name: 'web-nodeport' } });
    expect(j.backend).toMatchObject({ ip: '10.244.2.3', port: 8080, pod: { name: 'web-7d9f-abcde' } });
    const snat = j.hops[4]!;
    expect(snat.nat?.before).toMatchObject({ ip: '10.0.0.100', port: 33000 });
    // The masquerade address is flannel.1's, unknown to the index: named by the node that did it.
    expect(snat.nat?.after).toMatchObject({ ip: '10.244.1.0', port: 61000, node: 'node-1' });
    expect(snat.nat?.after.external).toBeUndefined();
    expect(j.hops[3]!.deltaNs).toBe(10);
    expect(j.hops[4]!.deltaNs).toBe(0);
    expect(j.verdict).toBe('in-flight');
  });

  it('the NodePort reply: un-SNAT and reverse DNAT, delivered to the external host', () => {
    const identity = fakeIdentity();
    const back = tcp('10.244.2.3', 8080, '10.244.1.0', 61000, { flags: 'SA' });
    const out = tcp('10.0.0.1', 30080, '10.0.0.100', 33000, { flags: 'SA' });
    const ct = ctNodePort;
    const j = buildJourney(
      {
        id: 'j2',
        events: [
          hop(10, 'recv', NS.node1, 4, 'flannel.1', '0x2', back, { ct }),
          hop(20, 'xmit', NS.node1, 2, 'u1', '0x2', out, { ct }),
          hop(30, 'recv', NS.ext, 2, 'eth0', '0x2', out),
        ],
        isReply: true,
        replyTo: 'j1',
        identityUnknown: false,
        end: 'free',
      },
      identity,
      devicesOf(flannelDevices()),
    )!;
    expect(j.hops.map((h) => h.kind)).toEqual(['decap', 'reverse-nat', 'reverse-nat', 'deliver']);
    // The masquerade address undone here is named by the node, as on the request's SNAT hop.
    expect(j.hops[1]!.nat).toMatchObject({ before: { ip: '10.244.1.0', port: 61000, node: 'node-1' }, after: { ip: '10.0.0.100', port: 33000, external: true } });
    expect(j.hops[1]!.nat!.before.external).toBeUndefined();
    expect(j.hops[2]!.nat).toMatchObject({ before: { ip: '10.244.2.3', port: 8080 }, after: { ip: '10.0.0.1', port: 30080, service: { name: 'web-nodeport' } } });
    expect(j.hops[3]!.where.label).toBe('ext-client');
    expect(j.verdict).toBe('delivered');
    expect(j.replyTo).toBe('j1');
  });

  it('calico-routed: a veth with no master is a pod host side only for pods of this node', () => {
    const identity = fakeIdentity();
    const p = tcp('10.244.1.2', 40000, '10.244.2.3', 8080);
    const devs = devicesOf([
      device(NS.client, 2, 'eth0', 'veth'),
      device(NS.node1, 2, 'u1', 'veth'),
      device(NS.node1, 7, 'cali0123456789a', 'veth'),
      device(NS.node2, 2, 'u2', 'veth'),
      device(NS.node2, 8, 'calib987654321f', 'veth'),
      device(NS.web, 2, 'eth0', 'veth'),
    ]);
    const j = buildJourney(
      {
        id: 'j3',
        events: [
          hop(1, 'xmit', NS.client, 2, 'eth0', '0x3', p),
          hop(2, 'recv', NS.node1, 7, 'cali0123456789a', '0x3', p),
          hop(3, 'xmit', NS.node1, 2, 'u1', '0x3', p),
          hop(4, 'recv', NS.node2, 2, 'u2', '0x3', p),
          hop(5, 'xmit', NS.node2, 8, 'calib987654321f', '0x3', p),
          hop(6, 'recv', NS.web, 2, 'eth0', '0x3', p),
        ],
        isReply: false,
        identityUnknown: false,
        end: 'free',
      },
      identity,
      devs,
    )!;
    expect(j.hops.map((h) => h.kind)).toEqual(['pod-egress', 'host-veth', 'route', 'route', 'host-veth', 'deliver']);
    expect(j.hops.map((h) => h.where.node)).toEqual(['node-1', 'node-1', 'node-1', 'node-2', 'node-2', 'node-2']);
  });

  it('loopback inside a pod', () => {
    const identity = fakeIdentity();
    const p: IpPacket = tcp('127.0.0.1', 45000, '127.0.0.1', 9090);
    const j = buildJourney(
      {
        id: 'j4',
        events: [hop(1, 'xmit', NS.sidecar, 1, 'lo', '0x4', p), hop(2, 'recv', NS.sidecar, 1, 'lo', '0x4', p)],
        isReply: false,
        identityUnknown: false,
        end: 'settled',
      },
      identity,
      devicesOf([device(NS.sidecar, 1, 'lo', '')]),
    )!;
    expect(j.hops.map((h) => h.kind)).toEqual(['loopback', 'loopback']);
    expect(j.hops[0]!.where).toMatchObject({ label: 'sidecar-demo (default)', pod: { name: 'sidecar-demo' }, node: 'node-1' });
    expect(j.verdict).toBe('delivered');
    expect(j.src.external).toBe(true);
  });

  it('names an unknown netns by its inode (a receive outside pods and nodes ends the path there)', () => {
    const j = buildJourney(
      { id: 'j5', events: [hop(1, 'recv', 999, 3, 'x', '0x5', tcp('1.1.1.1', 1, '2.2.2.2', 2))], isReply: false, identityUnknown: false, end: 'idle' },
      fakeIdentity(),
      () => undefined,
    )!;
    expect(j.hops[0]!.where.label).toBe('netns 999');
    expect(j.hops[0]!.kind).toBe('deliver');
  });

  it('names devices as their sighting did, and reads a veth with a master as a bridge port even before the bridge is sighted', () => {
    const p = tcp('10.244.1.2', 40000, '10.244.1.9', 8080);
    const j = buildJourney(
      {
        id: 'j7',
        // The event's own name is whatever the decoder had; the sighting is the kernel's.
        events: [hop(1, 'xmit', NS.client, 2, 'if2', '0x7', p), hop(2, 'recv', NS.node1, 5, 'if5', '0x7', p)],
        isReply: false,
        identityUnknown: false,
        end: 'idle',
      },
      fakeIdentity(),
      devicesOf([device(NS.client, 2, 'eth0', 'veth'), device(NS.node1, 5, 'vethc1', 'veth', 3)]),
    )!;
    expect(j.hops.map((h) => [h.kind, h.dev])).toEqual([
      ['pod-egress', 'eth0'],
      ['host-veth', 'vethc1'],
    ]);
  });

  it('a socket discarding a delivered packet (no device) keeps the delivery; a drop before delivery does not', () => {
    const p = tcp('10.244.2.3', 8080, '10.244.1.2', 40000, { flags: 'F.' });
    const socketDrop = { type: 'drop' as const, seq: 90, tsNs: 30, netns: 0, ifindex: 0, dev: '-', skb: '0x8', reason: 'QUEUE_PURGE', reasonCode: 104, location: 'sk_stream_kill_queues' };
    const raw = (events: Parameters<typeof buildJourney>[0]['events']) => ({ id: 'j8', events, isReply: false, identityUnknown: false, end: 'drop' as const });
    const delivered = buildJourney(raw([hop(10, 'xmit', NS.web, 2, 'eth0', '0x8', p), hop(20, 'recv', NS.client, 2, 'eth0', '0x8', p), socketDrop]), fakeIdentity(), devicesOf(flannelDevices()))!;
    expect(delivered.verdict).toBe('delivered');
    expect(delivered.hops.at(-1)).toMatchObject({ kind: 'drop', where: { label: 'socket' }, drop: { reason: 'QUEUE_PURGE' } });
    const early = buildJourney(raw([hop(10, 'xmit', NS.web, 2, 'eth0', '0x8', p), socketDrop]), fakeIdentity(), devicesOf(flannelDevices()))!;
    expect(early.verdict).toBe('dropped');
  });

  it("a bridge's flooded copy dropped by another pod (OTHERHOST) does not undo the delivery", () => {
    // Seen on the lab: node-2's cni0 flooded a NodePort SYN to web and coredns; coredns dropped its copy.
    const p = tcp('10.244.1.2', 40000, '10.244.2.3', 8080);
    const other = (t: number, netns: number) => ({ type: 'drop' as const, seq: 90 + t, tsNs: t, netns, ifindex: 2, dev: 'eth0', skb: '0x9', reason: 'OTHERHOST', reasonCode: 7, location: 'ip_rcv_core' });
    const raw = (events: Parameters<typeof buildJourney>[0]['events']) => ({ id: 'j9', events, isReply: false, identityUnknown: false, end: 'drop' as const });
    const flooded = buildJourney(
      raw([hop(10, 'xmit', NS.client, 2, 'eth0', '0x9', p), hop(20, 'recv', NS.web, 2, 'eth0', '0x9', p), hop(30, 'recv', NS.sidecar, 2, 'eth0', '0x9', p), other(40, NS.sidecar)]),
      fakeIdentity(),
      devicesOf(flannelDevices()),
    )!;
    expect(flooded.hops.map((h) => h.kind)).toEqual(['pod-egress', 'deliver', 'deliver', 'drop']);
    expect(flooded.verdict).toBe('delivered');
    // The only copy refused where it arrived: dropped.
    const refused = buildJourney(raw([hop(10, 'xmit', NS.client, 2, 'eth0', '0x9', p), hop(30, 'recv', NS.sidecar, 2, 'eth0', '0x9', p), other(40, NS.sidecar)]), fakeIdentity(), devicesOf(flannelDevices()))!;
    expect(refused.verdict).toBe('dropped');
  });

  it('a journey with only a drop and no readable packet has nothing to show', () => {
    const j = buildJourney(
      {
        id: 'j6',
        events: [{ type: 'drop', seq: 1, tsNs: 1, netns: NS.node1, ifindex: 2, dev: 'u1', skb: '0x6', reason: 'NO_SOCKET', reasonCode: 3, location: 'x' }],
        isReply: false,
        identityUnknown: false,
        end: 'drop',
      },
      fakeIdentity(),
      () => undefined,
    );
    expect(j).toBeUndefined();
  });
});
