// The traffic picker's model: which actions a topology offers, what each can target and run
// from, and the LabAction a choice makes. Pure; LabButtons.tsx draws it. One picker instead of a
// button per Service and action: a 30-Service lab made 42 buttons that filled half the screen.
import type { LabAction, TopologyView } from '@hopscope/agent/protocol/messages.ts';

export type PickKind = 'curl' | 'dig' | 'nodeport' | 'closed-port' | 'scale-up' | 'scale-down';

/** The actions in the order the picker lists them, with what the action menu says. */
export const PICK_KINDS: readonly { kind: PickKind; label: string }[] = [
  { kind: 'curl', label: 'curl a Service' },
  { kind: 'dig', label: 'DNS lookup (dig)' },
  { kind: 'nodeport', label: 'NodePort from outside' },
  { kind: 'closed-port', label: 'connect to a closed port (drop)' },
  { kind: 'scale-up', label: 'scale up +1' },
  { kind: 'scale-down', label: 'scale down −1' },
];

/** One choice of a menu: `value` is what the picker stores, `group` the namespace it is listed under. */
export interface PickOption {
  value: string;
  label: string;
  group: string;
}

/** What the picker chose: an action, its target and where it runs from. */
export interface Pick {
  kind: PickKind;
  target: string;
  from: string;
}

const DNS = 'kube-dns';
/** The topology view does not carry the cluster domain; every built-in topology uses the default. */
const CLUSTER_DOMAIN = 'cluster.local';
/** The name shown for an object: namespaced unless it is in `default` (most labs' only one). */
const shown = (ns: string, name: string) => (ns === 'default' ? name : `${ns}/${name}`);

const isCurlable = (s: TopologyView['services'][number]) => s.name !== DNS && s.type !== 'ExternalName' && s.ports.some((p) => p.protocol === 'TCP');

/** Targets an action can have in this topology (an empty list: the action is not offered). */
export function targetsFor(t: TopologyView, kind: PickKind): PickOption[] {
  switch (kind) {
    case 'curl':
    case 'dig':
      return t.services.filter(isCurlable).map((s) => ({ value: `svc:${s.namespace}/${s.name}`, label: `svc/${shown(s.namespace, s.name)}`, group: s.namespace }));
    case 'nodeport':
      return t.services.filter((s) => s.ports.some((p) => p.nodePort)).map((s) => ({ value: `svc:${s.namespace}/${s.name}`, label: `svc/${shown(s.namespace, s.name)} :${s.ports.find((p) => p.nodePort)!.nodePort}`, group: s.namespace }));
    case 'closed-port':
      return t.deployments
        .filter((d) => t.pods.some((p) => p.deployment === d.name && p.namespace === d.namespace))
        .map((d) => ({ value: `deploy:${d.namespace}/${d.name}`, label: `a pod of ${shown(d.namespace, d.name)}`, group: d.namespace }));
    case 'scale-up':
    case 'scale-down':
      return t.deployments
        .filter((d) => (kind === 'scale-up' ? d.replicas < MAX_REPLICAS : d.replicas > 0))
        .map((d) => ({ value: `deploy:${d.namespace}/${d.name}`, label: `deploy/${shown(d.namespace, d.name)} (${d.replicas} → ${d.replicas + (kind === 'scale-up' ? 1 : -1)})`, group: d.namespace }));
    default:
      return kind satisfies never;
  }
}

/** The lab API's bound on a Deployment's replicas (labActionSchema). */
const MAX_REPLICAS = 20;

/**
 * Where an action can run from: a pod for calls and lookups (the lab's `client` first), the
 * outside host's view of a node for a NodePort, nothing for a scale.
 */
export function sourcesFor(t: TopologyView, kind: PickKind): PickOption[] {
  switch (kind) {
    case 'curl':
    case 'dig':
    case 'closed-port': {
      const pods = [...t.pods].sort((a, b) => Number(!!a.deployment) - Number(!!b.deployment) || Number(b.name === 'client') - Number(a.name === 'client'));
      return pods.map((p) => ({ value: p.name, label: `pod ${shown(p.namespace, p.name)}`, group: p.deployment ? `deploy/${p.deployment}` : 'pods' }));
    }
    case 'nodeport': {
      const ext = t.externals[0]?.name ?? 'outside';
      return t.nodes.map((n) => ({ value: n.name, label: `${ext} → ${n.name} (${n.address})`, group: 'outside' }));
    }
    case 'scale-up':
    case 'scale-down':
      return [];
    default:
      return kind satisfies never;
  }
}

