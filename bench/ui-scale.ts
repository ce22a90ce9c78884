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
import { SyntheticSource } from '../agent/src/server/__tests__/synthetic.ts';
import { journeyMaker, scaleTopology } from './ui-scale-data.ts';
import { ensureUiBuilt, launchChromium } from '../test/browser.ts';
import { figure, numArg, printTable, QUICK, report, sleep, type Figure } from './lib.ts';
import { measureFrames } from './ui-fps.ts';

const PODS_ARG = process.argv.includes('--pods') ? process.argv[process.argv.indexOf('--pods') + 1] : undefined;
const SIZES = (PODS_ARG ?? (QUICK ? '20,1000' : '20,200,1000')).split(',').map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 10 || n > 1500) throw new Error('--pods: pod counts in [10, 1500], comma-separated');
  return n;
});
const STORED = 10_000;
const FILL_RATE = 2500;
/** Journeys/s while measuring (0: none, the page idle). */
const LIVE = ((): number => {
  if (!process.argv.includes('--live')) return 200;
  const v = Number(process.argv[process.argv.indexOf('--live') + 1]);
  if (!Number.isInteger(v) || v < 0 || v > 5000) throw new Error('--live: journeys/s in [0, 5000]');
  return v;
})();
const SECONDS = Math.round(numArg('--seconds', QUICK ? 4 : 8, 120));
const RUNS = QUICK ? 1 : 3;
const TOKEN = 'ui-scale-bench-token-0123456789abcdef';
const PROFILE = process.argv.includes('--profile') ? process.argv[process.argv.indexOf('--profile') + 1] : undefined;

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
    // The last pod's box: its own, or its Deployment's on its node (replicas share one box).
    const last = topo.pods[pods - 1]!;
    const lastBox = last.deployment ? `topo-rs:${last.namespace}/${last.deployment}@${last.node}` : `topo-pod:${last.namespace}/${last.name}`;
    await page.getByTestId(lastBox).waitFor({ state: 'attached', timeout: 120_000 });
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
printTable(['pods', 'live list, connections: p95 frame', 'live list, packets', 'topology', 'topology first shown'], rows);
report('ui-scale', figures, { setup: `${STORED} journeys sent at ${FILL_RATE}/s, then ${LIVE}/s while measuring; ${SECONDS} s per run, ${RUNS} run(s) per view; Chromium --disable-gpu, 1600x900`, runs: detail });
process.exit(0);
