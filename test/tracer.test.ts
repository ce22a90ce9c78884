// The tracer on the real kernel: real bpftrace, real network namespaces built here (unique
// names, removed in afterAll), real packets (ping, curl, tcpdump's VXLAN captures replayed
// with tcpreplay, an IP-in-IP packet built with scapy). One tracer for the whole file; the
// filter/sampling and restart tests reuse it (each bpftrace start compiles for seconds).
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DropEvent, GapEvent, HopEvent, SampledEvent, TraceEvent } from '../agent/src/protocol/events.ts';
import { DEFAULT_KERNEL_FILTER, type Cidr, type KernelFilter } from '../agent/src/tracer/kernel-filter.ts';
import { renderProgram } from '../agent/src/tracer/program.ts';
import { startTracer, type Tracer } from '../agent/src/tracer/runner.ts';
import { addNetns, deleteNetns, ip, sh, vethPair } from './netns-helpers.ts';

const FIXTURES = new URL('./fixtures/tcpdump/', import.meta.url).pathname;
const P = `hstr${process.pid.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
const NS = { a: `${P}a`, b: `${P}b`, c: `${P}c`, r: `${P}r` };
const inode: Record<keyof typeof NS, number> = { a: 0, b: 0, c: 0, r: 0 };

const inNs = (ns: string, ...args: string[]): string => sh('ip', ['netns', 'exec', ns, ...args]);

const events: TraceEvent[] = [];
/** The last event's seq when each bpftrace run started (a filter change starts one). */
const runStarts: number[] = [];
let tracer: Tracer;
let server: ResultPromise | undefined;

const hops = (): HopEvent[] => events.filter((e): e is HopEvent => e.type === 'hop');
const since = (seq: number): TraceEvent[] => events.filter((e) => e.seq > seq);
const lastSeq = (): number => events.at(-1)?.seq ?? 0;
/** Each flush line's kernel time, and the last event handed over before it. */
const flushes: { ns: number; afterSeq: number }[] = [];

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Sampler-reported printed lines and decoded hop lines among the events numbered (from, to]. */
function countRun(from: number, to: number): { printed: number; hops: number } {
  let printed = 0;
  let hopLines = 0;
  for (const e of since(from)) {
    if (e.seq > to) break;
    if (e.type === 'sampled') printed += e.printed;
    else if (e.type === 'hop') hopLines++;
  }
  return { printed, hops: hopLines };
}

/**
 * The sampler reports of the current bpftrace run account for every hop line it printed: their
 * `printed` adds up to the hops decoded since the run started (nothing is lost at these rates).
 * Reports lag the lines they count by up to a report interval, so this waits for them.
 */
async function expectReportsCountEveryHop(): Promise<void> {
  const from = runStarts.at(-1)!;
  const count = (): { printed: number; hops: number } => countRun(from, Infinity);
  await waitFor('reports counting every printed hop', () => {
    const c = count();
    return c.hops > 0 && c.printed === c.hops;
  }, 5000).catch(() => undefined);
  const c = count();
  expect(c.printed, `reported printed vs hop lines decoded in this run (${c.hops})`).toBe(c.hops);
}

function setup(): void {
  const inodes = addNetns(Object.values(NS));
  (Object.keys(NS) as (keyof typeof NS)[]).forEach((k, i) => (inode[k] = inodes[i]!));
  // A <-> B over a veth; B's end is a bridge port (br0 holds B's address).
  vethPair({ ns: NS.a, dev: 'aB', addr: '10.213.0.1/24' }, { ns: NS.b, dev: 'bA', addr: '10.213.0.2/24' }, 'br0');
  ip('-n', NS.a, 'addr', 'add', 'fd00:213::1/64', 'dev', 'aB', 'nodad');
  ip('-n', NS.b, 'addr', 'add', 'fd00:213::2/64', 'dev', 'br0', 'nodad');
  // A "Service" address DNATed by B to its own port 8080, and a dropped UDP port.
  ip('-n', NS.a, 'route', 'add', '10.213.1.0/24', 'via', '10.213.0.2');
  inNs(NS.b, 'iptables', '-t', 'nat', '-A', 'PREROUTING', '-d', '10.213.1.100', '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', '10.213.0.2:8080');
  inNs(NS.b, 'iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '9999', '-j', 'DROP');
  // A <-> C underlay with a VXLAN overlay (VNI 42, port 4789).
  vethPair({ ns: NS.a, dev: 'uA', addr: '192.168.213.1/24' }, { ns: NS.c, dev: 'uC', addr: '192.168.213.2/24' });
  ip('-n', NS.a, 'link', 'add', 'vxA', 'type', 'vxlan', 'id', '42', 'local', '192.168.213.1', 'remote', '192.168.213.2', 'dstport', '4789', 'dev', 'uA');
  ip('-n', NS.c, 'link', 'add', 'vxC', 'type', 'vxlan', 'id', '42', 'local', '192.168.213.2', 'remote', '192.168.213.1', 'dstport', '4789', 'dev', 'uC');
  ip('-n', NS.a, 'addr', 'add', '10.214.0.1/24', 'dev', 'vxA');
  ip('-n', NS.c, 'addr', 'add', '10.214.0.2/24', 'dev', 'vxC');
  ip('-n', NS.a, 'link', 'set', 'vxA', 'up');
  ip('-n', NS.c, 'link', 'set', 'vxC', 'up');
  // R: a veth pair to replay captured packets onto.
  ip('-n', NS.r, 'link', 'add', 'r0', 'type', 'veth', 'peer', 'name', 'r1');
  ip('-n', NS.r, 'link', 'set', 'r0', 'up');
  ip('-n', NS.r, 'link', 'set', 'r1', 'up');
}

const teardown = (): void => deleteNetns(Object.values(NS));

const filterAll = (): KernelFilter => ({ ...DEFAULT_KERNEL_FILTER, netns: Object.values(inode) });

beforeAll(async () => {
  teardown();
  setup();
  server = execa('ip', ['netns', 'exec', NS.b, '/usr/bin/python3', '-m', 'http.server', '8080', '--bind', '10.213.0.2'], { stdio: 'ignore', reject: false });
  // HOPSCOPE_RECORD_LINES=<file> keeps the raw bpftrace lines (to refresh decoder fixtures).
  const record = process.env.HOPSCOPE_RECORD_LINES;
  tracer = await startTracer({
    filter: filterAll(),
    onEvent: (e) => events.push(e),
    onStatus: (st) => {
      if (st.state === 'starting') runStarts.push(lastSeq());
    },
    onLine: record ? (l) => appendFileSync(record, `${l}\n`) : undefined,
    onFlush: (ns) => flushes.push({ ns, afterSeq: lastSeq() }),
  });
  // The HTTP server must be listening before the TCP tests.
  await waitFor('http server', () => {
    try {
      return inNs(NS.b, 'ss', '-ltn').includes('10.213.0.2:8080');
    } catch {
      return false;
    }
  });
}, 90_000);

afterAll(async () => {
  await tracer?.stop();
  if (server?.pid) {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  teardown();
});

describe('tracer on real namespaces', () => {
  it('chooses tracepoints on this kernel', () => {
    expect(tracer.probeSet).toBe('tracepoints');
  });

  it('decodes a ping through veth and bridge with netns, devices and kinds', async () => {
    const from = lastSeq();
    inNs(NS.a, 'ping', '-c', '1', '-W', '2', '10.213.0.2');
    const isReq = (h: HopEvent): boolean => h.packet.src === '10.213.0.1' && h.packet.dst === '10.213.0.2' && h.packet.l4.proto === 'icmp' && h.packet.l4.icmpType === 8;
    const out = await waitFor('echo request leaving A', () => hops().find((h) => h.seq > from && isReq(h) && h.netns === inode.a && h.hook === 'xmit'));
    expect(out.dev).toBe('aB');
    const inB = await waitFor('echo request on bA', () => hops().find((h) => h.seq > from && isReq(h) && h.netns === inode.b && h.dev === 'bA' && h.hook === 'recv'));
    // The same skb crosses the veth into the other namespace.
    expect(inB.skb).toBe(out.skb);
    await waitFor('request on br0', () => hops().find((h) => h.seq > from && isReq(h) && h.netns === inode.b && h.dev === 'br0'));
    const reply = await waitFor('echo reply leaving br0', () =>
      hops().find((h) => h.seq > from && h.netns === inode.b && h.dev === 'br0' && h.hook === 'xmit' && h.packet.l4.proto === 'icmp' && h.packet.l4.icmpType === 0));
    expect(reply.packet).toMatchObject({ family: 4, src: '10.213.0.2', dst: '10.213.0.1', ttl: 64, len: 84 });
    if (reply.packet.l4.proto !== 'icmp' || out.packet.l4.proto !== 'icmp') throw new Error('not icmp');
    expect(reply.packet.l4.id).toBe(out.packet.l4.id);
    expect(reply.packet.l4.seq).toBe(1);
    const devs = events.filter((e) => e.type === 'device');
    const br0 = devs.find((d) => d.netns === inode.b && d.dev === 'br0');
    expect(br0).toMatchObject({ kind: 'bridge', masterIfindex: 0 });
    expect(devs.find((d) => d.netns === inode.b && d.dev === 'bA')).toMatchObject({ kind: 'veth', masterIfindex: br0!.ifindex });
    expect(devs.find((d) => d.netns === inode.a && d.dev === 'aB')).toMatchObject({ kind: 'veth', masterIfindex: 0 });
  });

  it('times each flush on the events\' clock: the stream\'s progress, for the idle time-out', async () => {
    const from = lastSeq();
    inNs(NS.a, 'ping', '-c', '1', '-W', '2', '10.213.0.2');
    const reply = await waitFor('echo reply back on aB', () =>
      hops().find((h) => h.seq > from && h.netns === inode.a && h.dev === 'aB' && h.hook === 'recv' && h.packet.l4.proto === 'icmp' && h.packet.l4.icmpType === 0));
    const next = await waitFor('a flush after the reply was read', () => flushes.find((f) => f.afterSeq >= reply.seq));
    // Printed ~every 100 ms by the kernel, after the lines it flushes (less a poll's worth of
    // another CPU's lines): on the hops' clock, just past the reply.
    expect(next.ns).toBeGreaterThan(reply.tsNs - 200e6);
    expect(next.ns).toBeLessThan(reply.tsNs + 3e9);
    const ns = flushes.map((f) => f.ns);
    expect(ns.length).toBeGreaterThanOrEqual(2);
    expect(ns.every((t, i) => i === 0 || t > ns[i - 1]!)).toBe(true);
  });

  it('decodes IPv6 (ICMPv6 echo)', async () => {
    const from = lastSeq();
    inNs(NS.a, 'ping', '-6', '-c', '1', '-W', '2', 'fd00:213::2');
    const h = await waitFor('IPv6 echo request', () =>
      hops().find((x) => x.seq > from && x.netns === inode.a && x.hook === 'xmit' && x.packet.family === 6 && x.packet.l4.proto === 'icmp' && x.packet.l4.icmpType === 128));
    expect(h.packet).toMatchObject({ family: 6, src: 'fd00:213::1', dst: 'fd00:213::2', ttl: 64, len: 104, l4: { code: 0, seq: 1 } });
    await waitFor('IPv6 echo reply', () =>
      hops().find((x) => x.seq > from && x.netns === inode.a && x.hook === 'recv' && x.packet.family === 6 && x.packet.l4.proto === 'icmp' && x.packet.l4.icmpType === 129 && x.packet.src === 'fd00:213::2'));
  });

  it('decodes a TCP connection: ports, flags, seq/ack', async () => {
    const from = lastSeq();
    inNs(NS.a, 'curl', '-s', '-o', '/dev/null', '--max-time', '5', 'http://10.213.0.2:8080/');
    const tcp = (h: HopEvent) => (h.packet.l4.proto === 'tcp' ? h.packet.l4 : null);
    const syn = await waitFor('SYN', () => hops().find((h) => h.seq > from && h.netns === inode.a && h.hook === 'xmit' && tcp(h)?.flags === 'S' && tcp(h)?.dport === 8080));
    const synAck = await waitFor('SYN-ACK', () => hops().find((h) => h.seq > from && h.netns === inode.a && h.hook === 'recv' && tcp(h)?.flags === 'S.' && tcp(h)?.sport === 8080));
    expect(syn.packet.src).toBe('10.213.0.1');
    expect(tcp(synAck)!.dport).toBe(tcp(syn)!.sport);
    expect(tcp(synAck)!.ack).toBe((tcp(syn)!.seq + 1) >>> 0);
    await waitFor('FIN', () => hops().find((h) => h.seq > from && (tcp(h)?.flags.includes('F') ?? false)));
  });

  it('shows conntrack DNAT tuples', async () => {
    const from = lastSeq();
    inNs(NS.a, 'curl', '-s', '-o', '/dev/null', '--max-time', '5', 'http://10.213.1.100/');
    // The reply leaves B's bridge already reverse-NATed, with the conntrack entry attached.
    const h = await waitFor('reply with ct', () =>
      hops().find((x) => x.seq > from && x.netns === inode.b && x.hook === 'xmit' && x.ct !== undefined && x.ct.orig.dst === '10.213.1.100'));
    expect(h.ct).toMatchObject({
      proto: 'tcp',
      orig: { src: '10.213.0.1', dst: '10.213.1.100', dport: 80 },
      reply: { src: '10.213.0.2', dst: '10.213.0.1', sport: 8080 },
    });
    expect(h.ct!.reply.dport).toBe(h.ct!.orig.sport);
    expect(h.packet).toMatchObject({ src: '10.213.1.100', dst: '10.213.0.1', l4: { proto: 'tcp', sport: 80 } });
  });

  it('reports an iptables DROP with the kernel reason name', async () => {
    const from = lastSeq();
    inNs(NS.a, 'bash', '-c', 'echo hi > /dev/udp/10.213.0.2/9999');
    const d = await waitFor('drop', () => events.find((e): e is DropEvent => e.seq > from && e.type === 'drop' && e.netns === inode.b && e.reason === 'NETFILTER_DROP'));
    expect(d.reasonCode).toBeGreaterThan(0);
    expect(d.dev).toBe('br0');
    // iptables-nft drops inside nft_do_chain; legacy iptables in ipt_do_table / nf_hook_slow.
    expect(d.location).toMatch(/^(nft_do_chain|ipt_do_table|nf_hook_slow)/);
    // The dropped skb was followed from A.
    expect(hops().some((h) => h.skb === d.skb && h.netns === inode.a && h.packet.l4.proto === 'udp')).toBe(true);
  });

  it('decodes VXLAN: outer headers, VNI and the inner packet', async () => {
    const from = lastSeq();
    inNs(NS.a, 'ping', '-c', '1', '-W', '2', '10.214.0.2');
    const u = await waitFor('encapsulated request on the underlay', () =>
      hops().find((h) => h.seq > from && h.netns === inode.a && h.dev === 'uA' && h.hook === 'xmit' && h.encap?.kind === 'vxlan' && h.encap.inner.l4.proto === 'icmp' && h.encap.inner.l4.icmpType === 8));
    expect(u.packet).toMatchObject({ src: '192.168.213.1', dst: '192.168.213.2', l4: { proto: 'udp', dport: 4789 } });
    expect(u.encap).toMatchObject({ kind: 'vxlan', vni: 42, inner: { src: '10.214.0.1', dst: '10.214.0.2', l4: { proto: 'icmp', icmpType: 8, seq: 1 } } });
    // On the VXLAN device itself the packet is still the inner one.
    // NOTE: the echo request, not the first packet on vxA: the device's own IPv6 multicast
    // (an MLD report to ff02::16) can pass it in the same moment (one clean-clone run took it).
    const vx = await waitFor('request on vxA', () =>
      hops().find((h) => h.seq > from && h.netns === inode.a && h.dev === 'vxA' && h.packet.l4.proto === 'icmp' && h.packet.l4.icmpType === 8));
    expect(vx.encap).toBeUndefined();
    expect(vx.packet).toMatchObject({ src: '10.214.0.1', dst: '10.214.0.2' });
    expect(events.find((e) => e.type === 'device' && e.netns === inode.a && e.dev === 'vxA')).toMatchObject({ kind: 'vxlan' });
  });

  for (const file of ['vxlan', 'vxlan_port_8472']) {
    it(`decodes tcpdump's ${file}.pcap as tcpdump does`, async () => {
      // tcpdump's own decoding is the oracle: outer line then inner line, inner ICMP echoes only.
      const lines = readFileSync(`${FIXTURES}${file}.out`, 'utf8').split('\n');
      const expected: string[] = [];
      for (let i = 0; i + 1 < lines.length; i++) {
        const o = /: (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): VXLAN, .* vni (\d+)$/.exec(lines[i]!);
        const n = /: (\d+\.\d+\.\d+\.\d+) > (\d+\.\d+\.\d+\.\d+): ICMP echo (request|reply), id (\d+), seq (\d+)/.exec(lines[i + 1]!);
        if (o && n) expected.push([...o.slice(1), ...n.slice(1)].join(' '));
      }
      expect(expected.length).toBe(8);
      const from = lastSeq();
      inNs(NS.r, 'tcpreplay', '-q', '-t', '-i', 'r0', `${FIXTURES}${file}.pcap`);
      const seen = (): string[] =>
        hops()
          .filter((h) => h.seq > from && h.netns === inode.r && h.dev === 'r0' && h.hook === 'xmit' && h.encap?.kind === 'vxlan')
          .map((h) => {
            const e = h.encap!;
            if (h.packet.l4.proto !== 'udp' || e.kind !== 'vxlan' || e.inner.l4.proto !== 'icmp') return 'not udp/icmp';
            const t = e.inner.l4.icmpType === 8 ? 'request' : e.inner.l4.icmpType === 0 ? 'reply' : String(e.inner.l4.icmpType);
            return [h.packet.src, h.packet.l4.sport, h.packet.dst, h.packet.l4.dport, e.vni, e.inner.src, e.inner.dst, t, e.inner.l4.id, e.inner.l4.seq].join(' ');
          });
      await waitFor('all replayed VXLAN packets', () => seen().length >= expected.length);
      expect(seen()).toEqual(expected);
    });
  }

  it('decodes an IP-in-IP packet built with scapy', async () => {
    const from = lastSeq();
    const py = [
      'from scapy.all import Ether, IP, ICMP, sendp',
      "p = Ether()/IP(src='192.0.2.1', dst='192.0.2.2', proto=4, id=321)/IP(src='10.9.8.7', dst='10.6.5.4', id=654, ttl=33)/ICMP(type=8, id=4242, seq=7)",
      "sendp(p, iface='r0', verbose=0)",
    ].join('\n');
    // Debian's python3 (python3-scapy), not whatever python3 is first on PATH.
    inNs(NS.r, '/usr/bin/python3', '-c', py);
    const h = await waitFor('ipip packet', () => hops().find((x) => x.seq > from && x.netns === inode.r && x.dev === 'r0' && x.encap?.kind === 'ipip'));
    expect(h.packet).toMatchObject({ src: '192.0.2.1', dst: '192.0.2.2', ipId: 321, l4: { proto: 'other', number: 4 } });
    expect(h.encap).toEqual({
      kind: 'ipip',
      inner: { family: 4, src: '10.9.8.7', dst: '10.6.5.4', ipId: 654, ttl: 33, len: 28, l4: { proto: 'icmp', icmpType: 8, code: 0, id: 4242, seq: 7 } },
    });
  });

  it('filters in the kernel and samples: first N per flow and hop, the rest counted', async () => {
    await tracer.setFilter({
      ...DEFAULT_KERNEL_FILTER,
      netns: [inode.a, inode.b],
      from: { cidrs: [{ family: 4, bytes: [10, 213, 0, 1], prefix: 32 }], ports: [] },
      proto: 'icmp',
      firstPackets: 3,
      sampleEvery: 0,
    });
    expect(events.at(-1)).toMatchObject({ type: 'gap', reason: 'filter changed (bpftrace restarted)' });
    const from = lastSeq();
    // Outside the filter: TCP and UDP from A, and ICMP on the VXLAN overlay... which is
    // from 10.214.0.1, not 10.213.0.1.
    inNs(NS.a, 'curl', '-s', '-o', '/dev/null', '--max-time', '2', 'http://10.213.0.2:8080/');
    inNs(NS.a, 'ping', '-c', '1', '-W', '2', '10.214.0.2');
    inNs(NS.a, 'ping', '-c', '12', '-i', '0.02', '-W', '2', '10.213.0.2');
    const sampled = await waitFor('sampler report with suppressed packets', () => {
      const s = since(from).filter((e): e is SampledEvent => e.type === 'sampled');
      const sup = s.reduce((n, e) => n + e.suppressed, 0);
      return sup >= 9 * 4 ? s : undefined;
    }, 8000);
    const hs = since(from).filter((e): e is HopEvent => e.type === 'hop');
    expect(hs.filter((h) => h.packet.l4.proto !== 'icmp')).toEqual([]);
    expect(hs.filter((h) => h.packet.src === '10.214.0.1' || h.packet.dst === '10.214.0.2' || h.netns === inode.c)).toEqual([]);
    const reqsOut = hs.filter((h) => h.netns === inode.a && h.hook === 'xmit' && h.packet.l4.proto === 'icmp' && h.packet.l4.icmpType === 8);
    expect(reqsOut.map((h) => (h.packet.l4.proto === 'icmp' ? h.packet.l4.seq : -1))).toEqual([1, 2, 3]);
    // Each of the 4 hops of each direction prints 3 and suppresses 9: the same packets everywhere.
    const reqsB = hs.filter((h) => h.netns === inode.b && h.dev === 'bA' && h.packet.l4.proto === 'icmp' && h.packet.l4.icmpType === 8);
    expect(reqsB.map((h) => h.skb)).toEqual(reqsOut.map((h) => h.skb));
    expect(sampled.reduce((n, e) => n + e.printed, 0)).toBeGreaterThanOrEqual(3 * 6);
    await expectReportsCountEveryHop();
  });

  it('carries "count, don\'t print" from device to device: the same packets at every hop, over a bridge and through VXLAN', async () => {
    // Hop lines printed just before a filter change are counted by the stopped run's last
    // report (its END): the run that ends here reports every line it printed. (A new ping is a
    // new flow, so its first packets are printed.)
    inNs(NS.a, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.213.0.2');
    // No address filter and a closed set of namespaces (these four link only to each other):
    // the program renders its carried decision (CARRY 1), and a packet counted at its first
    // device is counted at the next ones from a note, without deciding again.
    await tracer.setFilter({ ...DEFAULT_KERNEL_FILTER, netns: [inode.a, inode.b, inode.c, inode.r], netnsClosed: true, firstPackets: 3, sampleEvery: 4 });
    const ended = countRun(runStarts.at(-2)!, runStarts.at(-1)!);
    expect(ended.printed, `the ended run's reports vs its hop lines (${ended.hops})`).toBe(ended.hops);
    const from = lastSeq();
    const N = 40;
    inNs(NS.a, 'ping', '-c', String(N), '-i', '0.01', '-W', '2', '10.213.0.2');
    inNs(NS.a, 'ping', '-c', String(N), '-i', '0.01', '-W', '2', '10.214.0.2');
    const flows = [
      { a: '10.213.0.1', b: '10.213.0.2', minHops: 3 },
      { a: '10.214.0.1', b: '10.214.0.2', minHops: 4 }, // vxA, uA (outer), uC (outer), vxC (decapsulated)
    ];
    // Per flow and direction, each hop's printed echo seqs; the packet is the inner one when encapsulated.
    const printed = (): Map<string, number[]>[] =>
      flows.map((f) => {
        const at = new Map<string, number[]>();
        for (const h of since(from)) {
          if (h.type !== 'hop') continue;
          const p = h.encap?.inner ?? h.packet;
          if (p.l4.proto !== 'icmp' || !((p.src === f.a && p.dst === f.b) || (p.src === f.b && p.dst === f.a))) continue;
          const key = `${p.l4.icmpType === 8 ? 'request' : 'reply'} ${h.netns} ${h.dev} ${h.hook}`;
          if (!at.has(key)) at.set(key, []);
          at.get(key)!.push(p.l4.seq);
          if (p.l4.seq > 3) expect(p.ipId % 4, `${key} seq ${p.l4.seq}: printed past the first 3, so its IP id is sampled`).toBe(0);
        }
        return at;
      });
    // Every packet not printed is counted at each hop it crosses.
    const bound = (): number =>
      printed().reduce((n, at, i) => {
        for (const dir of ['request', 'reply']) {
          const lists = [...at].filter(([k]) => k.startsWith(dir)).map(([, v]) => v);
          n += (N - (lists[0]?.length ?? N)) * Math.max(lists.length, flows[i]!.minHops);
        }
        return n;
      }, 0);
    const suppressed = (): number => since(from).reduce((n, e) => n + (e.type === 'sampled' ? e.suppressed : 0), 0);
    await waitFor('sampler reports counting every packet not printed, at every hop', () => suppressed() >= bound() && bound() > 0, 8000);
    for (const [i, at] of printed().entries()) {
      for (const dir of ['request', 'reply']) {
        const lists = [...at].filter(([k]) => k.startsWith(dir));
        expect(lists.length, `${flows[i]!.b} ${dir}: hops`).toBeGreaterThanOrEqual(flows[i]!.minHops);
        const first = lists[0]![1];
        expect(first.slice(0, 3), `${flows[i]!.b} ${dir}`).toEqual([1, 2, 3]);
        expect(first.length, `${flows[i]!.b} ${dir}: some sampled past the first 3`).toBeGreaterThan(3);
        expect(first.length).toBeLessThan(N);
        // The same packets at every hop: none lost after being counted, none half-followed.
        for (const [k, seqs] of lists) expect(seqs, k).toEqual(first);
      }
    }
    // A new run after the last one printed fewer lines: its reports start from its own totals.
    await expectReportsCountEveryHop();
  });

  it('restarts bpftrace killed with SIGKILL within 2 s, reports the gap, leaves no orphan', async () => {
    const old = tracer.pid();
    expect(old).not.toBeNull();
    const from = lastSeq();
    const killedAt = Date.now();
    process.kill(old!, 'SIGKILL');
    const fresh = await waitFor('a new bpftrace', () => {
      const p = tracer.pid();
      return p !== null && p !== old ? p : undefined;
    }, 2000);
    expect(Date.now() - killedAt).toBeLessThan(2000);
    expect(() => process.kill(old!, 0)).toThrow();
    expect(sh('ps', ['-o', 'comm=', '-p', String(fresh)]).trim()).toBe('bpftrace');
    const gap = await waitFor('gap event', () => since(from).find((e): e is GapEvent => e.type === 'gap'), 30_000);
    expect(gap.reason).toMatch(/SIGKILL/);
    expect(gap.fromMs).toBeGreaterThanOrEqual(killedAt);
    expect(gap.toMs).toBeGreaterThan(gap.fromMs);
    expect(tracer.stats().restarts).toBe(1);
    await tracer.stop();
    expect(() => process.kill(fresh, 0)).toThrow();
  });
});

