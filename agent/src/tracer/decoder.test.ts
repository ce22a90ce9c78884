import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HopEvent } from '../protocol/events.ts';
import { createDecoder, type DecodeResult } from './decoder.ts';
import { createLineSplitter } from './line-splitter.ts';
import { seededRandom } from './__tests__/seeded-random.ts';

// Recorded from bpftrace 0.17 on Linux 6.18 running bpf/datapath.bt.tmpl: `ping -c1 10.99.0.2`
// from netns A (10.99.0.1, veth hsxa) to netns B (veth hsxb enslaved to bridge br0, 10.99.0.2).
const PING = [
  'Attaching 8 probes...',
  'B hopscope 1',
  'D 2f0000151 0 6972640068746576 74656e2f73726576 hsxa',
  'H 2 d531f804a4 2f0000151 ffff888166987200 40df8c54000045 100630a01990140 b13800080200630a 100072e 0 0 0 0 0 0 0 0',
  'D 2f0000196 3 6972640068746576 74656e2f73726576 hsxb',
  'H 1 d531f85614 2f0000196 ffff888166987200 40df8c54000045 100630a01990140 b13800080200630a 100072e 0 0 0 0 0 0 0 0',
  'D 3f0000196 0 7600656764697262 2036383563323874 br0',
  'H 1 d531f89f80 3f0000196 ffff888166987200 40df8c54000045 100630a01990140 b13800080200630a 100072e 0 0 0 0 0 0 0 0',
  'H 2 d531f900ad 3f0000196 ffff888166987000 493454000045 200630a98310140 b14000000100630a 100072e 0 0 0 0 0 0 0 0',
  'F 915666457879 ffff888166987200',
  'K 915666479059 4026532177 2 ffff888166987000 hsxa 3 ping_rcv',
  '@sup: 0',
  '@prn: 12',
  'Lost 17 events',
];

const reasons = new Map([[3, 'NO_SOCKET'], [12, 'NETFILTER_DROP']]);

