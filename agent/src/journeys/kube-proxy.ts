// Names the kube-proxy rule of every DNAT hop of a journey, from the Service and its endpoints
// (the identity index) and, when the agent could read them, the node's own rules. Pure: the
// rules are read elsewhere (wiring/kube-proxy-rules.ts) and handed in.
import type { Hop, Journey, KubeProxyRule } from '../protocol/events.ts';
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

type Nat = NonNullable<Hop['nat']>;
type ServiceRef = NonNullable<Nat['before']['service']>;
/** A DNAT hop that can be named: a Service before, ports on both sides. */
type NamedNat = Nat & { before: Nat['before'] & { service: ServiceRef; port: number }; after: Nat['after'] & { port: number } };

const nameable = (nat: Nat | undefined): nat is NamedNat => !!nat?.before.service && nat.before.port !== undefined && nat.after.port !== undefined;

function explain(nat: NamedNat, proto: 'tcp' | 'udp', ctx: KubeProxyContext): KubeProxyRule | undefined {
  const svc = nat.before.service;
  const portName = svc.portName ?? '';
  return explainDnat(
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
}

function named(j: Journey, ruleOf: (nat: NamedNat, proto: 'tcp' | 'udp') => KubeProxyRule | undefined): Journey {
  if ((j.proto !== 'tcp' && j.proto !== 'udp') || j.identityUnknown || !j.hops.some((h) => h.kind === 'dnat' && h.nat?.before.service)) return j;
  const proto = j.proto;
  return {
    ...j,
    hops: j.hops.map((h) => {
      if (h.kind !== 'dnat' || !nameable(h.nat)) return h;
      const rule = ruleOf(h.nat, proto);
      return rule ? { ...h, nat: { ...h.nat, rule: rule.chains.join(' → '), kubeProxy: rule } } : h;
    }),
  };
}

/** The journey with each DNAT hop's kube-proxy rule named (the same object when there is none). */
export function withKubeProxyRules(j: Journey, ctx: KubeProxyContext): Journey {
  return named(j, (nat, proto) => explain(nat, proto, ctx));
}

/** withKubeProxyRules with the rule of each DNAT kept; `invalidate` when the cluster changes. */
export interface KubeProxyNamer {
  name(j: Journey): Journey;
  /** Forget every rule (Services, endpoints or the index's sync state changed). */
  invalidate(): void;
  readonly size: number;
}

/**
 * A namer for the hot path: the connections of a cluster go to few Service ports and backends,
 * so one DNAT's rule (chain hashes, endpoint lookup, the check against the node's rules) is
 * worked out once and reused until the node's rules, the mode or the cluster change. Bounded:
 * emptied when `maxEntries` are held (a cluster with more is only slower).
 */
export function kubeProxyNamer(ctx: KubeProxyContext, maxEntries = 4096): KubeProxyNamer {
  const cache = new Map<string, KubeProxyRule | null>();
  let rules = ctx.rules;
  let mode = ctx.mode;
  const ruleOf = (nat: NamedNat, proto: 'tcp' | 'udp'): KubeProxyRule | undefined => {
    const svc = nat.before.service;
    const key = `${proto} ${svc.namespace}/${svc.name}:${svc.portName ?? ''} ${nat.before.ip}:${nat.before.port} ${nat.after.ip}:${nat.after.port} ${nat.before.node !== undefined}`;
    const known = cache.get(key);
    if (known !== undefined) return known ?? undefined;
    if (cache.size >= maxEntries) cache.clear();
    const rule = explain(nat, proto, ctx);
    cache.set(key, rule ?? null);
    return rule;
  };
  return {
    name(j) {
      // The rules are replaced, never changed in place, on each read: a new object is new rules.
      if (ctx.rules !== rules || ctx.mode !== mode) {
        cache.clear();
        rules = ctx.rules;
        mode = ctx.mode;
      }
      return named(j, ruleOf);
    },
    invalidate: () => cache.clear(),
    get size() {
      return cache.size;
    },
  };
}
