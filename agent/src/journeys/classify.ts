// Hop classification: what the kernel did to a packet at each event, from kernel facts only
// (who owns the netns, the device kind the kernel reported, the hook, the headers and the
// conntrack entry). Device names are never trusted: a lab and a real node name them differently.
// Pure: identity and device kinds come in as lookups.
import type { IdentityLookup, NetnsOwner } from '../identity/types.ts';
import type {
  DropEvent,
  Endpoint,
  Hop,
  HopEvent,
  HopKind,
  IpPacket,
  Journey,
  Verdict,
} from '../protocol/events.ts';
import { dportOf, fingerprint, innerPacket, ports, sportOf } from './fingerprint.ts';

/** What a DeviceEvent told us about one (netns, ifindex). */
export interface DeviceInfo {
  kind: string;
  masterIfindex: number;
  dev: string;
}

/** Device kinds by (netns, ifindex); undefined when the kernel never reported the device. */
export type DeviceLookup = (netns: number, ifindex: number) => DeviceInfo | undefined;

/** Why the correlator closed a journey. */
export type JourneyEnd =
  | 'free' // the kernel consumed the skb normally
  | 'drop' // the kernel freed it with a drop reason
  | 'settled' // delivered into a pod and nothing more happened to it
  | 'idle' // no event for the idle time-out
  | 'reused' // the skb address came back carrying another packet, without a free we saw
  | 'gap' // the tracer was restarted; the rest of the path is unknown
  | 'stopped'; // the pipeline stopped

/** The raw material of one journey, collected by the correlator. */
export interface RawJourney {
  id: string;
  events: (HopEvent | DropEvent)[];
  /** Travels in the reply direction of its connection. */
  isReply: boolean;
  replyTo?: string;
  identityUnknown: boolean;
  end: JourneyEnd;
}

const NAT_KINDS: ReadonlySet<HopKind> = new Set(['dnat', 'snat', 'reverse-nat']);
/** Device hops that a NAT hop at the same event replaces rather than precedes. */
const NAT_REPLACES: ReadonlySet<HopKind> = new Set(['bridge', 'route', 'host-veth']);

function isLoopback(e: HopEvent): boolean {
  return e.ifindex === 1 || e.dev === 'lo';
}

function protoForService(p: IpPacket): 'tcp' | 'udp' | undefined {
  return p.l4.proto === 'tcp' || p.l4.proto === 'udp' ? p.l4.proto : undefined;
}

/** Name an address with everything the identity index knows about it. */
export function nameEndpoint(identity: IdentityLookup, ip: string, port: number | undefined, proto: 'tcp' | 'udp' | undefined): Endpoint {
  const ep: Endpoint = { ip };
  if (port !== undefined) ep.port = port;
  const pod = identity.podByIp(ip);
  if (pod) ep.pod = pod;
  const node = identity.nodeByIp(ip);
  if (node) ep.node = node;
  if (port !== undefined && proto) {
    const service = identity.serviceByAddr(ip, port, proto);
    if (service) ep.service = service;
  }
  if (!ep.pod && !ep.node && !ep.service) ep.external = true;
  return ep;
}

// A hop's `where` follows from its netns owner alone, so hops share one per owner rather than
// each making its own (a flood makes hundreds of thousands of hops a second). Owners are the
// identity index's objects, replaced when it re-reads them: their entries go with them.
const WHERE_OF_OWNER = new WeakMap<NetnsOwner, Hop['where']>();

function where(owner: NetnsOwner | undefined, netns: number): Hop['where'] {
  // A drop with no device (netns 0) happened in the socket layer, after delivery.
  if (!owner) return { label: netns === 0 ? 'socket' : `netns ${netns}` };
  let w = WHERE_OF_OWNER.get(owner);
  if (w) return w;
  w = { label: owner.label };
  if (owner.pod) w.pod = owner.pod;
  const node = owner.node ?? owner.pod?.node;
  if (node) w.node = node;
  WHERE_OF_OWNER.set(owner, w);
  return w;
}

/**
 * The device part of a hop's meaning. In a node netns a veth is a pod's host side when it is a
 * bridge port or when the packet's pod-side address is a pod of this node (Calico's cali* veths
 * have no master); otherwise it is the node's link to the underlay.
 */
