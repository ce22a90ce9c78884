// Which kube-proxy rule sent a DNAT to its backend: the chain names from the API (names.ts),
// confirmed against the node's own rules when the agent could read them, with the rule that
// picked this backend and where the rules and the packet disagree. Pure.
import type { KubeProxyRule, RuleDisagreement } from '../protocol/events.ts';
import type { IptNat, IptRule } from './iptables-save.ts';
import type { IpvsTable } from './ipvs.ts';
import { extChain, nftEndpointChain, nftExternalChain, nftServiceChain, sepChain, svcChain, type KubeProxyMode, type ServicePortKey } from './names.ts';
import { dnatTarget, numgenTargets, type NftTable } from './nft-text.ts';

/** The node's rules as last read, by mode. */
export type NodeRules = { mode: 'iptables'; nat: IptNat } | { mode: 'nftables'; table: NftTable } | { mode: 'ipvs'; ipvs: IpvsTable };

/** What the tracer and the API say about one DNAT. */
export interface DnatFacts {
  service: ServicePortKey;
  /** The address the packet was sent to (ClusterIP:port, or node:nodePort). */
  before: { ip: string; port: number };
  /** Where conntrack sent it. */
  after: { ip: string; port: number };
  /** Reached through a NodePort on a node address (KUBE-NODEPORTS → KUBE-EXT). */
  viaNodePort: boolean;
  /** The Service port's endpoints from its EndpointSlices; undefined when the API cannot be trusted now. */
  endpoints?: { ip: string; port: number }[];
}

const backend = (f: DnatFacts) => `${f.after.ip}:${f.after.port}`;

function apiChains(f: DnatFacts, mode: Exclude<KubeProxyMode, 'ipvs'>): string[] {
  const k = f.service;
  if (mode === 'iptables') {
    const tail = [svcChain(k), sepChain(k, f.after.ip, f.after.port)];
    return f.viaNodePort ? ['KUBE-SERVICES', 'KUBE-NODEPORTS', extChain(k), ...tail] : ['KUBE-SERVICES', ...tail];
  }
  const tail = [nftServiceChain(k), nftEndpointChain(k, f.after.ip, f.after.port)];
  return f.viaNodePort ? ['services', '@service-nodeports', nftExternalChain(k), ...tail] : ['services', '@service-ips', ...tail];
}

function endpointCheck(f: DnatFacts): RuleDisagreement[] {
  if (!f.endpoints || f.endpoints.some((e) => e.ip === f.after.ip && e.port === f.after.port)) return [];
  const listed = f.endpoints.map((e) => `${e.ip}:${e.port}`).join(', ') || 'none';
  return [
    {
      kind: 'backend-not-endpoint',
      detail: `conntrack sent it to ${backend(f)}, which is not an endpoint of ${f.service.namespace}/${f.service.name} (its EndpointSlices list ${listed})`,
    },
  ];
}

const missing = (chain: string, where: string): RuleDisagreement => ({
  kind: 'chain-missing',
  chain,
  detail: `${chain} is not in the node's ${where} (stale rules, or kube-proxy not running)`,
});

function fromIptables(f: DnatFacts, nat: IptNat): KubeProxyRule {
  const chains = apiChains(f, 'iptables');
  const out: KubeProxyRule = { mode: 'iptables', chains, source: 'node' };
  const disagreements = chains.filter((c) => !nat.chains.has(c)).map((c) => missing(c, 'iptables nat table'));
  const svc = chains[chains.length - 2]!;
  const sep = chains[chains.length - 1]!;
  const picks = (nat.rules.get(svc) ?? []).filter((r: IptRule) => r.jump?.startsWith('KUBE-SEP-'));
  const at = picks.findIndex((r) => r.jump === sep);
  if (at >= 0) {
    const r = picks[at]!;
    out.ruleText = `-A ${svc} ${r.text}`;
    out.pick = { index: at + 1, of: picks.length, ...(r.probability !== undefined ? { probability: r.probability } : {}) };
  } else if (nat.chains.has(svc)) disagreements.push({ kind: 'chain-missing', chain: sep, detail: `${svc} has no rule jumping to ${sep} (this backend is not among the node's endpoints for the Service)` });
  const dnat = (nat.rules.get(sep) ?? []).find((r) => r.jump === 'DNAT');
  if (dnat?.dnatTo && (dnat.dnatTo.ip !== f.after.ip || (dnat.dnatTo.port !== undefined && dnat.dnatTo.port !== f.after.port)))
    disagreements.push({ kind: 'chain-missing', chain: sep, detail: `${sep} DNATs to ${dnat.dnatTo.ip}:${dnat.dnatTo.port ?? ''}, not ${backend(f)}` });
  return withDisagreements(out, [...endpointCheck(f), ...dedupe(disagreements)]);
}

