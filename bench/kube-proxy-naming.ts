// What naming the kube-proxy rule of a DNAT costs per journey, on the agent's hot path: the
// lab's cluster with web scaled to 20 (every Service port and backend of it, ClusterIP and
// NodePort), named from the API alone (iptables names) and checked against the node's rules
// (the lab's own iptables-save and nft text, parsed), once with withKubeProxyRules (every DNAT
// worked out again: the hashes, the endpoint lookup, the check) and once with the pipeline's
// kubeProxyNamer (each DNAT worked out once, until the cluster or the rules change).
// Run: `npx tsx bench/kube-proxy-naming.ts [--quick]`.
import { kubeProxyNamer, withKubeProxyRules, type KubeProxyContext } from '../agent/src/journeys/kube-proxy.ts';
import { parseIptablesSave } from '../agent/src/kubeproxy/iptables-save.ts';
import { parseNftText } from '../agent/src/kubeproxy/nft-text.ts';
import { renderIptablesNat } from '../agent/src/lab/kubeproxy-iptables.ts';
import { renderNftables } from '../agent/src/lab/kubeproxy-nft.ts';
import { loadTopology } from '../agent/src/lab/lab.ts';
import { expandTopology, scaleDeployment } from '../agent/src/lab/model.ts';
import type { Journey } from '../agent/src/protocol/events.ts';
import { syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';
import { figure, QUICK, report, type Figure } from './lib.ts';

const CALLS = QUICK ? 100_000 : 400_000;
const RUNS = QUICK ? 1 : 5;

const model = scaleDeployment(expandTopology(loadTopology()), 'default', 'web', 20).model;
const node = model.nodes[0]!;

// One journey per Service port, backend and path (ClusterIP; NodePort on node-1's address).
const journeys: Journey[] = [];
for (const s of model.services)
  for (const p of s.ports)
    for (const e of s.endpoints)
      for (const viaNode of s.type === 'NodePort' && p.nodePort ? [false, true] : [false]) {
        const j = syntheticJourney(journeys.length);
        const proto = p.protocol === 'UDP' ? 'udp' : 'tcp';
        const service = { namespace: s.namespace, name: s.name, port: p.port, ...(p.name ? { portName: p.name } : {}) };
        const before = viaNode ? { ip: node.address, port: p.nodePort!, service, node: node.name } : { ip: s.clusterIP, port: p.port, service };
        journeys.push({ ...j, proto, hops: j.hops.map((h) => (h.kind === 'dnat' ? { ...h, nat: { before, after: { ip: e.ip, port: p.targetPort } } } : h)) });
      }

// As the pipeline's context does: the identity index's endpoints of the port, filtered.
const endpointsOf = new Map(model.services.map((s) => [`${s.namespace}/${s.name}`, s]));
const endpoints: KubeProxyContext['endpoints'] = (namespace, name, portName, proto) => {
  const s = endpointsOf.get(`${namespace}/${name}`);
  const p = s?.ports.find((x) => (x.name ?? '') === portName && x.protocol.toLowerCase() === proto);
  return s && p ? [...s.endpoints].map((e) => ({ ip: e.ip, port: p.targetPort })) : [];
};

const contexts: [string, KubeProxyContext][] = [
  ['API alone (iptables names)', { mode: 'iptables', endpoints }],
  ["checked against the node's iptables-save", { mode: 'iptables', rules: { mode: 'iptables', nat: parseIptablesSave(renderIptablesNat(model)) }, endpoints }],
  ["checked against the node's nft table", { mode: 'nftables', rules: { mode: 'nftables', table: parseNftText(renderNftables(model)) }, endpoints }],
];

function usPerJourney(name: (j: Journey) => Journey): number {
  for (let i = 0; i < 2000; i++) name(journeys[i % journeys.length]!);
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) sink += name(journeys[i % journeys.length]!).hops.length;
  const us = Number(process.hrtime.bigint() - t0) / 1000 / CALLS;
  if (sink === 0) throw new Error('nothing named');
  return us;
}

const figures: Figure[] = [];
for (const [what, ctx] of contexts) {
  // Every journey must get its rule, without a disagreement (the lab's rules are kube-proxy's).
  for (const j of journeys) {
    const kp = withKubeProxyRules(j, ctx).hops.find((h) => h.kind === 'dnat')!.nat!.kubeProxy;
    if (!kp || kp.disagreements) throw new Error(`${what}: ${JSON.stringify(kp)}`);
  }
  const plain: number[] = [];
  const cached: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    plain.push(usPerJourney((j) => withKubeProxyRules(j, ctx)));
    const namer = kubeProxyNamer(ctx);
    cached.push(usPerJourney((j) => namer.name(j)));
  }
  figures.push(figure(`${what}: every DNAT worked out`, 'us/journey', plain), figure(`${what}: kubeProxyNamer`, 'us/journey', cached));
}
report('kube-proxy-naming', figures, { setup: `${journeys.length} distinct DNAT journeys, ${CALLS} namings per run, ${RUNS} run(s)` });