export function deviceKind(
  e: HopEvent,
  owner: NetnsOwner | undefined,
  devices: DeviceLookup,
  identity: IdentityLookup,
): HopKind {
  if (owner?.pod) {
    if (isLoopback(e)) return 'loopback';
    return e.hook === 'xmit' ? 'pod-egress' : 'deliver';
  }
  const dev = devices(e.netns, e.ifindex);
  // The tracer reports a master only for bridge ports (rx_handler br_handle_frame), and the
  // master's own sighting may come later than the port's.
  const bridgePort = dev !== undefined && dev.masterIfindex > 0;
  if (owner?.node) {
    if (e.encap) return 'underlay';
    switch (dev?.kind) {
      case 'vxlan':
      case 'ipip':
        return e.hook === 'xmit' ? 'encap' : 'decap';
      case 'bridge':
        return 'bridge';
      case 'veth': {
        if (bridgePort) return 'host-veth';
        const p = e.packet;
        const podSide = identity.podByIp(e.hook === 'xmit' ? p.dst : p.src);
        if (podSide && (podSide.node === undefined || podSide.node === owner.node)) return 'host-veth';
        return 'route';
      }
      default:
        return 'route';
    }
  }
  // Neither pod nor node: the underlay fabric (bridge ports) or an external host, which sends
  // and receives on its own devices like a pod does. NOTE: its sending was an 'underlay' hop
  // before, drawn in the node-to-node lane under the external host's name.
  const fabric = dev?.kind === 'bridge' || bridgePort;
  if (!fabric && !e.encap && !isLoopback(e)) return e.hook === 'recv' ? 'deliver' : 'egress';
  return 'underlay';
}

const NO_NAT: readonly Pick<Hop, 'kind' | 'nat'>[] = Object.freeze([]);

/** A hop of `kind` at hop event `e`. */
function hopAt(e: HopEvent, kind: HopKind, w: Hop['where'], dev: string, nat: Hop['nat'] | undefined): Hop {
  // NOTE: hops are built as literals of one shape, not by spreading a base object: spread copies
  // of objects with optional fields went megamorphic and dominated correlation time.
  const h: Hop = { kind, tsNs: e.tsNs, deltaNs: 0, hook: e.hook, netns: e.netns, where: w, dev, ifindex: e.ifindex, packet: e.packet };
  if (e.encap) h.encap = e.encap;
  if (nat) h.nat = nat;
  return h;
}

/**
 * The NAT seen between two consecutive hops of a journey, as 0, 1 or 2 hops (a NodePort
 * request can show DNAT and masquerade at the same event). Uses the conntrack entry when the
 * event carries one, else the journey's direction.
 */
function natHops(
  prev: IpPacket,
  cur: IpPacket,
  e: HopEvent,
  isReply: boolean,
  identity: IdentityLookup,
  ownerNode: string | undefined,
): readonly Pick<Hop, 'kind' | 'nat'>[] {
  const dstChanged = prev.dst !== cur.dst || dportOf(prev) !== dportOf(cur);
  const srcChanged = prev.src !== cur.src || sportOf(prev) !== sportOf(cur);
  // Most hops: nothing rewritten, nothing to make.
  if (!dstChanged && !srcChanged) return NO_NAT;
  const out: Pick<Hop, 'kind' | 'nat'>[] = [];
  const proto = protoForService(cur);
  const pp = ports(prev);
  const cp = ports(cur);
  const ct = e.ct;
  if (dstChanged) {
    const reverse = ct ? cur.dst === ct.orig.src && prev.dst === ct.reply.dst : isReply;
    const before = nameEndpoint(identity, prev.dst, pp.dport, proto);
    const after = nameEndpoint(identity, cur.dst, cp.dport, proto);
    // A reply to a masqueraded request comes back to the masquerade address: this node's.
    if (reverse) ownMasqueradeAddress(before, ownerNode);
    out.push({ kind: reverse ? 'reverse-nat' : 'dnat', nat: { before, after } });
  }
  if (srcChanged) {
    const reverse = ct ? cur.src === ct.orig.dst : isReply;
    const before = nameEndpoint(identity, prev.src, pp.sport, proto);
    const after = nameEndpoint(identity, cur.src, cp.sport, reverse ? proto : undefined);
    if (!reverse) ownMasqueradeAddress(after, ownerNode);
    out.push({ kind: reverse ? 'reverse-nat' : 'snat', nat: { before, after } });
  }
  return out;
}

/**
 * Masquerade picks the outgoing device's address (e.g. cni0's), which the index may not list as
 * a node address: name it as the node that did the NAT, on the request's SNAT and on the
 * reply's un-NAT alike.
 */
function ownMasqueradeAddress(ep: Endpoint, ownerNode: string | undefined): void {
  if (ep.node || ep.pod || !ownerNode) return;
  ep.node = ownerNode;
  delete ep.external;
}

const byTime = (a: HopEvent | DropEvent, b: HopEvent | DropEvent): number => a.tsNs - b.tsNs || a.seq - b.seq;

/** Events in kernel time order. They mostly arrive in it, and then sorting (which allocates) is skipped. */
function inTimeOrder(raw: readonly (HopEvent | DropEvent)[]): (HopEvent | DropEvent)[] {
  const events = raw.slice();
  for (let i = 1; i < events.length; i++) if (byTime(events[i - 1]!, events[i]!) > 0) return events.sort(byTime);
  return events;
}