describe('decoder on recorded output', () => {
  it('decodes devices, hops, frees, drops, sampler reports and lost events', () => {
    const d = createDecoder({ reasonNames: reasons });
    const out = PING.map((l) => d.decode(l));
    expect(out[0]).toEqual({ type: 'notice', kind: 'attached', value: 8 });
    expect(out[1]).toEqual({ type: 'notice', kind: 'banner', value: 1 });
    expect(out[2]).toEqual({ type: 'device', seq: 1, netns: 4026532177, ifindex: 2, dev: 'hsxa', kind: 'veth', masterIfindex: 0 });
    expect(out[4]).toMatchObject({ type: 'device', dev: 'hsxb', kind: 'veth', masterIfindex: 3 });
    expect(out[6]).toMatchObject({ type: 'device', dev: 'br0', kind: 'bridge', ifindex: 3 });
    const req = out[3] as HopEvent;
    expect(req).toEqual({
      type: 'hop', seq: 2, tsNs: 0xd531f804a4, hook: 'xmit', netns: 4026532177, ifindex: 2, dev: 'hsxa', skb: 'ffff888166987200',
      packet: { family: 4, src: '10.99.0.1', dst: '10.99.0.2', ipId: 0x8cdf, ttl: 64, len: 84, l4: { proto: 'icmp', icmpType: 8, code: 0, id: 0x2e07, seq: 1 } },
    });
    expect(out[5]).toMatchObject({ hook: 'recv', dev: 'hsxb', netns: 4026532246, skb: 'ffff888166987200' });
    expect((out[8] as HopEvent).packet).toMatchObject({ src: '10.99.0.2', dst: '10.99.0.1', l4: { proto: 'icmp', icmpType: 0, seq: 1 } });
    expect(out[9]).toEqual({ type: 'free', seq: 8, tsNs: 915666457879, skb: 'ffff888166987200' });
    expect(out[10]).toMatchObject({ type: 'drop', netns: 4026532177, dev: 'hsxa', reason: 'NO_SOCKET', reasonCode: 3, location: 'ping_rcv' });
    expect(out[11]).toMatchObject({ type: 'notice', kind: 'counter' });
    expect(out[12]).toMatchObject({ type: 'sampled', suppressed: 0, printed: 12 });
    expect(out[13]).toMatchObject({ type: 'lost', count: 17 });
    expect(d.stats()).toEqual({ lines: 14, events: 11, rejections: 0, lost: 17 });
  });

  it('carries the sampler\'s current 1 in K into its report', () => {
    const d = createDecoder({ reasonNames: reasons });
    expect(d.decode('@k: 256')).toEqual({ type: 'notice', kind: 'counter', value: 256 });
    d.decode('@sup: 40');
    expect(d.decode('@prn: 12')).toMatchObject({ type: 'sampled', suppressed: 40, printed: 12, every: 256 });
    d.decode('@k: 128');
    d.decode('@sup: 43');
    expect(d.decode('@prn: 13')).toMatchObject({ type: 'sampled', suppressed: 3, printed: 1, every: 128 });
    expect(d.decode('@k: x')).toMatchObject({ type: 'rejected', reason: 'bad counter line' });
  });

  // The program prints run totals (zeroing after each print lost what other CPUs counted in
  // between); a report says what was counted since the one before.
  it('turns the run totals of successive reports into per-report amounts', () => {
    const d = createDecoder({ reasonNames: reasons });
    const report = (k: number, sup: number, prn: number): DecodeResult => {
      d.decode(`@k: ${k}`);
      d.decode(`@sup: ${sup}`);
      return d.decode(`@prn: ${prn}`);
    };
    expect(report(64, 0, 0)).toMatchObject({ type: 'sampled', suppressed: 0, printed: 0, every: 64 });
    expect(report(64, 1000, 250)).toMatchObject({ suppressed: 1000, printed: 250 });
    expect(report(128, 1000, 250)).toMatchObject({ suppressed: 0, printed: 0, every: 128 });
    expect(report(128, 489_598, 7_000_001)).toMatchObject({ suppressed: 488_598, printed: 6_999_751 });
    // A report without its @sup line (a map bpftrace did not print) suppressed nothing, and the
    // @sup total stays where it was for the next one.
    d.decode('@k: 128');
    expect(d.decode('@prn: 7000001')).toMatchObject({ suppressed: 0, printed: 0 });
    expect(report(128, 489_600, 7_000_005)).toMatchObject({ suppressed: 2, printed: 4 });
  });

  it('starts the totals afresh for a new bpftrace run', () => {
    const d = createDecoder({ reasonNames: reasons });
    d.decode('@sup: 500');
    d.decode('@prn: 90');
    d.reset();
    // The new run counts from zero: its first report is all new, even above the old totals.
    d.decode('@sup: 600');
    expect(d.decode('@prn: 100')).toMatchObject({ type: 'sampled', suppressed: 600, printed: 100 });
    d.decode('@sup: 601');
    expect(d.decode('@prn: 100')).toMatchObject({ suppressed: 1, printed: 0 });
    // A reset not announced (bpftrace prints its cleared maps as 0 when it exits): a total that
    // went down started again, and is all new.
    d.decode('@sup: 0');
    expect(d.decode('@prn: 0')).toMatchObject({ suppressed: 0, printed: 0 });
    d.decode('@sup: 5');
    expect(d.decode('@prn: 7')).toMatchObject({ suppressed: 5, printed: 7 });
  });

  it('accepts the other lost-event forms', () => {
    const d = createDecoder({ reasonNames: reasons });
    expect(d.decode('WARNING: Lost 5 events')).toMatchObject({ type: 'lost', count: 5 });
    expect(d.decode('{"type": "lost_events", "data": {"events": 9}}')).toMatchObject({ type: 'lost', count: 9 });
  });

  // Recorded from bpftrace 0.17 (host) and 0.23.2 (the image) with a 1-page perf buffer and a
  // BEGIN that prints 3000 lines (test/fixtures/bpftrace-versions). Both print "Lost N events"
  // on stdout, in text and in -f json; stderr holds only the RLIMIT_MEMLOCK complaint (ERROR in
  // 0.17, WARNING in 0.23.2). The runner decodes stdout and the stderr lines naming lost events.
  it.each([
    ['0.17', 'text', 2927],
    ['0.17', 'json', 2927],
    ['0.23.2', 'text', 2915],
    ['0.23.2', 'json', 2915],
  ])('counts the lost events bpftrace %s reports (%s)', (version, form, count) => {
    const d = createDecoder({ reasonNames: reasons });
    const dir = new URL(`../../../test/fixtures/bpftrace-versions/lost-${version}-${form}`, import.meta.url);
    const stdout = readFileSync(`${dir.pathname}.stdout`, 'utf8').split('\n');
    const stderr = readFileSync(`${dir.pathname}.stderr`, 'utf8').split('\n').filter((l) => l.includes('Lost ') && l.includes(' events'));
    const lost = [...stdout, ...stderr].filter((l) => l !== '').map((l) => d.decode(l)).filter((r) => r.type === 'lost');
    expect(lost).toHaveLength(1);
    expect(d.stats().lost).toBe(count);
  });

  it('numbers gaps in the same sequence', () => {
    const d = createDecoder({ reasonNames: reasons });
    d.decode(PING[3]!);
    expect(d.gap(1, 2, 'bpftrace exited')).toEqual({ type: 'gap', seq: 2, fromMs: 1, toMs: 2, reason: 'bpftrace exited' });
  });

  it('reads the kernel time off the flush line, text or bytes (format 1\'s untimed line gives -1), and passes over the beat', () => {
    const d = createDecoder({ reasonNames: reasons });
    const pad = '.'.repeat(8200);
    const timed = `P d531f900ad ${pad}`;
    expect(d.decode(timed)).toEqual({ type: 'notice', kind: 'flush', value: 0xd531f900ad });
    const bytes = Buffer.from(timed);
    expect(d.decodeBytes(bytes, 0, bytes.length)).toEqual({ type: 'notice', kind: 'flush', value: 0xd531f900ad });
    expect(d.decode(`P ${pad}`)).toEqual({ type: 'notice', kind: 'flush', value: -1 });
    // Not a flush line: a bad time, no padding after it, nothing after the P.
    expect(d.decode(`P zz ${pad}`)).toMatchObject({ type: 'rejected' });
    expect(d.decode('P d531f900ad x')).toMatchObject({ type: 'rejected' });
    expect(d.decode('P ')).toMatchObject({ type: 'rejected' });
    // A CPU's beat: nothing to decode, and no rejection either.
    expect(d.decode('T')).toEqual({ type: 'notice', kind: 'beat', value: 0 });
    expect(d.decode('T 1')).toMatchObject({ type: 'rejected' });
    expect(d.stats().events).toBe(0);
  });

  it('rejects garbage with a reason', () => {
    const d = createDecoder({ reasonNames: reasons });
    expect(d.decode('H 3 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1')).toMatchObject({ type: 'rejected', reason: 'unknown hook' });
    expect(d.decode('H 1 zz 1 1 1 1 1 1 1 1 1 1 1 1 1 1')).toMatchObject({ type: 'rejected', reason: 'bad timestamp' });
    expect(d.decode('H 1 1 1 1 1 1 1 1')).toMatchObject({ type: 'rejected' });
    expect(d.decode('')).toMatchObject({ type: 'rejected', reason: 'empty line' });
    expect(d.stats().rejections).toBe(4);
  });
});

