// Packets grouped into connections: one curl is a SYN, a SYN-ACK, an ACK, data, FINs and their
// replies, a dozen journeys; the user thinks of it as one call. Pure and bounded: the stream
// worker feeds it the journeys it lists and hands the page one small row per connection.
//
// A journey joins a connection by any 5-tuple it was seen with on any hop (the tuple as sent,
// its DNAT'd and masqueraded forms, and the reply's forms before and after reverse NAT), taken
// without direction, or by its `replyTo`. A fresh SYN on a tuple whose connection was closed
// (FIN or RST) or began with another initial sequence number starts a new connection (a port
// reused); a UDP or ICMP tuple idle longer than conntrack's timeout does too.
import type { Journey, L4Proto, Verdict } from '@hopscope/agent/protocol/events.ts';
import { duration, journeyStory } from './format.ts';

/** Most connections kept; the oldest go first (counted in `evicted`). */
export const MAX_CONNECTIONS = 2000;
/** Journey ids a connection keeps to list its packets (the newest); `packets` counts them all. */
export const MAX_PACKETS_KEPT = 200;
/** A UDP or ICMP tuple silent this long is a new conversation when it speaks again (conntrack's UDP timeout). */
export const DATAGRAM_IDLE_NS = 30e9;
/** How long before a call a DNS lookup from the same pod counts as the one that preceded it. */
export const DNS_LINK_NS = 2e9;
/** Connections a late DNS lookup searches for the call it preceded. */
const RECENT = 64;

/** What the page lists for a connection. */
export interface ConnectionRow {
  id: string;
  proto: L4Proto;
  /** The caller (pod, node or address) and its address as sent. */
  from: string;
  fromAddr: string;
  /** What the caller addressed ("svc/web:80") when it was a Service. */
  service?: string;
  /** Who answered: the backend after NAT, or the address called. */
  to: string;
  toAddr: string;
  /** Journeys (packets) in each direction. */
  requests: number;
  replies: number;
  packets: number;
  /** Of all its packets: dropped if any was, else in-flight if any is, else delivered if any was. */
  verdict: Verdict;
  drops: number;
  /** TCP: from the SYN leaving to the SYN-ACK arriving ("84 µs"); undefined until both were seen. */
  handshake?: string;
  handshakeNs?: number;
  /** TCP: what the flags said last. */
  state: 'opening' | 'open' | 'closed' | 'datagram';
  /**
   * Kernel times (ns) of its first and last packet sent by the caller. Only requests count: they
   * start on the caller's node, and with a hub each node has its own monotonic clock.
   */
  startNs: number;
  lastNs: number;
  /** The DNS lookup (a connection to port 53) the same pod made just before this call. */
  dns?: { id: string; server: string; beforeNs: number };
}

interface Conn {
  /** Creation order. */
  seq: number;
  row: ConnectionRow;
  keys: Set<string>;
  /** In arrival order, newest last, at most MAX_PACKETS_KEPT. */
  journeyIds: string[];
  /** Of each kept journey: a request's kernel start, or the request a reply answers. */
  packetOrder: Map<string, { startNs: number } | { replyTo: string }>;
  synSeq?: number;
  synStartNs?: number;
  clientIp: string;
  /** The caller side is known from a request (not guessed from a reply). */
  oriented: boolean;
  closed: boolean;
}

const isLoopbackIp = (ip: string) => ip.startsWith('127.') || ip === '::1';

/** The tuples a journey was seen with, without direction (a reply has the request's). */
function tupleKeys(j: Journey): string[] {
  const keys = new Set<string>();
  for (const h of j.hops) {
    const p = h.encap?.inner ?? h.packet;
    const l4 = p.l4;
    // Every pod has its own lo: 127.0.0.1 tuples are told apart by the netns they were seen in.
    const scope = isLoopbackIp(p.src) || isLoopbackIp(p.dst) ? `@${j.hops[0]?.netns ?? 0}` : '';
    let a: string, b: string, extra = '';
    switch (l4.proto) {
      case 'tcp':
      case 'udp':
        a = `${p.src}:${l4.sport}`;
        b = `${p.dst}:${l4.dport}`;
        break;
      case 'icmp':
        a = p.src;
        b = p.dst;
        extra = `#${l4.id}`;
        break;
      case 'other':
        a = p.src;
        b = p.dst;
        extra = `#${l4.number}`;
        break;
      default: {
        const never: never = l4;
        throw new Error(`unknown l4 ${JSON.stringify(never)}`);
      }
    }
    keys.add(`${l4.proto}|${a < b ? `${a}|${b}` : `${b}|${a}`}${extra}${scope}`);
  }
  return [...keys];
}

