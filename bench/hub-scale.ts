// How the hub's cost grows with its agents: 2 / 10 / 30 synthetic agents (bench/hub-scale-child.ts:
// websocket servers speaking protocol v1, in pairs of nodes sending the two halves of cross-node
// SYNs) and the real hub source behind the real server, each in its own process; this process
// is the hub's websocket client. The same total offered load at every size (--rate stitched
// journeys/s, split over the pairs). Per size, over --seconds after a warm-up: stitched
// journeys/s received (both lanes, none missing), the latency the hub adds (the half's batch
// sent by its agent → the stitched journey received from the hub; p50/p99), the hub's RSS and
// live heap (after a full GC) at the end, and its CPU per stitched journey.
// Run: `npx tsx bench/hub-scale.ts [--quick] [--rate N] [--seconds S] [--sizes 2,10] [--hub-prof DIR]`.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { bundle } from '../agent/bin/bundle.mjs';
import type { HubScaleChildConfig, HubScaleFromChild, HubScaleToChild } from './hub-scale-child.ts';
import { benchClient, figure, numArg, percentile, printTable, QUICK, report, sleep, sweep, type Figure } from './lib.ts';

const RATE = numArg('--rate', 2000, 100_000);
const SECONDS = numArg('--seconds', QUICK ? 4 : 10, 600);
const WARMUP_S = 3;
const RUNS = QUICK ? 1 : 3;
// Bundled and run under plain Node, as agent/bin/hopscope.mjs runs `hopscope hub` (under tsx
// the hub kept ~100 MB more resident: the loader thread's copy of every module).
const CHILD = await bundle(fileURLToPath(new URL('./hub-scale-child.ts', import.meta.url)));
const MB = 2 ** 20;
const argOf = (name: string): string | undefined => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
/** --hub-prof DIR: the hub runs with --cpu-prof into DIR (read it with bench/cpuprofile-top.ts). */
const HUB_PROF = argOf('--hub-prof');
/** --sizes 2,10: only these agent counts. */
const SIZES_ARG = argOf('--sizes');
const SIZES = (SIZES_ARG ?? '2,10,30').split(',').map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 2 || n > 200 || n % 2 !== 0) throw new Error('--sizes: even agent counts in [2, 200], comma-separated');
  return n;
});

interface Child {
  proc: ChildProcess;
  ask(m: HubScaleToChild): void;
  next<T extends HubScaleFromChild['type']>(type: T): Promise<Extract<HubScaleFromChild, { type: T }>>;
}

