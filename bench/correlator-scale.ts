// How the correlator's cost grows with the flows in flight: F flows (10 / 1k / 50k), each with
// one packet open at a time, pushed phase by phase (the first hop of every flow's packet, then
// the second, ... then their frees), so F journeys are open at once, for at least 200k journeys
// per size. The packets cross four devices (pod eth0 out, node veth in and out, pod eth0 in),
// TCP, a new skb and IP id per packet. Printed: journeys/s through push (events built outside
// the timed part), the live heap with F journeys open (after a full GC, minus the heap before
// the size started), and the process RSS at that moment. maxOpen is raised to F (the default
// 4096 would evict the rest, counted).
// Run: `npx tsx bench/correlator-scale.ts [--quick]`.
import { createCorrelator } from '../agent/src/journeys/correlate.ts';
import { fakeIdentity, free, hop, NS, tcp } from '../agent/src/journeys/__tests__/testdata.ts';
import type { TraceEvent } from '../agent/src/protocol/events.ts';
import { heapAfterGc } from '../test/fuzz-helpers.ts';
import { figure, printTable, QUICK, report, sweep, type Figure } from './lib.ts';

const SIZES = [10, 1000, 50_000];
const JOURNEYS = QUICK ? 100_000 : 200_000;
const RUNS = QUICK ? 1 : 3;
const heap = heapAfterGc;

// Device path of every packet: [hook, netns, ifindex, dev].
const PATH = [
  ['xmit', NS.client, 2, 'eth0'],
  ['recv', NS.node1, 7, 'veth1'],
  ['xmit', NS.node1, 8, 'veth2'],
  ['recv', NS.web, 2, 'eth0'],
] as const;

interface Run { journeysPerS: number; heapMB: number; rssMB: number; evicted: number }

function once(flows: number): Run {
  let done = 0;
  const c = createCorrelator({ identity: fakeIdentity(), maxOpen: Math.max(4096, flows), onJourney: () => done++ });
  const base = heap();
  const rounds = Math.ceil(JOURNEYS / flows);
  let ts = 1_000_000_000;
  let skb = 0x100000;
  let busyNs = 0n;
  let heapMB = 0;
  let rssMB = 0;
  // Each flow its own client address (unnamed: the fake identity knows three pods).
  const src = (f: number): string => `10.${100 + (f >> 16)}.${(f >> 8) & 255}.${f & 255}`;
  for (let r = 0; r < rounds; r++) {
    const skbs = Array.from({ length: flows }, () => (skb++).toString(16));
    const pkts = Array.from({ length: flows }, (_, f) => tcp(src(f), 10_000 + (f % 50_000), '10.244.2.3', 8080, { flags: 'A', ipId: (r * 7 + f) & 0xffff, seq: 1000 + r }));
    for (const [hook, netns, ifindex, dev] of PATH) {
      const evs: TraceEvent[] = pkts.map((p, f) => hop((ts += 100), hook, netns, ifindex, dev, skbs[f]!, p));
      const t0 = process.hrtime.bigint();
      for (const e of evs) c.push(e);
      busyNs += process.hrtime.bigint() - t0;
    }
    if (r === 0) {
      heapMB = (heap() - base) / 2 ** 20;
      rssMB = process.memoryUsage().rss / 2 ** 20;
    }
    const frees: TraceEvent[] = skbs.map((s) => free((ts += 100), s));
    const t0 = process.hrtime.bigint();
    for (const e of frees) c.push(e);
    // The pipeline ticks every 100 ms; here once a round (nothing is idle: every journey freed).
    c.tick(ts);
    busyNs += process.hrtime.bigint() - t0;
  }
  const expected = rounds * flows;
  if (done !== expected) throw new Error(`${done} journeys out of ${expected}: ${JSON.stringify(c.stats())}`);
  return { journeysPerS: done / (Number(busyNs) / 1e9), heapMB, rssMB, evicted: c.stats().evicted };
}

const { bySize, detail } = await sweep({
  sizes: SIZES,
  runs: RUNS,
  label: (flows) => `${flows} flows`,
  once,
  line: (flows, r) => `${flows} flows in flight: ${Math.round(r.journeysPerS)} journeys/s, live heap ${r.heapMB.toFixed(1)} MB, RSS ${r.rssMB.toFixed(0)} MB, ${r.evicted} evicted`,
});
const figures: Figure[] = [];
const rows: string[] = [];
for (const { size: flows, runs } of bySize) {
  const f = [
    figure(`journeys/s, ${flows} flows in flight`, 'journeys/s', runs.map((r) => r.journeysPerS)),
    figure(`live heap, ${flows} flows in flight`, 'MB', runs.map((r) => r.heapMB)),
    figure(`RSS, ${flows} flows in flight`, 'MB', runs.map((r) => r.rssMB)),
  ];
  figures.push(...f);
  rows.push(`| ${flows} | ${Math.round(f[0]!.median / 1000)}k | ${f[1]!.median.toFixed(1)} MB | ${f[2]!.median.toFixed(0)} MB |`);
}
printTable(['flows in flight', 'journeys/s (4 hops + free each)', 'live heap with them open', 'process RSS'], rows);
report('correlator-scale', figures, { setup: `${JOURNEYS} journeys per size, ${RUNS} run(s)`, runs: detail });
