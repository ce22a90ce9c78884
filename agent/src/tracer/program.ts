// Renders the bpftrace program from the fixed templates in bpf/ and a KernelFilter. Pure:
// every hole is filled with numbers (re-validated here) and fixed expressions, so no user
// string can reach the program text whatever the caller passes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ProbeSet } from '../protocol/events.ts';
import type { Cidr, FlowSide, KernelFilter } from './kernel-filter.ts';

/** Version of the line format, printed in the banner. Nothing checks it: the runner renders the program it decodes. */
export const PROGRAM_VERSION = 2;

/** Options that are not part of the user's filter. */
export interface RenderOptions {
  probeSet: ProbeSet;
  /** UDP ports decoded as VXLAN (default 4789 and 8472). */
  vxlanPorts: number[];
  /** Seconds between sampler reports (SampledEvent). */
  reportSeconds?: number;
  /** Seconds between clears of the flow counters and followed-skb map. */
  resetSeconds?: number;
  /** Most milliseconds an event waits in bpftrace's output buffer (a padding line flushes it). */
  flushMs?: number;
  /** Template texts; read from bpf/ when omitted. */
  templates?: Templates;
}

/** The template files' contents. */
export interface Templates {
  datapath: string;
  natKprobe: string;
}

/** Thrown when a filter or option value is out of range; carries the offending field. */
export class ProgramError extends Error {
  override name = 'ProgramError';
}

export const DEFAULT_VXLAN_PORTS = [4789, 8472];

/** The sampler's 1 in K never adapts past this. */
export const SAMPLE_MAX = 16384;

// Odd 64-bit multipliers (xxHash's primes) for the carried-decision table's hashes.
const K1 = '(uint64)0x9e3779b185ebca87';
const K2 = '(uint64)0xc2b2ae3d27d4eb4f';
const K3 = '(uint64)0x165667b19e3779f9';

/** How often the program flushes its output (the runner reads readiness off the first flush). */
export const DEFAULT_FLUSH_MS = 100;

/** Padding of the flush line ("P <nsecs> " + this): the decoder takes its time and skips the rest. */
export const FLUSH_PAD = '.'.repeat(8200);

// NET_HDR: the network header's address for the carried decision's check. On receive the
// device has pulled its link header, so skb->data is the network header; on transmit data is
// the link header and the tracepoint gives the network header's offset from it (the same as
// head + network_header, exactly, so the full decision reuses it: NET_HDR_EXACT).
const HOP_PROBES: { probe: string; hook: number; netHdr: string; exact: boolean }[] = [
  { probe: 'tracepoint:net:netif_receive_skb', hook: 1, netHdr: '(uint64)$skb->data', exact: false },
  { probe: 'tracepoint:net:net_dev_start_xmit', hook: 2, netHdr: '(uint64)$skb->data + (uint64)args->network_offset', exact: true },
];

let cached: Templates | undefined;

/** Reads the templates from bpf/ (once). */
export function loadTemplates(): Templates {
  if (!cached) {
    const dir = fileURLToPath(new URL('../../../bpf/', import.meta.url));
    cached = {
      datapath: readFileSync(`${dir}datapath.bt.tmpl`, 'utf8'),
      natKprobe: readFileSync(`${dir}nat-kprobe.bt.tmpl`, 'utf8'),
    };
  }
  return cached;
}

function int(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ProgramError(`${what} must be an integer in [${min}, ${max}]`);
  }
  return value;
}

/** Filters also arrive as untyped JSON: a list field holding anything else is the caller's error (ProgramError), not a TypeError from `.map`. */
function list(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new ProgramError(`${what} must be a list`);
  return value;
}

