// Decodes bpftrace's text output (bpf/datapath.bt.tmpl line format) into TraceEvents.
// Pure and total: any line yields an event, a notice or a counted rejection; nothing throws.
// Speed matters (a flood is hundreds of thousands of lines a second), so fields are split
// by hand and parsed with char-code loops rather than regexes or parseInt on every field.
import type {
  ConntrackTuples,
  DeviceEvent,
  DropEvent,
  Encapsulation,
  FreeEvent,
  GapEvent,
  HookPoint,
  HopEvent,
  IpPacket,
  L4Header,
  L4Proto,
  LostEvent,
  NatEvent,
  SampledEvent,
  TraceEvent,
} from '../protocol/events.ts';

/** A line that was not an event, with why. */
export interface Rejection {
  type: 'rejected';
  reason: string;
  /** The line, cut to 200 characters. */
  line: string;
}

/** A line that is not an event but says something about the tracer (banner, attach). */
export interface Notice {
  type: 'notice';
  kind: 'banner' | 'attached' | 'counter' | 'flush' | 'beat';
  /**
   * Program format version (banner), probes attached, a sampler counter's run total held for
   * the next report, the kernel time (ns) of a flush (-1 from a program of format 1, whose
   * flush line had none), or 0 (a CPU's beat).
   */
  value: number;
}

const UNTIMED_FLUSH: Notice = Object.freeze({ type: 'notice', kind: 'flush', value: -1 }) as Notice;
const BEAT: Notice = Object.freeze({ type: 'notice', kind: 'beat', value: 0 }) as Notice;

/** What one line decodes to. */
export type DecodeResult = TraceEvent | Rejection | Notice;

/** Counters of a decoder's life. */
export interface DecoderStats {
  lines: number;
  events: number;
  rejections: number;
  lost: number;
}

/** A stateful decoder: numbers events, remembers device names and sampler reports. */
export interface Decoder {
  decode(line: string): DecodeResult;
  /**
   * Decodes the line held in `buf[start..end)` (without its newline), as decode() would its
   * text: the runner reads bpftrace's stdout as bytes, and hop lines are read from them in
   * place, without a string per line.
   */
  decodeBytes(buf: Uint8Array, start: number, end: number): DecodeResult;
  /** A GapEvent numbered in the same sequence as decoded events. */
  gap(fromMs: number, toMs: number, reason: string): GapEvent;
  stats(): DecoderStats;
  /**
   * Forget per-run state (device names, the sampler counters' totals so far) when a new
   * bpftrace run starts; numbering continues.
   */
  reset(): void;
}

/**
 * One decoder's read cursor and scratch outputs: the hop line being read is buf[pos..end)
 * (bpftrace's stdout is read as bytes, and a byte loop is about twice as fast as charCodeAt on a
 * sliced string), and each hex field parsed lands in hi (upper 32 bits) and lo (lower 32), so no
 * pair is allocated per field. Each decoder has its own: two decoders (the runner restarting,
 * a test, a bench beside the agent) never share a position.
 */
class Cursor {
  buf: Uint8Array = new Uint8Array(0);
  end = 0;
  pos = 0;
  hi = 0;
  lo = 0;
  /** One packet's four packed fields (w0|w1, w2|src, dst|a, b|c), lo and hi of each (see quadAt). */
  readonly quad = new Float64Array(8);
  /** Hop lines that arrive as text are encoded here (at most 4096 characters, 3 bytes each). */
  readonly scratch = new Uint8Array(3 * 4096);

