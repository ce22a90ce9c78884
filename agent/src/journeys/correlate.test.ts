import { beforeEach, describe, expect, it } from 'vitest';
import type { Journey, TraceEvent } from '../protocol/events.ts';
import { createCorrelator } from './correlate.ts';
import { NS, drop, fakeIdentity, flannelDevices, free, hop, resetSeq, synAckPath, synPath, tcp, udp } from './__tests__/testdata.ts';

function run(events: TraceEvent[], opts: { synced?: boolean; maxOpen?: number; tickAt?: number } = {}) {
  const out: Journey[] = [];
  const identity = fakeIdentity({ synced: opts.synced ?? true });
  const c = createCorrelator({ identity, onJourney: (j) => out.push(j), ...(opts.maxOpen ? { maxOpen: opts.maxOpen } : {}) });
  for (const d of flannelDevices()) c.push(d);
  for (const e of events) c.push(e);
  if (opts.tickAt !== undefined) out.push(...c.tick(opts.tickAt));
  return { out, c };
}

const kinds = (j: Journey) => j.hops.map((h) => h.kind);

beforeEach(() => resetSeq());

describe('correlator: the ClusterIP SYN over flannel VXLAN and its reply', () => {
  it('groups one skb into one journey with the exact hop sequence, closed by the free', () => {
    const syn = synPath();
    const { out, c } = run([...syn, free(1_000_200_000, syn[0]!.skb)]);
    expect(out).toHaveLength(1);
    const j = out[0]!;
    expect(kinds(j)).toEqual([
      'pod-egress',
      'host-veth',
      'dnat',
      'encap',
      'underlay',
      'underlay',
      'underlay',
      'underlay',
      'decap',
      'bridge',
      'host-veth',
      'deliver',
    ]);
    expect(j.verdict).toBe('delivered');
    expect(j.src).toMatchObject({ ip: '10.244.1.2', port: 40000, pod: { name: 'client' } });
    expect(j.dst).toMatchObject({ ip: '10.96.0.20', port: 80, service: { namespace: 'default', name: 'web' } });
    expect(j.backend).toMatchObject({ ip: '10.244.2.3', port: 8080, pod: { name: 'web-7d9f-abcde' } });
    const dnat = j.hops[2]!;
    expect(dnat.dev).toBe('cni0');
    expect(dnat.where).toMatchObject({ node: 'node-1', label: 'node-1' });
    expect(dnat.nat?.before.service?.name).toBe('web');
    expect(dnat.nat?.after.pod?.name).toBe('web-7d9f-abcde');
    expect(j.hops[4]!.encap).toMatchObject({ kind: 'vxlan', vni: 1 });
    expect(j.hops.map((h) => h.deltaNs)).toEqual([0, 10_000, 20_000, 20_000, 10_000, 10_000, 10_000, 10_000, 10_000, 20_000, 10_000, 10_000]);
    expect(j.startNs).toBe(1_000_000_000);
    expect(j.endNs).toBe(1_000_140_000);
    expect(j.replyTo).toBeUndefined();
    expect(c.stats()).toMatchObject({ open: 0, completed: 1, evicted: 0 });
  });

  it('links the SYN-ACK to the SYN and shows the reverse NAT on node-1', () => {
    const syn = synPath();
    const ack = synAckPath();
    const { out } = run([...syn, free(1_000_200_000, syn[0]!.skb), ...ack, free(1_001_200_000, ack[0]!.skb)]);
    expect(out).toHaveLength(2);
    const [req, rep] = out as [Journey, Journey];
    expect(rep.replyTo).toBe(req.id);
    expect(kinds(rep)).toEqual(['pod-egress', 'host-veth', 'bridge', 'encap', 'underlay', 'underlay', 'decap', 'reverse-nat', 'host-veth', 'deliver']);
    const rnat = rep.hops[7]!;
    expect(rnat.dev).toBe('cni0');
    expect(rnat.where.node).toBe('node-1');
    expect(rnat.nat?.before).toMatchObject({ ip: '10.244.2.3', port: 8080, pod: { name: 'web-7d9f-abcde' } });
    expect(rnat.nat?.after).toMatchObject({ ip: '10.96.0.20', port: 80, service: { name: 'web' } });
    expect(rep.src.pod?.name).toBe('web-7d9f-abcde');
    expect(rep.dst.pod?.name).toBe('client');
    expect(rep.backend).toBeUndefined();
  });

  it('links the SYN-ACK to the SYN when its first hops arrive before the SYN\'s (per-CPU output)', () => {
    // NOTE: bpftrace reads one ring per CPU; a reply's first events (in the pod, no conntrack)
    // may be printed before the request's, which happened earlier on another CPU.
    const syn = synPath();
    const ack = synAckPath();
    for (const early of [1, 2]) {
      resetSeq();
      const { out } = run([...ack.slice(0, early), ...syn, free(1_000_200_000, syn[0]!.skb), ...ack.slice(early), free(1_001_200_000, ack[0]!.skb)]);
      const req = out.find((j) => !j.replyTo && j.hops[0]!.packet.src === '10.244.1.2');
      const rep = out.find((j) => j.hops[0]!.packet.src === '10.244.2.3');
      expect(req, `request (${early} early)`).toBeDefined();
      expect(rep?.replyTo, `reply linked (${early} early)`).toBe(req!.id);
    }
  });

  it('a later request packet of the connection is a request; the next reply links to it', () => {
    const syn = synPath();
    const synAck = synAckPath();
    const ack = synPath(1_002_000_000, '0xffff888003', { flags: '.', seq: 1001, ack: 5001, ipId: 1112 });
    const data = synAckPath(1_003_000_000, '0xffff888004', { flags: 'P.', seq: 5001, ack: 1080, ipId: 1, len: 200 });
    const { out } = run([
      ...syn,
      free(1_000_200_000, syn[0]!.skb),
      ...synAck,
      free(1_001_200_000, synAck[0]!.skb),
      ...ack,
      free(1_002_200_000, ack[0]!.skb),
      ...data,
      free(1_003_200_000, data[0]!.skb),
    ]);
    expect(out.map((j) => j.replyTo)).toEqual([undefined, out[0]!.id, undefined, out[2]!.id]);
    expect(kinds(out[2]!)).toContain('dnat');
    expect(kinds(out[3]!)).toContain('reverse-nat');
  });
});

