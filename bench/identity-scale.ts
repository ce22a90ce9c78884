// How the identity index's cost grows with the cluster: the lab's Kubernetes-compatible API,
// started in this process with a synthetic model (100 / 1k / 10k pods over 6 nodes and 2000
// ClusterIP Services, each with an EndpointSlice of the pods it selects), watched by the real
// index (client-node informers over https). Per size: the index's memory (heap after a full GC
// with the index synced, minus the same once it is closed: the API server and its caches are
// there in both), its initial
// sync time, the time of a lookup per hop (the three a hop needs: pod by source and destination
// address, Service by destination address and port), and the relist after a 410 (watches cut,
// more changes than the API's history holds made meanwhile, until the index is synced again).
// Run: `npx tsx bench/identity-scale.ts [--quick]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIdentityIndex, type IdentityIndex, type NetnsSource } from '../agent/src/identity/index.ts';
import { startLabApi, writeKubeconfig } from '../agent/src/lab/api-server.ts';
import type { ClusterModel, ModelPod, ModelService } from '../agent/src/lab/model.ts';
import { heapAfterGc } from '../test/fuzz-helpers.ts';
import { figure, numArg, printTable, QUICK, report, sleep, sweep, type Figure } from './lib.ts';

const ONE = process.argv.includes('--pods') ? numArg('--pods', 1000, 100_000) : 0;
const SIZES = ONE ? [ONE] : [100, 1000, 10_000];
const SERVICES = 2000;
const NODES = 6;
const RUNS = QUICK ? 1 : 3;
const LOOKUPS = 1_000_000;
const HISTORY = 50;
const TOKEN = `identity-scale-${process.pid}`;
const noNetns: NetnsSource = { name: 'none', read: async () => new Map() };

const heap = heapAfterGc;

const podIp = (i: number): string => `10.${244 + Math.floor(i / 65_536)}.${Math.floor(i / 256) % 256}.${(i % 256) + 0}`;

/** Pods numbered 0..pods-1 on NODES nodes; Service s selects the pods with i % SERVICES == s. */
function synthModel(pods: number, gen = 0): ClusterModel {
  const ps: ModelPod[] = Array.from({ length: pods }, (_, i) => ({
    namespace: `ns-${i % 20}`,
    name: `pod-${i}`,
    uid: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
    node: `node-${i % NODES}`,
    ip: podIp(i),
    labels: { app: `app-${i % SERVICES}`, gen: String(gen) },
    containers: [{ name: 'c', run: { kind: 'idle' } }],
    hostVeth: `veth${i.toString(16)}`,
    ordinal: i,
  }) as ModelPod);
  const services: ModelService[] = Array.from({ length: SERVICES }, (_, s) => ({
    namespace: `ns-${s % 20}`,
    name: `svc-${s}`,
    uid: `00000000-0000-4000-9000-${s.toString(16).padStart(12, '0')}`,
    type: 'ClusterIP',
    clusterIP: `10.96.${Math.floor(s / 250)}.${(s % 250) + 2}`,
    selector: { app: `app-${s}` },
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    endpoints: ps.filter((_, i) => i % SERVICES === s).map((p) => ({ podNamespace: p.namespace, podName: p.name, ip: p.ip, node: p.node })),
  }));
  return {
    name: 'scale', cni: 'flannel-vxlan', kubeProxy: 'iptables', clusterDomain: 'cluster.local', serviceCIDR: '10.96.0.0/16', underlayCIDR: '10.0.0.0/24',
    nodes: Array.from({ length: NODES }, (_, n) => ({ name: `node-${n}`, uid: `00000000-0000-4000-a000-${n.toString(16).padStart(12, '0')}`, address: `10.0.0.${n + 1}`, podCIDR: `10.244.${n}.0/24`, gateway: `10.244.${n}.1` })),
    pods: ps, services, externals: [], deployments: [],
  };
}