  /** Parses up to 16 hex digits of `s` into hi/lo. False if invalid. */
  parseHex(s: string): boolean {
    const n = s.length;
    if (n === 0 || n > 16) return false;
    let hi = 0;
    let lo = 0;
    const split = n - 8;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      let v: number;
      if (c >= 48 && c <= 57) v = c - 48;
      else if (c >= 97 && c <= 102) v = c - 87;
      else if (c >= 65 && c <= 70) v = c - 55;
      else return false;
      if (i < split) hi = hi * 16 + v;
      else lo = lo * 16 + v;
    }
    this.hi = hi;
    this.lo = lo;
    return true;
  }

  /**
   * Parses the hex field that starts at pos (up to the next space or end) into hi/lo, as
   * parseHex does, and moves pos past it. Hop lines are read this way rather than split: 17
   * substrings a line were a third of the decoding time. One pass: digits shift through lo into
   * hi, so the field's end need not be found first.
   */
  hexField(): boolean {
    const b = this.buf;
    const end = this.end;
    const start = this.pos;
    let i = start;
    let hi = 0;
    let lo = 0;
    for (; i < end; i++) {
      const c = b[i]!;
      if (c === 32) break;
      const v = HEX_VALUE[c]!;
      if (v < 0) {
        this.skipFields(1);
        return false;
      }
      // Int32 arithmetic throughout (a field has at most 16 digits, so hi never overflows);
      // made unsigned once at the end.
      hi = (hi << 4) | (lo >>> 28);
      lo = (lo << 4) | v;
    }
    this.pos = i + 1;
    const n = i - start;
    if (n === 0 || n > 16) return false;
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
    return true;
  }

  /** Reads four hex fields at pos into quad (lo, hi of each). False if any is invalid (all four are consumed). */
  quadAt(): boolean {
    const q = this.quad;
    let ok = true;
    for (let k = 0; k < 4; k++) {
      if (this.hexField()) {
        q[2 * k] = this.lo;
        q[2 * k + 1] = this.hi;
      } else ok = false;
    }
    return ok;
  }

  /** Skips n fields at pos. */
  skipFields(n: number): void {
    const b = this.buf;
    const end = this.end;
    let i = this.pos;
    for (let k = 0; k < n; k++) {
      while (i < end && b[i] !== 32) i++;
      i++;
    }
    this.pos = i;
  }
}

// Value of each hex digit's byte, -1 for any other byte (256 entries: no range check).
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let d = 0; d < 10; d++) HEX_VALUE[48 + d] = d;
for (let d = 0; d < 6; d++) {
  HEX_VALUE[97 + d] = 10 + d;
  HEX_VALUE[65 + d] = 10 + d;
}

/** Fields of a line: spaces + 1, as split(' ') would count them. */
function fieldCount(s: string): number {
  let n = 1;
  for (let i = s.indexOf(' '); i >= 0; i = s.indexOf(' ', i + 1)) n++;
  return n;
}

/**
 * The flush line "P <nsecs hex> <dots>" (format 1: "P <dots>", no time) as a notice; null when
 * the bytes are not one.
 */
function flushLine(b: Uint8Array, start: number, end: number): Notice | null {
  let i = start + 2;
  if (b[i] === 46) return UNTIMED_FLUSH;
  let t = 0;
  for (; i < end && i - start - 2 < 16; i++) {
    const v = HEX_VALUE[b[i]!]!;
    if (v < 0) break;
    t = t * 16 + v;
  }
  if (i === start + 2 || b[i] !== 32 || b[i + 1] !== 46) return null;
  return { type: 'notice', kind: 'flush', value: t };
}

const ENCODER = new TextEncoder();
const bytesView = (b: Uint8Array, from: number, to: number): Buffer => Buffer.from(b.buffer, b.byteOffset + from, to - from);
const latin1 = (b: Uint8Array, from: number, to: number): string => bytesView(b, from, to).toString('latin1');
const utf8 = (b: Uint8Array, from: number, to: number): string => bytesView(b, from, to).toString('utf8');
/**
 * The hop line being read, for a rejection: `text` when the caller had it, else from the
 * cursor's bytes. (Not a closure made in hop(): under tsx, which keeps function names, making
 * one per line cost a defineProperty each and halved the decoder's rate.)
 */
const lineText = (c: Cursor, start: number, text: string | null): string => text ?? utf8(c.buf, start, c.end);