describe('correlator: journey boundaries', () => {
  it('ends a journey at the free and starts a new one when the skb address is reused', () => {
    const skb = '0xffff8880aa';
    const a = tcp('10.244.1.2', 40001, '10.244.2.3', 8080, { seq: 1 });
    const b = tcp('10.244.1.2', 40002, '10.244.2.3', 8080, { seq: 2 });
    const { out } = run([
      hop(100, 'xmit', NS.client, 2, 'eth0', skb, a),
      hop(200, 'recv', NS.node1, 5, 'vethc1', skb, a),
      free(300, skb),
      hop(400, 'xmit', NS.client, 2, 'eth0', skb, b),
      free(500, skb),
    ]);
    expect(out).toHaveLength(2);
    expect(out[0]!.hops).toHaveLength(2);
    expect(out[1]!.hops).toHaveLength(1);
    expect(out[1]!.src.port).toBe(40002);
  });

  it('closes the old journey when a reused skb carries another packet without a free we saw', () => {
    const skb = '0xffff8880ab';
    const { out } = run([
      hop(100, 'xmit', NS.client, 2, 'eth0', skb, tcp('10.244.1.2', 40001, '10.244.2.3', 8080, { seq: 1 })),
      hop(400, 'xmit', NS.client, 2, 'eth0', skb, tcp('10.244.1.2', 40002, '10.244.2.3', 8080, { seq: 2 })),
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]!.verdict).toBe('unknown');
  });

  it('ignores a late event (another CPU) for an skb whose journey already closed', () => {
    const skb = '0xffff8880ac';
    const p = tcp('10.244.1.2', 40001, '10.244.2.3', 8080);
    const { out, c } = run([hop(100, 'xmit', NS.client, 2, 'eth0', skb, p), free(300, skb), hop(200, 'recv', NS.node1, 5, 'vethc1', skb, p)]);
    expect(out).toHaveLength(1);
    expect(c.stats().late).toBe(1);
    expect(c.stats().open).toBe(0);
  });

  it('orders hops by kernel time even when events arrive out of order', () => {
    const syn = synPath();
    const shuffled = [syn[0]!, syn[2]!, syn[1]!, ...syn.slice(3)];
    const { out } = run([...shuffled, free(1_000_200_000, syn[0]!.skb)]);
    expect(out[0]!.hops.slice(0, 3).map((h) => h.dev)).toEqual(['eth0', 'vethc1', 'cni0']);
  });

  it('flushes an idle journey on tick as in-flight, and not before the time-out', () => {
    const p = tcp('10.244.1.2', 40001, '10.244.2.3', 8080);
    const identity = fakeIdentity();
    const c = createCorrelator({ identity, idleNs: 1000 });
    c.push(hop(100, 'xmit', NS.client, 2, 'eth0', '0x1', p));
    expect(c.tick(1099)).toEqual([]);
    const flushed = c.tick(1100);
    expect(flushed).toHaveLength(1);
    expect(flushed[0]!.verdict).toBe('in-flight');
    expect(c.stats().open).toBe(0);
  });

  it('judges idleness by the stream\'s clock: a journey whose next hops are still in the tracer\'s buffers stays open', () => {
    const identity = fakeIdentity();
    const c = createCorrelator({ identity, idleNs: 1000, settleNs: 50 });
    for (const d of flannelDevices()) c.push(d);
    const p = tcp('10.244.1.2', 40001, '10.244.2.3', 8080);
    c.push(hop(100, 'xmit', NS.client, 2, 'eth0', '0x1', p));
    // 1.4 time-outs of wall clock, but the stream has only been read up to 150.
    expect(c.tick(1500, 150)).toEqual([]);
    // The rest of the packet's hops come out of the buffers: one journey, delivered.
    c.push(hop(120, 'recv', NS.web, 2, 'eth0', '0x1', p));
    const [j] = c.tick(1500, 1200);
    expect(j?.verdict).toBe('delivered');
    expect(j?.hops.map((h) => h.dev)).toEqual(['eth0', 'eth0']);
    // Once the stream has moved on a whole time-out past it, a journey is idle.
    c.push(hop(2000, 'xmit', NS.client, 2, 'eth0', '0x2', tcp('10.244.1.2', 40002, '10.244.2.3', 8080)));
    expect(c.tick(5000, 2999)).toEqual([]);
    expect(c.tick(5000, 3000)).toHaveLength(1);
  });

  it('settles a delivered journey quickly when no free follows', () => {
    const identity = fakeIdentity();
    const c = createCorrelator({ identity, idleNs: 10_000_000_000, settleNs: 50 });
    for (const d of flannelDevices()) c.push(d);
    const p = tcp('10.244.1.2', 40001, '10.244.2.3', 8080);
    c.push(hop(100, 'xmit', NS.client, 2, 'eth0', '0x1', p));
    c.push(hop(200, 'recv', NS.web, 2, 'eth0', '0x1', p));
    expect(c.tick(249)).toEqual([]);
    const [j] = c.tick(250);
    expect(j?.verdict).toBe('delivered');
  });

  it('records a drop with its reason as the last hop', () => {
    const skb = '0xffff8880ad';
    const p = tcp('10.244.1.2', 40001, '10.244.2.3', 8080);
    const { out } = run([hop(100, 'xmit', NS.client, 2, 'eth0', skb, p), hop(200, 'recv', NS.node1, 5, 'vethc1', skb, p), drop(300, NS.node1, 5, 'vethc1', skb)]);
    expect(out).toHaveLength(1);
    const j = out[0]!;
    expect(j.verdict).toBe('dropped');
    expect(kinds(j)).toEqual(['pod-egress', 'host-veth', 'drop']);
    expect(j.hops[2]).toMatchObject({ hook: 'drop', dev: 'vethc1', drop: { reason: 'NETFILTER_DROP', location: 'nf_hook_slow' }, where: { node: 'node-1' } });
    expect(j.hops[2]!.packet.dst).toBe('10.244.2.3');
  });

  it('counts drops and frees of skbs it does not follow as orphans', () => {
    const { out, c } = run([free(1, '0xdead'), drop(2, NS.node1, 5, 'vethc1', '0xbeef')]);
    expect(out).toEqual([]);
    expect(c.stats().orphans).toBe(2);
  });

  it('evicts the stalest journey beyond maxOpen and counts it', () => {
    const events = [0, 1, 2, 3].map((i) => hop(100 + i, 'xmit', NS.client, 2, 'eth0', `0x${i}`, tcp('10.244.1.2', 41000 + i, '10.244.2.3', 8080, { seq: i })));
    const { out, c } = run(events, { maxOpen: 2 });
    expect(out).toEqual([]);
    expect(c.stats()).toMatchObject({ open: 2, evicted: 2 });
    const rest = c.flush();
    expect(rest.map((j) => j.src.port)).toEqual([41002, 41003]);
  });

  it('marks journeys seen while the identity index was not synced', () => {
    const syn = synPath();
    const { out } = run([...syn, free(1_000_200_000, syn[0]!.skb)], { synced: false });
    const j = out[0]!;
    expect(j.identityUnknown).toBe(true);
    // Names are withheld, addresses and hop kinds kept.
    expect(j.src).toEqual({ ip: '10.244.1.2', port: j.src.port });
    expect(j.dst.service).toBeUndefined();
    expect(j.backend?.pod).toBeUndefined();
    const dnat = j.hops.find((h) => h.kind === 'dnat')!;
    expect(dnat.nat?.after).toEqual({ ip: '10.244.2.3', port: 8080 });
    const { out: named } = run([...synPath(), free(1_000_200_000, syn[0]!.skb)]);
    expect(named[0]!.hops.map((h) => h.kind)).toEqual(j.hops.map((h) => h.kind));
    expect(named[0]!.backend?.pod?.name).toBeDefined();
  });

  it('closes every open journey on a tracer gap', () => {
    const p = tcp('10.244.1.2', 40001, '10.244.2.3', 8080);
    const { out } = run([hop(100, 'xmit', NS.client, 2, 'eth0', '0x1', p), { type: 'gap', seq: 99, fromMs: 1, toMs: 2, reason: 'bpftrace exited' }]);
    expect(out).toHaveLength(1);
    expect(out[0]!.verdict).toBe('in-flight');
  });
});

describe('correlator: joining by fingerprint when the skb changes', () => {
  it('joins node-2 events carrying another skb (a real second node) into the same journey', () => {
    const syn = synPath();
    // On a real cluster node-2's kernel has its own sk_buff for the packet.
    const split = syn.map((e, i) => (i >= 7 ? { ...e, skb: '0xffff99990001' } : e));
    const { out, c } = run([...split, free(1_000_200_000, syn[0]!.skb), free(1_000_210_000, '0xffff99990001')]);
    expect(out).toHaveLength(1);
    expect(out[0]!.hops).toHaveLength(12);
    expect(out[0]!.verdict).toBe('delivered');
    expect(c.stats().joined).toBe(1);
  });

  it('does not join UDP packets with IP id 0 (too weak a fingerprint)', () => {
    const a = udp('10.244.1.2', 5353, '10.96.0.10', 53, { ipId: 0 });
    const b = udp('10.244.1.2', 5354, '10.96.0.10', 53, { ipId: 0 });
    const { c } = run([hop(100, 'xmit', NS.client, 2, 'eth0', '0xa', a), hop(150, 'xmit', NS.client, 2, 'eth0', '0xb', b)]);
    expect(c.stats()).toMatchObject({ open: 2, joined: 0 });
  });
});
