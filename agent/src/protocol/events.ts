// The event model shared by agent and UI. Raw kernel observations (`TraceEvent`) are
// decoded from bpftrace output; the agent groups them into `Journey`s of classified `Hop`s.
// Every union is discriminated on `type` (or `kind`/`proto`) and switched exhaustively.

/** Layer-4 header as seen at one hop. */
export type L4Header =
  | { proto: 'tcp'; sport: number; dport: number; flags: string; seq: number; ack: number }
  | { proto: 'udp'; sport: number; dport: number }
  | { proto: 'icmp'; icmpType: number; code: number; id: number; seq: number }
  | { proto: 'other'; number: number };

/** Protocol name of an L4 header. */
export type L4Proto = L4Header['proto'];

/** An IPv4 or IPv6 header with its L4 header. Addresses are printed forms ("10.0.0.1", "fd00::1"). */
export interface IpPacket {
  family: 4 | 6;
  src: string;
  dst: string;
  /** IPv4 identification (0 for IPv6); part of the cross-node fingerprint. */
  ipId: number;
  ttl: number;
  /** Total length from the IP header. */
  len: number;
  l4: L4Header;
}

/** Encapsulation seen at a hop: the outer headers are `HopEvent.packet`, the inner packet is here. */
export type Encapsulation =
  | { kind: 'vxlan'; vni: number; inner: IpPacket }
  | { kind: 'ipip'; inner: IpPacket };

/** A conntrack entry attached to the skb (`skb->_nfct`). Tuples as the kernel holds them. */
export interface ConntrackTuples {
  proto: L4Proto;
  /** Original direction: what the sender addressed (e.g. the ClusterIP). */
  orig: { src: string; dst: string; sport: number; dport: number };
  /** Reply direction: what the reply carries (e.g. the backend pod as source). */
  reply: { src: string; dst: string; sport: number; dport: number };
}

/** Kernel hook a datapath event came from. */
export type HookPoint = 'xmit' | 'recv';

/** Which probe set produced the events: tracepoints everywhere, or kprobes on NAT functions too. */
export type ProbeSet = 'tracepoints' | 'kprobes';

/** One packet seen on one device. */
export interface HopEvent {
  type: 'hop';
  /** Agent-assigned, strictly increasing per agent. */
  seq: number;
  /** Kernel monotonic time, nanoseconds (bpftrace `nsecs`). */
  tsNs: number;
  hook: HookPoint;
  /** Network namespace inode number. */
  netns: number;
  ifindex: number;
  dev: string;
  /** skb address, hex, identity of the packet within one kernel (reused after free). */
  skb: string;
  /** Outermost IP header on the wire at this device. */
  packet: IpPacket;
  encap?: Encapsulation;
  ct?: ConntrackTuples;
}

/** The kernel freed a packet we were following with a drop reason (`skb:kfree_skb`). */
export interface DropEvent {
  type: 'drop';
  seq: number;
  tsNs: number;
  netns: number;
  ifindex: number;
  dev: string;
  skb: string;
  /** Kernel's name for the reason, e.g. "NETFILTER_DROP" (from the tracepoint's format). */
  reason: string;
  reasonCode: number;
  /** Kernel symbol where the drop happened, e.g. "nf_hook_slow". */
  location: string;
  /** Protocol from skb->protocol, when the packet headers were readable. */
  packet?: IpPacket;
}

/** A NAT manipulation seen by a kprobe (only with the kprobe probe set). */
export interface NatEvent {
  type: 'nat';
  seq: number;
  tsNs: number;
  netns: number;
  skb: string;
  manip: 'src' | 'dst';
  ct: ConntrackTuples;
}

/**
 * First sighting of a device (per netns + ifindex): its kind from the kernel
 * (`dev->rtnl_link_ops->kind`: "veth", "bridge", "vxlan", "ipip", "" for physical/lo) and
 * the ifindex of its master (bridge), so hops are classified from kernel facts, not names.
 */
export interface DeviceEvent {
  type: 'device';
  seq: number;
  netns: number;
  ifindex: number;
  dev: string;
  kind: string;
  /** ifindex of the master device (bridge port), 0 if none. */
  masterIfindex: number;
}

/** The packet's skb was consumed normally (end of its life on this kernel). */
export interface FreeEvent {
  type: 'free';
  seq: number;
  tsNs: number;
  skb: string;
}

/** bpftrace reported lost events (perf ring overflow). */
export interface LostEvent {
  type: 'lost';
  seq: number;
  count: number;
}

/** Packets a flow passed through the in-kernel sampler without printing. */
export interface SampledEvent {
  type: 'sampled';
  seq: number;
  /** Packets counted but not printed since the last report, over all flows. */
  suppressed: number;
  /** Packets printed since the last report. */
  printed: number;
  /** The sampler's 1 in K for the next interval (0: sampling off); it rises under load. */
  every: number;
}

