// How `lab up` grows with nodes and pods: topologies generated here (N nodes, P pods of an HTTP
// Deployment spread over them, one Service in front), each brought up in this process as
// `hopscope lab up` does (network, kube-proxy rules, sandboxes and containers in their cgroups,
// the API), timed, measured and torn down before the next. Printed per size: the time to up
// (and its network part, the rest being sandboxes and containers), the memory of the lab's
// processes (sum of RSS and of PSS: the workloads share Node's pages, so PSS is what they
// cost together), the kernel's share (Slab + page tables + kernel stacks + percpu, before and
// after) and MemAvailable's fall, all per pod. The kernel and MemAvailable figures are the
// whole machine's: other work on it moves them.
// Run as root: `npx tsx bench/lab-scale.ts [--quick]`.
import { readFileSync } from 'node:fs';
import { labUp } from '../agent/src/lab/lab.ts';
import type { LabState } from '../agent/src/lab/state.ts';
import { validateTopology, type TopologyInput } from '../agent/src/lab/topology.ts';
import { figure, printTable, QUICK, report, sleep, sweep, type Figure } from './lib.ts';

/** [nodes, pods]: nodes grow at 24 pods, then pods grow on 6 nodes. */
const SIZES: [number, number][] = QUICK
  ? [[1, 6], [6, 24]]
  : [[1, 24], [2, 24], [4, 24], [6, 24], [6, 60], [6, 120]];
const RUNS = QUICK ? 1 : 2;
const REPLICAS_MAX = 20;

/** A topology of `nodes` nodes and `pods` HTTP pods (Deployments of at most 20 replicas). */
export function scaleTopology(name: string, nodes: number, pods: number): TopologyInput {
  const nodeNames = Array.from({ length: nodes }, (_, i) => `node-${i + 1}`);
  const deployments: NonNullable<TopologyInput['deployments']> = [];
  for (let left = pods, d = 0; left > 0; left -= REPLICAS_MAX, d++) {
    deployments.push({ name: `web-${d}`, replicas: Math.min(REPLICAS_MAX, left), labels: { app: 'web' }, containers: [{ name: 'web', run: { kind: 'http', port: 8080 } }] });
  }
  return {
    name,
    nodes: nodeNames.map((n, i) => ({ name: n, podCIDR: `10.244.${i + 1}.0/24`, address: `10.0.0.${i + 1}` })),
    deployments,
    services: [{ name: 'web', clusterIP: '10.96.0.20', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }],
  };
}

function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(l);
    if (m) out[m[1]!] = Number(m[2]) * 1024;
  }
  return out;
}
const kernelBytes = (m: Record<string, number>): number => (m.Slab ?? 0) + (m.PageTables ?? 0) + (m.KernelStack ?? 0) + (m.Percpu ?? 0);

/** RSS and PSS of a process (bytes), 0 when it is gone. */
function rssPss(pid: number): { rss: number; pss: number } {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0) * 1024;
    return { rss: kb('Rss'), pss: kb('Pss') };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

/** The lab's own processes: containers, sandboxes, the API forwarder. */
function labPids(s: LabState): number[] {
  return [...s.workloads.map((w) => w.pid), ...(s.sandboxes ?? []).map((x) => x.pid), ...(s.api?.inLab.forwarderPid ? [s.api.inLab.forwarderPid] : [])];
}

interface Run { upMs: number; networkMs: number; downMs: number; rss: number; pss: number; kernel: number; available: number; processes: number }