function start(role: 'agents' | 'hub', cfg: HubScaleChildConfig): Child {
  const prof = role === 'hub' && HUB_PROF ? ['--cpu-prof', `--cpu-prof-dir=${HUB_PROF}`] : [];
  const proc = fork(CHILD, [role, JSON.stringify(cfg)], { execArgv: prof, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: { type: string; resolve: (m: HubScaleFromChild) => void }[] = [];
  proc.on('message', (m: HubScaleFromChild) => {
    if (m.type === 'error') throw new Error(`${role}: ${m.message}`);
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m);
  });
  return {
    proc,
    ask: (m) => proc.send(m),
    next: (type) => new Promise((resolve) => waiting.push({ type, resolve: resolve as (m: HubScaleFromChild) => void })),
  };
}

interface Run { stitchedPerS: number; p50Ms: number; p99Ms: number; rssMB: number; heapMB: number; cpuUsPerJourney: number; offeredPerS: number; timedOut: number; overflow: number }

async function once(agents: number): Promise<Run> {
  const token = randomBytes(18).toString('base64url');
  const ag = start('agents', { token, agents });
  let hub: Child | undefined;
  let ws: Awaited<ReturnType<typeof benchClient>> | undefined;
  try {
    const { ports } = await ag.next('ready');
    hub = start('hub', { token, agents, ports });
    const [port] = (await hub.next('ready')).ports;
    let measuring = false;
    let stitched = 0;
    let partial = 0;
    const lat: number[] = [];
    ws = await benchClient(port!, token, (m, now) => {
      if (m.type !== 'batch' || !measuring) return;
      for (const j of m.journeys ?? []) {
        const lanes = new Set((j.hops as { agent?: string }[]).map((h) => h.agent));
        if (lanes.size === 2 && !(j as { missingAgents?: string[] }).missingAgents) {
          stitched++;
          lat.push((now - j.startNs) / 1e6);
        } else partial++;
      }
    });
    // Every agent linked before the load starts (the hub reports them in its status).
    await sleep(1500);
    const perPair = RATE / (agents / 2);
    ag.ask({ type: 'start', perPairPerS: perPair });
    await sleep(WARMUP_S * 1000);
    hub.ask({ type: 'memory' });
    const m0 = await hub.next('memory');
    ag.ask({ type: 'memory' });
    const s0 = await ag.next('sent');
    measuring = true;
    const t0 = performance.now();
    await sleep(SECONDS * 1000);
    measuring = false;
    const secs = (performance.now() - t0) / 1000;
    hub.ask({ type: 'memory' });
    const m1 = await hub.next('memory');
    ag.ask({ type: 'memory' });
    const s1 = await ag.next('sent');
    if (partial > 0) console.log(`  ${partial} journeys without both lanes (timed out ${m1.stitch!.timedOut}, overflow ${m1.stitch!.overflow})`);
    return {
      stitchedPerS: stitched / secs,
      offeredPerS: (s1.halves - s0.halves) / 2 / ((s1.atNs - s0.atNs) / 1e9),
      p50Ms: percentile(lat, 50),
      p99Ms: percentile(lat, 99),
      rssMB: m1.memory.rss / MB,
      heapMB: (m1.liveHeap ?? NaN) / MB,
      cpuUsPerJourney: (m1.cpuUs - m0.cpuUs) / Math.max(1, m1.stitch!.stitched - m0.stitch!.stitched),
      timedOut: m1.stitch!.timedOut,
      overflow: m1.stitch!.overflow,
    };
  } finally {
    ws?.close();
    hub?.ask({ type: 'stop' });
    ag.ask({ type: 'stop' });
  }
}

const { bySize, detail } = await sweep({
  sizes: SIZES,
  runs: RUNS,
  label: (agents) => `${agents} agents`,
  once,
  line: (agents, r) =>
    `${agents} agents: ${Math.round(r.stitchedPerS)} stitched/s of ${Math.round(r.offeredPerS)} sent, latency p50 ${r.p50Ms.toFixed(1)} ms p99 ${r.p99Ms.toFixed(1)} ms, ` +
    `hub RSS ${r.rssMB.toFixed(0)} MB live heap ${r.heapMB.toFixed(1)} MB, ${r.cpuUsPerJourney.toFixed(0)} µs CPU per stitched journey`,
  pauseMs: 500,
});
const figures: Figure[] = [];
const rows: string[] = [];
for (const { size: agents, runs } of bySize) {
  const f = {
    rate: figure(`stitched journeys/s, ${agents} agents`, 'journeys/s', runs.map((r) => r.stitchedPerS)),
    p50: figure(`latency added p50, ${agents} agents`, 'ms', runs.map((r) => r.p50Ms)),
    p99: figure(`latency added p99, ${agents} agents`, 'ms', runs.map((r) => r.p99Ms)),
    rss: figure(`hub RSS, ${agents} agents`, 'MB', runs.map((r) => r.rssMB)),
    heap: figure(`hub live heap, ${agents} agents`, 'MB', runs.map((r) => r.heapMB)),
    cpu: figure(`hub CPU per stitched journey, ${agents} agents`, 'µs', runs.map((r) => r.cpuUsPerJourney)),
  };
  figures.push(...Object.values(f));
  rows.push(`| ${agents} | ${Math.round(f.rate.median)} | ${f.p50.median.toFixed(0)} ms / ${f.p99.median.toFixed(0)} ms (${f.p99.min.toFixed(0)}-${f.p99.max.toFixed(0)}) | ${f.rss.median.toFixed(0)} MB | ${f.heap.median.toFixed(1)} MB | ${f.cpu.median.toFixed(0)} µs |`);
}
printTable([`agents`, `stitched journeys/s (${RATE} offered)`, 'latency added p50 / p99', 'hub RSS', 'hub live heap (after GC)', 'hub CPU per stitched journey'], rows);
report('hub-scale', figures, { setup: `${RATE} stitched journeys/s offered, ${SECONDS} s after ${WARMUP_S} s warm-up, ${RUNS} run(s)`, runs: detail });