function parseDec(s: string): number {
  const n = s.length;
  if (n === 0 || n > 20) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

// Addresses repeat heavily (a few flows, many packets): formatting is cached in a small
// direct-mapped table (an array probe is several times cheaper than a Map lookup, and there
// are up to eight addresses a line).
const IPV4_SLOTS = 4096;
const IPV4_KEYS = new Float64Array(IPV4_SLOTS).fill(-1);
const IPV4_VALS: string[] = new Array<string>(IPV4_SLOTS).fill('');
function ipv4(raw: number): string {
  const h = Math.imul(raw, 0x9e3779b1) >>> 20;
  if (IPV4_KEYS[h] === raw) return IPV4_VALS[h]!;
  const s = `${raw & 0xff}.${(raw >>> 8) & 0xff}.${(raw >>> 16) & 0xff}.${raw >>> 24}`;
  IPV4_KEYS[h] = raw;
  IPV4_VALS[h] = s;
  return s;
}
const swap16 = (raw: number): number => ((raw & 0xff) << 8) | ((raw >>> 8) & 0xff);
const swap32 = (raw: number): number =>
  (((raw & 0xff) << 24) | ((raw & 0xff00) << 8) | ((raw >>> 8) & 0xff00) | (raw >>> 24)) >>> 0;

// tcpdump's flag letters and order, '.' for ACK.
const TCP_FLAGS: string[] = [];
for (let f = 0; f < 256; f++) {
  let s = '';
  if (f & 0x01) s += 'F';
  if (f & 0x02) s += 'S';
  if (f & 0x04) s += 'R';
  if (f & 0x08) s += 'P';
  if (f & 0x10) s += '.';
  if (f & 0x20) s += 'U';
  if (f & 0x40) s += 'E';
  if (f & 0x80) s += 'W';
  TCP_FLAGS.push(s === '' ? 'none' : s);
}

/** L4 header from the raw words at the transport header: a = bytes 0-3, b = 4-7, c = 8-11. */
function l4(proto: number, a: number, b: number, c: number, flags: number, icmpProto: number): L4Header {
  if (proto === 6) {
    return { proto: 'tcp', sport: swap16(a & 0xffff), dport: swap16(a >>> 16), flags: TCP_FLAGS[flags & 0xff]!, seq: swap32(b), ack: swap32(c) };
  }
  if (proto === 17) return { proto: 'udp', sport: swap16(a & 0xffff), dport: swap16(a >>> 16) };
  if (proto === icmpProto) {
    return { proto: 'icmp', icmpType: a & 0xff, code: (a >>> 8) & 0xff, id: swap16(b & 0xffff), seq: swap16(b >>> 16) };
  }
  return { proto: 'other', number: proto };
}

function l4Name(proto: number, icmpProto: number): L4Proto {
  return proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === icmpProto ? 'icmp' : 'other';
}

/** IPv4 packet from the cursor's quad (see quadAt), as ipv4Packet does from four strings. */
function ipv4FromQuad(q: Float64Array, flags: number): IpPacket | null {
  const w0 = q[0]!;
  const w1 = q[1]!;
  const w2 = q[2]!;
  const src = q[3]!;
  const dst = q[4]!;
  const a = q[5]!;
  const b = q[6]!;
  const c = q[7]!;
  if ((w0 & 0xf0) !== 0x40) return null;
  const proto = (w2 >>> 8) & 0xff;
  return {
    family: 4,
    src: ipv4(src),
    dst: ipv4(dst),
    ipId: swap16(w1 & 0xffff),
    ttl: w2 & 0xff,
    len: swap16(w0 >>> 16),
    l4: l4(proto, a, b, c, flags, 1),
  };
}

/** IPv6 address from two raw little-endian 64-bit words (hex) of network-order bytes. */
function ipv6(c: Cursor, hiHex: string, loHex: string): string | null {
  const groups: number[] = [];
  for (const h of [hiHex, loHex]) {
    if (!c.parseHex(h)) return null;
    // Memory byte i is bits 8i..8i+7 of the little-endian word.
    const lo = c.lo;
    const hi = c.hi;
    groups.push(((lo & 0xff) << 8) | ((lo >>> 8) & 0xff), (((lo >>> 16) & 0xff) << 8) | (lo >>> 24));
    groups.push(((hi & 0xff) << 8) | ((hi >>> 8) & 0xff), (((hi >>> 16) & 0xff) << 8) | (hi >>> 24));
  }
  // RFC 5952: compress the longest run (>= 2) of zero groups.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}


/**
 * What a counter that reads `total` now added since it read `before`. A total below the one
 * before is a counter that started again (bpftrace prints its cleared maps as 0 at exit): all
 * of it is new.
 */
const sinceTotal = (total: number, before: number): number => (total >= before ? total - before : total);

function reject(reason: string, line: string): Rejection {
  return { type: 'rejected', reason, line: line.length > 200 ? line.slice(0, 200) : line };
}

function kindString(c: Cursor, k0: string, k1: string): string | null {
  let out = '';
  for (const w of [k0, k1]) {
    if (!c.parseHex(w)) return null;
    for (const word of [c.lo, c.hi]) {
      for (let i = 0; i < 4; i++) {
        const ch = (word >>> (8 * i)) & 0xff;
        if (ch === 0) return out;
        if (ch < 0x20 || ch > 0x7e) return null;
        out += String.fromCharCode(ch);
      }
    }
  }
  return out;
}

/** A hop line's rejection: a wrong field count is the better reason, when it is the case. */
function badHop(line: string, reason: string): Rejection {
  const nf = fieldCount(line);
  return reject(nf !== 17 ? `hop line has ${nf} fields, expected 17` : reason, line);
}

/** Creates a decoder. `reasonNames` maps kfree_skb reason codes to the kernel's names. */
export function createDecoder(opts: { reasonNames: Map<number, string> }): Decoder {
  let seq = 0;
  const cur = new Cursor();
  const st: DecoderStats = { lines: 0, events: 0, rejections: 0, lost: 0 };
  const names = new Map<number, Map<number, string>>(); // netns -> ifindex -> device name
  // The program reports its sampler counters as totals since the run began (bpf/datapath.bt.tmpl:
  // zeroing them after each print lost what other CPUs counted in between); SampledEvent carries
  // per-report amounts, the differences from the totals of the run's previous report.
  let pendingSuppressed = -1;
  let suppressedTotal = 0;
  let printedTotal = 0;
  // The sampler's K from the report's "@k" line (it comes first).
  let pendingEvery = 0;

  // Hop lines name their device from D lines: a small direct-mapped cache in front of the two
  // Map lookups, emptied whenever a D line (re)names a device.
  const DEV_SLOTS = 1024;
  const devNs = new Float64Array(DEV_SLOTS).fill(-1);
  const devIf = new Float64Array(DEV_SLOTS).fill(-1);
  const devVal: string[] = new Array<string>(DEV_SLOTS).fill('');
  const devName = (ns: number, ifi: number): string => {
    const h = (Math.imul(ns ^ Math.imul(ifi, 0x85ebca6b), 0x9e3779b1) >>> 22) & (DEV_SLOTS - 1);
    if (devNs[h] === ns && devIf[h] === ifi) return devVal[h]!;
    const name = names.get(ns)?.get(ifi) ?? `if${ifi}`;
    devNs[h] = ns;
    devIf[h] = ifi;
    devVal[h] = name;
    return name;
  };
  const forgetDevNames = (): void => {
    devNs.fill(-1);
    devIf.fill(-1);
  };

  // skb addresses repeat (the slab reuses them), and the text of an address is fixed by its
  // value (bpftrace's %lx), so their strings come from a small direct-mapped cache.
  const SKB_SLOTS = 4096;
  const skbHi = new Float64Array(SKB_SLOTS).fill(-1);
  const skbLo = new Float64Array(SKB_SLOTS).fill(-1);
  const skbVal: string[] = new Array<string>(SKB_SLOTS).fill('');
  const skbText = (hi: number, lo: number, from: number, to: number): string => {
    const h = (Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 20) & (SKB_SLOTS - 1);
    if (skbLo[h] === lo && skbHi[h] === hi) return skbVal[h]!;
    const t = latin1(cur.buf, from, to);
    skbHi[h] = hi;
    skbLo[h] = lo;
    skbVal[h] = t;
    return t;
  };

  /** The IPv4 hop line in cur.buf[start..cur.end); `text` is the line when the caller has it. */
  function hop(start: number, text: string | null): DecodeResult {
    // Fields are read in place; the field count is checked at the end, and on any error first
    // (a wrong count is the better reason), so the count costs nothing on good lines.
    // "H <hook> ": the hook is one digit.
    const hc = cur.buf[start + 2];
    const hook: HookPoint | null = cur.end - start < 4 || cur.buf[start + 3] !== 32 ? null : hc === 49 ? 'recv' : hc === 50 ? 'xmit' : null;
    if (hook === null) return badHop(lineText(cur, start, text), 'unknown hook');
    cur.pos = start + 4;
    if (!cur.hexField()) return badHop(lineText(cur, start, text), 'bad timestamp');
    const tsNs = cur.hi * 4294967296 + cur.lo;
    if (!cur.hexField()) return badHop(lineText(cur, start, text), 'bad netns/ifindex');
    const netns = cur.lo;
    const ifindex = cur.hi;
    const skbAt = cur.pos;
    if (!cur.hexField()) return badHop(lineText(cur, start, text), 'bad skb address');
    const skb = skbText(cur.hi, cur.lo, skbAt, cur.pos - 1);
    const outerOk = cur.quadAt();
    if (!cur.hexField()) return badHop(lineText(cur, start, text), 'bad flags field');
    const flags = cur.lo & 0xff;
    const ek = (cur.lo >>> 8) & 0xff;
    const iflags = (cur.lo >>> 16) & 0xff;
    const ctProto = cur.lo >>> 24;
    const vniRaw = cur.hi >>> 8;
    const packet = outerOk ? ipv4FromQuad(cur.quad, flags) : null;
    if (!packet) return badHop(lineText(cur, start, text), 'bad IPv4 header');
    let encap: Encapsulation | undefined;
    if (ek === 1 || ek === 2) {
      const inner = cur.quadAt() ? ipv4FromQuad(cur.quad, iflags) : null;
      if (!inner) return badHop(lineText(cur, start, text), 'bad inner IPv4 header');
      const vni = ((vniRaw & 0xff) << 16) | (vniRaw & 0xff00) | ((vniRaw >>> 16) & 0xff);
      encap = ek === 1 ? { kind: 'vxlan', vni, inner } : { kind: 'ipip', inner };
    } else if (ek !== 0) {
      return badHop(lineText(cur, start, text), 'unknown encapsulation');
    } else {
      cur.skipFields(4);
    }
    let ct: ConntrackTuples | null = null;
    if (ctProto !== 0) {
      ct = tuplesAt(ctProto);
      if (!ct) return badHop(lineText(cur, start, text), 'bad conntrack fields');
    } else {
      cur.skipFields(3);
    }
    // Exactly 17 fields: the last one ended the line.
    if (cur.pos !== cur.end + 1 || cur.buf[cur.end - 1] === 32) return badHop(lineText(cur, start, text), 'bad hop line');
    // One object literal per shape (rather than adding keys later), so V8 sees few shapes.
    const dev = devName(netns, ifindex);
    const s = ++seq;
    if (encap === undefined) {
      return ct === null
        ? ({ type: 'hop', seq: s, tsNs, hook, netns, ifindex, dev, skb, packet } satisfies HopEvent)
        : ({ type: 'hop', seq: s, tsNs, hook, netns, ifindex, dev, skb, packet, ct } satisfies HopEvent);
    }
    return ct === null
      ? ({ type: 'hop', seq: s, tsNs, hook, netns, ifindex, dev, skb, packet, encap } satisfies HopEvent)
      : ({ type: 'hop', seq: s, tsNs, hook, netns, ifindex, dev, skb, packet, encap, ct } satisfies HopEvent);
  }

  /** Conntrack tuples from the three fields at cur.pos (see tuples). */
  function tuplesAt(proto: number): ConntrackTuples | null {
    if (!cur.hexField()) return null;
    const os = cur.lo;
    const od = cur.hi;
    if (!cur.hexField()) return null;
    const op = cur.lo;
    const rs = cur.hi;
    if (!cur.hexField()) return null;
    return tupleOf(proto, os, od, op, rs, cur.lo, cur.hi);
  }

  // c2 = orig src | orig dst << 32, c3 = orig ports | reply src << 32, c4 = reply dst | reply ports << 32
  function tuples(proto: number, c2: string, c3: string, c4: string): ConntrackTuples | null {
    if (!cur.parseHex(c2)) return null;
    const os = cur.lo;
    const od = cur.hi;
    if (!cur.parseHex(c3)) return null;
    const op = cur.lo;
    const rs = cur.hi;
    if (!cur.parseHex(c4)) return null;
    return tupleOf(proto, os, od, op, rs, cur.lo, cur.hi);
  }

  // Raw words: orig src, orig dst, orig ports, reply src, reply dst, reply ports.
  function tupleOf(proto: number, os: number, od: number, op: number, rs: number, rd: number, rp: number): ConntrackTuples {
    const osp = swap16(op & 0xffff);
    const odp = swap16(op >>> 16);
    const rsp = swap16(rp & 0xffff);
    const rdp = swap16(rp >>> 16);
    if (proto === 1) {
      // ICMP tuples hold the echo id where ports would be (and type/code on the other side,
      // which is not a port): report the id as sport, 0 as dport.
      return {
        proto: 'icmp',
        orig: { src: ipv4(os), dst: ipv4(od), sport: osp, dport: 0 },
        reply: { src: ipv4(rs), dst: ipv4(rd), sport: rsp, dport: 0 },
      };
    }
    return {
      proto: l4Name(proto, 1),
      orig: { src: ipv4(os), dst: ipv4(od), sport: osp, dport: odp },
      reply: { src: ipv4(rs), dst: ipv4(rd), sport: rsp, dport: rdp },
    };
  }

  function hop6(t: string[], line: string): DecodeResult {
    if (t.length !== 12) return reject(`IPv6 hop line has ${t.length} fields, expected 12`, line);
    const hook: HookPoint | null = t[1] === '1' ? 'recv' : t[1] === '2' ? 'xmit' : null;
    if (hook === null) return reject('unknown hook', line);
    if (!cur.parseHex(t[2]!)) return reject('bad timestamp', line);
    const tsNs = cur.hi * 4294967296 + cur.lo;
    if (!cur.parseHex(t[3]!)) return reject('bad netns/ifindex', line);
    const netns = cur.lo;
    const ifindex = cur.hi;
    const skb = t[4]!;
    if (!cur.parseHex(skb)) return reject('bad skb address', line);
    if (!cur.parseHex(t[5]!)) return reject('bad IPv6 header', line);
    const w0 = cur.lo;
    const flags = cur.hi & 0xff;
    const src = ipv6(cur, t[6]!, t[7]!);
    const dst = ipv6(cur, t[8]!, t[9]!);
    if (src === null || dst === null) return reject('bad IPv6 address', line);
    if (!cur.parseHex(t[10]!)) return reject('bad L4 header', line);
    const a = cur.lo;
    const b = cur.hi;
    if (!cur.parseHex(t[11]!)) return reject('bad L4 header', line);
    const c = cur.lo;
    const proto = (w0 >>> 16) & 0xff;
    const packet: IpPacket = { family: 6, src, dst, ipId: 0, ttl: w0 >>> 24, len: swap16(w0 & 0xffff) + 40, l4: l4(proto, a, b, c, flags, 58) };
    const ev: HopEvent = { type: 'hop', seq: ++seq, tsNs, hook, netns, ifindex, dev: devName(netns, ifindex), skb, packet };
    return ev;
  }

  function device(t: string[], line: string): DecodeResult {
    if (t.length !== 6) return reject(`device line has ${t.length} fields, expected 6`, line);
    if (!cur.parseHex(t[1]!)) return reject('bad netns/ifindex', line);
    const netns = cur.lo;
    const ifindex = cur.hi;
    const master = parseDec(t[2]!);
    if (master < 0) return reject('bad master ifindex', line);
    const kind = kindString(cur, t[3]!, t[4]!);
    if (kind === null) return reject('bad device kind', line);
    const dev = t[5]!;
    let inNs = names.get(netns);
    if (!inNs) names.set(netns, (inNs = new Map()));
    inNs.set(ifindex, dev);
    forgetDevNames();
    const ev: DeviceEvent = { type: 'device', seq: ++seq, netns, ifindex, dev, kind, masterIfindex: master };
    return ev;
  }

  function drop(t: string[], line: string): DecodeResult {
    if (t.length !== 8) return reject(`drop line has ${t.length} fields, expected 8`, line);
    const tsNs = parseDec(t[1]!);
    const netns = parseDec(t[2]!);
    const ifindex = parseDec(t[3]!);
    const code = parseDec(t[6]!);
    if (tsNs < 0 || netns < 0 || ifindex < 0 || code < 0 || !cur.parseHex(t[4]!)) return reject('bad drop fields', line);
    const ev: DropEvent = {
      type: 'drop',
      seq: ++seq,
      tsNs,
      netns,
      ifindex,
      dev: t[5]!,
      skb: t[4]!,
      reason: opts.reasonNames.get(code) ?? `REASON_${code}`,
      reasonCode: code,
      location: t[7]!,
    };
    return ev;
  }

  function free(t: string[], line: string): DecodeResult {
    const tsNs = t.length === 3 ? parseDec(t[1]!) : -1;
    if (tsNs < 0 || !cur.parseHex(t[2]!)) return reject('bad free line', line);
    const ev: FreeEvent = { type: 'free', seq: ++seq, tsNs, skb: t[2]! };
    return ev;
  }

  function nat(t: string[], line: string): DecodeResult {
    if (t.length !== 8) return reject(`nat line has ${t.length} fields, expected 8`, line);
    if (!cur.parseHex(t[1]!)) return reject('bad timestamp', line);
    const tsNs = cur.hi * 4294967296 + cur.lo;
    if (!cur.parseHex(t[2]!)) return reject('bad netns', line);
    const netns = cur.lo;
    if (!cur.parseHex(t[3]!) || !cur.parseHex(t[4]!)) return reject('bad nat fields', line);
    const manip = cur.lo & 0xff;
    const proto = (cur.lo >>> 8) & 0xff;
    const ct = tuples(proto, t[5]!, t[6]!, t[7]!);
    if (!ct || (manip !== 0 && manip !== 1)) return reject('bad nat fields', line);
    const ev: NatEvent = { type: 'nat', seq: ++seq, tsNs, netns, skb: t[3]!, manip: manip === 0 ? 'src' : 'dst', ct };
    return ev;
  }

  function counter(line: string): DecodeResult {
    // "@k: K", "@sup: N" then "@prn: N" (one report per interval).
    const colon = line.indexOf(': ');
    const n = colon > 0 ? parseDec(line.slice(colon + 2).trim()) : -1;
    if (n < 0) return reject('bad counter line', line);
    const name = line.slice(0, colon);
    if (name === '@k') {
      pendingEvery = n;
      return { type: 'notice', kind: 'counter', value: n } satisfies Notice;
    }
    if (name === '@sup') {
      pendingSuppressed = n;
      return { type: 'notice', kind: 'counter', value: n } satisfies Notice;
    }
    if (name === '@prn') {
      let suppressed = 0;
      if (pendingSuppressed >= 0) {
        suppressed = sinceTotal(pendingSuppressed, suppressedTotal);
        suppressedTotal = pendingSuppressed;
      }
      const ev: SampledEvent = { type: 'sampled', seq: ++seq, suppressed, printed: sinceTotal(n, printedTotal), every: pendingEvery };
      printedTotal = n;
      pendingSuppressed = -1;
      return ev;
    }
    return reject('unknown map', line);
  }

  function lostCount(line: string): number {
    // 0.17: "Lost 12 events" on stdout; newer: on stderr, possibly prefixed (e.g. "WARNING: ");
    // -f json: {"type": "lost_events", "data": {"events": 12}}.
    const at = line.indexOf('Lost ');
    if (at >= 0) {
      const end = line.indexOf(' events', at + 5);
      if (end > at) return parseDec(line.slice(at + 5, end));
    }
    if (line.includes('"lost_events"')) {
      const k = line.indexOf('"events"');
      if (k >= 0) {
        const rest = line.slice(k + 8).replace(/^\s*:\s*/, '');
        let end = 0;
        while (end < rest.length && rest.charCodeAt(end) >= 48 && rest.charCodeAt(end) <= 57) end++;
        return end > 0 ? parseDec(rest.slice(0, end)) : -1;
      }
    }
    return -1;
  }

  function decodeLine(line: string): DecodeResult {
    if (line.length === 0) return reject('empty line', line);
    const c = line.charCodeAt(0);
    // The program's flush line (bpf/datapath.bt.tmpl): longer than any event line.
    if (c === 80 && line.charCodeAt(1) === 32) {
      const e = ENCODER.encodeInto(line.slice(0, 24), cur.scratch);
      const f = flushLine(cur.scratch, 0, e.written);
      if (f) return f;
    }
    if (line.length > 4096) return reject('line too long', line);
    if (c === 84 && line.length === 1) return BEAT; // T
    if (line.charCodeAt(1) === 32) {
      if (c === 72) {
        // H: the hot path, read in place from bytes (decodeBytes hands them over directly).
        const { written } = ENCODER.encodeInto(line, cur.scratch);
        cur.buf = cur.scratch;
        cur.end = written;
        return hop(0, line);
      }
      const t = line.split(' ');
      switch (c) {
        case 54: return hop6(t, line); // 6
        case 68: return device(t, line); // D
        case 75: return drop(t, line); // K
        case 70: return free(t, line); // F
        case 78: return nat(t, line); // N
        case 66: { // B hopscope <version>
          const v = t.length === 3 && t[1] === 'hopscope' ? parseDec(t[2]!) : -1;
          return v < 0 ? reject('bad banner', line) : { type: 'notice', kind: 'banner', value: v };
        }
      }
    }
    if (c === 64) return counter(line); // @
    if (line.startsWith('Attaching ')) {
      const n = parseDec(line.slice(10, line.indexOf(' ', 10)));
      return n < 0 ? reject('bad attach line', line) : { type: 'notice', kind: 'attached', value: n };
    }
    const lost = lostCount(line);
    if (lost >= 0) {
      const ev: LostEvent = { type: 'lost', seq: ++seq, count: lost };
      return ev;
    }
    return reject('unknown line', line);
  }

  const tally = (r: DecodeResult): DecodeResult => {
    if (r.type === 'rejected') st.rejections++;
    else if (r.type !== 'notice') {
      st.events++;
      if (r.type === 'lost') st.lost += r.count;
    }
    return r;
  };
  // A decoder bug must cost one line, not the stream; unreachable by design.
  const failed = (e: unknown, line: () => string): Rejection => reject(`decoder error: ${(e as Error).message}`, line());

  return {
    decode(line: string): DecodeResult {
      st.lines++;
      try {
        return tally(decodeLine(line));
      } catch (e) {
        return tally(failed(e, () => String(line)));
      }
    },
    decodeBytes(buf: Uint8Array, start: number, end: number): DecodeResult {
      st.lines++;
      try {
        if (end - start > 1 && end - start <= 4096 && buf[start] === 72 && buf[start + 1] === 32) {
          cur.buf = buf;
          cur.end = end;
          return tally(hop(start, null));
        }
        // The flush line is 8 KB of dots: no need to make a string of it.
        if (end - start > 2 && buf[start] === 80 && buf[start + 1] === 32) {
          const f = flushLine(buf, start, end);
          if (f) return tally(f);
        }
        return tally(decodeLine(utf8(buf, start, end)));
      } catch (e) {
        return tally(failed(e, () => utf8(buf, start, end)));
      }
    },
    gap(fromMs: number, toMs: number, reason: string): GapEvent {
      st.events++;
      return { type: 'gap', seq: ++seq, fromMs, toMs, reason };
    },
    stats: () => ({ ...st }),
    reset(): void {
      names.clear();
      forgetDevNames();
      pendingSuppressed = -1;
      suppressedTotal = 0;
      printedTotal = 0;
      pendingEvery = 0;
    },
  };
}
