import { describe, expect, it } from 'vitest';
import type { Hop, IpPacket, Journey, L4Header } from '@hopscope/agent/protocol/events.ts';
import { ConnectionTable, DATAGRAM_IDLE_NS, MAX_PACKETS_KEPT, upsertConnections, type ConnectionRow } from './conversations.ts';
import { nodePortFromOutside, nodePortReply, request, reply } from '../__tests__/testdata.ts';

const CLIENT = '10.244.1.2';
const SVC = '10.96.0.10';
const WEB = '10.244.2.2';
const DNS_SVC = '10.96.0.53';
const DNS_POD = '10.244.1.9';

const ip = (src: string, dst: string, l4: L4Header): IpPacket => ({ family: 4, src, dst, ipId: 1, ttl: 64, len: 60, l4 });
const tcp = (sport: number, dport: number, flags: string, seq = 1000): L4Header => ({ proto: 'tcp', sport, dport, flags, seq, ack: 0 });
const udp = (sport: number, dport: number): L4Header => ({ proto: 'udp', sport, dport });

let n = 0;
/** A journey whose hops carry `packets` in order (the forms it took: as sent, after NAT). */
function journey(packets: IpPacket[], opts: { t?: number; replyTo?: string; verdict?: Journey['verdict']; netns?: number } = {}): Journey {
  const t0 = opts.t ?? 1e9 + n * 1e6;
  const id = `j${++n}`;
  const hops: Hop[] = packets.map((p, i) => ({
    kind: i === 0 ? 'pod-egress' : i === packets.length - 1 ? 'deliver' : 'dnat',
    tsNs: t0 + i * 10_000,
    deltaNs: i === 0 ? 0 : 10_000,
    hook: 'recv',
    netns: opts.netns ?? 4026531000 + i,
    where: { label: 'x' },
    dev: 'eth0',
    ifindex: 2,
    packet: p,
  }));
  const first = packets[0]!;
  const last = packets.at(-1)!;
  const port = (p: IpPacket, s: boolean) => (p.l4.proto === 'tcp' || p.l4.proto === 'udp' ? (s ? p.l4.sport : p.l4.dport) : undefined);
  const ep = (a: string, pt: number | undefined) => ({ ip: a, ...(pt !== undefined ? { port: pt } : {}) });
  return {
    type: 'journey',
    id,
    fingerprint: id,
    verdict: opts.verdict ?? 'delivered',
    startNs: t0,
    endNs: t0 + (packets.length - 1) * 10_000,
    proto: first.l4.proto,
    src: ep(first.src, port(first, true)),
    dst: ep(first.dst, port(first, false)),
    ...(last.dst !== first.dst ? { backend: ep(last.dst, port(last, false)) } : {}),
    hops,
    ...(opts.replyTo !== undefined ? { replyTo: opts.replyTo } : {}),
  };
}

/** One ClusterIP TCP call: the packets of a curl in both directions, each request with its reply. */
function curl(sport: number, t: number, seq = 1000): Journey[] {
  const out: Journey[] = [];
  const req = (flags: string, dt: number) => {
    const j = journey([ip(CLIENT, SVC, tcp(sport, 80, flags, seq)), ip(CLIENT, WEB, tcp(sport, 8080, flags, seq))], { t: t + dt });
    out.push(j);
    return j;
  };
  const rep = (to: Journey, flags: string, dt: number) => out.push(journey([ip(WEB, CLIENT, tcp(8080, sport, flags, 5000)), ip(SVC, CLIENT, tcp(80, sport, flags, 5000))], { t: t + dt, replyTo: to.id }));
  const syn = req('S', 0);
  rep(syn, 'S.', 100_000);
  req('.', 200_000);
  const get = req('P.', 300_000);
  rep(get, '.', 400_000);
  rep(get, 'P.', 500_000);
  const fin = req('F.', 600_000);
  rep(fin, 'F.', 700_000);
  req('.', 800_000);
  return out;
}

