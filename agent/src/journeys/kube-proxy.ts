// Names the kube-proxy rule of every DNAT hop of a journey, from the Service and its endpoints
// (the identity index) and, when the agent could read them, the node's own rules. Pure: the
// rules are read elsewhere (wiring/kube-proxy-rules.ts) and handed in.
import type { Hop, Journey } from '../protocol/events.ts';
import { explainDnat, type NodeRules } from '../kubeproxy/explain.ts';
import type { KubeProxyMode } from '../kubeproxy/names.ts';

/** What naming needs besides the journey. */
export interface KubeProxyContext {
  /** The mode to name chains in when the node's rules were not read. */
  mode: KubeProxyMode;
  /** The node's rules as last read (absent: not readable here, or not read yet). */
  rules?: NodeRules;
  /** A Service port's endpoints from its EndpointSlices; undefined while names cannot be trusted. */
  endpoints(namespace: string, name: string, portName: string, proto: 'tcp' | 'udp'): { ip: string; port: number }[] | undefined;
}

function named(h: Hop, proto: 'tcp' | 'udp', ctx: KubeProxyContext): Hop {
  const nat = h.nat;
  const svc = nat?.before.service;
  if (!nat || !svc || nat.before.port === undefined || nat.after.port === undefined) return h;
  const portName = svc.portName ?? '';
  const rule = explainDnat(
    {
      service: { namespace: svc.namespace, name: svc.name, portName, proto },
      before: { ip: nat.before.ip, port: nat.before.port },
      after: { ip: nat.after.ip, port: nat.after.port },
      // A Service address on a node address is a NodePort (kube-proxy's KUBE-NODEPORTS path).
      viaNodePort: nat.before.node !== undefined,
      endpoints: ctx.endpoints(svc.namespace, svc.name, portName, proto),
    },
    ctx.mode,
    ctx.rules,
  );
  if (!rule) return h;
  return { ...h, nat: { ...nat, rule: rule.chains.join(' → '), kubeProxy: rule } };
}

/** The journey with each DNAT hop's kube-proxy rule named (the same object when there is none). */
export function withKubeProxyRules(j: Journey, ctx: KubeProxyContext): Journey {
  if ((j.proto !== 'tcp' && j.proto !== 'udp') || j.identityUnknown || !j.hops.some((h) => h.kind === 'dnat' && h.nat?.before.service)) return j;
  const proto = j.proto;
  return { ...j, hops: j.hops.map((h) => (h.kind === 'dnat' ? named(h, proto, ctx) : h)) };
}
