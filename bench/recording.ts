// Recordings: bytes per journey on disk (by how many journeys a record holds: the recorder writes
// one record per 100 ms tick, so a quiet trace writes 1 journey a record, a busy one dozens), and
// how long `hopscope open` takes to come up on a 100k-journey recording (the whole CLI, as a user
// starts it: launcher, reading and validating every record, the server listening).
// Journeys: the synthetic ClusterIP call across VXLAN (12 hops, the lab's measured shape), or the
// journeys of a real recording with --from FILE (e.g. one made with `hopscope start --write`).
// Run: `npx tsx bench/recording.ts [--quick] [--from FILE] [--journeys N]` (no root needed); with
// `node --expose-gc --import tsx bench/recording.ts` it also prints the heap the journeys hold.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRecordingFile, RecordingWriter } from '../agent/src/wiring/recording-file.ts';
import { syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';
import type { Journey } from '../agent/src/protocol/events.ts';
import type { AgentStatus, TopologyView } from '../agent/src/protocol/messages.ts';
import { figure, numArg, QUICK, report, type Figure } from './lib.ts';

const N = Math.round(numArg('--journeys', 100_000, 2_000_000));
const RUNS = QUICK ? 2 : 5;
const fromIdx = process.argv.indexOf('--from');
const FROM = fromIdx > 0 ? process.argv[fromIdx + 1] : undefined;

const STATUS: AgentStatus = {
  tracer: 'running',
  probeSet: 'tracepoints',
  bpftraceVersion: '0.17.0',
  sampling: { enabled: true, description: 'first 8 packets per flow and hop, then 1 in 64', suppressed: 0 },
  counters: { eventsIn: 0, journeysOut: 0, lostEvents: 0, bpftraceRestarts: 0, dropped: {}, clients: 1 },
  lab: { name: 'demo', nodes: ['node-1', 'node-2'], cni: 'flannel-vxlan' },
};

const TOPOLOGY: TopologyView = {
  name: 'demo',
  cni: 'flannel-vxlan',
  nodes: [
    { name: 'node-1', address: '10.0.0.1' },
    { name: 'node-2', address: '10.0.0.2' },
  ],
  pods: [],
  services: [],
  externals: [],
  deployments: [],
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hopscope-bench-rec-'));
  try {
    const pool: Journey[] = FROM ? (await readRecordingFile(FROM)).journeys : Array.from({ length: 1000 }, (_, i) => syntheticJourney(i));
    if (pool.length === 0) throw new Error(`${FROM}: no journeys`);
    const journey = (i: number): Journey => ({ ...pool[i % pool.length]!, id: `j${i}` });
    const figures: Figure[] = [];
    const jsonBytes = pool.reduce((a, j) => a + JSON.stringify(j).length + 1, 0) / pool.length;

    // 1. Bytes per journey by records of 1, 10 and 50 journeys (a status record a second, as the recorder writes).
    for (const batch of [1, 10, 50]) {
      const runs: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const path = join(dir, `b${batch}.hsrec`);
        let now = 0;
        const w = new RecordingWriter({ path, source: 'bench', now: () => now });
        const count = 10_000;
        for (let i = 0; i < count; i += batch) {
          now += 100;
          w.journeys(Array.from({ length: batch }, (_, k) => journey(i + k + r)));
          if (now % 1000 === 0) w.status(STATUS);
        }
        w.close('done');
        runs.push(statSync(path).size / count);
      }
      figures.push(figure(`bytes per journey, ${batch} a record`, 'B', runs));
    }

    // 2. A 100k-journey recording (50 a record, a status record a second of recorded time).
    const big = join(dir, 'big.hsrec');
    const t0 = performance.now();
    let now = Date.now();
    const w = new RecordingWriter({ path: big, source: 'bench: 100k journeys', now: () => now });
    w.setTopology(TOPOLOGY, []);
    for (let i = 0; i < N; i += 50) {
      now += 100;
      w.journeys(Array.from({ length: Math.min(50, N - i) }, (_, k) => journey(i + k)));
      if ((i / 50) % 10 === 0) w.status(STATUS);
    }
    w.close('done');
    const writeMs = performance.now() - t0;
    const size = statSync(big).size;

    // 3. Reading it in this process, and `hopscope open` coming up on it.
    const readRuns: number[] = [];
    const heapRuns: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      global.gc?.();
      const h0 = process.memoryUsage().heapUsed;
      const s = performance.now();
      const rec = await readRecordingFile(big);
      readRuns.push(performance.now() - s);
      heapRuns.push((process.memoryUsage().heapUsed - h0) / 2 ** 20);
      if (rec.journeys.length !== N) throw new Error(`read ${rec.journeys.length} of ${N}`);
    }
    figures.push(figure(`read + validate ${N} journeys (in process)`, 'ms', readRuns));
    // Without --expose-gc a collection of the previous run's journeys lands in the middle.
    if (global.gc) figures.push(figure(`heap held by ${N} read journeys`, 'MiB', heapRuns));
    else console.log('(heap held: run with `node --expose-gc --import tsx bench/recording.ts`)');
    const upRuns: number[] = [];
    const allRuns: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const o = await openTimes(big);
      upRuns.push(o.upMs);
      allRuns.push(o.readMs);
    }
    figures.push(figure(`hopscope open on ${N} journeys: serving`, 'ms', upRuns));
    figures.push(figure(`hopscope open on ${N} journeys: all read`, 'ms', allRuns));
    report('recording', figures, {
      journeys: FROM ? `from ${FROM} (${pool.length} distinct, ${pool[0]!.hops.length} hops in the first)` : 'synthetic ClusterIP call across VXLAN, 12 hops',
      jsonBytesPerJourney: Math.round(jsonBytes),
      bigRecording: { journeys: N, bytes: size, bytesPerJourney: Math.round(size / N), writeMs: Math.round(writeMs) },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Start `hopscope open` on a file: time until it serves (prints its URL) and until it has read every journey. */
function openTimes(file: string): Promise<{ upMs: number; readMs: number }> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const p = spawn(process.execPath, ['agent/bin/hopscope.mjs', 'open', '--port', '0', file], { env: { ...process.env, HOPSCOPE_TOKEN: 'bench-token-0123456789abcdef' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let upMs: number | undefined;
    let readMs: number | undefined;
    p.stdout.on('data', (d: Buffer) => {
      if (upMs === undefined && d.toString().includes('hopscope is up')) upMs = performance.now() - t;
    });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (readMs === undefined && /read \d+ journeys/.test(err)) {
        readMs = performance.now() - t;
        p.kill('SIGINT');
      }
    });
    p.once('exit', (c) => (upMs !== undefined && readMs !== undefined ? resolve({ upMs, readMs }) : reject(new Error(`open exited ${c} early: ${err}`))));
  });
}

await main();