describe('kprobe program variant', () => {
  it('compiles against this kernel BTF (bpftrace --emit-elf, not attached), within the 512-byte stack for the filters users give', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hopscope-elf-'));
    const v4 = (b: number[]): Cidr => ({ family: 4, bytes: b, prefix: 32 });
    // A pod to a Service with its backends on two ports: the widest filter `--to svc/...` makes.
    const svc: KernelFilter = {
      ...DEFAULT_KERNEL_FILTER,
      netns: [1, 2, 3, 4, 5, 6],
      from: { cidrs: [v4([10, 244, 1, 5])], ports: [] },
      to: { cidrs: [v4([10, 96, 0, 10]), ...[7, 8, 9, 10, 11, 12, 13].map((x) => v4([10, 244, 2, x]))], ports: [80, 8080] },
    };
    const filters: [string, KernelFilter, 'kprobes' | 'tracepoints'][] = [
      ['default, kprobes', DEFAULT_KERNEL_FILTER, 'kprobes'],
      ['a lab: carried decisions and the print budget', { ...DEFAULT_KERNEL_FILTER, netns: [1, 2, 3], netnsClosed: true }, 'tracepoints'],
      ['pod to Service, sampled', svc, 'tracepoints'],
      ['pod to Service, every packet', { ...svc, everyPacket: true }, 'kprobes'],
    ];
    try {
      for (const [what, f, probeSet] of filters) {
        const prog = join(dir, 'p.bt');
        const elf = join(dir, 'p.o');
        rmSync(elf, { force: true });
        writeFileSync(prog, renderProgram(f, { probeSet, vxlanPorts: [4789, 8472] }));
        const r = spawnSync('bpftrace', ['--emit-elf', elf, prog], { encoding: 'utf8' });
        expect(r.stderr, what).not.toMatch(/stack limit|error:/);
        expect(existsSync(elf), what).toBe(true);
        expect(readFileSync(elf).subarray(0, 4).toString('latin1'), what).toBe('\x7fELF');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