describe('decoder fuzz', () => {
  it('10k random and truncated lines: never throws, never hits the internal error path', () => {
    const rnd = seededRandom(99);
    const chars = 'H6DKFNB@ 0123456789abcdefxyz:-\t\u00ff\n{}"Lost events';
    const d = createDecoder({ reasonNames: reasons });
    for (let i = 0; i < 10_000; i++) {
      let line: string;
      const real = PING[rnd(PING.length)]!;
      switch (rnd(3)) {
        case 0: line = real.slice(0, rnd(real.length + 1)); break;
        case 1: {
          const t = real.split(' ');
          t[rnd(t.length)] = String.fromCharCode(...Array.from({ length: rnd(20) }, () => chars.charCodeAt(rnd(chars.length))));
          line = t.join(' ');
          break;
        }
        default: line = Array.from({ length: rnd(80) }, () => chars[rnd(chars.length)]).join('');
      }
      const r = d.decode(line);
      if (r.type === 'rejected') expect(r.reason).not.toMatch(/decoder error/);
    }
    expect(d.stats().lines).toBe(10_000);
  });
});

describe('decoding from bytes (what the runner does with bpftrace stdout)', () => {
  /** The stream as the runner reads it: bytes in uneven chunks, split, decoded in place. */
  function viaBytes(lines: string[], chunk: number): DecodeResult[] {
    const d = createDecoder({ reasonNames: reasons });
    const out: DecodeResult[] = [];
    const sp = createLineSplitter((b, s, e) => out.push(d.decodeBytes(b, s, e)));
    const all = Buffer.from(lines.join('\n') + '\n');
    for (let at = 0; at < all.length; at += chunk) sp.push(all.subarray(at, at + chunk));
    sp.end();
    return out;
  }
  const viaText = (lines: string[]): DecodeResult[] => {
    const d = createDecoder({ reasonNames: reasons });
    return lines.map((l) => d.decode(l));
  };
  const file = (rel: string): string[] => readFileSync(new URL(rel, import.meta.url), 'utf8').split('\n').filter(Boolean);
  // Every line kind (the tracer tests' recording), and a lab flood (VXLAN, conntrack, padding).
  const recorded = [...file('../../../test/fixtures/tracer/recorded-lines.txt'), ...PING, ...file('../../../bench/fixtures/flood-lines.txt')];

  it('gives exactly what decoding the text gives, for every recorded line kind', () => {
    const text = viaText(recorded);
    expect(text.filter((e) => e.type === 'hop' && e.encap && e.ct).length).toBeGreaterThan(50);
    for (const chunk of [7, 100, 65536]) expect(viaBytes(recorded, chunk)).toEqual(text);
  });

  it('gives the same rejections for damaged hop lines', () => {
    const hops = recorded.filter((l) => l.startsWith('H '));
    const damaged = hops.flatMap((l, i) => [
      l.slice(0, (i * 7) % l.length),
      l.replace(' ', '  '),
      l + ' ',
      l.replace(/ [0-9a-f]+ /, ' zz '),
      l.split(' ').slice(0, 16).join(' '),
      l.replace(/ffff/, 'ffff\u00e9'),
    ]).filter((l) => l.length > 0);
    const text = viaText(damaged);
    expect(text.filter((e) => e.type === 'rejected').length).toBeGreaterThan(damaged.length / 2);
    expect(viaBytes(damaged, 64)).toEqual(text);
  });
});

