import { describe, expect, it } from 'vitest';
import type { ConntrackTuples, IpPacket, L4Header, L4Proto } from '../protocol/events.ts';
import { seededRandom } from '../tracer/__tests__/seeded-random.ts';
import {
  ctDirection,
  ctKey,
  dportOf,
  fingerprint,
  packetKey,
  ports,
  reverse,
  sameConntrack,
  sameFingerprint,
  samePacketTuple,
  sportOf,
  tupleKey,
  tupleOf,
  type Tuple,
} from './fingerprint.ts';

// The field-by-field functions must answer exactly as the string keys they stand for. Values are
// drawn from small sets so that equal fields, and equal keys, come up often.
const rnd = seededRandom(20261123);
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
const V4 = ['10.244.1.2', '10.244.2.3', '10.96.0.20'];
// "fd00::1" with port 2 and "fd00::1:2" with none must not be taken for one another.
const V6 = ['fd00::1', 'fd00::1:2', 'fd00::2'];
const PORTS = [0, 2, 53, 80, 8080];

function l4(): L4Header {
  switch (pick(['tcp', 'udp', 'icmp', 'other'] as const)) {
    case 'tcp':
      return { proto: 'tcp', sport: pick(PORTS), dport: pick(PORTS), flags: pick(['S', 'S.', '.']), seq: pick([1, 2]), ack: pick([0, 1]) };
    case 'udp':
      return { proto: 'udp', sport: pick(PORTS), dport: pick(PORTS) };
    case 'icmp':
      return { proto: 'icmp', icmpType: pick([0, 8]), code: 0, id: pick([7, 9]), seq: pick([1, 2]) };
    case 'other':
      return { proto: 'other', number: pick([47, 132]) };
  }
}

function packet(): IpPacket {
  const family = pick([4, 6] as const);
  const addrs = family === 4 ? V4 : V6;
  return { family, src: pick(addrs), dst: pick(addrs), ipId: pick([0, 1974]), ttl: pick([63, 64]), len: pick([60, 84]), l4: l4() };
}

function variant(a: IpPacket): IpPacket {
  const b: IpPacket = { ...a, src: pick(V4), ttl: pick([63, 64]), l4: { ...a.l4 } };
  const l = b.l4 as unknown as Record<string, number | string>;
  const keys = Object.keys(l).filter((k) => k !== 'proto');
  if (rnd(2) === 0 && keys.length > 0) l[pick(keys)] = pick([0, 1, 2, 9, 'S']);
  else if (rnd(2) === 0) b.ipId = pick([0, 1974]);
  return b;
}

function conntrack(): ConntrackTuples {
  const dir = () => ({ src: pick([...V4, ...V6]), dst: pick([...V4, ...V6]), sport: pick(PORTS), dport: pick(PORTS) });
  return { proto: pick(['tcp', 'udp', 'icmp'] as const satisfies L4Proto[]), orig: dir(), reply: dir() };
}

// ctDirection as it was written with tuple keys: what the field-by-field version must answer.
function ctDirectionByKeys(p: IpPacket, ct: ConntrackTuples): 'orig' | 'reply' | undefined {
  const t = tupleKey(tupleOf(p));
  const o: Tuple = { proto: ct.proto, ...ct.orig };
  const r: Tuple = { proto: ct.proto, ...ct.reply };
  if (t === tupleKey(o) || t === tupleKey(reverse(r))) return 'orig';
  if (t === tupleKey(r) || t === tupleKey(reverse(o))) return 'reply';
  const { sport } = ports(p);
  if (p.src === o.src && sport === o.sport) return 'orig';
  if (p.src === r.src && sport === r.sport) return 'reply';
  return undefined;
}

describe('fingerprint helpers agree with the string keys', () => {
  it('sameFingerprint is fingerprint equality', () => {
    let same = 0;
    for (let i = 0; i < 20_000; i++) {
      const a = packet();
      // Often the same packet elsewhere on its path (other addresses, ttl), or one field apart.
      const b = rnd(2) === 0 ? packet() : variant(a);
      const want = fingerprint(a) === fingerprint(b);
      if (want) same++;
      expect(sameFingerprint(a, b)).toBe(want);
      expect(sameFingerprint(a, a)).toBe(true);
    }
    expect(same).toBeGreaterThan(100);
  });

  it('packetKey, ctKey, sportOf and dportOf are what the tuples give', () => {
    for (let i = 0; i < 5_000; i++) {
      const p = packet();
      expect(packetKey(p)).toBe(tupleKey(tupleOf(p)));
      expect([sportOf(p), dportOf(p)]).toEqual([ports(p).sport, ports(p).dport]);
      const ct = conntrack();
      expect(ctKey(ct.proto, ct.orig)).toBe(tupleKey({ proto: ct.proto, ...ct.orig }));
      expect(ctKey(ct.proto, ct.reply)).toBe(tupleKey({ proto: ct.proto, ...ct.reply }));
    }
  });

  it('samePacketTuple and sameConntrack are key equality', () => {
    let samePackets = 0;
    let sameEntries = 0;
    for (let i = 0; i < 20_000; i++) {
      const a = packet();
      const b = rnd(2) === 0 ? packet() : variant(a);
      const want = packetKey(a) === packetKey(b);
      if (want) samePackets++;
      expect(samePacketTuple(a, b)).toBe(want);
      const x = conntrack();
      // Often the entry seen again, as on the next hop, or one field apart.
      const y = rnd(2) === 0 ? conntrack() : { ...x, reply: { ...x.reply, sport: rnd(2) === 0 ? x.reply.sport : pick(PORTS) } };
      const same = ctKey(x.proto, x.orig) === ctKey(y.proto, y.orig) && ctKey(x.proto, x.reply) === ctKey(y.proto, y.reply);
      if (same) sameEntries++;
      expect(sameConntrack(x, y)).toBe(same);
    }
    expect(Math.min(samePackets, sameEntries)).toBeGreaterThan(500);
  });

  it('ctDirection answers as the tuple-key comparison did, for packets of and beside the entry', () => {
    const seen = { orig: 0, reply: 0, none: 0 };
    for (let i = 0; i < 20_000; i++) {
      const ct = conntrack();
      const p = packet();
      // Half the packets travel one of the entry's directions (or its reverse), as real ones do.
      if (rnd(2) === 0) {
        const t = pick([ct.orig, ct.reply]);
        const back = rnd(2) === 0;
        p.src = back ? t.dst : t.src;
        p.dst = back ? t.src : t.dst;
        p.l4 = ct.proto === 'icmp' ? { proto: 'icmp', icmpType: 8, code: 0, id: t.sport, seq: 1 } : { proto: ct.proto, sport: back ? t.dport : t.sport, dport: back ? t.sport : t.dport } as L4Header;
      }
      const want = ctDirectionByKeys(p, ct);
      seen[want ?? 'none']++;
      expect(ctDirection(p, ct)).toBe(want);
    }
    expect(Math.min(seen.orig, seen.reply, seen.none)).toBeGreaterThan(500);
  });
});
