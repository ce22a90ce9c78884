// The pcapng writer on hops the lab cannot make here (IP-in-IP: this kernel has no ipip; IPv6;
// ICMP), read back by the real tshark. The lab's own journeys are checked in
// test/export-pcapng.test.ts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Hop, IpPacket, Journey } from '../protocol/events.ts';
import { journeysToPcapng } from './pcapng.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopscope-pcapng-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tshark(bytes: Uint8Array, fields: string[]): string[][] {
  const f = join(dir, `${fields.length}-${Math.random()}.pcapng`);
  writeFileSync(f, bytes);
  const out = execFileSync('tshark', ['-r', f, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((x) => ['-e', x])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.trim().split('\n').map((l) => l.split('\t'));
}

const hop = (kind: Hop['kind'], packet: IpPacket, extra: Partial<Hop> = {}): Hop => ({
  kind,
  tsNs: 5_000_000_123,
  deltaNs: 0,
  hook: 'xmit',
  netns: 4026531993,
  where: { node: 'node-1', label: 'node-1' },
  dev: 'eth0',
  ifindex: 2,
  packet,
  ...extra,
});
const journey = (hops: Hop[]): Journey => ({ type: 'journey', id: 'j1', fingerprint: 'f', verdict: 'delivered', startNs: 0, endNs: 0, proto: 'tcp', src: { ip: '1.1.1.1' }, dst: { ip: '2.2.2.2' }, hops });

describe('pcapng writer, read by tshark', () => {
  it('IP-in-IP: protocol 4 outer node addresses around the inner TCP packet', () => {
    const inner: IpPacket = { family: 4, src: '10.244.1.2', dst: '10.244.2.2', ipId: 5, ttl: 63, len: 60, l4: { proto: 'tcp', sport: 41000, dport: 8080, flags: 'S', seq: 4000000000, ack: 0 } };
    const outer: IpPacket = { family: 4, src: '10.0.0.1', dst: '10.0.0.2', ipId: 9, ttl: 64, len: 80, l4: { proto: 'other', number: 4 } };
    const { bytes } = journeysToPcapng([journey([hop('underlay', outer, { encap: { kind: 'ipip', inner } })])]);
    const [row] = tshark(bytes, ['frame.interface_name', 'ip.proto', 'ip.src', 'ip.dst', 'tcp.seq_raw', 'tcp.flags', 'frame.len']);
    expect(row).toEqual(['node-1/eth0', '4,6', '10.0.0.1,10.244.1.2', '10.0.0.2,10.244.2.2', '4000000000', '0x0002', '94']);
  });

  it('IPv6 TCP and ICMPv6, ICMP echo, and UDP with the kernel-time stamp and a direction', () => {
    const v6: IpPacket = { family: 6, src: 'fd00:10:244:1::2', dst: 'fd00::a', ipId: 0, ttl: 64, len: 80, l4: { proto: 'tcp', sport: 5000, dport: 80, flags: 'FP.', seq: 7, ack: 9 } };
    const icmp6: IpPacket = { family: 6, src: '::ffff:10.0.0.1', dst: 'fe80::1', ipId: 0, ttl: 255, len: 64, l4: { proto: 'icmp', icmpType: 128, code: 0, id: 3, seq: 4 } };
    const icmp: IpPacket = { family: 4, src: '10.244.1.2', dst: '10.244.2.2', ipId: 1, ttl: 64, len: 84, l4: { proto: 'icmp', icmpType: 8, code: 0, id: 77, seq: 5 } };
    const udp: IpPacket = { family: 4, src: '10.244.1.2', dst: '10.96.0.10', ipId: 2, ttl: 64, len: 70, l4: { proto: 'udp', sport: 5353, dport: 53 } };
    const pod = { pod: { namespace: 'kube-system', name: 'coredns' }, label: 'coredns (kube-system)' };
    const { bytes, summary } = journeysToPcapng([
      journey([hop('pod-egress', v6, { where: pod, netns: 99 }), hop('deliver', icmp6, { tsNs: 5_000_000_200, hook: 'recv' }), hop('route', icmp, { tsNs: 5_000_000_300 }), hop('route', udp, { tsNs: 5_000_000_400 })]),
    ]);
    expect(summary).toEqual({ interfaces: 2, packets: 4, journeys: 1 });
    const rows = tshark(bytes, ['frame.interface_name', 'frame.time_epoch', 'ipv6.src', 'ipv6.dst', 'tcp.flags', 'tcp.ack_raw', 'icmpv6.echo.sequence_number', 'icmp.ident', 'icmp.seq', 'udp.dstport', 'frame.comment']);
    expect(rows.map((r) => r.slice(0, 10))).toEqual([
      ['kube-system/coredns/eth0', '5.000000123', 'fd00:10:244:1::2', 'fd00::a', '0x0019', '9', '', '', '', ''],
      ['node-1/eth0', '5.000000200', '::ffff:10.0.0.1', 'fe80::1', '', '', '4', '', '', ''],
      ['node-1/eth0', '5.000000300', '', '', '', '', '', '77', '5', ''],
      ['node-1/eth0', '5.000000400', '', '', '', '', '', '', '', '53'],
    ]);
    expect(rows[0]![10]).toBe('journey j1 hop 1/4 pod-egress: coredns (kube-system) eth0');
    const dirs = tshark(bytes, ['frame.packet_flags_direction']).map((r) => r[0]);
    expect(dirs).toEqual(['0x00000002', '0x00000001', '0x00000002', '0x00000002']);
  });

  it('a wall-clock offset moves every timestamp; one device in two namespaces is two interfaces', () => {
    const p: IpPacket = { family: 4, src: '10.0.0.1', dst: '10.0.0.2', ipId: 1, ttl: 64, len: 40, l4: { proto: 'udp', sport: 1, dport: 2 } };
    const { bytes } = journeysToPcapng([journey([hop('underlay', p), hop('underlay', p, { netns: 42, tsNs: 5_000_000_124 })])], { wallOffsetNs: 1_700_000_000_000_000_000n });
    const rows = tshark(bytes, ['frame.time_epoch', 'frame.interface_name']);
    expect(rows).toEqual([
      ['1700000005.000000123', 'node-1/eth0'],
      ['1700000005.000000124', 'node-1/eth0 (netns 42)'],
    ]);
  });

  it('refuses an address that is not one, naming it', () => {
    const bad: IpPacket = { family: 4, src: '10.0.0.300', dst: '10.0.0.2', ipId: 1, ttl: 64, len: 40, l4: { proto: 'udp', sport: 1, dport: 2 } };
    expect(() => journeysToPcapng([journey([hop('route', bad)])])).toThrow('not an IPv4 address: "10.0.0.300"');
  });
});
