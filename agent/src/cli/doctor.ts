// `hopscope doctor`: what this machine can trace, which probe set will be used and why,
// the CNI devices present, and what is missing (with the package that provides it).
import { readFile, readdir, readlink } from 'node:fs/promises';
import { execa } from 'execa';
import { readNodeRules } from '../kubeproxy/reader.ts';
import { rulesReport } from '../wiring/kube-proxy-rules.ts';
import { detectCapabilities, type Capabilities, type Check } from '../tracer/capabilities.ts';
import type { Command } from './command.ts';
import { parseFlags, short, toggle, value } from '../config/flags.ts';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { readTlsDir, tlsSummary } from '../tls/material.ts';
import { TLS_MOUNT } from '../tls/secrets.ts';

/**
 * The mutual-TLS material in `dir` (the manifests mount it at /etc/hopscope/tls): whose it is,
 * when the certificate and the CA expire, or what is wrong with it.
 */
export function tlsCheck(dir: string | undefined, node: string, nowMs: number = Date.now()): Check {
  if (!dir) return { ok: true, detail: `none (no --tls-dir, nothing at ${TLS_MOUNT}): an agent serves plain HTTP, on loopback only` };
  try {
    const role = existsSync(`${dir}/hub.crt`) ? ({ kind: 'hub' } as const) : ({ kind: 'agent', node } as const);
    const s = tlsSummary(readTlsDir(dir, role), nowMs);
    const left = s.expired ? 'EXPIRED' : `${s.certDaysLeft} days left`;
    return { ok: !s.expired, detail: `${dir} as ${s.identity}: certificate expires ${s.certExpires} (${left}), CA ${s.caExpires}` };
  } catch (e) {
    return { ok: false, detail: `${dir}: ${(e as Error).message}` };
  }
}

/** A device as `ip -j -d link` reports it. */
interface LinkInfo {
  ifname: string;
  ifindex: number;
  master?: string;
  kind?: string;
}

const CNI_KINDS = new Set(['veth', 'bridge', 'vxlan', 'ipip', 'geneve', 'wireguard']);

async function links(netns?: string): Promise<LinkInfo[] | string> {
  const args = netns ? ['-n', netns, '-j', '-d', 'link', 'show'] : ['-j', '-d', 'link', 'show'];
  const r = await execa('ip', args, { reject: false, timeout: 5000 });
  if (r.exitCode !== 0) return String(r.stderr).trim() || toolFailure('ip', r, 'iproute2');
  try {
    const raw = JSON.parse(String(r.stdout)) as { ifname?: unknown; ifindex?: unknown; master?: unknown; linkinfo?: { info_kind?: unknown } }[];
    return raw.map((l) => ({
      ifname: String(l.ifname),
      ifindex: Number(l.ifindex),
      master: typeof l.master === 'string' ? l.master : undefined,
      kind: typeof l.linkinfo?.info_kind === 'string' ? l.linkinfo.info_kind : undefined,
    }));
  } catch {
    return 'unreadable output from ip';
  }
}

/**
 * Why a tool gave no answer, in words: not installed (with the Debian package), killed, timed
 * out or its exit code. Pure.
 */
export function toolFailure(
  cmd: string,
  r: { exitCode?: number | undefined; code?: string | undefined; signal?: string | undefined; timedOut?: boolean },
  pkg: string,
): string {
  // NOTE: the image does not ship iproute2 (the agent never runs `ip`): doctor there says so.
  if (r.code === 'ENOENT') return `not listed: ${cmd} is not installed (Debian: apt-get install ${pkg})`;
  if (r.timedOut) return `${cmd} timed out`;
  if (r.signal) return `${cmd} killed by ${r.signal}`;
  if (r.exitCode === undefined) return `${cmd} could not run${r.code ? ` (${r.code})` : ''}`;
  return `${cmd} exited with code ${r.exitCode}`;
}

function cniDevices(list: LinkInfo[]): string[] {
  return list
    .filter((l) => (l.kind && CNI_KINDS.has(l.kind)) || /^(cni|flannel|cali|vxlan|tunl|weave|cilium)/.test(l.ifname))
    .map((l) => `${l.ifname}${l.kind ? ` (${l.kind}${l.master ? `, master ${l.master}` : ''})` : ''}`);
}

/** Lab network namespaces from /run/hopscope/labs/*.json, read defensively. */
async function labNamespaces(): Promise<{ lab: string; netns: string[] }[]> {
  const dir = process.env.HOPSCOPE_LABS_DIR ?? '/run/hopscope/labs';
  const files = await readdir(dir).catch(() => [] as string[]);
  const out: { lab: string; netns: string[] }[] = [];
  for (const f of files.filter((x) => x.endsWith('.json'))) {
    try {
      const s = JSON.parse(await readFile(`${dir}/${f}`, 'utf8')) as { name?: unknown; netns?: unknown };
      const names = Array.isArray(s.netns)
        ? s.netns.map((n: { name?: unknown }) => n?.name).filter((n): n is string => typeof n === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(n))
        : [];
      out.push({ lab: typeof s.name === 'string' ? s.name : f.replace(/\.json$/, ''), netns: names });
    } catch {
      // a half-written or foreign file: skip it
    }
  }
  return out;
}

const mark = (c: Check): string => (c.ok ? 'yes' : 'no ');

/** CAP_SYS_PTRACE's bit in /proc/<pid>/status CapEff. */
const CAP_SYS_PTRACE = 19n;

/** Whether a CapEff line (hex) holds a capability. Pure. */
export function hasCapability(status: string, bit: bigint): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(status);
  return m !== null && ((BigInt(`0x${m[1]}`) >> bit) & 1n) === 1n;
}

