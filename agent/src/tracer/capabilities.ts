// What this kernel and bpftrace can do, measured at start, and the probe set chosen from it:
// kprobes on the conntrack NAT functions where they attach (the rewrite is seen as it
// happens), tracepoints everywhere else (NAT then shows as the conntrack tuples on the next hop).
import { access, readFile } from 'node:fs/promises';
import { endianness, release } from 'node:os';
import { execa } from 'execa';
import type { ProbeSet } from '../protocol/events.ts';
import { hostPaths } from './host-paths.ts';

/** NAT functions a kprobe can watch, newest kernels first. */
export const NAT_FUNCTIONS = ['nf_nat_manip_pkt', 'nf_nat_ipv4_manip_pkt'];

/** A yes/no with the reason, so `doctor` can say why. */
export interface Check {
  ok: boolean;
  detail: string;
}

/** Everything measured about this machine. */
export interface Capabilities {
  kernel: string;
  littleEndian: boolean;
  root: boolean;
  btf: Check;
  tracefs: Check & { path: string | null };
  bpftrace: Check & { version: string | null };
  tracepoints: Check;
  kprobes: Check;
  fentry: Check;
  /** NAT functions present in this kernel (BTF or available_filter_functions). */
  natFunctions: string[];
  probeSet: ProbeSet;
  probeSetReason: string;
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** Finds a mounted tracefs; mounts it at /sys/kernel/tracing when none is (root only). */
export async function ensureTracefs(mount = true, dirs = hostPaths().tracefsDirs): Promise<Check & { path: string | null }> {
  for (const dir of dirs) {
    if (await exists(`${dir}/events`)) return { ok: true, detail: `mounted at ${dir}`, path: dir };
  }
  if (!mount) return { ok: false, detail: `not mounted (looked in ${dirs.join(', ')})`, path: null };
  // bpftrace reads tracepoint formats from tracefs; a fresh container or VM may not have it mounted.
  const r = await execa('mount', ['-t', 'tracefs', 'nodev', dirs[0]!], { reject: false, timeout: 5000 });
  if (r.exitCode === 0 && (await exists(`${dirs[0]}/events`))) {
    return { ok: true, detail: `mounted by hopscope at ${dirs[0]}`, path: dirs[0]! };
  }
  return { ok: false, detail: `not mounted and mounting failed: ${String(r.stderr || r.message).trim()}`, path: null };
}

/** bpftrace on PATH and its version. */
export async function bpftraceVersion(bin = 'bpftrace'): Promise<Check & { version: string | null }> {
  const r = await execa(bin, ['--version'], { reject: false, timeout: 5000 });
  if (r.exitCode !== 0) return { ok: false, detail: 'bpftrace not found (Debian: apt-get install bpftrace)', version: null };
  const m = /v?(\d+\.\d+\.\d+)/.exec(String(r.stdout));
  return { ok: m !== null, detail: String(r.stdout).trim(), version: m ? m[1]! : null };
}

/** Runs a tiny program that exits at once; ok when it attached. */
export async function tryAttach(program: string, timeoutMs = 10_000): Promise<Check> {
  const r = await execa('bpftrace', ['-e', program], { reject: false, timeout: timeoutMs, all: true });
  const out = String(r.all ?? '');
  if (r.exitCode === 0 && /Attaching \d+ probe/.test(out)) return { ok: true, detail: 'attaches' };
  // bpftrace 0.17 always complains about RLIMIT_MEMLOCK (harmless with memcg accounting).
  const useful = out
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('RLIMIT_MEMLOCK') && !l.startsWith('Attaching') && !/^\s*~+\s*$/.test(l) && !l.includes('{ exit(); }'))
    .map((l) => l.replace(/^.*ERROR:\s*/, '').trim());
  return { ok: false, detail: useful.slice(-2).join('; ') || (r.timedOut ? 'timed out' : `exit ${r.exitCode}`) };
}

/** NAT functions named in the kernel's BTF (vmlinux, and the nf_nat module when separate). */
async function natFunctionsPresent(): Promise<string[]> {
  const found = new Set<string>();
  const paths = hostPaths();
  for (const file of [paths.btf, '/sys/kernel/btf/nf_nat']) {
    const buf = await readFile(file).catch(() => null);
    if (!buf) continue;
    for (const fn of NAT_FUNCTIONS) if (buf.includes(Buffer.from(`\0${fn}\0`))) found.add(fn);
  }
  for (const dir of paths.tracefsDirs) {
    const text = await readFile(`${dir}/available_filter_functions`, 'utf8').catch(() => null);
    if (!text) continue;
    for (const line of text.split('\n')) {
      const fn = line.split(' ')[0]!;
      if (NAT_FUNCTIONS.includes(fn)) found.add(fn);
    }
  }
  return NAT_FUNCTIONS.filter((f) => found.has(f));
}

/** Pure: the probe set for measured capabilities, and why. */
export function chooseProbeSet(c: Pick<Capabilities, 'kprobes' | 'natFunctions' | 'tracepoints'>): { probeSet: ProbeSet; reason: string } {
  if (c.kprobes.ok && c.natFunctions.includes('nf_nat_manip_pkt')) {
    return { probeSet: 'kprobes', reason: 'kprobes attach and nf_nat_manip_pkt exists: NAT rewrites are seen where they happen' };
  }
  const why = !c.kprobes.ok
    ? `kprobes do not attach (${c.kprobes.detail})`
    : 'no nf_nat_manip_pkt in this kernel';
  return { probeSet: 'tracepoints', reason: `${why}; NAT is read from conntrack on the next hop` };
}

/** Measures everything (a few short bpftrace runs; about a second). */
export async function detectCapabilities(opts: { mountTracefs?: boolean } = {}): Promise<Capabilities> {
  const btfPath = hostPaths().btf;
  const [btf, tracefs, bpftrace, natFunctions] = await Promise.all([
    exists(btfPath),
    ensureTracefs(opts.mountTracefs ?? true),
    bpftraceVersion(),
    natFunctionsPresent(),
  ]);
  const root = process.getuid?.() === 0;
  const none: Check = { ok: false, detail: bpftrace.ok ? (root ? 'not tried' : 'needs root') : 'no bpftrace' };
  let tracepoints = none;
  let kprobes = none;
  let fentry = none;
  if (bpftrace.ok && root) {
    const fn = natFunctions[0] ?? 'vfs_read';
    [tracepoints, kprobes, fentry] = await Promise.all([
      tryAttach('tracepoint:net:netif_receive_skb { exit(); } interval:ms:100 { exit(); }'),
      tryAttach(`kprobe:${fn} { exit(); } interval:ms:100 { exit(); }`),
      // bpftrace 0.17 calls fentry "kfunc".
      tryAttach(`kfunc:${fn} { exit(); } interval:ms:100 { exit(); }`),
    ]);
  }
  const choice = chooseProbeSet({ kprobes, natFunctions, tracepoints });
  return {
    kernel: release(),
    littleEndian: endianness() === 'LE',
    root,
    btf: { ok: btf, detail: btf ? btfPath : `no ${btfPath} (kernel built without CONFIG_DEBUG_INFO_BTF)` },
    tracefs,
    bpftrace,
    tracepoints,
    kprobes,
    fentry,
    natFunctions,
    probeSet: choice.probeSet,
    probeSetReason: choice.reason,
  };
}