function fromNft(f: DnatFacts, t: NftTable): KubeProxyRule {
  const chains = apiChains(f, 'nftables');
  const out: KubeProxyRule = { mode: 'nftables', chains, source: 'node' };
  const disagreements = chains.filter((c) => !c.startsWith('@') && !t.chains.has(c)).map((c) => missing(c, 'table ip kube-proxy'));
  const svc = chains[chains.length - 2]!;
  const ep = chains[chains.length - 1]!;
  for (const s of t.chains.get(svc) ?? []) {
    const ng = numgenTargets(s);
    if (!ng) continue;
    for (const [i, target] of ng.targets)
      if (target === ep) {
        out.ruleText = s;
        out.pick = { index: i + 1, of: ng.mod, probability: 1 / ng.mod };
      }
    if (!out.pick && t.chains.has(svc)) disagreements.push({ kind: 'chain-missing', chain: ep, detail: `${svc} has no numgen entry for ${ep} (this backend is not among the node's endpoints for the Service)` });
  }
  const dnat = (t.chains.get(ep) ?? []).map(dnatTarget).find((d) => !!d);
  if (dnat && (dnat.ip !== f.after.ip || (dnat.port !== undefined && dnat.port !== f.after.port)))
    disagreements.push({ kind: 'chain-missing', chain: ep, detail: `${ep} DNATs to ${dnat.ip}:${dnat.port ?? ''}, not ${backend(f)}` });
  return withDisagreements(out, [...endpointCheck(f), ...dedupe(disagreements)]);
}

function fromIpvs(f: DnatFacts, t: IpvsTable): KubeProxyRule {
  const proto = f.service.proto.toUpperCase();
  const vs = t.virtuals.find((v) => v.proto === proto && v.ip === f.before.ip && v.port === f.before.port);
  const vname = `IPVS ${proto} ${f.before.ip}:${f.before.port}`;
  if (!vs) return withDisagreements({ mode: 'ipvs', chains: [vname, backend(f)], source: 'node' }, [...endpointCheck(f), missing(vname, 'IPVS table (/proc/net/ip_vs)')]);
  const at = vs.reals.findIndex((r) => r.ip === f.after.ip && r.port === f.after.port);
  const out: KubeProxyRule = { mode: 'ipvs', chains: [`${vname} ${vs.scheduler}`, backend(f)], source: 'node' };
  const real = vs.reals[at];
  if (real) {
    out.ruleText = `-> ${backend(f)} ${real.forward} weight ${real.weight} (${real.active} active, ${real.inactive} inactive)`;
    out.pick = { index: at + 1, of: vs.reals.length };
  }
  const extra: RuleDisagreement[] = real ? [] : [{ kind: 'chain-missing', chain: backend(f), detail: `${vname} has no real server ${backend(f)}` }];
  return withDisagreements(out, [...endpointCheck(f), ...extra]);
}

function dedupe(ds: RuleDisagreement[]): RuleDisagreement[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.kind}:${d.kind === 'chain-missing' ? d.chain : ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function withDisagreements(r: KubeProxyRule, ds: RuleDisagreement[]): KubeProxyRule {
  return ds.length ? { ...r, disagreements: ds } : r;
}

/**
 * The rule behind one DNAT. With the node's rules, their mode wins and every chain is checked;
 * without them, `assumedMode` (what the operator said, else kube-proxy's default, iptables)
 * names the chains from the API alone. IPVS needs the node's table: without it nothing is said.
 */
export function explainDnat(f: DnatFacts, assumedMode: KubeProxyMode, rules?: NodeRules): KubeProxyRule | undefined {
  if (rules) {
    switch (rules.mode) {
      case 'iptables':
        return fromIptables(f, rules.nat);
      case 'nftables':
        return fromNft(f, rules.table);
      case 'ipvs':
        return fromIpvs(f, rules.ipvs);
      default: {
        const never: never = rules;
        return never;
      }
    }
  }
  if (assumedMode === 'ipvs') return undefined;
  return withDisagreements({ mode: assumedMode, chains: apiChains(f, assumedMode), source: 'api' }, endpointCheck(f));
}
