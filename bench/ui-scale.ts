// How the UI's frame time grows with the cluster: the real server with a synthetic source and a
// topology of 20 / 200 / 1000 pods (6 nodes; one Service per 10 pods, each with those 10 as
// endpoints), the built UI in Chromium (--disable-gpu). Per size, a fresh page is sent 10k
// journeys (pod → Service → one of its endpoints, pairs spread over the cluster; the page's
// store keeps its bound of the newest 5000), then, while journeys keep arriving at a live
// rate, frame times are read from requestAnimationFrame on the live list (connections, then
// packets) and on the topology. Printed: p95 and longest frame per view, and how long the
// topology took to first show its pods.
// Run: `npx tsx bench/ui-scale.ts [--quick] [--live N] [--seconds S] [--pods 20,200] [--profile DIR]`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startServer } from '../agent/src/server/http.ts';
import { SyntheticSource, syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';
import type { Endpoint, Journey } from '../agent/src/protocol/events.ts';
import type { TopologyView } from '../agent/src/protocol/messages.ts';
import { ensureUiBuilt, launchChromium } from '../test/browser.ts';
import { figure, numArg, QUICK, report, sleep, type Figure } from './lib.ts';
import { measureFrames } from './ui-fps.ts';

const PODS_ARG = process.argv.includes('--pods') ? process.argv[process.argv.indexOf('--pods') + 1] : undefined;
const SIZES = (PODS_ARG ?? '20,200,1000').split(',').map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 10 || n > 1500) throw new Error('--pods: pod counts in [10, 1500], comma-separated');
  return n;
});
const STORED = 10_000;
const FILL_RATE = 2500;
const LIVE = Math.round(numArg('--live', 200, 5000));
const SECONDS = Math.round(numArg('--seconds', QUICK ? 4 : 8, 120));
const RUNS = QUICK ? 1 : 3;
const NODES = 6;
const PER_SERVICE = 10;
const TOKEN = 'ui-scale-bench-token-0123456789abcdef';
const PROFILE = process.argv.includes('--profile') ? process.argv[process.argv.indexOf('--profile') + 1] : undefined;

const podName = (i: number): string => `app-${Math.floor(i / PER_SERVICE)}-${(i % PER_SERVICE).toString(36)}x${i.toString(36)}`;
const podIp = (i: number): string => `10.244.${(i % NODES) + 1}.${Math.floor(i / NODES) + 2}`;
const nodeOf = (i: number): string => `node-${(i % NODES) + 1}`;

/** The cluster as the server hands it to the page (GET /api/topology). */
export function scaleTopology(pods: number): TopologyView {
  const services = Math.ceil(pods / PER_SERVICE);
  return {
    name: `scale-${pods}`,
    cni: 'flannel-vxlan',
    nodes: Array.from({ length: NODES }, (_, n) => ({ name: `node-${n + 1}`, address: `10.0.0.${n + 1}`, podCIDR: `10.244.${n + 1}.0/24` })),
    pods: Array.from({ length: pods }, (_, i) => ({ namespace: 'default', name: podName(i), node: nodeOf(i), ip: podIp(i), deployment: `app-${Math.floor(i / PER_SERVICE)}` })),
    services: Array.from({ length: services }, (_, s) => ({
      namespace: 'default',
      name: `app-${s}`,
      type: 'ClusterIP' as const,
      clusterIP: `10.96.${Math.floor(s / 250)}.${(s % 250) + 2}`,
      ports: [{ name: 'http', protocol: 'TCP' as const, port: 80, targetPort: 8080 }],
      endpoints: Array.from({ length: Math.min(PER_SERVICE, pods - s * PER_SERVICE) }, (_, k) => {
        const i = s * PER_SERVICE + k;
        return { namespace: 'default', name: podName(i), ip: podIp(i), node: nodeOf(i) };
      }),
    })),
    externals: [],
    deployments: Array.from({ length: services }, (_, s) => ({ namespace: 'default', name: `app-${s}`, replicas: Math.min(PER_SERVICE, pods - s * PER_SERVICE) })),
  };
}

/** Journey n: a pod calling a Service, answered by one of its endpoints (pairs spread by a hash). */
function journeyMaker(t: TopologyView): (n: number) => Journey {
  const pool = Array.from({ length: 1024 }, (_, i) => syntheticJourney(i));
  const pod = (i: number): Endpoint['pod'] => ({ namespace: 'default', name: t.pods[i]!.name, node: t.pods[i]!.node });
  return (n) => {
    const h = Math.imul(n + 1, 2654435761) >>> 0;
    const from = h % t.pods.length;
    const svc = t.services[(h >>> 12) % t.services.length]!;
    const to = t.pods.findIndex((p) => p.name === svc.endpoints[n % svc.endpoints.length]!.name);
    const base = pool[n % 1024]!;
    const hops = [...base.hops];
    hops[0] = { ...hops[0]!, where: { pod: pod(from)!, label: `${t.pods[from]!.name} (default)` } };
    hops[hops.length - 1] = { ...hops[hops.length - 1]!, where: { pod: pod(to)!, label: `${t.pods[to]!.name} (default)` } };
    return {
      ...base,
      id: `u-${n}`,
      src: { ...base.src, ip: t.pods[from]!.ip, pod: pod(from)! },
      dst: { ip: svc.clusterIP, port: 80, service: { namespace: 'default', name: svc.name, port: 80, portName: 'http' } },
      backend: { ip: t.pods[to]!.ip, port: 8080, pod: pod(to)! },
      hops,
    };
  };
}

