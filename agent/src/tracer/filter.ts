// What the user asks to trace (FilterSpec, validated with zod) and its compilation to the
// numbers-only KernelFilter. Pure: pod and Service names are resolved through the
// caller's `resolve` functions, and every failure is a FilterError with a clear message.
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { DEFAULT_KERNEL_FILTER, type Cidr, type FlowSide, type KernelFilter } from './kernel-filter.ts';

export type { KernelFilter } from './kernel-filter.ts';

/** A user's filter was invalid or named something that does not exist. */
export class FilterError extends Error {
  override name = 'FilterError';
}

const port = z.number().int().min(1).max(65535);

/**
 * The user's filter. Endpoints (`from`, `to`) are one of: "ns/name" (a pod), "name" (a pod in
 * `namespace`, default "default" as kubectl's), "svc/ns/name" or "svc/name" (a Service),
 * "10.0.0.1", "10.0.0.1:80", "10.0.0.0/24", "fd00::1", "[fd00::1]:80", "fd00::/64".
 */
export const FilterSpecSchema = z
  .object({
    from: z.string().min(1).max(300).optional(),
    to: z.string().min(1).max(300).optional(),
    port: z.array(port).max(16).optional(),
    proto: z.enum(['tcp', 'udp', 'icmp']).optional(),
    /** Default Kubernetes namespace for pod and Service names given without one. */
    namespace: z.string().min(1).max(63).optional(),
    /** Only these network namespaces (inode numbers). */
    netns: z.array(z.number().int().min(1).max(0xffffffff)).max(64).optional(),
    everyPacket: z.boolean().optional(),
    firstPackets: z.number().int().min(0).max(1_000_000).optional(),
    sampleEvery: z.number().int().min(0).max(1_000_000).optional(),
    printBudget: z.number().int().min(1).max(10_000_000).optional(),
  })
  .strict();

/** A validated user filter. */
export type FilterSpec = z.infer<typeof FilterSpecSchema>;

/** How names become addresses (the identity index or the lab model supplies these). */
export interface FilterResolver {
  podIps(namespace: string, name: string): string[];
  serviceIps(namespace: string, name: string): { ip: string; port: number; proto: string }[];
  /**
   * The Service's backends. A packet to a Service is DNATed to one of them, and the reply
   * leaves the backend before reverse NAT: without them a filter on a Service sees only the
   * client's half of the conversation.
   */
  serviceEndpoints?(namespace: string, name: string): { ip: string; port: number }[];
}

