// Packet identity that survives NAT, encapsulation and a change of skb: what lets the
// correlator join the pieces of one packet's path, and a reply to its request. Pure.
import type { ConntrackTuples, HopEvent, IpPacket, L4Proto } from '../protocol/events.ts';

/** The packet a hop is really about: the inner one when the hop carries a tunnel. */
export function innerPacket(e: Pick<HopEvent, 'packet' | 'encap'>): IpPacket {
  return e.encap ? e.encap.inner : e.packet;
}

/** Ports of an L4 header (ICMP and unknown protocols have none). */
export function ports(p: IpPacket): { sport?: number; dport?: number } {
  const l4 = p.l4;
  switch (l4.proto) {
    case 'tcp':
    case 'udp':
      return { sport: l4.sport, dport: l4.dport };
    case 'icmp':
    case 'other':
      return {};
    default: {
      const never: never = l4;
      return never;
    }
  }
}

/**
 * Fields NAT and tunnels leave alone: protocol, IP id, TCP sequence number (or ICMP echo
 * sequence) and the inner length. Addresses and ports are out: DNAT/SNAT rewrite them.
 */
export function fingerprint(p: IpPacket): string {
  const l4 = p.l4;
  let tail: string;
  switch (l4.proto) {
    case 'tcp':
      tail = `seq=${l4.seq}:ack=${l4.ack}:${l4.flags}`;
      break;
    case 'udp':
      tail = '';
      break;
    case 'icmp':
      // NOTE: NAT rewrites the echo id like a port; the echo sequence survives.
      tail = `t=${l4.icmpType}:s=${l4.seq}`;
      break;
    case 'other':
      tail = `p=${l4.number}`;
      break;
    default: {
      const never: never = l4;
      return never;
    }
  }
  return `${l4.proto}:v${p.family}:id=${p.ipId}:len=${p.len}${tail ? `:${tail}` : ''}`;
}

/**
 * Whether a fingerprint is specific enough to join two skbs on it. An IP id of 0 (common for
 * UDP and for SYN-ACKs from listeners) without a TCP sequence number would join unrelated packets.
 */
export function joinable(p: IpPacket): boolean {
  return p.l4.proto === 'tcp' || p.ipId !== 0;
}

/** A directed 5-tuple. */
export interface Tuple {
  proto: L4Proto;
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
}

/** The directed 5-tuple of a packet. */
export function tupleOf(p: IpPacket): Tuple {
  return { proto: p.l4.proto, src: p.src, dst: p.dst, ...ports(p) };
}

/** The same flow seen from the other end. */
export function reverse(t: Tuple): Tuple {
  return { proto: t.proto, src: t.dst, dst: t.src, sport: t.dport, dport: t.sport };
}

/** Map key of a directed tuple. */
export function tupleKey(t: Tuple): string {
  return `${t.proto} ${t.src}:${t.sport ?? ''}>${t.dst}:${t.dport ?? ''}`;
}

/** The conntrack entry's original direction as a tuple: the connection's identity. */
export function ctOrig(ct: ConntrackTuples): Tuple {
  return { proto: ct.proto, ...ct.orig };
}

/** The conntrack entry's reply direction as a tuple. */
export function ctReply(ct: ConntrackTuples): Tuple {
  return { proto: ct.proto, ...ct.reply };
}

/** Which direction of its conntrack entry a packet travels, if it matches either. */
export function ctDirection(p: IpPacket, ct: ConntrackTuples): 'orig' | 'reply' | undefined {
  const t = tupleKey(tupleOf(p));
  const o = ctOrig(ct);
  const r = ctReply(ct);
  // A packet between NAT steps matches neither tuple exactly; its unrewritten end still tells.
  if (t === tupleKey(o) || t === tupleKey(reverse(r))) return 'orig';
  if (t === tupleKey(r) || t === tupleKey(reverse(o))) return 'reply';
  const { sport } = ports(p);
  if (p.src === o.src && sport === o.sport) return 'orig';
  if (p.src === r.src && sport === r.sport) return 'reply';
  return undefined;
}