/** TCP flags of the journey's first packet, as the decoder prints them ("S", "S.", "FP.", ...). */
function tcpFlags(j: Journey): { flags: string; seq: number } | undefined {
  const h = j.hops[0];
  const l4 = h ? (h.encap?.inner ?? h.packet).l4 : undefined;
  return l4?.proto === 'tcp' ? { flags: l4.flags, seq: l4.seq } : undefined;
}
const isAck = (f: string) => f.includes('.') || f.includes('A');
const isFreshSyn = (f: string) => f.includes('S') && !isAck(f);

const addr = (ip: string, port: number | undefined) => (port !== undefined ? `${ip}:${port}` : ip);

const VERDICT_RANK: Record<Verdict, number> = { unknown: 0, delivered: 1, 'in-flight': 2, dropped: 3 };

/** Counters of the table, for the status line and the tests. */
export interface ConnectionStats {
  connections: number;
  evicted: number;
  journeys: number;
}

/** The connections of the journeys seen so far, bounded. */
export class ConnectionTable {
  /** In creation order: the first is the oldest (evicted first). */
  private conns = new Map<string, Conn>();
  private byKey = new Map<string, Conn>();
  private byJourney = new Map<string, Conn>();
  /** The last DNS lookup of each client address (bounded with the connections: evicted with them). */
  private lastDns = new Map<string, Conn>();
  private changed = new Set<Conn>();
  /** The newest connections (a lookup that comes in late looks for its call among them). */
  private recent: Conn[] = [];
  private nextId = 1;
  evicted = 0;
  journeys = 0;

  constructor(private readonly max = MAX_CONNECTIONS) {}

  /** Adds a journey to its connection (a new one if none fits); returns the connection's id. */
  add(j: Journey): string {
    this.journeys++;
    const keys = tupleKeys(j);
    const tcp = j.proto === 'tcp' ? tcpFlags(j) : undefined;
    const isReply = j.replyTo !== undefined;
    let c = (isReply ? this.byJourney.get(j.replyTo!) : undefined) ?? this.find(keys);
    if (c && this.startsAnew(c, j, tcp)) c = undefined;
    if (!c) c = this.create(j, isReply);
    for (const k of keys) {
      c.keys.add(k);
      this.byKey.set(k, c);
    }
    this.byJourney.set(j.id, c);
    c.journeyIds.push(j.id);
    c.packetOrder.set(j.id, isReply ? { replyTo: j.replyTo! } : { startNs: j.startNs });
    if (c.journeyIds.length > MAX_PACKETS_KEPT) {
      const old = c.journeyIds.shift()!;
      this.byJourney.delete(old);
      c.packetOrder.delete(old);
    }
    this.account(c, j, isReply, tcp);
    this.changed.add(c);
    return c.row.id;
  }

  /** The connection the newest of these tuples belongs to. */
  private find(keys: readonly string[]): Conn | undefined {
    let best: Conn | undefined;
    for (const k of keys) {
      const c = this.byKey.get(k);
      if (c && (!best || c.seq > best.seq)) best = c;
    }
    return best;
  }

  private startsAnew(c: Conn, j: Journey, tcp: { flags: string; seq: number } | undefined): boolean {
    if (tcp) {
      if (!isFreshSyn(tcp.flags) || j.replyTo !== undefined) return false;
      return c.closed || (c.synSeq !== undefined && c.synSeq !== tcp.seq);
    }
    return j.replyTo === undefined && c.oriented && j.startNs - c.row.lastNs > DATAGRAM_IDLE_NS;
  }