/** Validates unknown input (JSON from a client, or built from CLI args). */
export function parseFilterSpec(input: unknown): FilterSpec {
  const r = FilterSpecSchema.safeParse(input);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
    throw new FilterError(`invalid filter: ${where}${first?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** The namespace of names given without one (kubectl's default). */
export const DEFAULT_NAMESPACE = 'default';

const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const K8S_NS = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Parses an IPv4 or IPv6 literal into bytes; null if it is not one. */
export function parseIp(text: string): { family: 4 | 6; bytes: number[] } | null {
  if (isIPv4(text)) return { family: 4, bytes: text.split('.').map(Number) };
  if (!isIPv6(text) || text.includes('%')) return null;
  let s = text;
  // A trailing dotted quad ("::ffff:10.0.0.1") becomes two hex groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const b = tail.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, rest] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = head ? head.split(':') : [];
  const r = rest === undefined ? [] : rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array(8 - h.length - r.length).fill('0'), ...r];
  if (groups.length !== 8) return null;
  const bytes: number[] = [];
  for (const g of groups) {
    const v = parseInt(g, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  return { family: 6, bytes };
}

function cidrOf(text: string, what: string): Cidr {
  const slash = text.indexOf('/');
  const ipText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(ipText);
  if (!ip) throw new FilterError(`${what}: "${clip(ipText)}" is not an IP address`);
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new FilterError(`${what}: prefix length must be 0-${max}`);
    prefix = Number(p);
  }
  const bytes = ip.bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return bits === 0 ? 0 : b & ((0xff << (8 - bits)) & 0xff);
  });
  return { family: ip.family, bytes, prefix };
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

function portOf(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new FilterError(`${what}: port must be 1-65535`);
  return Number(text);
}

function name(text: string, re: RegExp, what: string, kind: string): string {
  if (!re.test(text)) throw new FilterError(`${what}: "${clip(text)}" is not a valid Kubernetes ${kind}`);
  return text;
}

/** Resolves one endpoint expression to prefixes and ports. */
export function compileEndpoint(text: string, what: string, namespace: string | undefined, resolve: FilterResolver): FlowSide {
  // [v6]:port
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') throw new FilterError(`${what}: expected "[ipv6]:port"`);
    const c = cidrOf(text.slice(1, close), what);
    if (c.family !== 6) throw new FilterError(`${what}: brackets are for IPv6 addresses`);
    return { cidrs: [c], ports: [portOf(text.slice(close + 2), what)] };
  }
  if (parseIp(text)) return { cidrs: [cidrOf(text, what)], ports: [] };
  const slash = text.indexOf('/');
  if (slash >= 0 && parseIp(text.slice(0, slash))) return { cidrs: [cidrOf(text, what)], ports: [] };
  // a.b.c.d:port
  const colon = text.lastIndexOf(':');
  if (colon > 0 && text.indexOf(':') === colon && isIPv4(text.slice(0, colon))) {
    return { cidrs: [cidrOf(text.slice(0, colon), what)], ports: [portOf(text.slice(colon + 1), what)] };
  }
  const parts = text.split('/');
  // A name without a namespace is in `namespace`, else in "default", as kubectl reads it.
  const inNs = namespace ?? DEFAULT_NAMESPACE;
  if (parts[0] === 'svc') {
    const [ns, svc] = parts.length === 3 ? [parts[1]!, parts[2]!] : parts.length === 2 ? [inNs, parts[1]!] : [undefined, undefined];
    if (ns === undefined || svc === undefined) throw new FilterError(`${what}: a Service is "svc/name" (in -n's namespace, default "default") or "svc/namespace/name"`);
    name(ns, K8S_NS, what, 'namespace');
    name(svc, K8S_NAME, what, 'Service name');
    const ips = resolve.serviceIps(ns, svc);
    if (ips.length === 0) throw new FilterError(`${what}: Service ${ns}/${svc} not found (or it has no cluster IP)`);
    const all = [...ips, ...(resolve.serviceEndpoints?.(ns, svc) ?? [])];
    return {
      cidrs: [...new Set(all.map((x) => x.ip))].map((ip) => cidrOf(ip, `${what} (Service ${ns}/${svc})`)),
      ports: [...new Set(all.map((x) => x.port).filter((p) => Number.isInteger(p) && p >= 1 && p <= 65535))],
    };
  }
  const [ns, pod] = parts.length === 2 ? [parts[0]!, parts[1]!] : parts.length === 1 ? [inNs, parts[0]!] : [undefined, undefined];
  if (ns === undefined || pod === undefined) {
    throw new FilterError(`${what}: "${clip(text)}" is not a pod ("pod" in -n's namespace, default "default", or "namespace/pod"), a Service ("svc/name" or "svc/namespace/name"), an IP, ip:port or a CIDR`);
  }
  name(ns, K8S_NS, what, 'namespace');
  name(pod, K8S_NAME, what, 'pod name');
  const ips = resolve.podIps(ns, pod);
  if (ips.length === 0) throw new FilterError(`${what}: pod ${ns}/${pod} not found (or it has no IP yet)`);
  return { cidrs: ips.map((ip) => cidrOf(ip, `${what} (pod ${ns}/${pod})`)), ports: [] };
}

/** Compiles a validated spec to the kernel filter. Throws FilterError. */
export function compileFilter(spec: FilterSpec, resolve: FilterResolver): KernelFilter {
  const s = parseFilterSpec(spec);
  if (s.namespace !== undefined) name(s.namespace, K8S_NS, 'namespace', 'namespace');
  return {
    from: s.from === undefined ? null : compileEndpoint(s.from, 'from', s.namespace, resolve),
    to: s.to === undefined ? null : compileEndpoint(s.to, 'to', s.namespace, resolve),
    ports: s.port ?? [],
    proto: s.proto ?? null,
    netns: s.netns ?? [],
    everyPacket: s.everyPacket ?? false,
    firstPackets: s.firstPackets ?? DEFAULT_KERNEL_FILTER.firstPackets,
    sampleEvery: s.sampleEvery ?? DEFAULT_KERNEL_FILTER.sampleEvery,
    printBudget: s.printBudget ?? DEFAULT_KERNEL_FILTER.printBudget,
  };
}
