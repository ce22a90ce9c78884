// The text and JSON views of a journey. The text reads like a story, one hop per line:
// who sent it, which devices it crossed, where it was translated, encapsulated, delivered
// or dropped, and how long each step took. Pure.
import type { Endpoint, Hop, IpPacket, Journey } from '../protocol/events.ts';
import { ports } from './fingerprint.ts';
import { ruleLines } from '../protocol/kube-proxy-text.ts';

/** Milliseconds with three decimals: hops are microseconds apart. */
export function ms(ns: number): string {
  return `${(ns / 1e6).toFixed(3)} ms`;
}

function hostPort(ip: string, port: number | undefined): string {
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return port === undefined ? ip : `${host}:${port}`;
}

/** An endpoint as a reader wants it: its name first, then the address. */
export function endpointText(ep: Endpoint): string {
  const addr = hostPort(ep.ip, ep.port);
  if (ep.service) return `svc ${ep.service.namespace}/${ep.service.name} ${addr}`;
  if (ep.pod) return `pod ${ep.pod.namespace}/${ep.pod.name} ${addr}`;
  if (ep.node) return `node ${ep.node} ${addr}`;
  return addr;
}

function flowText(p: IpPacket): string {
  const { sport, dport } = ports(p);
  const l4 = p.l4;
  let extra = '';
  switch (l4.proto) {
    case 'tcp':
      extra = l4.flags ? ` [${l4.flags}]` : '';
      break;
    case 'icmp':
      extra = ` type ${l4.icmpType} code ${l4.code} seq ${l4.seq}`;
      break;
    case 'udp':
    case 'other':
      break;
    default: {
      const never: never = l4;
      return never;
    }
  }
  return `${hostPort(p.src, sport)} → ${hostPort(p.dst, dport)} ${l4.proto}${extra}`;
}

function at(h: Hop): string {
  return `${h.dev} (${h.where.label})`;
}

/** One hop as a phrase of the story. */
export function hopText(h: Hop): string {
  switch (h.kind) {
    case 'pod-egress':
    case 'egress':
      return `${h.where.label} ${h.dev}`;
    case 'host-veth':
      return at(h);
    case 'bridge':
      return `bridge ${at(h)}`;
    case 'route':
      return `routed ${at(h)}`;
    case 'dnat':
      return `DNAT ${h.nat ? `${endpointText(h.nat.before)} → ${endpointText(h.nat.after)}` : ''} (${h.where.label})${h.nat?.kubeProxy?.disagreements ? ' ⚠ kube-proxy rules disagree' : ''}`;
    case 'snat':
      return `SNAT ${h.nat ? `${endpointText(h.nat.before)} → ${endpointText(h.nat.after)}` : ''} (${h.where.label})`;
    case 'reverse-nat':
      return `reverse NAT ${h.nat ? `${endpointText(h.nat.before)} → ${endpointText(h.nat.after)}` : ''} (${h.where.label})`;
    case 'encap':
      return `encap ${at(h)}`;
    case 'underlay': {
      const e = h.encap;
      const tunnel = e ? (e.kind === 'vxlan' ? `VXLAN vni ${e.vni} ` : 'IPIP ') : '';
      return `${tunnel}${h.packet.src} → ${h.packet.dst} ${at(h)}`;
    }
    case 'decap':
      return `decap ${at(h)}`;
    case 'deliver':
      return `delivered ${h.where.label} ${h.dev}`;
    case 'loopback':
      return `lo ${h.hook} (${h.where.label})`;
    case 'drop':
      return `DROPPED ${h.drop?.reason ?? ''} at ${h.drop?.location ?? '?'} ${at(h)}`;
    default: {
      const never: never = h.kind;
      return never;
    }
  }
}

/** The headline: what was sent to whom, where it really went, and how it ended. */
export function headline(j: Journey): string {
  const first = j.hops[0];
  const inner = first ? (first.encap ? first.encap.inner : first.packet) : undefined;
  const flags = inner?.l4.proto === 'tcp' && inner.l4.flags ? ` [${inner.l4.flags}]` : '';
  const backend = j.backend ? ` ⇒ ${endpointText(j.backend)}` : '';
  const reply = j.replyTo ? ` (reply to ${j.replyTo})` : '';
  const stale = j.identityUnknown ? ' (names withheld: identity index resyncing)' : '';
  return `${j.id} ${j.proto}${flags} ${endpointText(j.src)} → ${endpointText(j.dst)}${backend}${reply}: ${j.verdict} in ${ms(j.endNs - j.startNs)}${stale}`;
}

/** The story: a headline and one line per hop with its delay. */
export function renderStory(j: Journey): string {
  const lines = [headline(j)];
  const kindWidth = 11;
  j.hops.forEach((h, i) => {
    let text = hopText(h);
    // The flow is shown where it starts and wherever the addresses just changed.
    const prev = j.hops[i - 1];
    const inner = h.encap ? h.encap.inner : h.packet;
    if (i === 0 || (prev && prev.kind !== 'underlay' && h.kind !== 'underlay' && flowText(prev.encap ? prev.encap.inner : prev.packet) !== flowText(inner) && !h.nat))
      text += `  ${flowText(inner)}`;
    lines.push(`  +${ms(h.deltaNs).padStart(10)}  ${h.kind.padEnd(kindWidth)} ${text}`);
    // The kube-proxy rule under its DNAT: the chains, the pick and rule, any disagreement.
    const kp = h.nat?.kubeProxy;
    if (kp) for (const l of [`${kp.mode}: ${kp.chains.join(' → ')}${kp.source === 'api' ? ' (named from the API)' : ''}`, ...ruleLines(kp)]) lines.push(`${' '.repeat(kindWidth + 16)}${l}`);
  });
  return lines.join('\n');
}

/** The whole journey on one line, arrows between hops. */
export function renderOneLine(j: Journey): string {
  const parts = j.hops.map(hopText);
  return `${parts.join(' → ')} (${j.verdict}, ${ms(j.endNs - j.startNs)})`;
}

/** The JSON form: one journey per line, the `Journey` type of protocol/events.ts as is. */
export function renderJson(j: Journey): string {
  return JSON.stringify(j);
}