async function until(what: string, f: () => boolean, ms: number, state: () => unknown): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}: ${JSON.stringify(state())}`);
    await sleep(5);
  }
}

interface Run { memMB: number; syncMs: number; lookupNs: number; relistMs: number }

async function once(pods: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'hs-idscale-'));
  let model = synthModel(pods);
  const api = await startLabApi({ model, token: TOKEN, historyLimit: HISTORY });
  let index: IdentityIndex | undefined;
  try {
    writeKubeconfig(join(dir, 'kubeconfig'), { url: api.url, token: TOKEN, ca: api.ca }, 'scale');
    const t0 = performance.now();
    index = await createIdentityIndex({ kubeconfigPath: join(dir, 'kubeconfig'), netns: noNetns, initialSyncTimeoutMs: 300_000 });
    const syncMs = performance.now() - t0;
    let idx: IdentityIndex | undefined = index;
    if (!idx.synced) throw new Error('not synced');
    if (idx.podByIp(podIp(pods - 1))?.name !== `pod-${pods - 1}`) throw new Error('index does not name the last pod');
    // A hop's lookups: both ends' pods and the destination as a Service (hits and misses mixed).
    const ips = Array.from({ length: 4096 }, (_, i) => podIp((i * 7919) % pods));
    const vips = Array.from({ length: 4096 }, (_, i) => `10.96.${Math.floor((i % SERVICES) / 250)}.${(i % 250) + 2}`);
    let hits = 0;
    const l0 = process.hrtime.bigint();
    for (let i = 0; i < LOOKUPS; i++) {
      if (idx.podByIp(ips[i & 4095]!)) hits++;
      if (idx.podByIp(ips[(i + 1) & 4095]!)) hits++;
      if (idx.serviceByAddr(vips[i & 4095]!, 80, 'tcp')) hits++;
    }
    const lookupNs = Number(process.hrtime.bigint() - l0) / LOOKUPS;
    if (hits < LOOKUPS * 2) throw new Error(`lookups missed: ${hits}`);
    // 410: watches cut while more changes than the history holds are made, then the relist.
    const lists = idx.stats().kinds.pods.lists;
    api.dropWatches();
    for (let g = 1; g <= 3; g++) {
      model = { ...model, pods: model.pods.map((p, i) => (i < HISTORY ? { ...p, labels: { ...p.labels, gen: String(g) } } : p)) };
      api.setModel(model);
    }
    const r0 = performance.now();
    await until('relisted and synced', () => idx!.stats().kinds.pods.lists > lists && idx!.synced, 60_000, () => idx!.stats());
    const relistMs = performance.now() - r0;
    const withIndex = heap();
    await idx.close();
    // NOTE: both names go, or the closed index (its objects and tables) stays reachable and is
    // counted on both sides: what was measured then was only what close() frees.
    index = idx = undefined;
    // The aborted watches' requests let go of what they reach a few ticks after close().
    await sleep(500);
    const memMB = (withIndex - heap()) / 2 ** 20;
    return { memMB, syncMs, lookupNs, relistMs };
  } finally {
    await index?.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const { bySize, detail } = await sweep({
  sizes: SIZES,
  runs: RUNS,
  label: (pods) => `${pods} pods`,
  once,
  line: (pods, r) => `${pods} pods, ${SERVICES} Services: ${r.memMB.toFixed(1)} MB, sync ${r.syncMs.toFixed(0)} ms, ${r.lookupNs.toFixed(0)} ns per hop, relist ${r.relistMs.toFixed(0)} ms`,
});
const figures: Figure[] = [];
const rows: string[] = [];
for (const { size: pods, runs } of bySize) {
  const f = [
    figure(`index memory, ${pods} pods`, 'MB', runs.map((r) => r.memMB)),
    figure(`initial sync, ${pods} pods`, 'ms', runs.map((r) => r.syncMs)),
    figure(`lookups per hop, ${pods} pods`, 'ns', runs.map((r) => r.lookupNs)),
    figure(`relist after 410, ${pods} pods`, 'ms', runs.map((r) => r.relistMs)),
  ];
  figures.push(...f);
  const m = (x: Figure, d = 0): string => x.median.toFixed(d);
  rows.push(`| ${pods} pods, ${SERVICES} Services | ${m(f[0]!, 1)} MB | ${m(f[1]!)} ms | ${m(f[2]!)} ns | ${m(f[3]!)} ms |`);
}
printTable(['cluster', 'index memory', 'initial sync', 'lookups per hop', 'relist after 410'], rows);
report('identity-scale', figures, { setup: `lab API in process, ${NODES} nodes, ${SERVICES} ClusterIP Services, ${RUNS} run(s) per size`, runs: detail });