describe('ConnectionTable', () => {
  it('groups a curl (requests, replies, the tuple as sent and its DNAT form) into one connection', () => {
    const t = new ConnectionTable();
    const js = curl(41000, 1e9);
    for (const j of js) t.add(j);
    const rows = t.rows();
    expect(rows).toHaveLength(1);
    const r = rows[0]!;
    expect(r).toMatchObject({ proto: 'tcp', packets: js.length, requests: 5, replies: 4, verdict: 'delivered', state: 'closed', fromAddr: `${CLIENT}:41000`, toAddr: `${WEB}:8080` });
    // SYN left at 1e9, the SYN-ACK's last hop at 1e9 + 100 µs + 10 µs.
    expect(r.handshakeNs).toBe(110_000);
    expect(r.handshake).toBe('110 µs');
    expect(t.packetsOf(r.id)!.ids).toEqual(js.map((j) => j.id));
  });

  it('lists a connection\'s packets in the order they were sent, each reply after its request, whatever order they ended in', () => {
    const js = curl(41003, 1e9);
    // As the tracer hands them on: by when each ended (freed), not by when it began.
    const arrival = [js[0]!, js[2]!, js[1]!, js[4]!, js[3]!, js[6]!, js[5]!, js[8]!, js[7]!];
    const t = new ConnectionTable();
    for (const j of arrival) t.add(j);
    expect(t.packetsOf(t.rows()[0]!.id)!.ids).toEqual(js.map((j) => j.id));
    // A reply on another node's clock (a hub) still sits after its request.
    const u = new ConnectionTable();
    const skewed = js.map((j) => (j.replyTo ? { ...j, startNs: j.startNs - 3600e9 } : j));
    for (const j of skewed) u.add(j);
    expect(u.packetsOf(u.rows()[0]!.id)!.ids).toEqual(js.map((j) => j.id));
  });

  it('keeps two calls from different ports apart, and names the Service of the shared testdata', () => {
    const t = new ConnectionTable();
    for (const j of [...curl(41001, 1e9), ...curl(41002, 1.5e9)]) t.add(j);
    expect(t.rows().map((r) => r.packets)).toEqual([9, 9]);
    const u = new ConnectionTable();
    u.add(request);
    u.add(reply);
    const [row] = u.rows();
    expect(row).toMatchObject({ packets: 2, service: 'svc/web:80', handshake: expect.any(String) });
  });

  it('places a reply that arrives before its request by its reverse-NAT tuple, and orients the row once the request comes', () => {
    const t = new ConnectionTable();
    const js = curl(41003, 1e9);
    t.add(js[1]!); // the SYN-ACK first
    expect(t.rows()[0]!.fromAddr).toBe(`${CLIENT}:41003`);
    t.add(js[0]!);
    const rows = t.rows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ packets: 2, requests: 1, replies: 1, toAddr: `${WEB}:8080` });
  });

  it('joins masqueraded NodePort packets (source and destination both rewritten) to the call as sent', () => {
    const t = new ConnectionTable();
    const ext = '10.0.0.100';
    const node = '10.0.0.1';
    const syn = journey([ip(ext, node, tcp(50000, 30080, 'S')), ip(node, WEB, tcp(61000, 8080, 'S'))]);
    // The reply seen only in its NAT'd forms: pod → node (masquerade) and node:30080 → external.
    const synack = journey([ip(WEB, node, tcp(8080, 61000, 'S.')), ip(node, ext, tcp(30080, 50000, 'S.'))], { replyTo: syn.id });
    const ack = journey([ip(ext, node, tcp(50000, 30080, '.'))]);
    const backOnly = journey([ip(WEB, node, tcp(8080, 61000, 'P.'))]); // no replyTo, one form only
    // A request seen only after DNAT and masquerade (its first hops sampled away), before any reply.
    const natOnly = journey([ip(node, WEB, tcp(61000, 8080, '.'))]);
    for (const j of [syn, natOnly, synack, ack, backOnly]) t.add(j);
    expect(t.rows()).toHaveLength(1);
    expect(t.rows()[0]!.packets).toBe(5);
  });

  it('names a host outside the cluster as external, by the name the lab gives its netns when the journey was seen there', () => {
    const t = new ConnectionTable();
    t.add(nodePortFromOutside);
    t.add(nodePortReply);
    expect(t.rows()).toHaveLength(1);
    expect(t.rows()[0]).toMatchObject({ from: 'external ext-client', fromAddr: '10.0.0.100:51000', service: 'svc/web-nodeport:30080', to: 'web-abc-1' });
    // the reply seen first orients the row from its delivery at the external host
    const r = new ConnectionTable();
    r.add(nodePortReply);
    expect(r.rows()[0]).toMatchObject({ from: 'external ext-client', to: 'web-abc-1' });
    // the external host's own hops not traced (a real cluster, or sampled away): its address
    const onNode = { ...nodePortFromOutside, id: 'j4n', hops: nodePortFromOutside.hops.slice(3) };
    const n = new ConnectionTable();
    n.add(onNode);
    expect(n.rows()[0]!.from).toBe('external 10.0.0.100');
    // a netns whose owner the agent does not know is labelled by its inode: not a name
    const h0 = nodePortFromOutside.hops[0]!;
    const unowned = { ...nodePortFromOutside, id: 'j4u', hops: [{ ...h0, where: { label: `netns ${h0.netns}` } }, ...nodePortFromOutside.hops.slice(1)] };
    const u = new ConnectionTable();
    u.add(unowned);
    expect(u.rows()[0]!.from).toBe('external 10.0.0.100');
    // a pod calling out: the callee is external by its address
    const out = journey([ip(CLIENT, '93.184.216.34', tcp(41020, 443, 'S'))]);
    const o = new ConnectionTable();
    o.add({ ...out, dst: { ...out.dst, external: true } });
    expect(o.rows()[0]!.to).toBe('external 93.184.216.34');
    // an address the index did not name, seen inside a pod (loopback), keeps the pod's name
    const lo = journey([ip('127.0.0.1', '127.0.0.1', tcp(41021, 9090, 'S'))]);
    lo.hops[0]!.where = { label: 'client (default)', pod: { namespace: 'default', name: 'client', node: 'node-1' } };
    const l = new ConnectionTable();
    l.add({ ...lo, src: { ...lo.src, external: true } });
    expect(l.rows()[0]!.from).toBe('client:41021');
  });

  it('a port reused after FIN, or with a new initial sequence number, is a new connection; a retransmitted SYN is not', () => {
    const t = new ConnectionTable();
    for (const j of curl(41004, 1e9)) t.add(j);
    for (const j of curl(41004, 2e9, 777)) t.add(j);
    expect(t.rows().map((r) => r.packets)).toEqual([9, 9]);
    const u = new ConnectionTable();
    const syn = () => journey([ip(CLIENT, WEB, tcp(41005, 8080, 'S', 42))]);
    u.add(syn());
    u.add(syn()); // retransmission: same ISN, not closed
    expect(u.rows().map((r) => r.packets)).toEqual([2]);
    u.add(journey([ip(CLIENT, WEB, tcp(41005, 8080, 'S', 43))])); // a new ISN, no FIN seen (sampled away)
    expect(u.rows().map((r) => r.packets)).toEqual([2, 1]);
  });

  it('groups a UDP DNS lookup through the kube-dns ClusterIP with its reply, and links it to the call that followed', () => {
    const t = new ConnectionTable();
    const q = journey([ip(CLIENT, DNS_SVC, udp(33333, 53)), ip(CLIENT, DNS_POD, udp(33333, 53))], { t: 1e9 });
    const a = journey([ip(DNS_POD, CLIENT, udp(53, 33333)), ip(DNS_SVC, CLIENT, udp(53, 33333))], { t: 1e9 + 50_000, replyTo: q.id });
    t.add(q);
    t.add(a);
    const call = curl(41006, 1e9 + 300_000);
    for (const j of call) t.add(j);
    const [dns, http] = t.rows();
    expect(dns).toMatchObject({ proto: 'udp', packets: 2, state: 'datagram', toAddr: `${DNS_POD}:53` });
    expect(http!.dns).toEqual({ id: dns!.id, server: dns!.to, beforeNs: 300_000 });
    // Too long after a lookup, or from another pod: no link.
    for (const j of curl(41007, 1e9 + 5e9)) t.add(j);
    expect(t.rows()[2]!.dns).toBeUndefined();
    // The same UDP tuple after conntrack's timeout is a new conversation.
    t.add(journey([ip(CLIENT, DNS_SVC, udp(33333, 53))], { t: 1e9 + DATAGRAM_IDLE_NS + 1e9 }));
    expect(t.rows()).toHaveLength(4);
  });

  it('links a lookup that comes in after the call it preceded (journeys come as the tracer finishes them)', () => {
    const t = new ConnectionTable();
    const call = curl(41010, 1e9 + 100e6);
    const q = journey([ip(CLIENT, DNS_SVC, udp(33334, 53)), ip(CLIENT, DNS_POD, udp(33334, 53))], { t: 1e9 });
    const other = journey([ip('10.244.1.7', DNS_SVC, udp(33335, 53))], { t: 1e9 + 50e6 });
    t.add(call[0]!);
    t.add(other);
    t.add(q);
    // The call changed with the lookup's arrival: the page hears of its link.
    const changed = t.takeChanged();
    const [http, otherRow, dns] = t.rows();
    expect(changed.map((r) => r.id)).toContain(http!.id);
    expect(otherRow!.dns).toBeUndefined();
    expect(http!.dns).toEqual({ id: dns!.id, server: dns!.to, beforeNs: 100e6 });
  });

  it("compares only the caller's times: with a hub a reply starts on another node, whose clock is another", () => {
    const t = new ConnectionTable();
    const q = journey([ip(CLIENT, DNS_SVC, udp(33336, 53)), ip(CLIENT, DNS_POD, udp(33336, 53))], { t: 1e9 });
    // The server's node booted an hour earlier: its monotonic clock is an hour ahead.
    const a = journey([ip(DNS_POD, CLIENT, udp(53, 33336)), ip(DNS_SVC, CLIENT, udp(53, 33336))], { t: 1e9 + 3600e9, replyTo: q.id });
    t.add(q);
    t.add(a);
    t.add(journey([ip(CLIENT, DNS_SVC, udp(33336, 53))], { t: 1e9 + 1e6 }));
    expect(t.rows().map((r) => [r.packets, r.startNs, r.lastNs])).toEqual([[3, 1e9, 1e9 + 1e6]]);
  });

  it('groups ICMP echo by identifier', () => {
    const t = new ConnectionTable();
    const echo = (id: number, src: string, dst: string, type: number, replyTo?: string) =>
      journey([ip(src, dst, { proto: 'icmp', icmpType: type, code: 0, id, seq: 1 })], replyTo ? { replyTo } : {});
    const p1 = echo(7, CLIENT, WEB, 8);
    t.add(p1);
    t.add(echo(7, WEB, CLIENT, 0, p1.id));
    t.add(echo(7, CLIENT, WEB, 8));
    t.add(echo(8, CLIENT, WEB, 8));
    expect(t.rows().map((r) => [r.proto, r.packets])).toEqual([
      ['icmp', 3],
      ['icmp', 1],
    ]);
  });

  it('tells loopback tuples of different pods apart', () => {
    const t = new ConnectionTable();
    const lo = (netns: number) => journey([ip('127.0.0.1', '127.0.0.1', tcp(49000, 9090, 'S'))], { netns });
    t.add(lo(1));
    t.add(lo(2));
    expect(t.rows()).toHaveLength(2);
  });

  it('a drop makes the connection dropped and counts it', () => {
    const t = new ConnectionTable();
    t.add(journey([ip(CLIENT, WEB, tcp(41008, 9, 'S'))], { verdict: 'dropped' }));
    t.add(journey([ip(CLIENT, WEB, tcp(41008, 9, 'S'))], { verdict: 'dropped' }));
    expect(t.rows()[0]).toMatchObject({ verdict: 'dropped', drops: 2, packets: 2, state: 'opening' });
  });

  it('is bounded: the oldest connections go and are counted, their tuples forgotten; a long connection keeps its newest packet ids', () => {
    const t = new ConnectionTable(10);
    for (let i = 0; i < 25; i++) for (const j of curl(42000 + i, 1e9 + i * 1e7)) t.add(j);
    expect(t.stats).toEqual({ connections: 10, evicted: 15, journeys: 25 * 9 });
    expect(t.rows().map((r) => r.fromAddr)).toEqual(Array.from({ length: 10 }, (_, i) => `${CLIENT}:${42015 + i}`));
    // A late packet of an evicted connection starts a new one rather than joining a stranger.
    t.add(journey([ip(CLIENT, SVC, tcp(42000, 80, '.'))]));
    expect(t.rows().at(-1)).toMatchObject({ fromAddr: `${CLIENT}:42000`, packets: 1 });
    const u = new ConnectionTable();
    for (let i = 0; i < MAX_PACKETS_KEPT + 50; i++) u.add(journey([ip(CLIENT, WEB, tcp(43000, 8080, 'P.'))]));
    const p = u.packetsOf(u.rows()[0]!.id)!;
    expect(p.total).toBe(MAX_PACKETS_KEPT + 50);
    expect(p.ids).toHaveLength(MAX_PACKETS_KEPT);
    expect(p.ids.at(-1)).toBe(`j${n}`);
  });

  it('hands over only what changed since last time, oldest connection first', () => {
    const t = new ConnectionTable();
    const a = curl(44000, 1e9);
    const b = curl(44001, 1e9);
    t.add(a[0]!);
    t.add(b[0]!);
    expect(t.takeChanged().map((r) => r.packets)).toEqual([1, 1]);
    expect(t.takeChanged()).toEqual([]);
    t.add(b[1]!);
    expect(t.takeChanged().map((r) => r.fromAddr)).toEqual([`${CLIENT}:44001`]);
  });
});

describe('upsertConnections', () => {
  const row = (id: string, packets: number) => ({ id, packets }) as ConnectionRow;
  it('replaces in place, appends new ones, keeps the newest max', () => {
    const l1 = upsertConnections([], [row('c1', 1), row('c2', 1)], 3);
    expect(upsertConnections(l1, [])).toBe(l1);
    const l2 = upsertConnections(l1, [row('c1', 5), row('c3', 1), row('c4', 1)], 3);
    expect(l2.map((r) => `${r.id}:${r.packets}`)).toEqual(['c2:1', 'c3:1', 'c4:1']);
  });
});