describe('device names', () => {
  it('keeps names per (netns, ifindex) apart', () => {
    const d = createDecoder({ reasonNames: reasons });
    d.decode('D 2f0000196 3 6972640068746576 74656e2f73726576 hsxb');
    d.decode('D 3f0000196 0 7600656764697262 2036383563323874 br0');
    const h = d.decode('H 2 d531f900ad 2f0000196 ffff888166987000 493454000045 200630a98310140 b14000000100630a 100072e 0 0 0 0 0 0 0 0');
    expect(h).toMatchObject({ type: 'hop', ifindex: 2, dev: 'hsxb' });
    const unknown = d.decode('H 2 d531f900ad 7f0000196 ffff888166987000 493454000045 200630a98310140 b14000000100630a 100072e 0 0 0 0 0 0 0 0');
    expect(unknown).toMatchObject({ type: 'hop', ifindex: 7, dev: 'if7' });
  });
});

// Recorded by test/tracer.test.ts (HOPSCOPE_RECORD_LINES) on Linux 6.18 / bpftrace 0.17: the
// expected values come from that test's setup (addresses, ports, VNI 42, the scapy packet)
// and from tcpdump's own decoding of vxlan_port_8472.pcap.
describe('decoder on recorded lines of the integration setup', () => {
  const lines = readFileSync(new URL('../../../test/fixtures/tracer/recorded-lines.txt', import.meta.url), 'utf8').split('\n').filter(Boolean);
  const d = createDecoder({ reasonNames: reasons });
  const out = lines.map((l) => d.decode(l));
  const hopsOut = out.filter((e): e is HopEvent => e.type === 'hop');

  it('decodes every line', () => {
    expect(out.filter((e) => e.type === 'rejected')).toEqual([]);
  });

  it('TCP handshake through the veth', () => {
    const syn = hopsOut.find((h) => h.packet.l4.proto === 'tcp' && h.packet.l4.flags === 'S')!;
    const synAck = hopsOut.find((h) => h.packet.l4.proto === 'tcp' && h.packet.l4.flags === 'S.')!;
    expect(syn).toMatchObject({ hook: 'xmit', dev: 'aB', packet: { src: '10.213.0.1', dst: '10.213.0.2', len: 60, l4: { dport: 8080, ack: 0 } } });
    expect(synAck).toMatchObject({ hook: 'recv', dev: 'aB', packet: { src: '10.213.0.2', dst: '10.213.0.1', l4: { sport: 8080 } } });
    if (syn.packet.l4.proto !== 'tcp' || synAck.packet.l4.proto !== 'tcp') throw new Error('not tcp');
    expect(synAck.packet.l4.dport).toBe(syn.packet.l4.sport);
    expect(synAck.packet.l4.ack).toBe(syn.packet.l4.seq + 1);
  });

  it('conntrack tuples', () => {
    const h = hopsOut.find((x) => x.ct)!;
    expect(h.ct).toMatchObject({ proto: 'icmp', orig: { src: '10.213.0.1', dst: '10.213.0.2', dport: 0 }, reply: { src: '10.213.0.2', dst: '10.213.0.1' } });
    if (h.packet.l4.proto !== 'icmp') throw new Error('not icmp');
    expect(h.ct!.orig.sport).toBe(h.packet.l4.id);
  });

  it('VXLAN from the kernel and from the replayed capture, IP-in-IP from scapy', () => {
    expect(hopsOut.find((h) => h.dev === 'uA')).toMatchObject({
      packet: { src: '192.168.213.1', dst: '192.168.213.2', l4: { proto: 'udp', dport: 4789 } },
      encap: { kind: 'vxlan', vni: 42, inner: { src: '10.214.0.1', dst: '10.214.0.2', l4: { proto: 'icmp', icmpType: 8 } } },
    });
    // tcpdump: 192.168.203.1.45149 > 192.168.202.1.8472: VXLAN ... vni 100 /
    //          192.168.203.3 > 192.168.203.5: ICMP echo request, id 1292, seq 1
    expect(hopsOut.find((h) => h.packet.l4.proto === 'udp' && h.packet.l4.dport === 8472)).toMatchObject({
      packet: { src: '192.168.203.1', dst: '192.168.202.1', l4: { sport: 45149 } },
      encap: { kind: 'vxlan', vni: 100, inner: { src: '192.168.203.3', dst: '192.168.203.5', l4: { proto: 'icmp', icmpType: 8, id: 1292, seq: 1 } } },
    });
    expect(hopsOut.find((h) => h.encap?.kind === 'ipip')?.encap).toEqual({
      kind: 'ipip',
      inner: { family: 4, src: '10.9.8.7', dst: '10.6.5.4', ipId: 654, ttl: 33, len: 28, l4: { proto: 'icmp', icmpType: 8, code: 0, id: 4242, seq: 7 } },
    });
  });

  it('IPv6 neighbour solicitation and the NETFILTER drop', () => {
    expect(hopsOut.find((h) => h.packet.family === 6)).toMatchObject({
      dev: 'aB',
      packet: { src: 'fd00:213::1', dst: 'ff02::1:ff00:2', ttl: 255, l4: { proto: 'icmp', icmpType: 135 } },
    });
    expect(out.find((e) => e.type === 'drop' && e.reasonCode === 12)).toMatchObject({ reason: 'NETFILTER_DROP', dev: 'br0', location: 'nft_do_chain' });
  });
});

