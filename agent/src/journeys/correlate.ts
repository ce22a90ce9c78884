// Correlation: TraceEvents in, Journeys out. One packet's events are grouped by skb address
// (the same sk_buff follows a packet across namespaces, veth, bridge and VXLAN on one kernel);
// where the skb changes (another node, a clone) they are joined by a NAT-proof fingerprint of
// the inner packet. skb addresses are reused once freed, so a journey ends at free/drop, when
// it settles after delivery, or after an idle time-out. Replies are linked to their request
// through a bounded table of the tuples each connection was seen with. Pure: no clock, no I/O.
import type { IdentityLookup } from '../identity/types.ts';
import type { ConntrackTuples, DropEvent, HopEvent, IpPacket, Journey, TraceEvent } from '../protocol/events.ts';
import { buildJourney, deviceKind, type DeviceInfo, type JourneyEnd, type RawJourney } from './classify.ts';
import {
  ctDirection,
  ctKey,
  fingerprint,
  innerPacket,
  joinable,
  packetKey,
  reverse,
  sameConntrack,
  sameFingerprint,
  samePacketTuple,
  tupleKey,
  tupleOf,
} from './fingerprint.ts';

/** Options of the correlator. */
export interface CorrelatorOptions {
  identity: IdentityLookup;
  /** A journey with no event for this long is closed as in-flight (default 1 s). */
  idleNs?: number;
  /** A journey delivered into a pod is closed this long after its last event if no free/drop came (default 50 ms). */
  settleNs?: number;
  /** At most this many open journeys; the oldest is evicted (and counted) to make room (default 4096). */
  maxOpen?: number;
  /** Receives journeys closed by push (free, drop, skb reuse). Without it they are returned by the next tick. */
  onJourney?: (j: Journey) => void;
}

/** Counters of the correlator. */
export interface CorrelatorStats {
  open: number;
  completed: number;
  /** Open journeys dropped unfinished to stay within maxOpen. */
  evicted: number;
  /** Events for a journey already closed (out of order across CPUs), ignored. */
  late: number;
  /** Drop/free events for skbs no journey follows. */
  orphans: number;
  /** Journeys joined across a change of skb by fingerprint. */
  joined: number;
  /** Journeys left with nothing to show (e.g. a drop with no readable packet). */
  empty: number;
}

/** Groups TraceEvents into Journeys. */
export interface Correlator {
  push(e: TraceEvent): void;
  /**
   * Close journeys settled after delivery at `nowNs` (kernel monotonic time), and those idle at
   * `streamNs`: the kernel time up to which the events are known to have been pushed (default,
   * and at most, nowNs). A journey whose next events are still in the tracer's buffers is not
   * idle, however long they take to come.
   */
  tick(nowNs: number, streamNs?: number): Journey[];
  /** Close every open journey (on stop). */
  flush(): Journey[];
  stats(): CorrelatorStats;
}

interface Open {
  raw: RawJourney;
  skbs: Set<string>;
  fp: string;
  /** The packet `fp` was taken from (compared field by field on every hop, see sameFingerprint). */
  fpPacket: IpPacket;
  fpJoinable: boolean;
  lastTs: number;
  delivered: boolean;
  /** Whether the direction came from a conntrack entry (else a guess from the tuple table). */
  dirCertain: boolean;
  conn: Conn;
  /** The tuple keys this journey's last hop registered, kept while the hops' tuples stay the same. */
  keys: TupleKeys;
}

/**
 * Tuple keys of a hop: its packet's, and its conntrack entry's two directions. Most hops of a
 * journey repeat the previous hop's tuples, and a key string made once also keeps its hash, so
 * the tuple table's lookups for them cost no new string.
 */
interface TupleKeys {
  packet?: IpPacket;
  packetKey: string;
  ct?: ConntrackTuples;
  origKey: string;
  replyKey: string;
}

interface Conn {
  lastRequest?: string;
}

interface TupleEntry {
  conn: Conn;
  dir: 'orig' | 'reply';
}

const DEFAULT_IDLE_NS = 1_000_000_000;
const DEFAULT_SETTLE_NS = 50_000_000;
const DEFAULT_MAX_OPEN = 4096;

