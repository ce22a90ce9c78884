// The functions a V8 CPU profile (.cpuprofile, from `node --cpu-prof`) spent its time in: self
// time (samples whose top frame is the function) and total time (samples with the function
// anywhere on the stack, counted once per sample), as a share of the profile. Functions are
// told apart by name, file and line, so two closures of one name stay two rows.
// `npx tsx bench/cpuprofile-top.ts FILE.cpuprofile [--top N] [--match TEXT]`: --match keeps the
// rows whose name or file contains TEXT (e.g. a source file), in the same order.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface Row {
  key: string;
  selfUs: number;
  totalUs: number;
}

function frameKey(n: ProfileNode): string {
  const f = n.callFrame;
  const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/(agent|bench|node_modules)\//, '$1/');
  const name = f.functionName || '(anonymous)';
  return file ? `${name}  ${file}:${f.lineNumber + 1}` : name;
}

export function summarize(p: Profile): { rows: Row[]; totalUs: number } {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const rows = new Map<string, Row>();
  const row = (key: string): Row => {
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { key, selfUs: 0, totalUs: 0 }));
    return r;
  };
  let totalUs = 0;
  // A sample's time is the delta to the next sample (V8 stores the delta before each one).
  for (let i = 0; i < p.samples.length; i++) {
    const us = p.timeDeltas[i + 1] ?? 0;
    totalUs += us;
    let id: number | undefined = p.samples[i]!;
    const top = byId.get(id)!;
    row(frameKey(top)).selfUs += us;
    const seen = new Set<string>();
    while (id !== undefined) {
      const k = frameKey(byId.get(id)!);
      if (!seen.has(k)) {
        seen.add(k);
        row(k).totalUs += us;
      }
      id = parent.get(id);
    }
  }
  return { rows: [...rows.values()], totalUs };
}

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: cpuprofile-top.ts FILE.cpuprofile [--top N] [--match TEXT]');
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(name);
    return i < 0 ? undefined : process.argv[i + 1];
  };
  const top = Number(arg('--top') ?? 40);
  const match = arg('--match');
  const { rows, totalUs } = summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const keep = match ? rows.filter((r) => r.key.includes(match)) : rows;
  const pct = (us: number): string => `${((100 * us) / totalUs).toFixed(1).padStart(5)}%`;
  console.log(`${(totalUs / 1e6).toFixed(1)} s profiled`);
  console.log('\nself time');
  for (const r of [...keep].sort((a, b) => b.selfUs - a.selfUs).slice(0, top)) console.log(`${pct(r.selfUs)}  ${r.key}`);
  console.log('\ntotal time (on the stack)');
  for (const r of [...keep].sort((a, b) => b.totalUs - a.totalUs).slice(0, top)) console.log(`${pct(r.totalUs)}  ${r.key}`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