  private create(j: Journey, isReply: boolean): Conn {
    if (this.conns.size >= this.max) this.evictOldest();
    const seq = this.nextId++;
    const c: Conn = {
      seq,
      row: {
        id: `c${seq}`,
        proto: j.proto,
        from: '',
        fromAddr: '',
        to: '',
        toAddr: '',
        requests: 0,
        replies: 0,
        packets: 0,
        verdict: 'unknown',
        drops: 0,
        state: j.proto === 'tcp' ? 'opening' : 'datagram',
        startNs: j.startNs,
        lastNs: j.startNs,
      },
      keys: new Set(),
      journeyIds: [],
      packetOrder: new Map(),
      clientIp: '',
      oriented: false,
      closed: false,
    };
    this.conns.set(c.row.id, c);
    this.recent.push(c);
    if (this.recent.length > RECENT) this.recent.shift();
    this.orient(c, j, isReply);
    return c;
  }

  /** Caller and callee from a request (or, until one comes, the reverse of a reply). */
  private orient(c: Conn, j: Journey, isReply: boolean): void {
    const s = journeyStory(j);
    const r = c.row;
    if (isReply) {
      r.from = s.to;
      r.fromAddr = addr(j.dst.ip, j.dst.port);
      r.to = s.from;
      r.toAddr = addr(j.src.ip, j.src.port);
      c.clientIp = j.dst.ip;
      return;
    }
    r.from = s.from;
    r.fromAddr = addr(j.src.ip, j.src.port);
    r.to = s.to;
    const to = j.backend ?? j.dst;
    r.toAddr = addr(to.ip, to.port);
    if (s.service) r.service = s.service;
    else delete r.service;
    c.clientIp = j.src.ip;
    c.oriented = true;
    if (j.dst.port === 53) {
      this.lastDns.set(j.src.ip, c);
      // Journeys come in as the tracer finishes them, not as they began: the call may be here first.
      for (const call of this.recent) if (call.clientIp === c.clientIp && call.oriented && !this.isDns(call)) this.linkDns(call, c);
    } else {
      const d = this.lastDns.get(c.clientIp);
      if (d && this.conns.has(d.row.id)) this.linkDns(c, d);
    }
  }

  private isDns(c: Conn): boolean {
    return this.lastDns.get(c.clientIp) === c || c.row.toAddr.endsWith(':53') || c.row.service?.endsWith(':53') === true;
  }

  /** Links a call to a lookup of the same pod that began at most DNS_LINK_NS before it (the latest such). */
  private linkDns(call: Conn, dns: Conn): void {
    if (call === dns) return;
    const before = call.row.startNs - dns.row.startNs;
    if (before < 0 || before > DNS_LINK_NS) return;
    if (call.row.dns && call.row.dns.beforeNs <= before) return;
    call.row.dns = { id: dns.row.id, server: dns.row.service ?? dns.row.to, beforeNs: before };
    this.changed.add(call);
  }

  private account(c: Conn, j: Journey, isReply: boolean, tcp: { flags: string; seq: number } | undefined): void {
    const r = c.row;
    if (!isReply && !c.oriented) this.orient(c, j, false);
    r.packets++;
    if (isReply) r.replies++;
    else r.requests++;
    if (!isReply) {
      // A row made from a reply had the reply's times (another node's clock, with a hub).
      const first = r.requests === 1;
      r.startNs = first ? j.startNs : Math.min(r.startNs, j.startNs);
      r.lastNs = first ? j.startNs : Math.max(r.lastNs, j.startNs);
    }
    if (j.verdict === 'dropped') r.drops++;
    if (VERDICT_RANK[j.verdict] > VERDICT_RANK[r.verdict]) r.verdict = j.verdict;
    // A packet still on its way that later arrived is not the connection's verdict any more.
    else if (r.verdict === 'in-flight' && j.verdict === 'delivered' && r.drops === 0) r.verdict = 'delivered';
    if (!tcp) return;
    const f = tcp.flags;
    if (isFreshSyn(f) && !isReply) {
      c.synSeq ??= tcp.seq;
      c.synStartNs ??= j.startNs;
    } else if (f.includes('S') && isAck(f) && c.synStartNs !== undefined && r.handshakeNs === undefined) {
      r.handshakeNs = Math.max(0, j.endNs - c.synStartNs);
      r.handshake = duration(r.handshakeNs);
    }
    if (f.includes('F') || f.includes('R')) {
      c.closed = true;
      r.state = 'closed';
    } else if (r.state === 'opening' && isAck(f) && !f.includes('S')) r.state = 'open';
  }

