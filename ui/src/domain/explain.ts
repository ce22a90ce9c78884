// Workshop explanations: what the kernel did at a hop and why, in plain language. Pure.
import type { Hop, Journey } from '@hopscope/agent/protocol/events.ts';
import { endpointLong, headerLine, isSocketDiscard } from './format.ts';
import { describePick, describeSource } from '@hopscope/agent/protocol/kube-proxy-text.ts';

/** One step of the workshop walk-through. */
export interface Explanation {
  title: string;
  /** Short paragraphs, read aloud by a trainer. */
  text: string[];
  /** Kernel objects to point at (chains, devices, tuples). */
  facts: string[];
}

// Kernel drop reasons users meet most, in words (names from include/net/dropreason-core.h).
const DROP_REASONS: Record<string, string> = {
  NETFILTER_DROP: 'a netfilter rule (iptables/nftables) said DROP — a NetworkPolicy, a firewall rule, or kube-proxy rejecting a Service without endpoints',
  NO_SOCKET: 'nothing listens on that port in the destination: no socket to deliver to',
  TCP_INVALID_SEQUENCE: 'the TCP sequence number did not fit the connection',
  IP_NOPROTO: 'no handler for this IP protocol',
  NEIGH_FAILED: 'ARP/neighbour resolution failed: the next hop did not answer',
  IP_INADDRERRORS: 'the destination address is not valid here',
  IP_OUTNOROUTES: 'no route to the destination',
  OTHERHOST: 'the packet was addressed to another host',
  PKT_TOO_SMALL: 'the packet was too short for its headers',
  SOCKET_FILTER: 'a socket filter discarded it',
  UNHANDLED_PROTO: 'no handler for this protocol',
};

function where(h: Hop): string {
  return h.where.pod ? `pod ${h.where.pod.name}` : h.where.node ? `node ${h.where.node}` : h.where.label;
}

