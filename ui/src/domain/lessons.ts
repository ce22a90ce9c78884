// Lessons on the page: their traffic made concrete for the lab that is up, the journey a part
// walks picked from the list, and the commands shown at each hop. Pure.
import type { Hop, Journey } from '@hopscope/agent/protocol/events.ts';
import type { InspectCheck, LabAction, TopologyView } from '@hopscope/agent/protocol/messages.ts';
import { vxlanDevice } from '@hopscope/agent/protocol/inspect.ts';
import type { LabMode } from '@hopscope/agent/protocol/lab-modes.ts';
import type { JourneyPick, LessonTraffic } from '@hopscope/agent/protocol/lessons.ts';

/** What picking needs of a listed journey (the store's rows have it). */
export interface PickableRow {
  id: string;
  replyTo?: string;
  loopback: boolean;
  verdict: Journey['verdict'];
  story: { proto: string; from: string };
  dst: Pick<Journey['dst'], 'service'>;
  backend?: Pick<NonNullable<Journey['backend']>, 'pod'>;
  kinds: readonly Hop['kind'][];
}

/** A lesson's traffic as the lab action for this build of the lab (pods picked by Deployment and node). */
export function resolveTraffic(t: LessonTraffic, topo: TopologyView): LabAction {
  switch (t.kind) {
    case 'connect': {
      const want = t.to;
      const pod = topo.pods.find(
        (p) => p.namespace === want.namespace && (want.pod ? p.name === want.pod : p.deployment === want.deployment) && (want.node === undefined || p.node === want.node),
      );
      if (!pod) throw new Error(`no pod of ${want.pod ?? `deployment ${want.deployment}`}${want.node ? ` on ${want.node}` : ''} in this lab`);
      return { kind: 'connect', pod: { namespace: pod.namespace, name: pod.name }, port: t.port, ...(t.from ? { from: t.from } : {}) };
    }
    case 'curl':
    case 'dig':
    case 'nodeport':
    case 'scale':
      return t;
    default: {
      const never: never = t;
      throw new Error(`unknown traffic ${JSON.stringify(never)}`);
    }
  }
}

/** Words for a traffic step, for the page's action list. */
export function trafficLabel(a: LabAction): string {
  switch (a.kind) {
    case 'curl':
      return `curl svc/${a.service.name}`;
    case 'connect':
      return `connect ${a.pod.name}:${a.port}`;
    case 'dig':
      return `dig ${a.name}`;
    case 'nodeport':
      return `NodePort of ${a.service.name}${a.node ? ` on ${a.node}` : ''}`;
    case 'scale':
      return `scale ${a.deployment} → ${a.replicas}`;
    case 'rebuild':
      return `rebuild the lab as ${a.cni} + ${a.kubeProxy}`;
    case 'inspect':
      return `inspect ${a.check.what}`;
    default: {
      const never: never = a;
      return String(never);
    }
  }
}

/** Does a listed journey fit a part's pick? `before`: pod names there before the part's traffic. */
export function matchesPick(r: PickableRow, p: JourneyPick, before: ReadonlySet<string>): boolean {
  if (r.replyTo !== undefined) return false;
  if (p.loopback !== r.loopback) return false;
  const proto = r.story.proto;
  if (p.proto && !proto.toLowerCase().startsWith(p.proto)) return false;
  if (p.flags && proto !== `TCP [${p.flags}]`) return false;
  if (p.verdict && r.verdict !== p.verdict) return false;
  if (p.service && r.dst.service?.name !== p.service) return false;
  if (p.from && !r.story.from.startsWith(p.from)) return false;
  if (!p.hops.every((k) => r.kinds.includes(k))) return false;
  if (p.withoutHops.some((k) => r.kinds.includes(k))) return false;
  if (p.newBackend) {
    const b = r.backend?.pod?.name;
    if (!b || before.has(b)) return false;
  }
  return true;
}

/** The first journey, oldest first, that is new since the part began and fits its pick. */
export function pickJourney<R extends PickableRow>(rows: readonly R[], p: JourneyPick, seen: ReadonlySet<string>, before: ReadonlySet<string>): R | undefined {
  return rows.find((r) => !seen.has(r.id) && matchesPick(r, p, before));
}

/** One step of a walk: a hop of the request, then of its reply. */
export interface WalkStep {
  journey: Journey;
  direction: 'request' | 'reply';
  index: number;
}