/** The tracer was not running for a while (bpftrace died and was restarted). */
export interface GapEvent {
  type: 'gap';
  seq: number;
  /** Wall-clock milliseconds. */
  fromMs: number;
  toMs: number;
  reason: string;
}

/** Everything the decoder can produce from bpftrace output. */
export type TraceEvent = HopEvent | DropEvent | NatEvent | DeviceEvent | FreeEvent | LostEvent | SampledEvent | GapEvent;

/** A reference to a Kubernetes pod. */
export interface PodRef {
  namespace: string;
  name: string;
  node?: string;
}

/** A reference to a Kubernetes Service and port. */
export interface ServiceRef {
  namespace: string;
  name: string;
  port?: number;
  portName?: string;
}

/** An address with whatever identity the index knows for it. */
export interface Endpoint {
  ip: string;
  port?: number;
  pod?: PodRef;
  service?: ServiceRef;
  node?: string;
  /** A host that is neither pod nor node nor service. */
  external?: boolean;
}

/** What the kernel did to the packet at a hop. */
export type HopKind =
  | 'pod-egress' // left a pod's eth0
  | 'egress' // left a host outside the cluster (not a pod, not a node)
  | 'host-veth' // arrived on the host side of a pod's veth
  | 'bridge' // passed a bridge (cni0)
  | 'route' // routed by a node (calico-style, or between devices)
  | 'dnat' // destination rewritten (kube-proxy Service → backend)
  | 'snat' // source rewritten (masquerade)
  | 'reverse-nat' // reply un-NATed (backend → Service address)
  | 'encap' // entered a tunnel device (VXLAN/IPIP), outer headers added next
  | 'underlay' // on the node-to-node network (outer headers)
  | 'decap' // left a tunnel device on the receiving node
  | 'deliver' // entered the destination pod
  | 'loopback' // inside a pod over lo
  | 'drop'; // the kernel freed it with a reason

/** Where kube-proxy's rules and the packet disagree (the bug users chase). */
export type RuleDisagreement =
  /** conntrack sent the packet to an address the Service's EndpointSlices do not list. */
  | { kind: 'backend-not-endpoint'; detail: string }
  /** A chain the API says should exist is not in the node's rules (stale rules, kube-proxy down). */
  | { kind: 'chain-missing'; chain: string; detail: string };

/** The kube-proxy rule that sent a DNAT to its backend. */
export interface KubeProxyRule {
  mode: 'iptables' | 'nftables' | 'ipvs';
  /** From the Service address to the backend: chains (or the IPVS virtual and real server). */
  chains: string[];
  /** 'api': named from the Service and its endpoints alone; 'node': found in the node's own rules. */
  source: 'api' | 'node';
  /** The rule that picked this backend, as the node's rules print it. */
  ruleText?: string;
  /** This backend's place in the pick: index (1-based) of `of`, the rule's own probability. */
  pick?: { index: number; of: number; probability?: number };
  disagreements?: RuleDisagreement[];
}

/** One classified step of a journey. */
export interface Hop {
  kind: HopKind;
  tsNs: number;
  /** Nanoseconds since the previous hop of this journey (0 for the first). */
  deltaNs: number;
  hook: HookPoint | 'drop';
  netns: number;
  /** Who owns this netns: a pod, a node, or unknown. */
  where: { pod?: PodRef; node?: string; label: string };
  dev: string;
  ifindex: number;
  packet: IpPacket;
  encap?: Encapsulation;
  /** Address rewrite at this hop (dnat/snat/reverse-nat). */
  nat?: { before: Endpoint; after: Endpoint; rule?: string; kubeProxy?: KubeProxyRule };
  drop?: { reason: string; location: string };
  /** Which agent reported the event (multi-node hub). */
  agent?: string;
}

/** How a journey ended. */
export type Verdict = 'delivered' | 'dropped' | 'in-flight' | 'unknown';

/** One packet's path through the cluster. */
export interface Journey {
  type: 'journey';
  id: string;
  /** Fingerprint of the inner packet, stable across nodes. */
  fingerprint: string;
  verdict: Verdict;
  startNs: number;
  endNs: number;
  proto: L4Proto;
  src: Endpoint;
  /** What the sender addressed (a Service's ClusterIP, a NodePort, or a pod). */
  dst: Endpoint;
  /** Where the packet really went after NAT, when different from `dst`. */
  backend?: Endpoint;
  hops: Hop[];
  /** For a reply: the id of the request journey it answers. */
  replyTo?: string;
  /** Names could not be trusted at the time (identity index resyncing). */
  identityUnknown?: boolean;
  /** Packet counters of the flow that the sampler did not print as journeys. */
  sampledOut?: number;
  /** Hub: nodes this journey crossed whose agent was not there to report its hops (lanes missing). */
  missingAgents?: string[];
}
