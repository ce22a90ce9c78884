// The carried decision under slot collisions, on the real kernel: real bpftrace, two network
// namespaces built here (unique names, removed in afterAll), real packets. The notes table
// (@neg in bpf/datapath.bt.tmpl) has 1024 slots; tracer.test.ts's carried-decision test sends
// too few packets for two of them to meet in one slot, so it passes even when the note's hash
// check is dropped. Here a `ping -f` leaves a note for every packet it sends (counted, never
// printed) while thousands of new UDP flows cross the same devices, each of whose first packet
// must be printed at every hop: a probe that lands on a flood packet's fresh note must not be
// counted from it.
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HopEvent, TraceEvent } from '../agent/src/protocol/events.ts';
import { DEFAULT_KERNEL_FILTER } from '../agent/src/tracer/kernel-filter.ts';
import { startTracer, type Tracer } from '../agent/src/tracer/runner.ts';
import { addNetns, deleteNetns, sh, vethPair } from './netns-helpers.ts';
import { waitFor } from './trace-helpers.ts';

const P = `co${process.pid.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
const NS = { a: `${P}a`, b: `${P}b` };
const A = '10.216.0.1';
const B = '10.216.0.2';
const PROBES = 3000;
const BASE_PORT = 20_000;
// Where a packet from A to B's bridge address is seen: A's veth out, B's bridge port in, the bridge in.
const PATH = ['aB xmit', 'bA recv', 'br0 recv'];
const REPLY_PATH = ['br0 xmit', 'bA xmit', 'aB recv'];

const events: TraceEvent[] = [];
let tracer: Tracer | undefined;

beforeAll(async () => {
  deleteNetns(Object.values(NS));
  const inodes = addNetns(Object.values(NS));
  vethPair({ ns: NS.a, dev: 'aB', addr: `${A}/24` }, { ns: NS.b, dev: 'bA', addr: `${B}/24` }, 'br0');
  // B drops the probes before they would draw port-unreachables (more flows, more output).
  sh('ip', ['netns', 'exec', NS.b, 'iptables', '-A', 'INPUT', '-p', 'udp', '--dport', `${BASE_PORT}:${BASE_PORT + PROBES - 1}`, '-j', 'DROP']);
  // No address filter and a closed set of namespaces: the program renders its carried
  // decision (CARRY 1). The first packet of each flow is printed; no sampling, so every
  // later packet of the flood is counted and leaves a note.
  tracer = await startTracer({
    filter: { ...DEFAULT_KERNEL_FILTER, netns: inodes, netnsClosed: true, firstPackets: 1, sampleEvery: 0 },
    onEvent: (e) => events.push(e),
  });
}, 120_000);

afterAll(async () => {
  await tracer?.stop();
  deleteNetns(Object.values(NS));
});

it('never counts a packet from another packet\'s note: colliding slots under a flood, the first packet of 3000 flows printed at every hop', async () => {
  // Let the attach settle: an arp exchange and one ping, printed (first packets).
  sh('ip', ['netns', 'exec', NS.a, 'ping', '-c', '1', '-W', '2', B]);
  // All six of its hops must be out of bpftrace's buffers before the flood starts, or its echoes
  // would count as the flood's (both have seq 1). Its reply's last hop is not enough: bpftrace
  // reads one buffer per CPU, so the request's hops, printed on the other CPU, can arrive after it.
  const settling = [...PATH.map((w) => `8 ${w}`), ...REPLY_PATH.map((w) => `0 ${w}`)];
  await waitFor('the settling ping\'s six hops', () => {
    const seen = new Set(events.flatMap((e) => (e.type === 'hop' && e.packet.l4.proto === 'icmp' ? [`${e.packet.l4.icmpType} ${e.dev} ${e.hook}`] : [])));
    return settling.every((k) => seen.has(k));
  }, 10_000);
  const from = events.at(-1)?.seq ?? 0;
  const startedAt = Date.now();
  // ~5 s of ping -f (bounded by -w, inside the two namespaces); the probes go out in its middle.
  const flood = execa('ip', ['netns', 'exec', NS.a, 'ping', '-f', '-q', '-w', '5', B], { reject: false, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise((r) => setTimeout(r, 1000));
  // One UDP datagram to each of PROBES ports, 3 per millisecond: each is a new flow.
  const send = `const s=require('node:dgram').createSocket('udp4');let p=${BASE_PORT};const end=${BASE_PORT + PROBES};
    const t=setInterval(()=>{for(let i=0;i<3&&p<end;i++)s.send('x',p++,'${B}');if(p>=end){clearInterval(t);setTimeout(()=>s.close(),200);}},1);`;
  await execa('ip', ['netns', 'exec', NS.a, process.execPath, '-e', send]);
  const fl = await flood;
  expect(fl.exitCode, `ping -f: ${fl.stderr}`).toBe(0);
  // Every printed line is out within a flush and a report.
  await new Promise((r) => setTimeout(r, 2500));
  const seconds = (Date.now() - startedAt) / 1000;

  const got = events.filter((e) => e.seq > from);
  expect(got.filter((e) => e.type === 'lost'), 'bpftrace lost events: the hops missing below would prove nothing').toEqual([]);
  const counted = got.reduce((n, e) => n + (e.type === 'sampled' ? e.suppressed : 0), 0);
  // Collision pressure: each flood packet leaves one note, fresh for 2-3 ms, at its first
  // device, and is counted at each of the 3 devices of its path. With the check dropped, a
  // probe meets a fresh foreign note at each of its 2 later devices with about the
  // probability that its slot holds one. Under a dozen such meetings expected, the flood was
  // too thin for this test to tell.
  const notesPerMs = counted / 3 / (seconds * 1000);
  const expectedMeetings = PROBES * 2 * Math.min(1, (notesPerMs * 2) / 1024);
  expect(expectedMeetings, `flood too thin: ${counted} packets counted in ${seconds.toFixed(1)} s`).toBeGreaterThan(12);

  const hops = got.filter((e): e is HopEvent => e.type === 'hop');
  const where = (h: HopEvent): string => `${h.dev} ${h.hook}`;
  // Each probe's hops: printed at all three devices, once each.
  const probeHops = new Map<number, string[]>();
  for (const h of hops) {
    const l4 = h.packet.l4;
    if (h.packet.src !== A || h.packet.dst !== B || l4.proto !== 'udp' || l4.dport < BASE_PORT || l4.dport >= BASE_PORT + PROBES) continue;
    probeHops.set(l4.dport, [...(probeHops.get(l4.dport) ?? []), where(h)]);
  }
  const incomplete = [...Array(PROBES).keys()]
    .map((i) => [BASE_PORT + i, probeHops.get(BASE_PORT + i) ?? []] as const)
    .filter(([, w]) => w.join(',') !== PATH.join(','));
  expect(incomplete.length, `probes not printed exactly once at each of ${PATH.join(', ')}: ${incomplete.slice(0, 5).map(([p, w]) => `${p}: [${w.join(', ')}]`).join('; ')}`).toBe(0);

  // The flood, both directions: its first packet printed at each hop of its path, every other
  // one counted only, at every hop.
  for (const type of [8, 0]) {
    const seqs = new Map<string, number[]>();
    for (const h of hops) {
      const l4 = h.packet.l4;
      if (l4.proto !== 'icmp' || l4.icmpType !== type) continue;
      seqs.set(where(h), [...(seqs.get(where(h)) ?? []), l4.seq]);
    }
    const path = type === 8 ? PATH : REPLY_PATH;
    expect(Object.fromEntries(seqs), `echo ${type === 8 ? 'requests' : 'replies'} printed`).toEqual(Object.fromEntries(path.map((w) => [w, [1]])));
  }
}, 60_000);