/** The kinds this topology offers (some target exists). */
export function offeredKinds(t: TopologyView): PickKind[] {
  return PICK_KINDS.map((k) => k.kind).filter((k) => targetsFor(t, k).length > 0);
}

/** A sensible first choice: curl the first Service from `client`. */
export function defaultPick(t: TopologyView): Pick | null {
  const kind = offeredKinds(t)[0];
  if (!kind) return null;
  return { kind, target: targetsFor(t, kind)[0]!.value, from: sourcesFor(t, kind)[0]?.value ?? '' };
}

/**
 * Keep a pick valid when the action or the topology changes: the same target and source when the
 * new action has them, else its first ones.
 */
export function settlePick(t: TopologyView, p: Pick): Pick {
  const targets = targetsFor(t, p.kind);
  const sources = sourcesFor(t, p.kind);
  return {
    kind: p.kind,
    target: targets.some((o) => o.value === p.target) ? p.target : (targets[0]?.value ?? ''),
    from: sources.some((o) => o.value === p.from) ? p.from : (sources[0]?.value ?? ''),
  };
}

function ref(value: string, prefix: 'svc:' | 'deploy:'): { namespace: string; name: string } | null {
  if (!value.startsWith(prefix)) return null;
  const [namespace, name, extra] = value.slice(prefix.length).split('/');
  return namespace && name && extra === undefined ? { namespace, name } : null;
}

/**
 * The LabAction a pick makes, with a label for the result line and the recent list; a clear
 * error when the pick does not fit this topology (e.g. a Deployment scaled away since).
 */
export function actionOf(t: TopologyView, p: Pick): { label: string; action: LabAction } | { error: string } {
  if (!targetsFor(t, p.kind).some((o) => o.value === p.target)) return { error: `no ${p.target || 'target'} to ${p.kind} in this lab` };
  const needsSource = sourcesFor(t, p.kind);
  if (needsSource.length > 0 && !needsSource.some((o) => o.value === p.from)) return { error: `cannot run from ${p.from || 'nowhere'}` };
  const from = p.from === 'client' ? {} : { from: p.from };
  const via = p.from === 'client' ? '' : ` from ${p.from}`;
  switch (p.kind) {
    case 'curl': {
      const s = ref(p.target, 'svc:')!;
      return { label: `curl svc/${shown(s.namespace, s.name)}${via}`, action: { kind: 'curl', service: s, ...from } };
    }
    case 'dig': {
      const s = ref(p.target, 'svc:')!;
      const name = `${s.name}.${s.namespace}.svc.${CLUSTER_DOMAIN}`;
      return { label: `dig ${shown(s.namespace, s.name)}${via}`, action: { kind: 'dig', name, ...from } };
    }
    case 'nodeport': {
      const s = ref(p.target, 'svc:')!;
      const svc = t.services.find((x) => x.namespace === s.namespace && x.name === s.name)!;
      return { label: `NodePort :${svc.ports.find((x) => x.nodePort)!.nodePort} on ${p.from}`, action: { kind: 'nodeport', service: s, node: p.from } };
    }
    case 'closed-port': {
      const d = ref(p.target, 'deploy:')!;
      const pod = t.pods.find((x) => x.deployment === d.name && x.namespace === d.namespace)!;
      // Port 9 (discard) is closed on every lab pod: the kernel answers the SYN with a drop reason.
      return { label: `closed port on ${shown(d.namespace, d.name)}${via}`, action: { kind: 'connect', pod: { namespace: pod.namespace, name: pod.name }, port: 9, ...from } };
    }
    case 'scale-up':
    case 'scale-down': {
      const d = ref(p.target, 'deploy:')!;
      const dep = t.deployments.find((x) => x.namespace === d.namespace && x.name === d.name)!;
      const replicas = dep.replicas + (p.kind === 'scale-up' ? 1 : -1);
      return { label: `scale ${shown(d.namespace, d.name)} → ${replicas}`, action: { kind: 'scale', namespace: d.namespace, deployment: d.name, replicas } };
    }
    default:
      return p.kind satisfies never;
  }
}

/** Most recent first, no repeats, at most `max`: the picks kept at hand. */
export function pushRecent(recent: readonly Pick[], p: Pick, max = 6): Pick[] {
  const same = (a: Pick) => a.kind === p.kind && a.target === p.target && a.from === p.from;
  return [p, ...recent.filter((r) => !same(r))].slice(0, max);
}

/** A stable key for a pick (React keys, test ids). */
export const pickKey = (p: Pick): string => `${p.kind}|${p.target}|${p.from}`;
