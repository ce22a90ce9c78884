// How a DNAT's kube-proxy rule reads, in one wording for the UI, the workshop and `hopscope
// trace`. Pure.
import type { KubeProxyRule } from './events.ts';

/**
 * "1 of 3: probability 0.33333". iptables' last endpoint rule has no statistic match (it takes
 * what the others left); IPVS's scheduler picks by its own state, not by a probability.
 */
export function describePick(r: KubeProxyRule): string | undefined {
  const p = r.pick;
  if (!p) return undefined;
  if (p.probability !== undefined) return `${p.index} of ${p.of}: probability ${Number(p.probability.toFixed(5))}`;
  return `${p.index} of ${p.of}: ${r.mode === 'ipvs' ? 'chosen by the IPVS scheduler' : 'the last rule, taking the rest'}`;
}

/** Where the names come from: the node's rules or the API alone. */
export function describeSource(r: KubeProxyRule): string {
  return r.source === 'node' ? `kube-proxy ${r.mode}, read from the node's rules` : `kube-proxy ${r.mode}, named from the API (the node's rules were not read)`;
}

/** The lines a DNAT hop shows under its address rewrite: the pick, the rule, each disagreement. */
export function ruleLines(r: KubeProxyRule): string[] {
  return [
    ...(r.pick ? [`picked ${describePick(r)}`] : []),
    ...(r.ruleText ? [r.ruleText] : []),
    ...(r.disagreements ?? []).map((d) => `⚠ ${d.detail}`),
  ];
}