/** Classify one journey's events into hops and name its ends. Returns undefined if nothing is left to show. */
export function buildJourney(raw: RawJourney, identity: IdentityLookup, devices: DeviceLookup): Journey | undefined {
  const events = inTimeOrder(raw.events);
  const hops: Hop[] = [];
  let prevInner: IpPacket | undefined;
  let lastTs: number | undefined;
  const push = (h: Hop) => {
    h.deltaNs = lastTs === undefined ? 0 : Math.max(0, h.tsNs - lastTs);
    lastTs = h.tsNs;
    hops.push(h);
  };
  for (const e of events) {
    const owner = identity.netnsOwner(e.netns);
    const w = where(owner, e.netns);
    switch (e.type) {
      case 'hop': {
        const inner = innerPacket(e);
        // The device sighting names the device as the kernel did when it was first seen.
        const dev = devices(e.netns, e.ifindex)?.dev ?? e.dev;
        const kind = deviceKind(e, owner, devices, identity);
        const nats = prevInner ? natHops(prevInner, inner, e, raw.isReply, identity, w.node) : NO_NAT;
        for (const n of nats) push(hopAt(e, n.kind, w, dev, n.nat));
        if (nats.length === 0 || !NAT_REPLACES.has(kind)) push(hopAt(e, kind, w, dev, undefined));
        prevInner = inner;
        break;
      }
      case 'drop': {
        const packet = e.packet ?? prevInner;
        if (!packet) break;
        push({
          kind: 'drop',
          tsNs: e.tsNs,
          deltaNs: 0,
          hook: 'drop',
          netns: e.netns,
          where: w,
          dev: (e.netns !== 0 && devices(e.netns, e.ifindex)?.dev) || e.dev,
          ifindex: e.ifindex,
          packet,
          drop: { reason: e.reason, location: e.location },
        });
        break;
      }
      default: {
        const never: never = e;
        return never;
      }
    }
  }
  const first = events.find((e): e is HopEvent => e.type === 'hop');
  if (!first || hops.length === 0) return undefined;
  const firstInner = innerPacket(first);
  const proto = protoForService(firstInner);
  const fp = ports(firstInner);
  const last = hops[hops.length - 1]!;
  const journey: Journey = {
    type: 'journey',
    id: raw.id,
    fingerprint: fingerprint(firstInner),
    verdict: verdictOf(hops, raw.end),
    startNs: hops[0]!.tsNs,
    endNs: last.tsNs,
    proto: firstInner.l4.proto,
    src: nameEndpoint(identity, firstInner.src, fp.sport, undefined),
    dst: nameEndpoint(identity, firstInner.dst, fp.dport, proto),
    hops,
  };
  const dnat = hops.find((h) => h.kind === 'dnat');
  if (dnat?.nat) journey.backend = dnat.nat.after;
  if (raw.replyTo) journey.replyTo = raw.replyTo;
  if (raw.identityUnknown) withholdNames(journey);
  return journey;
}

/** Only the addresses the kernel saw; a name from a resyncing index could be wrong. */
function bare(e: Endpoint): Endpoint {
  const out: Endpoint = { ip: e.ip };
  if (e.port !== undefined) out.port = e.port;
  return out;
}

/**
 * Seen while the identity index was relisting: the Kubernetes names are withheld rather than
 * risked (a pod IP may have moved to another pod in the gap). Hop kinds stay: they come from
 * kernel facts.
 */
function withholdNames(j: Journey): void {
  j.identityUnknown = true;
  j.src = bare(j.src);
  j.dst = bare(j.dst);
  if (j.backend) j.backend = bare(j.backend);
  for (const h of j.hops) if (h.nat) h.nat = { ...h.nat, before: bare(h.nat.before), after: bare(h.nat.after) };
}

function verdictOf(hops: Hop[], end: JourneyEnd): Verdict {
  const last = hops[hops.length - 1]!;
  if (last.kind === 'drop') {
    const arrived = (h: Hop) => h.kind === 'deliver' || (h.kind === 'loopback' && h.hook === 'recv');
    // A socket discarding what it had received (e.g. QUEUE_PURGE on close) does not undo the delivery.
    if (last.netns === 0) return hops.some(arrived) ? 'delivered' : 'dropped';
    // NOTE: a bridge floods a frame for a MAC it has not learned (again) to every port: the pods
    // it was not for drop their copy as OTHERHOST. Delivered in another namespace, it arrived.
    if (last.drop?.reason === 'OTHERHOST' && hops.some((h) => arrived(h) && h.netns !== last.netns)) return 'delivered';
    return 'dropped';
  }
  if (last.kind === 'deliver' || (last.kind === 'loopback' && last.hook === 'recv')) return 'delivered';
  switch (end) {
    case 'free':
      // consume_skb: the kernel finished with it normally (e.g. a local socket on a node).
      return 'delivered';
    case 'drop':
      return 'dropped';
    case 'settled':
    case 'idle':
    case 'gap':
    case 'stopped':
      return 'in-flight';
    case 'reused':
      return 'unknown';
    default: {
      const never: never = end;
      return never;
    }
  }
}

/** Whether a hop kind rewrote addresses. */
export function isNat(kind: HopKind): boolean {
  return NAT_KINDS.has(kind);
}
