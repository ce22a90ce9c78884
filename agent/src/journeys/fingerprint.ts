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

/** Source port of an L4 header, as ports() has it, without making an object. */
export function sportOf(p: IpPacket): number | undefined {
  const l4 = p.l4;
  return l4.proto === 'tcp' || l4.proto === 'udp' ? l4.sport : undefined;
}

/** Destination port of an L4 header, as ports() has it, without making an object. */
export function dportOf(p: IpPacket): number | undefined {
  const l4 = p.l4;
  return l4.proto === 'tcp' || l4.proto === 'udp' ? l4.dport : undefined;
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
 * fingerprint(a) === fingerprint(b), field by field: the correlator asks it of every hop, and
 * building both strings was a good part of its allocations under a flood.
 */
export function sameFingerprint(a: IpPacket, b: IpPacket): boolean {
  if (a.family !== b.family || a.ipId !== b.ipId || a.len !== b.len) return false;
  const x = a.l4;
  const y = b.l4;
  switch (x.proto) {
    case 'tcp':
      return y.proto === 'tcp' && x.seq === y.seq && x.ack === y.ack && x.flags === y.flags;
    case 'udp':
      return y.proto === 'udp';
    case 'icmp':
      return y.proto === 'icmp' && x.icmpType === y.icmpType && x.seq === y.seq;
    case 'other':
      return y.proto === 'other' && x.number === y.number;
    default: {
      const never: never = x;
      return never;
    }
  }
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

/** tupleKey(tupleOf(p)) without the tuple. */
export function packetKey(p: IpPacket): string {
  return `${p.l4.proto} ${p.src}:${sportOf(p) ?? ''}>${p.dst}:${dportOf(p) ?? ''}`;
}

/** tupleKey of one direction of a conntrack entry (`orig`: the connection's identity) as a tuple of `proto`. */
export function ctKey(proto: L4Proto, t: ConntrackTuples['orig']): string {
  return `${proto} ${t.src}:${t.sport}>${t.dst}:${t.dport}`;
}

/** Whether tupleKey would give two tuples, each given as its fields, the same key. */
function sameFields(
  proto: L4Proto,
  src: string,
  sport: number | undefined,
  dst: string,
  dport: number | undefined,
  proto2: L4Proto,
  src2: string,
  sport2: number | undefined,
  dst2: string,
  dport2: number | undefined,
): boolean {
  // Ports are whole numbers or absent, so equal keys mean equal fields: a key's ports hold no
  // ':' and its addresses no '>', whatever the address family.
  return proto === proto2 && src === src2 && sport === sport2 && dst === dst2 && dport === dport2;
}

/** packetKey(a) === packetKey(b), field by field. */
export function samePacketTuple(a: IpPacket, b: IpPacket): boolean {
  return sameFields(a.l4.proto, a.src, sportOf(a), a.dst, dportOf(a), b.l4.proto, b.src, sportOf(b), b.dst, dportOf(b));
}

/** Whether ctKey gives both directions of two conntrack entries the same keys, field by field. */
export function sameConntrack(a: ConntrackTuples, b: ConntrackTuples): boolean {
  const o = a.orig;
  const p = b.orig;
  const r = a.reply;
  const q = b.reply;
  return sameFields(a.proto, o.src, o.sport, o.dst, o.dport, b.proto, p.src, p.sport, p.dst, p.dport) && sameFields(a.proto, r.src, r.sport, r.dst, r.dport, b.proto, q.src, q.sport, q.dst, q.dport);
}

/** Which direction of its conntrack entry a packet travels, if it matches either. */
export function ctDirection(p: IpPacket, ct: ConntrackTuples): 'orig' | 'reply' | undefined {
  // Compared field by field rather than as tupleKey strings (same answers): asked of every hop
  // of a journey whose direction is not yet certain, e.g. every ICMP hop.
  const proto = p.l4.proto;
  const sport = sportOf(p);
  const dport = dportOf(p);
  const o = ct.orig;
  const r = ct.reply;
  const c = ct.proto;
  // A packet between NAT steps matches neither tuple exactly; its unrewritten end still tells.
  if (sameFields(proto, p.src, sport, p.dst, dport, c, o.src, o.sport, o.dst, o.dport)) return 'orig';
  if (sameFields(proto, p.src, sport, p.dst, dport, c, r.dst, r.dport, r.src, r.sport)) return 'orig';
  if (sameFields(proto, p.src, sport, p.dst, dport, c, r.src, r.sport, r.dst, r.dport)) return 'reply';
  if (sameFields(proto, p.src, sport, p.dst, dport, c, o.dst, o.dport, o.src, o.sport)) return 'reply';
  if (p.src === o.src && sport === o.sport) return 'orig';
  if (p.src === r.src && sport === r.sport) return 'reply';
  return undefined;
}
