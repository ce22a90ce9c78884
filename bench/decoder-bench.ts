// Decoder throughput on one core: lines/s over real tracer output (bpftrace on this kernel).
// The goal figure is what the agent runs: bpftrace's stdout bytes, in 64 KiB chunks, split
// into lines and decoded in place (runner.ts). Also printed: the same per CPU-second (steady on
// a shared machine), and decoding lines that are already JavaScript strings. Goal: >= 1M
// lines/s. Run: `npx tsx bench/decoder-bench.ts [--quick]`.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createDecoder } from '../agent/src/tracer/decoder.ts';
import { createLineSplitter } from '../agent/src/tracer/line-splitter.ts';
import { figure, QUICK, report } from './lib.ts';

const FIXTURES = [
  // Recorded by bench/record-lines.ts: a lab flood with --every-packet (mostly H lines, as under load).
  fileURLToPath(new URL('./fixtures/flood-lines.txt', import.meta.url)),
  // The tracer tests' recording: every line kind (D, H, 6, K, F, counters, banner).
  fileURLToPath(new URL('../test/fixtures/tracer/recorded-lines.txt', import.meta.url)),
];

function load(): { lines: string[]; sources: string[] } {
  const lines: string[] = [];
  const sources: string[] = [];
  for (const f of FIXTURES) {
    if (!existsSync(f)) continue;
    sources.push(f.slice(f.indexOf('/bench/') >= 0 ? f.indexOf('/bench/') + 1 : f.indexOf('/test/') + 1));
    for (const l of readFileSync(f, 'utf8').split('\n')) if (l.length > 0) lines.push(l);
  }
  if (lines.length === 0) throw new Error('no recorded lines found');
  return { lines, sources };
}

/** CPU seconds this process used since `from` (all its threads). */
const cpuSince = (from: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1e6;
};

function decodeRun(lines: string[], total: number): { perSec: number; events: number; rejected: number } {
  const d = createDecoder({ reasonNames: new Map() });
  const n = lines.length;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < total; i++) d.decode(lines[i % n]!);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const s = d.stats();
  return { perSec: total / secs, events: s.events, rejected: s.rejections };
}

/** bpftrace's stdout as the runner gets it: 64 KiB chunks of bytes, split and decoded in place. */
function streamRun(bytes: Buffer, reps: number): { perSec: number; perCpuSec: number } {
  const d = createDecoder({ reasonNames: new Map() });
  let count = 0;
  const sp = createLineSplitter((b, s, e) => {
    d.decodeBytes(b, s, e);
    count++;
  });
  const CHUNK = 65536;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < reps; r++) for (let at = 0; at < bytes.length; at += CHUNK) sp.push(bytes.subarray(at, at + CHUNK));
  sp.end();
  return { perSec: count / (Number(process.hrtime.bigint() - t0) / 1e9), perCpuSec: count / cpuSince(c0) };
}

const { lines, sources } = load();
const hopShare = lines.filter((l) => l.startsWith('H ') || l.startsWith('6 ')).length / lines.length;
const runs = QUICK ? 3 : 7;
const perRun = QUICK ? 500_000 : 2_000_000;
decodeRun(lines, 200_000); // warm up the JIT
const decodeRates: number[] = [];
let rejected = 0;
for (let i = 0; i < runs; i++) {
  const r = decodeRun(lines, perRun);
  decodeRates.push(r.perSec);
  rejected = r.rejected;
}
const bytes = Buffer.from(lines.join('\n') + '\n');
const reps = Math.max(1, Math.round(perRun / lines.length));
streamRun(bytes, Math.max(1, Math.round(200_000 / lines.length))); // warm up
const streamRates: number[] = [];
const streamCpuRates: number[] = [];
for (let i = 0; i < runs; i++) {
  const r = streamRun(bytes, reps);
  streamRates.push(r.perSec);
  streamCpuRates.push(r.perCpuSec);
}

report(
  'decoder',
  [
    figure('stdout bytes -> split + decode lines/s (one core, what the agent runs)', 'lines/s', streamRates, { op: '>=', value: 1_000_000 }),
    // Per CPU-second: what the decoder costs even when other processes share the cores (the
    // wall-clock rate then measures the machine's load as much as the decoder).
    figure('stdout bytes -> split + decode, lines per CPU-second', 'lines/s', streamCpuRates),
    figure('decode lines/s from JS strings (one core)', 'lines/s', decodeRates),
  ],
  { corpus: { lines: lines.length, hopShare: Math.round(hopShare * 1000) / 1000, sources, rejectedPerRun: rejected } },
);