/** Create a correlator. */
export function createCorrelator(opts: CorrelatorOptions): Correlator {
  const identity = opts.identity;
  const idleNs = opts.idleNs ?? DEFAULT_IDLE_NS;
  const settleNs = opts.settleNs ?? DEFAULT_SETTLE_NS;
  const maxOpen = Math.max(1, opts.maxOpen ?? DEFAULT_MAX_OPEN);
  const maxTuples = maxOpen * 8;
  const maxClosed = maxOpen * 4;

  const devices = new Map<number | string, DeviceInfo>();
  // One number for (netns inode < 2^32, ifindex < 2^20) stays exact in a double; a string otherwise.
  const deviceKey = (netns: number, ifindex: number): number | string => (ifindex < 0x100000 ? netns * 0x100000 + ifindex : `${netns}:${ifindex}`);
  const lookupDevice = (netns: number, ifindex: number) => devices.get(deviceKey(netns, ifindex));
  // Insertion order = age: the first entry is the oldest open journey.
  const open = new Map<RawJourney, Open>();
  const bySkb = new Map<string, Open>();
  const byFp = new Map<string, Open>();
  // skb → end time of the journey it just closed, to recognise late events from another CPU.
  const closedSkb = new Map<string, number>();
  const tuples = new Map<string, TupleEntry>();
  const outbox: Journey[] = [];
  const stats: CorrelatorStats = { open: 0, completed: 0, evicted: 0, late: 0, orphans: 0, joined: 0, empty: 0 };
  let nextId = 1;
  let newest: Open | undefined;

  // Bounded maps, oldest entry out first. An entry already holding the same value keeps its place
  // (re-inserting it on every hop costs more than the rare early eviction of a busy flow's tuple).
  const remember = <K, V>(m: Map<K, V>, k: K, v: V, max: number) => {
    const had = m.get(k);
    if (had !== undefined) {
      if (had === v) return;
      m.delete(k);
    }
    m.set(k, v);
    if (m.size > max) m.delete(m.keys().next().value as K);
  };

  const finish = (o: Open, end: JourneyEnd): Journey | undefined => {
    open.delete(o.raw);
    for (const s of o.skbs) {
      if (bySkb.get(s) === o) bySkb.delete(s);
      remember(closedSkb, s, o.lastTs, maxClosed);
    }
    if (byFp.get(o.fp) === o) byFp.delete(o.fp);
    o.raw.end = end;
    const j = buildJourney(o.raw, identity, lookupDevice);
    if (!j) {
      stats.empty++;
      return undefined;
    }
    stats.completed++;
    return j;
  };

  const emit = (j: Journey | undefined) => {
    if (!j) return;
    if (opts.onJourney) opts.onJourney(j);
    else outbox.push(j);
  };

  const rememberTuple = (key: string, conn: Conn, dir: 'orig' | 'reply') => {
    const had = tuples.get(key);
    if (had && had.conn === conn && had.dir === dir) return;
    remember(tuples, key, { conn, dir }, maxTuples);
  };

  const registerTuples = (o: Open, e: HopEvent, dir: 'orig' | 'reply') => {
    const k = o.keys;
    const p = innerPacket(e);
    if (!k.packet || !samePacketTuple(k.packet, p)) k.packetKey = packetKey(p);
    k.packet = p;
    rememberTuple(k.packetKey, o.conn, dir);
    const ct = e.ct;
    if (ct) {
      if (!k.ct || !sameConntrack(k.ct, ct)) {
        k.origKey = ctKey(ct.proto, ct.orig);
        k.replyKey = ctKey(ct.proto, ct.reply);
      }
      k.ct = ct;
      rememberTuple(k.origKey, o.conn, 'orig');
      rememberTuple(k.replyKey, o.conn, 'reply');
    }
  };

  /** Direction and connection of a new journey from its first event. */
  const placeInConnection = (e: HopEvent): { conn: Conn; dir: 'orig' | 'reply'; certain: boolean } => {
    const p = innerPacket(e);
    if (e.ct) {
      const dir = ctDirection(p, e.ct);
      if (dir) {
        const known = tuples.get(ctKey(e.ct.proto, e.ct.orig));
        return { conn: known?.conn ?? {}, dir, certain: true };
      }
    }
    const t = tupleOf(p);
    const same = tuples.get(tupleKey(t));
    if (same) return { conn: same.conn, dir: same.dir, certain: false };
    const rev = tuples.get(tupleKey(reverse(t)));
    if (rev) return { conn: rev.conn, dir: rev.dir === 'orig' ? 'reply' : 'orig', certain: false };
    return { conn: {}, dir: 'orig', certain: false };
  };

  const setDirection = (o: Open, dir: 'orig' | 'reply') => {
    o.raw.isReply = dir === 'reply';
    if (dir === 'orig') {
      o.conn.lastRequest = o.raw.id;
      delete o.raw.replyTo;
    } else if (o.conn.lastRequest && o.conn.lastRequest !== o.raw.id) {
      o.raw.replyTo = o.conn.lastRequest;
    }
  };

  const openJourney = (e: HopEvent, fp: string): Open => {
    if (open.size >= maxOpen) {
      const oldest = open.values().next().value as Open;
      // Evicted journeys are counted, not shown: eviction means overload, when showing less helps.
      finish(oldest, 'idle');
      stats.completed--;
      stats.evicted++;
    }
    const p = innerPacket(e);
    const placed = placeInConnection(e);
    const raw: RawJourney = { id: `j${nextId++}`, events: [], isReply: false, identityUnknown: false, end: 'idle' };
    const o: Open = {
      raw,
      skbs: new Set([e.skb]),
      fp,
      fpPacket: p,
      fpJoinable: joinable(p),
      lastTs: e.tsNs,
      delivered: false,
      dirCertain: placed.certain,
      conn: placed.conn,
      keys: { packetKey: '', origKey: '', replyKey: '' },
    };
    setDirection(o, placed.dir);
    open.set(raw, o);
    newest = o;
    bySkb.set(e.skb, o);
    if (o.fpJoinable) byFp.set(o.fp, o);
    return o;
  };

  const addHop = (o: Open, e: HopEvent) => {
    o.raw.events.push(e);
    o.lastTs = Math.max(o.lastTs, e.tsNs);
    if (!identity.synced) o.raw.identityUnknown = true;
    if (e.ct && !o.dirCertain) {
      const dir = ctDirection(innerPacket(e), e.ct);
      if (dir) {
        o.dirCertain = true;
        const known = tuples.get(ctKey(e.ct.proto, e.ct.orig));
        if (known && known.conn !== o.conn) o.conn = known.conn;
        setDirection(o, dir);
      }
    }
    registerTuples(o, e, o.raw.isReply ? 'reply' : 'orig');
    const owner = identity.netnsOwner(e.netns);
    const kind = deviceKind(e, owner, lookupDevice, identity);
    if (kind === 'deliver' || (kind === 'loopback' && e.hook === 'recv')) o.delivered = true;
  };

  const onHop = (e: HopEvent) => {
    const p = innerPacket(e);
    let o = bySkb.get(e.skb);
    if (o && !sameFingerprint(o.fpPacket, p)) {
      // Same address, another packet: the old one's life ended without a free we saw.
      emit(finish(o, 'reused'));
      o = undefined;
    }
    if (!o) {
      const closedAt = closedSkb.get(e.skb);
      if (closedAt !== undefined && e.tsNs <= closedAt) {
        stats.late++;
        return;
      }
      const fp = fingerprint(p);
      const twin = joinable(p) ? byFp.get(fp) : undefined;
      if (twin && !twin.skbs.has(e.skb)) {
        twin.skbs.add(e.skb);
        bySkb.set(e.skb, twin);
        stats.joined++;
        o = twin;
      } else {
        o = openJourney(e, fp);
      }
    }
    // Keep insertion order = last activity, so eviction takes the stalest (already last: no-op).
    if (o !== newest) {
      open.delete(o.raw);
      open.set(o.raw, o);
      newest = o;
    }
    addHop(o, e);
  };

  const onEnd = (skb: string, tsNs: number, drop?: DropEvent) => {
    const o = bySkb.get(skb);
    if (!o) {
      stats.orphans++;
      return;
    }
    if (drop) {
      o.raw.events.push(drop);
      o.lastTs = Math.max(o.lastTs, drop.tsNs);
      emit(finish(o, 'drop'));
      return;
    }
    // A clone freed while the packet lives on under another skb ends only that branch.
    o.skbs.delete(skb);
    bySkb.delete(skb);
    remember(closedSkb, skb, tsNs, maxClosed);
    if (o.skbs.size === 0) emit(finish(o, 'free'));
  };

  return {
    push(e: TraceEvent): void {
      switch (e.type) {
        case 'hop':
          onHop(e);
          return;
        case 'drop':
          onEnd(e.skb, e.tsNs, e);
          return;
        case 'free':
          onEnd(e.skb, e.tsNs);
          return;
        case 'device':
          remember(devices, deviceKey(e.netns, e.ifindex), { kind: e.kind, masterIfindex: e.masterIfindex, dev: e.dev }, 65536);
          return;
        case 'nat': {
          const o = bySkb.get(e.skb);
          if (o) rememberTuple(ctKey(e.ct.proto, e.ct.orig), o.conn, 'orig');
          return;
        }
        case 'gap':
          // The tracer was down: frees were missed and skb addresses may have been reused.
          for (const o of [...open.values()]) emit(finish(o, 'gap'));
          closedSkb.clear();
          return;
        case 'lost':
        case 'sampled':
          return;
        default: {
          const never: never = e;
          return never;
        }
      }
    },
    tick(nowNs: number, streamNs = nowNs): Journey[] {
      const out = outbox.splice(0);
      const soonest = Math.min(settleNs, idleNs);
      const streamLag = Math.max(0, nowNs - streamNs);
      for (const o of [...open.values()]) {
        const quiet = nowNs - o.lastTs;
        // Ordered by last activity: everything after this one is quieter for less time (and
        // the stream's clock is never ahead of nowNs, so neither is the idle test).
        if (quiet < soonest) break;
        if (o.delivered && quiet >= settleNs) {
          const j = finish(o, 'settled');
          if (j) out.push(j);
        } else if (quiet - streamLag >= idleNs) {
          const j = finish(o, 'idle');
          if (j) out.push(j);
        }
      }
      return out;
    },
    flush(): Journey[] {
      const out = outbox.splice(0);
      for (const o of [...open.values()]) {
        const j = finish(o, 'stopped');
        if (j) out.push(j);
      }
      return out;
    },
    stats(): CorrelatorStats {
      return { ...stats, open: open.size };
    },
  };
}