/** The request's hops, then the reply's. */
export function walkSteps(request: Journey, reply?: Journey): WalkStep[] {
  return [
    ...request.hops.map((_, index) => ({ journey: request, direction: 'request' as const, index })),
    ...(reply ? reply.hops.map((_, index) => ({ journey: reply, direction: 'reply' as const, index })) : []),
  ];
}

function l4Port(h: Hop): number | undefined {
  const l4 = (h.encap?.inner ?? h.packet).l4;
  return l4.proto === 'tcp' || l4.proto === 'udp' ? l4.dport : undefined;
}

function serviceOf(j: Journey, h: Hop, topo: TopologyView | null): { namespace: string; name: string } | undefined {
  const s = h.nat?.before.service ?? j.dst.service;
  if (s) return { namespace: s.namespace, name: s.name };
  // A NodePort is addressed to a node: the Service is the one owning that node port.
  const port = h.nat?.before.port ?? j.dst.port;
  const np = topo?.services.find((x) => x.ports.some((p) => p.nodePort !== undefined && p.nodePort === port));
  return np ? { namespace: np.namespace, name: np.name } : undefined;
}

/**
 * What you would type to see hop `i` of `j` yourself: a few fixed checks filled with the hop's
 * node, pod, addresses and Service. Hops with nothing of their own to show get none.
 */
export function hopChecks(j: Journey, i: number, mode: LabMode, topo: TopologyView | null, request: Journey = j): InspectCheck[] {
  const h = j.hops[i];
  if (!h) return [];
  const node = h.where.node;
  const pod = h.where.pod ? { kind: 'pod' as const, namespace: h.where.pod.namespace, name: h.where.pod.name } : undefined;
  const onNode = node ? { kind: 'node' as const, node } : undefined;
  const inner = h.encap?.inner ?? h.packet;
  const proto = inner.l4.proto === 'tcp' || inner.l4.proto === 'udp' ? inner.l4.proto : undefined;
  const calico = mode.cni.startsWith('calico');
  switch (h.kind) {
    case 'pod-egress':
      // The pod's own table: its default route, and the MAC it resolved for the next hop (ARP).
      return pod ? [{ what: 'route-get', at: pod, dst: h.packet.dst }, { what: 'neigh', at: pod }] : [];
    case 'host-veth':
      // Calico: a /32 route per pod points at its cali veth, no bridge in between. flannel: the
      // bridge switched the frame out of this port by the MAC it learned there.
      if (calico) return onNode ? [{ what: 'route-get', at: onNode, dst: h.packet.dst }] : [];
      return node && h.hook === 'xmit' ? [{ what: 'bridge-fdb', node }] : [];
    case 'bridge':
      return node ? [{ what: 'bridge-fdb', node }] : [];
    case 'route':
      return onNode ? [{ what: 'route-get', at: onNode, dst: h.packet.dst }] : [];
    case 'dnat': {
      const svc = serviceOf(j, h, topo);
      return node && svc ? [{ what: 'service-rules', node, service: svc }, { what: 'endpoints', service: svc }] : [];
    }
    case 'snat':
    case 'reverse-nat': {
      // One conntrack entry NATs the request and un-NATs its reply: keyed by what the client called.
      const called = request.dst;
      return node && proto ? [{ what: 'conntrack', node, proto, origDst: called.ip, ...(called.port !== undefined ? { origDport: called.port } : {}) }] : [];
    }
    case 'encap':
      return node ? [{ what: 'vxlan-fdb', node }, { what: 'neigh', at: { kind: 'node', node }, dev: vxlanDevice(mode.cni) }] : [];
    case 'underlay':
      return onNode && h.hook === 'xmit' ? [{ what: 'route-get', at: onNode, dst: h.packet.dst }] : [];
    case 'decap':
      return onNode ? [{ what: 'route-get', at: onNode, dst: inner.dst }] : [];
    case 'deliver':
    case 'loopback':
      return pod ? [{ what: 'listening', at: pod }] : [];
    case 'drop':
      // Nothing listening is the usual reason a pod drops a SYN (NO_SOCKET).
      return pod && l4Port(h) !== undefined ? [{ what: 'listening', at: pod }] : [];
    case 'egress':
      return [];
    default: {
      const never: never = h.kind;
      return never;
    }
  }
}
