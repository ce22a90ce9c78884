// Journeys → pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html), so a
// trace opens in Wireshark, tshark and tcpdump. Pure: journeys in, bytes out.
//
// One Interface Description Block per device a hop was seen on, named "<owner>/<dev>"
// ("node-1/cni0", "client/eth0"); one Enhanced Packet Block per hop at the hop's kernel
// timestamp, holding the headers as the kernel saw them at that hop: the outer IP (and UDP +
// VXLAN, or IP-in-IP) around the inner packet, the addresses before or after NAT as they were
// on that device. hopscope keeps headers, never payload: every block's captured length is the
// headers alone and its original length is the IP total length the kernel reported, so a reader
// shows "headers only" (frame.cap_len < frame.len) instead of a wrong payload. Link-layer
// addresses are not traced either: every interface is Ethernet (as Linux captures veth, bridge,
// VXLAN and lo devices) with zero MAC addresses, and so is the frame VXLAN carries.
// NOTE: not LINKTYPE_RAW: libpcap (tcpdump) maps RAW to another DLT number for the first
// interface and then refuses every further RAW interface as "a different type".
// TCP checksums cannot be computed without the payload and are left 0; IPv4 header checksums
// are real.
import type { Hop, IpPacket, Journey } from '../protocol/events.ts';
import { hopText } from '../journeys/story.ts';

const LINKTYPE_ETHERNET = 1;
const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const EPB = 0x00000006;
const OPT_END = 0;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const EPB_FLAGS = 2;
/** epb_flags (32 bits, little-endian): direction bits 01 inbound, 10 outbound. */
const FLAGS_IN = Uint8Array.of(1, 0, 0, 0);
const FLAGS_OUT = Uint8Array.of(2, 0, 0, 0);
const IPPROTO_IPIP = 4;
const ETH_HEADER = 14;

const TCP_FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, '.': 0x10, U: 0x20, E: 0x40, W: 0x80 };

/** What to export and how its clock reads. */
export interface PcapngOptions {
  /**
   * Added to every kernel timestamp (CLOCK_MONOTONIC, ns since boot) to get wall-clock time, when
   * the exporter knows it (a recording does); 0 leaves timestamps as time since boot.
   */
  wallOffsetNs?: bigint;
  /** Names the section (shb_userappl) and says where the file came from. */
  application?: string;
}

/** Counts of what an export wrote, for the command's summary. */
export interface PcapngSummary {
  interfaces: number;
  packets: number;
  journeys: number;
}

/** A growing little-endian byte buffer. */
class Bytes {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.room(1);
    this.view.setUint8(this.length, v);
    this.length += 1;
  }
  u16(v: number, big = false): void {
    this.room(2);
    this.view.setUint16(this.length, v, !big);
    this.length += 2;
  }
  u32(v: number, big = false): void {
    this.room(4);
    this.view.setUint32(this.length, v >>> 0, !big);
    this.length += 4;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  pad4(): void {
    while (this.length % 4 !== 0) this.u8(0);
  }
  setU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }
  setU16(at: number, v: number, big = false): void {
    this.view.setUint16(at, v, !big);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
  /** Bytes [from, length) as written so far (a view, valid until the next write). */
  since(from: number): Uint8Array {
    return this.buf.subarray(from, this.length);
  }
}

const utf8 = new TextEncoder();

function option(out: Bytes, code: number, value: Uint8Array): void {
  out.u16(code);
  out.u16(value.length);
  out.bytes(value);
  out.pad4();
}

/** A block: type, length, body written by `body`, options, length again. */
function block(out: Bytes, type: number, body: (b: Bytes) => void, options: [number, Uint8Array][]): void {
  const start = out.length;
  out.u32(type);
  out.u32(0);
  body(out);
  if (options.length > 0) {
    for (const [code, value] of options) option(out, code, value);
    out.u16(OPT_END);
    out.u16(0);
  }
  const total = out.length - start + 4;
  out.u32(total);
  out.setU32(start + 4, total);
}

