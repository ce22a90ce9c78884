// Shared bench plumbing: figures (median/min/max of runs), the results file, flags, and a lab
// whose teardown runs on every exit path. Figures are printed as text and written as JSON to
// bench/results/<name>.json (gitignored).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';

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