  private evictOldest(): void {
    const oldest = this.conns.values().next().value as Conn;
    this.drop(oldest);
    this.evicted++;
  }

  private drop(c: Conn): void {
    this.conns.delete(c.row.id);
    for (const k of c.keys) if (this.byKey.get(k) === c) this.byKey.delete(k);
    for (const id of c.journeyIds) if (this.byJourney.get(id) === c) this.byJourney.delete(id);
    if (this.lastDns.get(c.clientIp) === c) this.lastDns.delete(c.clientIp);
    this.changed.delete(c);
    const r = this.recent.indexOf(c);
    if (r >= 0) this.recent.splice(r, 1);
  }

  /** Rows of the connections changed since the last call, oldest connection first (copies: the page may keep them). */
  takeChanged(): ConnectionRow[] {
    const out = [...this.changed].sort((a, b) => a.seq - b.seq).map((c) => ({ ...c.row }));
    this.changed.clear();
    return out;
  }

  /** Every row, oldest first. */
  rows(): ConnectionRow[] {
    this.changed.clear();
    return [...this.conns.values()].map((c) => ({ ...c.row }));
  }

  /**
   * The journeys (ids) of a connection still kept, in the order they were sent, and how many it
   * had in all. The tracer hands journeys on as they end, not as they began (an ACK can come
   * before the data it acknowledges), so: requests by their kernel start (one caller, one clock),
   * each reply right after the request it answers (with a hub it began on another node's clock);
   * a reply whose request aged out stays after the request that arrived before it.
   */
  packetsOf(id: string): { ids: string[]; total: number } | undefined {
    const c = this.conns.get(id);
    if (!c) return undefined;
    const key = new Map<string, [number, number, number]>();
    let last = Number.NEGATIVE_INFINITY;
    c.journeyIds.forEach((jid, arrival) => {
      const o = c.packetOrder.get(jid)!;
      if ('startNs' in o) {
        last = o.startNs;
        key.set(jid, [o.startNs, 0, arrival]);
        return;
      }
      const req = c.packetOrder.get(o.replyTo);
      key.set(jid, [req && 'startNs' in req ? req.startNs : last, 1, arrival]);
    });
    const ids = [...c.journeyIds].sort((a, b) => {
      const x = key.get(a)!;
      const y = key.get(b)!;
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
    return { ids, total: c.row.packets };
  }

  /** The connection of a journey, while kept. */
  connectionOf(journeyId: string): string | undefined {
    return this.byJourney.get(journeyId)?.row.id;
  }

  get stats(): ConnectionStats {
    return { connections: this.conns.size, evicted: this.evicted, journeys: this.journeys };
  }

  /** Forgets everything (the list was cleared or refiltered; it is rebuilt from what is listed). */
  clear(): void {
    this.conns.clear();
    this.byKey.clear();
    this.byJourney.clear();
    this.lastDns.clear();
    this.changed.clear();
    this.recent = [];
  }
}


/** Text of a connection row for titles and tests: "client → svc/web:80 → web-… · TCP · 11 packets · delivered". */
export function connectionText(r: ConnectionRow): string {
  const via = r.service ? ` via ${r.service}` : '';
  const hs = r.handshake ? ` · handshake ${r.handshake}` : '';
  return `${r.from} → ${r.to}${via} · ${r.proto.toUpperCase()} · ${r.packets} packets · ${r.verdict}${hs}`;
}

/**
 * The page's list of connections: `updates` replace rows of the same id in place and new ones
 * append, bounded to `max` (oldest go, as in the table). Returns `list` itself when nothing changed.
 */
export function upsertConnections(list: readonly ConnectionRow[], updates: readonly ConnectionRow[], max = MAX_CONNECTIONS): readonly ConnectionRow[] {
  if (updates.length === 0) return list;
  const at = new Map<string, number>();
  list.forEach((r, i) => at.set(r.id, i));
  const out = list.slice();
  for (const u of updates) {
    const i = at.get(u.id);
    if (i !== undefined) out[i] = u;
    else {
      at.set(u.id, out.length);
      out.push(u);
    }
  }
  return out.length > max ? out.slice(out.length - max) : out;
}
