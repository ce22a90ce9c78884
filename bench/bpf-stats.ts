// Per-program cost of attached BPF programs: the kernel's own run-time statistics
// (kernel.bpf_stats_enabled), read with bpftool. The statistics cost two clock reads per program
// run on every BPF program of the machine, so they are on only while a measurement runs and the
// previous setting is put back on every exit path.
import { execa } from 'execa';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const STATS = '/proc/sys/kernel/bpf_stats_enabled';

/** One attached program: its id and the hook it runs at (a tracepoint name, or the perf event kind). */
export interface AttachedProg {
  id: number;
  pid: number;
  hook: string;
}

/** Cumulative counters of one program (bpftool prog show). */
export interface ProgCounters {
  runTimeNs: number;
  runCnt: number;
}

/** A program's cost over a measured window. */
export interface ProgCost {
  hook: string;
  id: number;
  runs: number;
  runsPerS: number;
  nsPerRun: number;
  /** CPU the program took, in ns per wall-clock second (1e9 = a whole core). */
  nsPerS: number;
}

/** Costs over a window from counters taken before and after it. Pure. */
export function progCosts(progs: AttachedProg[], before: Map<number, ProgCounters>, after: Map<number, ProgCounters>, seconds: number): ProgCost[] {
  if (!(seconds > 0)) throw new Error('progCosts: the window must be longer than 0 s');
  const out: ProgCost[] = [];
  for (const p of progs) {
    const a = after.get(p.id);
    if (!a) continue; // unloaded during the window: nothing to attribute
    const b = before.get(p.id) ?? { runTimeNs: 0, runCnt: 0 };
    const runs = a.runCnt - b.runCnt;
    const ns = a.runTimeNs - b.runTimeNs;
    if (runs <= 0) continue;
    out.push({ hook: p.hook, id: p.id, runs, runsPerS: runs / seconds, nsPerRun: ns / runs, nsPerS: ns / seconds });
  }
  return out.sort((x, y) => y.nsPerS - x.nsPerS);
}

/** pids of the processes below `root` (children, grandchildren, ...) whose comm is `comm`. */
export function descendantPids(root: number, comm: string): number[] {
  const parent = new Map<number, number>();
  const name = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ')'.
    const close = stat.lastIndexOf(')');
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    parent.set(Number(d), ppid);
    name.set(Number(d), stat.slice(stat.indexOf('(') + 1, close));
  }
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && p > 0 && hops < 64; p = parent.get(p), hops++) if (p === root) return true;
    return false;
  };
  return [...name].filter(([pid, c]) => c === comm && below(pid)).map(([pid]) => pid);
}

/** CPU time (user + system) a process has used so far, in ms; 0 once it is gone. */
export function processCpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after "(comm)": state is the 1st, utime the 12th, stime the 13th, in clock ticks
  // (USER_HZ, 100 on Linux for every architecture that ABI covers).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/** Every program attached through a perf event (tracepoints, intervals), with its owner's pid. */
export async function attachedProgs(): Promise<AttachedProg[]> {
  const r = await execa('bpftool', ['-j', 'perf', 'show'], { reject: false });
  if (r.exitCode !== 0) throw new Error(`bpftool perf show failed: ${r.stderr.trim() || r.exitCode} (is bpftool installed? scripts/setup.sh installs it)`);
  const rows = JSON.parse(r.stdout || '[]') as { pid: number; prog_id: number; fd_type: string; tracepoint?: string; event?: string }[];
  return rows.map((x) => ({ id: x.prog_id, pid: x.pid, hook: x.tracepoint ?? x.event ?? x.fd_type }));
}

/** Cumulative run counters of every loaded program. */
export async function progCounters(): Promise<Map<number, ProgCounters>> {
  const r = await execa('bpftool', ['-j', 'prog', 'show'], { reject: false });
  if (r.exitCode !== 0) throw new Error(`bpftool prog show failed: ${r.stderr.trim() || r.exitCode}`);
  const rows = JSON.parse(r.stdout || '[]') as { id: number; run_time_ns?: number; run_cnt?: number }[];
  return new Map(rows.map((x) => [x.id, { runTimeNs: x.run_time_ns ?? 0, runCnt: x.run_cnt ?? 0 }]));
}

/** Runs `body` with kernel.bpf_stats_enabled=1, then restores what it was (also on exit). */
export async function withBpfStats<T>(body: () => Promise<T>): Promise<T> {
  const prev = readFileSync(STATS, 'utf8').trim();
  const restore = (): void => writeFileSync(STATS, prev);
  process.once('exit', restore);
  writeFileSync(STATS, '1');
  try {
    return await body();
  } finally {
    restore();
    process.removeListener('exit', restore);
  }
}
