// Text for addresses, headers and times. Pure.
import type { Endpoint, Hop, IpPacket, Journey } from '@hopscope/agent/protocol/events.ts';

/** Short name for an endpoint: pod, service or node name, else the address. */
export function endpointName(e: Endpoint | undefined): string {
  if (!e) return '?';
  if (e.service) return `svc/${e.service.name}`;
  if (e.pod) return e.pod.name;
  if (e.node) return e.node;
  return e.ip;
}

/** "10.96.0.20:80 (svc/web)" */
export function endpointLong(e: Endpoint): string {
  const addr = e.port !== undefined ? `${e.ip}:${e.port}` : e.ip;
  const name = e.service ? `svc/${e.service.namespace}/${e.service.name}` : e.pod ? `pod ${e.pod.name}` : e.node ? `node ${e.node}` : e.external ? 'external' : '';
  return name ? `${addr} (${name})` : addr;
}

/** One-line header: "10.244.1.2:34567 → 10.96.0.20:80 TCP [S]" */
export function headerLine(p: IpPacket): string {
  const l4 = p.l4;
  switch (l4.proto) {
    case 'tcp':
      return `${p.src}:${l4.sport} → ${p.dst}:${l4.dport} TCP${l4.flags ? ` [${l4.flags}]` : ''}`;
    case 'udp':
      return `${p.src}:${l4.sport} → ${p.dst}:${l4.dport} UDP`;
    case 'icmp':
      return `${p.src} → ${p.dst} ICMP type ${l4.icmpType}`;
    case 'other':
      return `${p.src} → ${p.dst} proto ${l4.number}`;
    default: {
      const never: never = l4;
      return String(never);
    }
  }
}

/** Nanoseconds as "12 µs", "1.3 ms". */
export function duration(ns: number): string {
  if (ns < 1000) return `${Math.round(ns)} ns`;
  if (ns < 1_000_000) return `${(ns / 1000).toFixed(ns < 10_000 ? 1 : 0)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(1)} ms`;
  return `${(ns / 1_000_000_000).toFixed(2)} s`;
}

/** The parts of a journey's one-line story. */
export interface Story {
  from: string;
  to: string;
  /** "svc/web:80" when a Service was addressed. */
  service?: string;
  /** Where it really went, when NAT changed it. */
  backend?: string;
  proto: string;
  verdict: Journey['verdict'];
  latency: string;
  reply: boolean;
}

/**
 * A free in the socket layer (no device: the agent reports netns 0), after the kernel delivered
 * the packet: e.g. QUEUE_PURGE when a socket closes with data its application never read. A
 * fact worth showing, but not the packet being dropped on its way.
 */
export function isSocketDiscard(h: Hop): boolean {
  return h.kind === 'drop' && h.netns === 0;
}

/**
 * The name of a host outside the cluster that sent a journey (its first hop, an `egress`) or
 * received it (its last, a `deliver`), when the tracer saw that hop in a network namespace whose
 * owner the agent knows: a lab's external host, named by the lab. On a real cluster such hosts
 * are not traced, and a netns of no known owner has no name. NOTE: the agent labels those
 * `netns <inode>` (journeys/classify.ts), which is an inode, not a name.
 */
function outsideHost(h: Hop | undefined, kind: 'egress' | 'deliver'): string | undefined {
  if (!h || h.kind !== kind || h.where.pod || h.where.node || h.where.label === `netns ${h.netns}`) return undefined;
  return h.where.label;
}

/** A journey as one line. */
export function journeyStory(j: Journey): Story {
  const service = j.dst.service ? `svc/${j.dst.service.name}:${j.dst.port ?? j.dst.service.port ?? ''}` : undefined;
  // Unnamed addresses (loopback, a pod the index did not know yet) take the name of the pod
  // whose namespace the first or last hop happened in.
  const first = j.hops[0]?.where.pod?.name;
  const h0 = j.hops[0];
  const first0 = h0 ? (h0.encap?.inner ?? h0.packet).l4 : undefined;
  const last = j.hops.at(-1)?.where.pod?.name;
  const named = (e: Endpoint | undefined, pod: string | undefined, host: string | undefined) => {
    const n = endpointName(e);
    if (n !== e?.ip) return n;
    if (pod) return `${pod}${e.port !== undefined ? `:${e.port}` : ''}`;
    return e.external ? `external ${host ?? e.ip}` : n;
  };
  return {
    from: named(j.src, first, outsideHost(j.hops[0], 'egress')),
    to: j.backend ? endpointName(j.backend) : named(j.dst, j.hops.length > 1 ? last : undefined, outsideHost(j.hops.at(-1), 'deliver')),
    ...(service ? { service } : {}),
    ...(j.backend ? { backend: endpointName(j.backend) } : {}),
    // TCP flags of the packet tell the handshake from the data and the teardown.
    proto: first0 && first0.proto === 'tcp' && first0.flags ? `TCP [${first0.flags}]` : j.proto.toUpperCase(),
    verdict: j.verdict,
    latency: duration(Math.max(0, j.endNs - j.startNs)),
    reply: j.replyTo !== undefined,
  };
}

/** The story as plain text (for titles and tests). */
export function storyText(s: Story): string {
  const via = s.service ? ` via ${s.service}` : '';
  return `${s.from} → ${s.to}${via} · ${s.proto} · ${s.verdict} · ${s.latency}`;
}