/** Little-endian read of network-order bytes: how the kernel program sees them. */
function rawU32(b: number[], off: number): number {
  return ((b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0);
}

function rawU64Hex(b: number[], off: number): string {
  let hex = '';
  for (let i = off + 7; i >= off; i--) hex += b[i]!.toString(16).padStart(2, '0');
  return `0x${hex}`;
}

/** A port as the program reads it: a little-endian u16 of network-order bytes. */
export function rawPort(port: number): number {
  const p = int(port, 0, 65535, 'port');
  return ((p & 0xff) << 8) | (p >> 8);
}

function checkedCidr(c: Cidr): Cidr {
  if (typeof c !== 'object' || c === null) throw new ProgramError('address must be an object');
  if (c.family !== 4 && c.family !== 6) throw new ProgramError('address family must be 4 or 6');
  const len = c.family === 4 ? 4 : 16;
  if (!Array.isArray(c.bytes) || c.bytes.length !== len) throw new ProgramError(`IPv${c.family} address must have ${len} bytes`);
  const prefix = int(c.prefix, 0, len * 8, 'prefix length');
  const bytes = c.bytes.map((x) => int(x, 0, 255, 'address byte'));
  const mask = maskBytes(len, prefix);
  return { family: c.family, bytes: bytes.map((x, i) => x & mask[i]!), prefix };
}

function maskBytes(len: number, prefix: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < len; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out.push(bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** Variables of the template a side/flow test reads. */
interface FlowVars {
  src: string;
  dst: string;
  sport: string;
  dport: string;
}

function v4Addr(c: Cidr, v: string): string {
  const mask = maskBytes(4, c.prefix);
  return `((${v} & ${rawU32(mask, 0)}) == ${rawU32(c.bytes, 0)})`;
}

function v6Addr(c: Cidr, hi: string, lo: string): string {
  const mask = maskBytes(16, c.prefix);
  return `((${hi} & ${rawU64Hex(mask, 0)}) == ${rawU64Hex(c.bytes, 0)} && (${lo} & ${rawU64Hex(mask, 8)}) == ${rawU64Hex(c.bytes, 8)})`;
}

function or(parts: string[], empty: string): string {
  return parts.length === 0 ? empty : `(${parts.join(' || ')})`;
}

function and(parts: string[]): string {
  const real = parts.filter((p) => p !== '1');
  if (real.some((p) => p === '0')) return '0';
  return real.length === 0 ? '1' : `(${real.join(' && ')})`;
}

/** One side matches: any of its prefixes (of this family) and any of its ports. */
function sideTest(side: FlowSide | null, family: 4 | 6, addr: string[], port: string): string {
  if (!side) return '1';
  const cidrs = side.cidrs.map(checkedCidr);
  let a = '1';
  if (cidrs.length > 0) {
    const mine = cidrs.filter((c) => c.family === family);
    a = or(
      mine.map((c) => (family === 4 ? v4Addr(c, addr[0]!) : v6Addr(c, addr[0]!, addr[1]!))),
      '0',
    );
  }
  const p = side.ports.length === 0 ? '1' : or(side.ports.map((x) => `${port} == ${rawPort(x)}`), '0');
  return and([a, p]);
}

function directedTest(f: KernelFilter, family: 4 | 6, s: string[], d: string[], sp: string, dp: string): string {
  return and([sideTest(f.from, family, s, sp), sideTest(f.to, family, d, dp)]);
}

function flowTest(f: KernelFilter, family: 4 | 6, vars: FlowVars & { src6?: string[]; dst6?: string[] }, proto: string): string {
  const s = family === 4 ? [vars.src] : vars.src6!;
  const d = family === 4 ? [vars.dst] : vars.dst6!;
  const forward = directedTest(f, family, s, d, vars.sport, vars.dport);
  const backward = directedTest(f, family, d, s, vars.dport, vars.sport);
  const dir = forward === backward ? forward : or([forward, backward].filter((x) => x !== '0'), '0');
  const ports = f.ports.length === 0 ? '1' : or(f.ports.map((x) => `${vars.sport} == ${rawPort(x)} || ${vars.dport} == ${rawPort(x)}`), '0');
  const protoNum = f.proto === null ? null : f.proto === 'tcp' ? 6 : f.proto === 'udp' ? 17 : family === 4 ? 1 : 58;
  const pr = protoNum === null ? '1' : `${proto} == ${protoNum}`;
  return and([dir, ports, pr]);
}

/** The filter expressions for IPv4 and IPv6 packets, and the netns test. Exported for tests. */
export function renderHoles(filter: KernelFilter, opts: RenderOptions): Record<string, string> {
  const f = checkedFilter(filter);
  const packet4 = flowTest(f, 4, { src: '$fs', dst: '$fd', sport: '$fsp', dport: '$fdp' }, '$fpr');
  const ct4 = flowTest(f, 4, { src: '$os', dst: '$od', sport: '($op & 0xffff)', dport: '($op >> 16)' }, '($cp & 0xff)');
  const match4 = packet4 === '1' ? '1' : or([packet4, ct4 === '0' ? '0' : `($ct != 0 && ${ct4})`].filter((x) => x !== '0'), '0');
  const match6 = flowTest(f, 6, { src: '', dst: '', sport: '$fsp', dport: '$fdp', src6: ['$s6h', '$s6l'], dst6: ['$d6h', '$d6l'] }, '$fpr');
  const vx = list(opts.vxlanPorts, 'vxlanPorts').map((p) => `($a >> 16) == ${rawPort(p as number)}`);
  const sampleK = int(f.sampleEvery, 0, 1_000_000, 'sampleEvery');
  const reportS = int(opts.reportSeconds ?? 1, 1, 3600, 'reportSeconds');
  return {
    VERSION: String(PROGRAM_VERSION),
    NETNS: or(f.netns.map((n) => `$ns == ${int(n, 1, 0xffffffff, 'netns inode')}`), '1'),
    VXLAN_PORTS: or(vx, '0'),
    // The carried decision's second check: the UDP destination port (raw) is in $cv there.
    ENCAP_PORTS: or(list(opts.vxlanPorts, 'vxlanPorts').map((p) => `$cv == ${rawPort(p as number)}`), '0'),
    MATCH4: match4,
    // The program reads both conntrack tuples before the match only when the filter tests one.
    CT_FILTER: match4.includes('$ct != 0') ? '1' : '0',
    MATCH6: match6,
    EVERY: f.everyPacket ? '1' : '0',
    // The carried-decision table's slot and check for the header word in $q (see the
    // template). Two different multipliers, so the 40 check bits are independent of the slot.
    NOTE_SLOT: `((((uint64)$skb * ${K1}) ^ $q) * ${K2}) >> 54`,
    NOTE_HASH: `(((((uint64)$skb * ${K1}) ^ $q) * ${K3}) & ~0xffffff)`,
    // A carried "count, don't print" is only sound when nothing along the path can change the
    // decision: no filter that NAT could start or stop matching, not every packet, and no
    // netns outside the watched set that a counted packet could wander into.
    CARRY: match4 === '1' && match6 === '1' && !f.everyPacket && (f.netns.length === 0 || f.netnsClosed === true) ? '1' : '0',
    FIRST_N: String(int(f.firstPackets, 0, 1_000_000, 'firstPackets')),
    // `$sid % K == 0` with K = 0 would divide by zero: sampling off renders as never.
    SAMPLE: sampleK === 0 ? '0' : '($sid % @k) == 0',
    // Every packet, or no sampling: nothing to adapt.
    ADAPT: sampleK === 0 || f.everyPacket ? '0' : '1',
    K_MIN: String(sampleK),
    K_MAX: String(Math.max(sampleK, SAMPLE_MAX)),
    BUDGET: String(f.printBudget * reportS),
    REPORT_S: String(reportS),
    RESET_S: String(int(opts.resetSeconds ?? 60, 1, 86400, 'resetSeconds')),
    FLUSH_MS: String(int(opts.flushMs ?? DEFAULT_FLUSH_MS, 10, 10_000, 'flushMs')),
  };
}

function checkedFilter(f: KernelFilter): KernelFilter {
  if (typeof f !== 'object' || f === null) throw new ProgramError('filter must be an object');
  const side = (s: FlowSide | null, what: string): FlowSide | null => {
    if (s === null) return null;
    if (typeof s !== 'object' || !Array.isArray(s.cidrs) || !Array.isArray(s.ports)) throw new ProgramError(`${what} must have cidrs and ports`);
    return { cidrs: s.cidrs.map(checkedCidr), ports: s.ports.map((p) => int(p, 0, 65535, `${what} port`)) };
  };
  if (f.proto !== null && f.proto !== 'tcp' && f.proto !== 'udp' && f.proto !== 'icmp') throw new ProgramError('proto must be tcp, udp or icmp');
  return {
    from: side(f.from, 'from'),
    to: side(f.to, 'to'),
    ports: list(f.ports, 'ports').map((p) => int(p, 0, 65535, 'port')),
    proto: f.proto,
    netns: list(f.netns, 'netns').map((n) => int(n, 1, 0xffffffff, 'netns inode')),
    netnsClosed: f.netnsClosed === true,
    everyPacket: f.everyPacket === true,
    firstPackets: int(f.firstPackets, 0, 1_000_000, 'firstPackets'),
    sampleEvery: int(f.sampleEvery, 0, 1_000_000, 'sampleEvery'),
    printBudget: int(f.printBudget, 1, 10_000_000, 'printBudget'),
  };
}

function fill(text: string, holes: Record<string, string>): string {
  return text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, name: string) => {
    const v = holes[name];
    if (v === undefined) throw new ProgramError(`template hole {{${name}}} has no value`);
    return v;
  });
}

/** The complete bpftrace program for a filter and probe set. */
export function renderProgram(filter: KernelFilter, opts: RenderOptions): string {
  if (opts.probeSet !== 'tracepoints' && opts.probeSet !== 'kprobes') throw new ProgramError('probeSet must be tracepoints or kprobes');
  list(opts.vxlanPorts, 'vxlanPorts').forEach((p) => int(p, 1, 65535, 'VXLAN port'));
  const t = opts.templates ?? loadTemplates();
  // PAD is fixed text, not a filter hole: longer than bpftrace's stdio buffer (BUFSIZ, 8 KiB),
  // so printing it flushes everything before it.
  const holes = { ...renderHoles(filter, opts), PAD: FLUSH_PAD };
  const begin = t.datapath.indexOf('// @hop-begin');
  const end = t.datapath.indexOf('// @hop-end');
  if (begin < 0 || end < begin) throw new ProgramError('datapath template lacks its @hop-begin/@hop-end block');
  const body = t.datapath.slice(begin, end);
  const hops = HOP_PROBES.map(({ probe, hook, netHdr, exact }) => fill(body, { ...holes, PROBE: probe, HOOK: String(hook), NET_HDR: netHdr, NET_HDR_EXACT: exact ? '1' : '0' })).join('');
  // The NAT kprobe goes with the hop probes, before the flush probe: bpftrace attaches in the
  // program's order, and the runner takes the flush probe's first line as "every probe is live".
  const nat = opts.probeSet === 'kprobes' ? `\n${fill(t.natKprobe, holes)}\n` : '';
  return fill(t.datapath.slice(0, begin), holes) + hops + nat + fill(t.datapath.slice(end), holes);
}