function ipv4Bytes(ip: string): number[] {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: "${ip.slice(0, 60)}"`);
  return parts;
}

/** An IPv6 address in any printed form → 16 bytes. */
function ipv6Bytes(ip: string): number[] {
  const bad = () => new Error(`not an IPv6 address: "${ip.slice(0, 60)}"`);
  let text = ip;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = ipv4Bytes(text.slice(lastColon + 1));
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) throw bad();
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) throw bad();
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const out: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
    const v = parseInt(g, 16);
    out.push(v >>> 8, v & 0xff);
  }
  if (tail.length) out.splice(12, 4, ...tail);
  return out;
}

function ipProtoNumber(p: IpPacket, encapIpip: boolean): number {
  if (encapIpip) return IPPROTO_IPIP;
  const l4 = p.l4;
  switch (l4.proto) {
    case 'tcp':
      return 6;
    case 'udp':
      return 17;
    case 'icmp':
      return p.family === 6 ? 58 : 1;
    case 'other':
      return l4.number;
    default: {
      const never: never = l4;
      return never;
    }
  }
}

function tcpFlagBits(flags: string): number {
  if (flags === 'none') return 0;
  let bits = 0;
  for (const c of flags) bits |= TCP_FLAG_BITS[c] ?? 0;
  return bits;
}

function checksum16(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length % 2) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The IP header of `p` (and, unless it is a tunnel's outer header, its L4 header), then `inner`
 * for the payload the kernel saw (the tunnelled frame). Lengths are the packet's own.
 */
function writeIp(out: Bytes, p: IpPacket, tunnel: { kind: 'vxlan'; vni: number; inner: IpPacket } | { kind: 'ipip'; inner: IpPacket } | undefined): void {
  const start = out.length;
  const proto = ipProtoNumber(p, tunnel?.kind === 'ipip');
  if (p.family === 4) {
    out.u8(0x45);
    out.u8(0);
    out.u16(p.len & 0xffff, true);
    out.u16(p.ipId & 0xffff, true);
    out.u16(0, true);
    out.u8(p.ttl & 0xff);
    out.u8(proto & 0xff);
    const sumAt = out.length;
    out.u16(0, true);
    for (const x of ipv4Bytes(p.src)) out.u8(x);
    for (const x of ipv4Bytes(p.dst)) out.u8(x);
    out.setU16(sumAt, checksum16(out.since(start)), true);
  } else {
    out.u32(0x60000000, true);
    out.u16(Math.max(0, p.len - 40) & 0xffff, true);
    out.u8(proto & 0xff);
    out.u8(p.ttl & 0xff);
    for (const x of ipv6Bytes(p.src)) out.u8(x);
    for (const x of ipv6Bytes(p.dst)) out.u8(x);
  }
  if (tunnel?.kind === 'ipip') {
    writeIp(out, tunnel.inner, undefined);
    return;
  }
  const ipHeader = p.family === 4 ? 20 : 40;
  const l4 = p.l4;
  switch (l4.proto) {
    case 'tcp':
      out.u16(l4.sport, true);
      out.u16(l4.dport, true);
      out.u32(l4.seq, true);
      out.u32(l4.ack, true);
      out.u8(5 << 4);
      out.u8(tcpFlagBits(l4.flags));
      out.u16(0, true); // window: not traced
      out.u16(0, true); // checksum: needs the payload hopscope does not keep
      out.u16(0, true);
      break;
    case 'udp':
      out.u16(l4.sport, true);
      out.u16(l4.dport, true);
      out.u16(Math.max(8, p.len - ipHeader) & 0xffff, true);
      out.u16(0, true);
      if (tunnel?.kind === 'vxlan') {
        out.u32(0x08000000, true); // flags: VNI present
        out.u32((tunnel.vni & 0xffffff) << 8, true);
        ethernet(out, tunnel.inner);
        writeIp(out, tunnel.inner, undefined);
      }
      break;
    case 'icmp':
      out.u8(l4.icmpType);
      out.u8(l4.code);
      out.u16(0, true);
      out.u16(l4.id, true);
      out.u16(l4.seq, true);
      break;
    case 'other':
      break;
    default: {
      const never: never = l4;
      return never;
    }
  }
}

/** An Ethernet header with zero MAC addresses (not traced) before `p`. */
function ethernet(out: Bytes, p: IpPacket): void {
  for (let i = 0; i < 12; i++) out.u8(0);
  out.u16(p.family === 4 ? 0x0800 : 0x86dd, true);
}

/** The headers of one hop as an Ethernet frame, written where `out` ends. */
function writeFrame(out: Bytes, h: Hop): void {
  ethernet(out, h.packet);
  const tunnel = h.encap && (h.encap.kind === 'ipip' || h.packet.l4.proto === 'udp') ? h.encap : undefined;
  writeIp(out, h.packet, tunnel);
}

/** "<owner>/<dev>": the pod's name (with its namespace unless "default"), the node, or the label. */
export function interfaceName(h: Hop): string {
  const pod = h.where.pod;
  const owner = pod ? (pod.namespace === 'default' ? pod.name : `${pod.namespace}/${pod.name}`) : (h.where.node ?? h.where.label);
  return `${h.agent && !pod && !h.where.node ? `${h.agent}:` : ''}${owner}/${h.dev}`;
}

/** The comment on a hop's block: journey, hop number, kind and the story's words for it. */
export function hopComment(j: Journey, h: Hop, index: number): string {
  return `journey ${j.id} hop ${index + 1}/${j.hops.length} ${h.kind}: ${hopText(h)}`;
}

interface Iface {
  id: number;
  name: string;
  description: string;
}

/** Journeys → one pcapng section. Hops are written in kernel-time order across journeys. */
export function journeysToPcapng(journeys: readonly Journey[], opts: PcapngOptions = {}): { bytes: Uint8Array; summary: PcapngSummary } {
  const out = new Bytes();
  block(
    out,
    SHB,
    (b) => {
      b.u32(0x1a2b3c4d);
      b.u16(1);
      b.u16(0);
      b.u32(0xffffffff); // section length: not given
      b.u32(0xffffffff);
    },
    [
      [OPT_COMMENT, utf8.encode('hopscope: headers only (no payload); original lengths kept; link-layer addresses not traced')],
      [4, utf8.encode(opts.application ?? 'hopscope')], // shb_userappl
    ],
  );
  const hops: { j: Journey; h: Hop; i: number; order: number }[] = [];
  for (const j of journeys) j.hops.forEach((h, i) => hops.push({ j, h, i, order: hops.length }));
  hops.sort((a, b) => a.h.tsNs - b.h.tsNs || a.order - b.order);

  // A device is one netns's ifindex (on one agent); two with the same printed name get the netns.
  const ifaces = new Map<string, Iface>();
  const usedNames = new Map<string, number>();
  const ifaceOf = (h: Hop): Iface => {
    const key = `${h.agent ?? ''}|${h.netns}|${h.ifindex}|${h.dev}`;
    let f = ifaces.get(key);
    if (f) return f;
    let name = interfaceName(h);
    const seen = usedNames.get(name) ?? 0;
    usedNames.set(name, seen + 1);
    if (seen > 0) name = `${name} (netns ${h.netns})`;
    f = { id: ifaces.size, name, description: `${h.where.label}: ${h.dev}, netns ${h.netns}, ifindex ${h.ifindex}${h.agent ? `, agent ${h.agent}` : ''}` };
    ifaces.set(key, f);
    block(out, IDB, (b) => {
      b.u16(LINKTYPE_ETHERNET);
      b.u16(0);
      b.u32(0); // snaplen: no limit
    }, [
      [IF_NAME, utf8.encode(name)],
      [IF_DESCRIPTION, utf8.encode(f.description)],
      [IF_TSRESOL, Uint8Array.of(9)],
    ]);
    return f;
  };

  const offset = opts.wallOffsetNs ?? 0n;
  for (const { j, h, i } of hops) {
    const f = ifaceOf(h);
    const ts = BigInt(Math.round(h.tsNs)) + offset;
    const dir = h.hook === 'recv' ? FLAGS_IN : h.hook === 'xmit' ? FLAGS_OUT : undefined;
    block(out, EPB, (b) => {
      b.u32(f.id);
      b.u32(Number(ts >> 32n));
      b.u32(Number(ts & 0xffffffffn));
      // The frame goes straight into the file; its lengths are filled in once it is written.
      const lengths = b.length;
      b.u32(0);
      b.u32(0);
      const start = b.length;
      writeFrame(b, h);
      const captured = b.length - start;
      b.setU32(lengths, captured);
      // The IP total length the kernel saw at this hop (the outer one on the underlay) and its frame.
      b.setU32(lengths + 4, Math.max(captured, h.packet.len + ETH_HEADER));
      b.pad4();
    }, [
      [OPT_COMMENT, utf8.encode(hopComment(j, h, i))],
      ...(dir ? [[EPB_FLAGS, dir] as [number, Uint8Array]] : []),
    ]);
  }
  return { bytes: out.result(), summary: { interfaces: ifaces.size, packets: hops.length, journeys: journeys.length } };
}