async function once(nodes: number, pods: number, i: number): Promise<Run> {
  const name = `sc${process.pid % 10000}n${nodes}p${pods}r${i}`.slice(0, 20);
  const topo = validateTopology(scaleTopology(name, nodes, pods));
  const before = meminfo();
  let networkMs = NaN;
  const t0 = performance.now();
  const lab = await labUp(topo, {
    name,
    cleanupOnExit: true,
    cleanupOnCrash: true,
    log: (l) => {
      const m = /^network up in (\d+) ms/.exec(l);
      if (m) networkMs = Number(m[1]);
    },
  });
  const upMs = performance.now() - t0;
  try {
    const st = lab.state();
    if (st.model.pods.length !== pods) throw new Error(`${st.model.pods.length} pods up, expected ${pods}`);
    // Every pod answers through the Service before anything is read: the lab is really up.
    const from = st.model.pods[0]!;
    const r = await lab.exec(`${from.namespace}/${from.name}`, ['curl', '-sS', '--max-time', '5', 'http://10.96.0.20/'], { timeoutMs: 10_000 });
    if (r.exitCode !== 0) throw new Error(`the Service did not answer: ${r.stderr}`);
    await sleep(1000);
    const after = meminfo();
    const pids = labPids(st);
    let rss = 0;
    let pss = 0;
    for (const p of pids) {
      const m = rssPss(p);
      rss += m.rss;
      pss += m.pss;
    }
    const kernel = kernelBytes(after) - kernelBytes(before);
    const available = (before.MemAvailable ?? 0) - (after.MemAvailable ?? 0);
    const d0 = performance.now();
    await lab.down();
    return { upMs, networkMs, downMs: performance.now() - d0, rss, pss, kernel, available, processes: pids.length };
  } finally {
    await lab.down();
  }
}

const MB = 2 ** 20;
const { bySize, detail } = await sweep({
  sizes: SIZES,
  runs: RUNS,
  label: ([nodes, pods]) => `${nodes} nodes, ${pods} pods`,
  once: ([nodes, pods], i) => once(nodes, pods, i),
  line: ([nodes, pods], r) =>
    `${nodes} nodes, ${pods} pods: up ${(r.upMs / 1000).toFixed(1)} s (network ${(r.networkMs / 1000).toFixed(1)} s), down ${(r.downMs / 1000).toFixed(1)} s; ` +
    `${r.processes} processes RSS ${(r.rss / MB).toFixed(0)} MB PSS ${(r.pss / MB).toFixed(0)} MB; kernel +${(r.kernel / MB).toFixed(0)} MB; MemAvailable -${(r.available / MB).toFixed(0)} MB`,
});
const figures: Figure[] = [];
const rows: string[] = [];
for (const { size: [nodes, pods], runs } of bySize) {
  const at = `${nodes} nodes, ${pods} pods`;
  const f = {
    up: figure(`lab up, ${at}`, 's', runs.map((r) => r.upMs / 1000)),
    net: figure(`network part, ${at}`, 's', runs.map((r) => r.networkMs / 1000)),
    down: figure(`lab down, ${at}`, 's', runs.map((r) => r.downMs / 1000)),
    pss: figure(`processes PSS per pod, ${at}`, 'MB', runs.map((r) => r.pss / MB / pods)),
    rss: figure(`processes RSS per pod, ${at}`, 'MB', runs.map((r) => r.rss / MB / pods)),
    kernel: figure(`kernel per pod, ${at}`, 'MB', runs.map((r) => r.kernel / MB / pods)),
    avail: figure(`MemAvailable fall per pod, ${at}`, 'MB', runs.map((r) => r.available / MB / pods)),
  };
  figures.push(...Object.values(f));
  const range = (x: Figure, d = 1): string => (x.runs.length > 1 ? `${x.median.toFixed(d)} (${x.min.toFixed(d)}-${x.max.toFixed(d)})` : x.median.toFixed(d));
  rows.push(`| ${nodes} | ${pods} | ${range(f.up)} s | ${range(f.net)} s | ${range(f.down)} s | ${f.pss.median.toFixed(1)} MB (RSS ${f.rss.median.toFixed(1)}) | ${f.kernel.median.toFixed(2)} MB | ${f.avail.median.toFixed(1)} MB |`);
}
printTable(['nodes', 'pods', 'lab up', 'of which network', 'lab down', 'processes per pod, PSS', 'kernel per pod', 'MemAvailable fall per pod'], rows);
report('lab-scale', figures, { setup: `${RUNS} run(s) per size`, runs: detail });