/** Explain hop `i` of journey `j`. */
export function explainHop(j: Journey, i: number): Explanation {
  const h = j.hops[i];
  if (!h) return { title: 'No hop', text: ['Select a journey and step through it with the arrow keys.'], facts: [] };
  const hdr = headerLine(h.packet);
  const facts = [`${h.dev} in ${h.where.label}`, hdr];
  switch (h.kind) {
    case 'pod-egress':
      return {
        title: `Leaves ${where(h)} through ${h.dev}`,
        text: [
          `The application in ${where(h)} sent a packet. It leaves through ${h.dev}, the pod's end of a veth pair: a virtual cable whose other end sits in the node's network namespace.`,
          `The pod addressed ${endpointLong(j.dst)}.`,
        ],
        facts,
      };
    case 'egress':
      return {
        title: `Leaves ${h.where.label} through ${h.dev}`,
        text: [
          `${h.where.label} is outside the cluster: neither a pod nor a node. Its packet leaves through ${h.dev} onto the network the nodes share.`,
          `It addressed ${endpointLong(j.dst)}.`,
        ],
        facts,
      };
    case 'host-veth': {
      // The host end of a pod's veth: received on it, the packet comes from the pod; sent on it,
      // it goes into the pod (the delivering side of a call, or a reply on its way back).
      if (h.hook === 'xmit') {
        const pod = j.hops.slice(i + 1).find((n) => n.where.pod)?.where.pod?.name;
        return {
          title: `Leaves ${h.where.node ?? 'the node'} via ${h.dev}`,
          text: [
            `${where(h)} is done with the packet: it sends it into ${h.dev}, the host side of ${pod ? `pod ${pod}'s` : "the destination pod's"} veth pair.`,
            `What goes into one end of a veth pair comes out of the other: next it appears on the pod's eth0.`,
          ],
          facts,
        };
      }
      return {
        title: `Arrives on ${h.where.node ?? 'the node'} via ${h.dev}`,
        text: [
          `What goes into one end of a veth pair comes out of the other: the packet now appears on ${h.dev}, the host side, inside ${where(h)}.`,
          `From here the node's own network stack (netfilter, routing, bridge) decides what happens next.`,
        ],
        facts,
      };
    }
    case 'bridge':
      return {
        title: `Switched by the bridge ${h.dev}`,
        text: [
          `${h.dev} is a Linux bridge: a software switch joining the veths of the pods on ${h.where.node ?? 'this node'}. It forwards by destination MAC address, learned from traffic and ARP.`,
        ],
        facts,
      };
    case 'route':
      // Seen as it came in (e.g. a NodePort call on the node's own address) or as it went out.
      return h.hook === 'recv'
        ? {
            title: `Arrives at ${where(h)} on ${h.dev}`,
            text: [`The packet came in on ${h.dev}, addressed to ${h.packet.dst}. The node's netfilter rules and routing table decide what happens to it next.`],
            facts,
          }
        : {
            title: `Routed by ${where(h)}`,
            text: [`The node looked up ${h.packet.dst} in its routing table and sent the packet out of ${h.dev}.`],
            facts,
          };
    case 'dnat': {
      const nat = h.nat;
      const kp = nat?.kubeProxy;
      const pick = kp ? describePick(kp) : undefined;
      const rule = [
        ...(nat?.rule ? [`Rule chain: ${nat.rule}`] : []),
        ...(kp ? [`Rules: ${describeSource(kp)}`] : []),
        ...(pick ? [`Picked ${pick}`] : []),
        ...(kp?.ruleText ? [`Rule: ${kp.ruleText}`] : []),
      ];
      const disagree = (kp?.disagreements ?? []).map(
        (d) => `The rules and the packet disagree: ${d.detail}. ${d.kind === 'backend-not-endpoint' ? 'The Service no longer lists that backend, yet traffic still goes there: stale rules or a conntrack entry from before the change.' : 'The node is not running the rules the API says it should: kube-proxy may be down, or someone changed the rules behind its back.'}`,
      );
      return {
        title: kp?.disagreements ? 'kube-proxy DNAT: Service → pod (rules disagree)' : 'kube-proxy DNAT: Service → pod',
        text: [
          ...disagree,
          nat
            ? `The packet was addressed to ${endpointLong(nat.before)}. ${
                // A NodePort is addressed to a node's own address (as kube-proxy.ts names it).
                nat.before.node !== undefined
                  ? `That is a NodePort: kube-proxy's rules catch port ${nat.before.port ?? '?'} on any address of the node,`
                  : `A Service address belongs to no interface: kube-proxy's rules`
              } (${nat.rule ?? 'KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-…'}) picked a backend at random and conntrack rewrote the destination to ${endpointLong(nat.after)}.`
            : `kube-proxy's rules rewrote the destination from the Service address to a backend pod.`,
          'Only the first packet of a connection walks the rules; conntrack remembers the choice and rewrites every later packet the same way.',
          ...(pick && kp?.mode === 'iptables' ? [`This backend was rule ${pick}: each KUBE-SVC rule matches with 1/(endpoints left), so every endpoint is equally likely.`] : []),
          ...(pick && kp?.mode === 'nftables' ? [`numgen random picked entry ${pick} of the Service chain's verdict map.`] : []),
        ],
        facts: [...facts, ...rule],
      };
    }
    case 'snat':
      return {
        title: 'Source NAT (masquerade)',
        text: [
          h.nat
            ? `The source ${endpointLong(h.nat.before)} was rewritten to ${endpointLong(h.nat.after)} (KUBE-POSTROUTING → MASQUERADE), so the reply comes back through this node, which can undo the NAT.`
            : 'The source address was rewritten to the node (masquerade), so the reply comes back through this node.',
        ],
        facts,
      };
    case 'reverse-nat':
      return {
        title: 'Reverse NAT on the reply',
        text: [
          h.nat
            ? `conntrack recognises the reply to a connection it NATed and rewrites ${endpointLong(h.nat.before)} back to ${endpointLong(h.nat.after)}, so the client sees the answer come from the address it called.`
            : 'conntrack recognises the reply and undoes the earlier NAT, so the client sees the answer come from the address it called.',
        ],
        facts,
      };
    case 'encap':
      return {
        title: `Into the tunnel ${h.dev}`,
        text: [
          `${h.packet.dst} lives on another node. The route for that node's pod range points at ${h.dev}, a VXLAN device: the kernel will wrap the whole packet in a UDP datagram addressed to the other node.`,
        ],
        facts,
      };
    case 'underlay': {
      const e = h.encap;
      const outer = headerLine(h.packet);
      return {
        // Unencapsulated, it may be a host outside the cluster calling in (a NodePort).
        title: e ? 'On the wire between nodes' : 'On the underlay network',
        text: e
          ? [
              `Outer header: ${outer}${e.kind === 'vxlan' ? `, VXLAN VNI ${e.vni}` : ' (IP-in-IP)'}. The node addresses carry the packet across the underlay network.`,
              `Inside rides the original pod packet, unchanged: ${headerLine(e.inner)}.`,
            ]
          : [`The packet crosses the network the nodes (and hosts outside the cluster) share, as it is: ${outer}.`],
        facts: [`${h.dev} in ${h.where.label}`, outer, ...(e ? [`inner: ${headerLine(e.inner)}`] : [])],
      };
    }
    case 'decap':
      return {
        title: `Out of the tunnel on ${h.where.node ?? 'the node'}`,
        text: [
          `${h.dev} received the UDP datagram, checked the VNI, stripped the outer headers and handed the inner packet to ${where(h)}'s stack as if it had arrived on a normal interface.`,
        ],
        facts,
      };
    case 'deliver': {
      const l4 = h.packet.l4;
      // Dropped after arriving (e.g. NO_SOCKET): there was no socket to hand it to.
      const droppedHere = j.hops.slice(i + 1).some((n) => n.kind === 'drop' && !isSocketDiscard(n));
      const socket =
        l4.proto === 'tcp' || l4.proto === 'udp'
          ? droppedHere
            ? `The kernel looks for a socket on port ${l4.dport}.`
            : `The kernel hands it to ${j.replyTo !== undefined ? 'the socket that sent the request, on' : 'the socket listening on'} port ${l4.dport}.`
          : `Its own stack takes it from there (${l4.proto === 'icmp' ? 'ICMP has no ports' : 'no ports in this protocol'}).`;
      return {
        title: `${droppedHere ? 'Arrives at' : 'Delivered to'} ${where(h)}`,
        text: [
          h.where.pod
            ? `The packet came out of the veth pair into ${where(h)}'s ${h.dev}. ${socket}`
            : `The packet reached ${h.where.label}, outside the cluster, on its ${h.dev}. ${socket}`,
        ],
        facts,
      };
    }
    case 'loopback':
      return {
        title: 'Inside one pod, over lo',
        text: ['Containers of one pod share a network namespace: they talk over the loopback device and the packet never leaves the pod.'],
        facts,
      };
    case 'drop': {
      const reason = h.drop?.reason ?? 'unknown';
      if (isSocketDiscard(h)) {
        return {
          title: `Discarded by the socket: ${reason}`,
          text: [
            `The packet had already been delivered; the receiving socket freed it at ${h.drop?.location ?? 'an unknown place'}, with no device involved.`,
            reason === 'QUEUE_PURGE'
              ? 'QUEUE_PURGE: the socket was closed with data its application had not read, and the kernel emptied its queue. The network delivered it; the application did not read it.'
              : DROP_REASONS[reason] ? `Reason ${reason}: ${DROP_REASONS[reason]}.` : `The kernel's reason code is ${reason}.`,
          ],
          facts: [...facts, `kfree_skb reason ${reason} at ${h.drop?.location ?? '?'}`],
        };
      }
      return {
        title: `Dropped: ${reason}`,
        text: [
          `The kernel freed the packet in ${where(h)} at ${h.drop?.location ?? 'an unknown place'}.`,
          DROP_REASONS[reason] ? `Reason ${reason}: ${DROP_REASONS[reason]}.` : `The kernel's reason code is ${reason}.`,
        ],
        facts: [...facts, `kfree_skb reason ${reason} at ${h.drop?.location ?? '?'}`],
      };
    }
    default: {
      const never: never = h.kind;
      return { title: String(never), text: [], facts };
    }
  }
}