describe('NAT lines (kprobe probe set)', () => {
  // Not attachable on the development kernel; this pins the field packing documented in
  // bpf/nat-kprobe.bt.tmpl: mtype|proto<<8, orig saddr|daddr<<32, orig ports|reply saddr<<32,
  // reply daddr|reply ports<<32, all little-endian reads of network-order bytes.
  it('decodes a DNAT rewrite', () => {
    const le = (a: number[]): number => (a[0]! | (a[1]! << 8) | (a[2]! << 16) | (a[3]! << 24)) >>> 0;
    const pair = (lo: number, hi: number): string => ((BigInt(hi) << 32n) | BigInt(lo)).toString(16);
    const port = (p: number): number => ((p & 0xff) << 8) | (p >> 8);
    const line = [
      'N', (123456789).toString(16), (4026532177).toString(16), 'ffff888100001000', (1 | (6 << 8)).toString(16),
      pair(le([10, 244, 1, 2]), le([10, 96, 0, 10])),
      pair(port(40000) | (port(80) << 16), le([10, 244, 2, 2])),
      pair(le([10, 244, 1, 2]), port(8080) | (port(40000) << 16)),
    ].join(' ');
    expect(createDecoder({ reasonNames: reasons }).decode(line)).toEqual({
      type: 'nat', seq: 1, tsNs: 123456789, netns: 4026532177, skb: 'ffff888100001000', manip: 'dst',
      ct: { proto: 'tcp', orig: { src: '10.244.1.2', dst: '10.96.0.10', sport: 40000, dport: 80 }, reply: { src: '10.244.2.2', dst: '10.244.1.2', sport: 8080, dport: 40000 } },
    });
  });
});
