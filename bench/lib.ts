// Shared bench plumbing: figures (median/min/max of runs), the results file, flags, and a lab
// whose teardown runs on every exit path. Figures are printed as text and written as JSON to
// bench/results/<name>.json (gitignored).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { DEFAULT_KERNEL_FILTER } from '../agent/src/tracer/kernel-filter.ts';
import { startTracer } from '../agent/src/tracer/runner.ts';

/** One measured quantity over several runs. */
export interface Figure {
  name: string;
  unit: string;
  runs: number[];
  median: number;
  min: number;
  max: number;
  /** The goal as text, e.g. ">= 0.95", and whether the median meets it. */
  goal?: string;
  met?: boolean;
}

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

export const QUICK = process.argv.includes('--quick') || process.env.HOPSCOPE_BENCH_QUICK === '1';

/** A numeric flag (`--name N`) with a default and an upper bound. */
export function numArg(name: string, def: number, max: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0 || v > max) throw new Error(`${name}: expected a number in (0, ${max}]`);
  return v;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** A figure from runs; `goal` is checked against the median. */
export function figure(name: string, unit: string, runs: number[], goal?: { op: '>=' | '<=' | '>' | '<'; value: number }): Figure {
  const med = median(runs);
  const f: Figure = { name, unit, runs, median: med, min: Math.min(...runs), max: Math.max(...runs) };
  if (goal) {
    f.goal = `${goal.op} ${goal.value}`;
    f.met = goal.op === '>=' ? med >= goal.value : goal.op === '<=' ? med <= goal.value : goal.op === '>' ? med > goal.value : med < goal.value;
  }
  return f;
}

const fmt = (x: number): string => (Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : Number.isInteger(x) ? String(x) : x.toFixed(3));

export function machine(): Record<string, string | number> {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, kernel: release() };
}

/** Prints the figures and writes bench/results/<name>.json. */
export function report(name: string, figures: Figure[], extra: Record<string, unknown> = {}): void {
  console.log(`\n== ${name} ==`);
  for (const f of figures) {
    const goal = f.goal ? `  goal ${f.goal}: ${f.met ? 'met' : 'MISSED'}` : '';
    console.log(`${f.name.padEnd(44)} median ${fmt(f.median)} ${f.unit} (min ${fmt(f.min)}, max ${fmt(f.max)}, n=${f.runs.length})${goal}`);
  }
  for (const [k, v] of Object.entries(extra)) console.log(`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}${name}.json`, JSON.stringify({ name, at: new Date().toISOString(), quick: QUICK, machine: machine(), figures, ...extra }, null, 2) + '\n');
}

/** Runs `body` with a fresh lab (unique name); the lab is removed on return, throw or signal. */
export async function withLab<T>(prefix: string, body: (lab: LabHandle) => Promise<T>): Promise<T> {
  const lab = await labUp(loadTopology(), { name: `${prefix}${process.pid % 100000}`, api: true, cleanupOnExit: true, cleanupOnCrash: true });
  try {
    return await body(lab);
  } finally {
    await lab.down();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Real tracer output under load: bpftrace (the real program, --every-packet, ICMP from the
 * client pod) while the client pod pings the web pod on node-2 with `ping -f`, bounded by
 * `pings` and `seconds`. Returns the lines as bpftrace printed them, without the flush padding.
 */
export async function recordFloodLines(lab: LabHandle, o: { pings: number; seconds: number; maxLines?: number }): Promise<string[]> {
  const st = lab.state();
  const client = st.model.pods.find((p) => p.name === 'client');
  const target = st.model.pods.find((p) => p.deployment?.name === 'web' && p.node === 'node-2');
  if (!client || !target) throw new Error('default topology expected (client pod, web pod on node-2)');
  const lines: string[] = [];
  const max = o.maxLines ?? Infinity;
  const tracer = await startTracer({
    filter: { ...DEFAULT_KERNEL_FILTER, everyPacket: true, proto: 'icmp', netns: st.netns.map((n) => n.inode), from: { cidrs: [{ family: 4, bytes: client.ip.split('.').map(Number), prefix: 32 }], ports: [] } },
    onEvent: () => {},
    onLine: (l) => {
      if (lines.length < max && l.length > 0 && !l.startsWith('P ')) lines.push(l);
    },
  });
  try {
    await lab.exec('default/client', ['ping', '-f', '-q', '-c', String(o.pings), '-w', String(o.seconds), target.ip], { timeoutMs: (o.seconds + 10) * 1000 });
    await sleep(1500);
  } finally {
    await tracer.stop();
  }
  return lines;
}

/**
 * A websocket client of the agent on 127.0.0.1:`port`, said hello to; each message is handed
 * over parsed as plain JSON (validation costs are measured on their own) with the hrtime it
 * arrived at, which is CLOCK_MONOTONIC like bpftrace's nsecs, so latencies span processes.
 */
export function benchClient(port: number, token: string, onMessage: (m: { type: string; journeys?: { startNs: number; hops: unknown[] }[]; count?: number }, nowNs: number) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { Authorization: `Bearer ${token}` } });
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'hello', version: 1 }));
      resolve(ws);
    });
    ws.on('error', reject);
    ws.on('message', (d) => {
      const now = Number(process.hrtime.bigint());
      onMessage(JSON.parse(d.toString()) as Parameters<typeof onMessage>[0], now);
    });
  });
}

/**
 * The "how cost grows" loop: `runs` runs of `once` at each size, each run's `line` printed as
 * it ends. Returns each size's runs, and all of them keyed by `label` for the results file.
 */
export async function sweep<S, R>(o: {
  sizes: readonly S[];
  runs: number;
  label: (size: S) => string;
  once: (size: S, run: number) => R | Promise<R>;
  line: (size: S, r: R) => string;
  /** A pause after each run, so one run's teardown does not overlap the next's start. */
  pauseMs?: number;
}): Promise<{ bySize: { size: S; runs: R[] }[]; detail: Record<string, R[]> }> {
  const bySize: { size: S; runs: R[] }[] = [];
  const detail: Record<string, R[]> = {};
  for (const size of o.sizes) {
    // A size given twice (interleaved reruns: hub-scale --sizes 2,30,2,30) keeps both passes.
    let key = o.label(size);
    for (let n = 2; key in detail; n++) key = `${o.label(size)} (pass ${n})`;
    const runs: R[] = (detail[key] = []);
    for (let i = 0; i < o.runs; i++) {
      const r = await o.once(size, i);
      runs.push(r);
      console.log(o.line(size, r));
      if (o.pauseMs) await sleep(o.pauseMs);
    }
    bySize.push({ size, runs });
  }
  return { bySize, detail };
}

/** Prints a markdown table: the README's tables are pasted from these. */
export function printTable(header: string[], rows: string[]): void {
  console.log(['', `| ${header.join(' | ')} |`, `|${'---|'.repeat(header.length)}`, ...rows].join('\n'));
}