interface Run { view: string; p95: number; max: number; fps: number }

async function received(page: Page): Promise<number> {
  return Number(await page.getByTestId('received').getAttribute('data-received'));
}

async function once(pods: number): Promise<{ runs: Run[]; topologyFirstMs: number }> {
  const topo = scaleTopology(pods);
  const source = new SyntheticSource(0, 10, Number.POSITIVE_INFINITY, journeyMaker(topo));
  const server = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, uiDir: 'ui/dist', source, topology: () => topo, lab: null });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.goto(`${server.url.replace(/\/$/, '')}/?token=${TOKEN}`);
    await page.getByTestId('connection').filter({ hasText: 'open' }).waitFor({ timeout: 15_000 });
    source.setRate(FILL_RATE);
    const t0 = performance.now();
    while ((await received(page)) < STORED) {
      if (performance.now() - t0 > 60_000) throw new Error(`the page counted ${await received(page)} of ${STORED} journeys in 60 s`);
      await sleep(200);
    }
    source.setRate(LIVE);
    await sleep(1500);
    const runs: Run[] = [];
    const measure = async (view: string) => {
      for (let i = 0; i < RUNS; i++) runs.push({ view, ...(await measureFrames(page, SECONDS * 1000)) });
    };
    await measure('live list (connections)');
    await page.getByTestId('list-mode-packets').click();
    await page.getByTestId('journey-list').waitFor().catch(async (e: unknown) => {
      await page.screenshot({ path: '/tmp/sc-ui-debug.png' });
      throw e;
    });
    await sleep(1000);
    await measure('live list (packets)');
    const tt = performance.now();
    await page.getByTestId('tab-topology').click();
    await page.getByTestId(`topo-pod:default/${topo.pods[pods - 1]!.name}`).waitFor({ state: 'attached', timeout: 120_000 });
    const topologyFirstMs = performance.now() - tt;
    await sleep(1500);
    if (PROFILE) {
      // --profile DIR: a CPU profile of the page on the topology (read it with bench/cpuprofile-top.ts).
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
      await sleep(SECONDS * 1000);
      const { profile } = await cdp.send('Profiler.stop');
      writeFileSync(join(PROFILE, `ui-topology-${pods}.cpuprofile`), JSON.stringify(profile));
    }
    await measure('topology');
    return { runs, topologyFirstMs };
  } finally {
    await browser.close();
    await server.close();
  }
}

ensureUiBuilt();
const figures: Figure[] = [];
const rows: string[] = [];
const detail: Record<string, unknown> = {};
for (const pods of SIZES) {
  const r = await once(pods);
  detail[`${pods} pods`] = r;
  const cells: string[] = [];
  for (const view of ['live list (connections)', 'live list (packets)', 'topology']) {
    const rs = r.runs.filter((x) => x.view === view);
    for (const x of rs) console.log(`${pods} pods, ${view}: p95 frame ${x.p95.toFixed(1)} ms, longest ${x.max.toFixed(0)} ms, ${x.fps.toFixed(1)} fps`);
    const p95 = figure(`p95 frame, ${view}, ${pods} pods`, 'ms', rs.map((x) => x.p95));
    const max = figure(`longest frame, ${view}, ${pods} pods`, 'ms', rs.map((x) => x.max));
    figures.push(p95, max);
    cells.push(`${p95.median.toFixed(1)} ms (longest ${max.median.toFixed(0)} ms)`);
  }
  console.log(`${pods} pods: topology first shown in ${(r.topologyFirstMs / 1000).toFixed(1)} s`);
  figures.push(figure(`topology first shown, ${pods} pods`, 's', [r.topologyFirstMs / 1000]));
  rows.push(`| ${pods} | ${cells.join(' | ')} | ${(r.topologyFirstMs / 1000).toFixed(1)} s |`);
}
console.log(
  [
    '',
    `| pods | live list, connections: p95 frame | live list, packets | topology | topology first shown |`,
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n'),
);
report('ui-scale', figures, { setup: `${STORED} journeys sent at ${FILL_RATE}/s, then ${LIVE}/s while measuring; ${SECONDS} s per run, ${RUNS} run(s) per view; Chromium --disable-gpu, 1600x900`, runs: detail });
process.exit(0);