/**
 * Whether other processes' network namespaces can be read: on a node (hostPID) that is what
 * names each pod's namespace, and it takes CAP_SYS_PTRACE (measured in the image). Counted over
 * /proc too: a process holding capabilities this one lacks stays unreadable even so (this dev
 * machine's pid 1 holds CAP_SYS_RESOURCE, which its root does not).
 */
async function otherNetnsReadable(): Promise<Check> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  let readable = 0;
  let denied = 0;
  for (const d of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(d)) continue;
    try {
      await readlink(`/proc/${d}/ns/net`);
      readable++;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') denied++;
    }
  }
  const counts = `${readable} of ${readable + denied} processes' /proc/<pid>/ns/net readable`;
  if (!hasCapability(status, CAP_SYS_PTRACE)) return { ok: false, detail: `no CAP_SYS_PTRACE: ${counts}` };
  return { ok: true, detail: counts };
}


/** What is missing and how to get it. Pure. */
export function missing(c: Capabilities, setpriv: boolean, otherNetns: Check = { ok: true, detail: '' }): string[] {
  const out: string[] = [];
  if (!c.bpftrace.ok) out.push('bpftrace: apt-get install bpftrace');
  if (!setpriv) out.push('setpriv (stops bpftrace if the agent dies): apt-get install util-linux');
  if (!c.root) out.push('root: run as root (bpftrace refuses other users; in a container: uid 0 with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE)');
  if (!otherNetns.ok) out.push(`other processes' network namespaces (${otherNetns.detail}): pods on this node cannot be named; a container needs CAP_SYS_PTRACE`);
  if (!c.btf.ok) out.push('BTF: a kernel built with CONFIG_DEBUG_INFO_BTF=y (the program casts kernel structs)');
  if (!c.tracefs.ok) out.push('tracefs: mount -t tracefs nodev /sys/kernel/tracing');
  if (c.bpftrace.ok && c.root && !c.tracepoints.ok) out.push(`tracepoints do not attach: ${c.tracepoints.detail}`);
  if (c.probeSet === 'tracepoints') {
    out.push('NAT kprobes unavailable (kernel without CONFIG_KPROBES or no nf_nat_manip_pkt): NAT is read from conntrack on the next hop instead');
  }
  return out;
}

export const command: Command = {
  summary: 'check what this machine can trace and which probe set will be used',
  async run(args: string[]): Promise<number> {
    const { values: v } = parseFlags(args, { help: short('h', toggle()), 'tls-dir': value(), node: value() });
    if (v.help) {
      console.log(
        `usage: hopscope doctor [--tls-dir <dir>] [--node <name>]\n\nPrints kernel, BTF, tracefs, bpftrace, probe sets, CNI devices, the mutual-TLS certificates' expiry (--tls-dir, default ${TLS_MOUNT} when present) and what is missing.`,
      );
      return 0;
    }
    const tls = tlsCheck(v['tls-dir'] ?? (existsSync(TLS_MOUNT) ? TLS_MOUNT : undefined), v.node ?? process.env.NODE_NAME ?? hostname());
    const [c, setpriv, otherNetns, kubeProxy] = await Promise.all([
      detectCapabilities(),
      execa('setpriv', ['--version'], { reject: false, timeout: 5000 }).then((r) => r.exitCode === 0, () => false),
      otherNetnsReadable(),
      readNodeRules().then(rulesReport),
    ]);
    const lines = [
      `kernel           ${c.kernel}${c.littleEndian ? '' : ' (big-endian: not supported)'}`,
      `root             ${c.root ? 'yes' : 'no'}`,
      `BTF              ${mark(c.btf)} ${c.btf.detail}`,
      `tracefs          ${mark(c.tracefs)} ${c.tracefs.detail}`,
      `bpftrace         ${mark(c.bpftrace)} ${c.bpftrace.version ?? c.bpftrace.detail}`,
      `tracepoints      ${mark(c.tracepoints)} ${c.tracepoints.detail}`,
      `kprobes          ${mark(c.kprobes)} ${c.kprobes.detail}`,
      `fentry (kfunc)   ${mark(c.fentry)} ${c.fentry.detail}`,
      `NAT functions    ${c.natFunctions.length > 0 ? c.natFunctions.join(', ') : 'none found'}`,
      `probe set        ${c.probeSet}: ${c.probeSetReason}`,
      `process netns    ${mark(otherNetns)} ${otherNetns.detail}`,
      `kube-proxy rules ${mark(kubeProxy)} ${kubeProxy.detail}`,
      `mutual TLS       ${mark(tls)} ${tls.detail}`,
    ];
    console.log(lines.join('\n'));
    const root = await links();
    console.log(`\nCNI devices (root netns): ${typeof root === 'string' ? root : cniDevices(root).join(', ') || 'none'}`);
    for (const lab of await labNamespaces()) {
      console.log(`lab ${lab.lab}:`);
      for (const ns of lab.netns) {
        const l = await links(ns);
        console.log(`  ${ns}: ${typeof l === 'string' ? l : cniDevices(l).join(', ') || 'none'}`);
      }
    }
    const miss = [...missing(c, setpriv, otherNetns), ...(kubeProxy.missing ? [kubeProxy.missing] : []), ...(tls.ok ? [] : [`mutual TLS: ${tls.detail} (renew: kubectl hopscope install)`])];
    console.log(`\n${miss.length === 0 ? 'nothing missing' : `missing or limited:\n${miss.map((m) => `  - ${m}`).join('\n')}`}`);
    return c.bpftrace.ok && c.root && c.tracepoints.ok ? 0 : 1;
  },
};
