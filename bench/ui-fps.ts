// UI frame rate while journeys stream in: the real server with a synthetic source (a realistic
// ClusterIP-over-VXLAN shape from server/synthetic.ts, 9 hops a journey), the built UI in
// Chromium, frame times from requestAnimationFrame in the page. Goal: > 50 fps while 5k events/s
// arrive. Two loads, one after the other: 5k hop events/s (the goal as written: ~560 journeys/s),
// and 5k journeys/s (45k hop events/s, nine times the goal). Every run also says how many
// journeys were offered, written to the page's socket, and counted by the page itself (its
// status bar), and how many the fan-out dropped for it as too slow.
// Run: `npx tsx bench/ui-fps.ts [--quick] [--rate N] [--seconds S]`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { startServer } from '../agent/src/server/http.ts';
import { SyntheticSource, syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';
import { figure, numArg, QUICK, report, sleep } from './lib.ts';

const RATE_ARG = process.argv.includes('--rate') ? Math.round(numArg('--rate', 5000, 100_000)) : null;
const SECONDS = Math.round(numArg('--seconds', QUICK ? 5 : 10, 120));
const RUNS = QUICK ? 2 : 3;
const TOKEN = 'ui-fps-bench-token-0123456789abcdef';
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const UI_DIST = join(ROOT, 'ui/dist');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Frame times in the page from requestAnimationFrame over `ms`: frames per second, p95 and longest gap (ms). */
export async function measureFrames(page: Page, ms: number): Promise<{ fps: number; p95: number; max: number }> {
  // A string, not a function: tsx would wrap a function in helpers the page does not have.
  return (await page.evaluate(`new Promise((done) => {
    const t0 = performance.now();
    // From the moment asked: a page stalled for the whole window still counts its one long frame.
    const frames = [t0];
    const step = (t) => {
      frames.push(t);
      if (t - t0 < ${ms}) requestAnimationFrame(step);
      else {
        const gaps = frames.slice(1).map((x, k) => x - frames[k]).sort((a, b) => a - b);
        done({ fps: (frames.length - 1) / ((frames[frames.length - 1] - frames[0]) / 1000), p95: gaps[Math.floor(gaps.length * 0.95)], max: gaps[gaps.length - 1] });
      }
    };
    requestAnimationFrame(step);
  })`)) as { fps: number; p95: number; max: number };
}

export async function runUiFps(): Promise<void> {
  const index = join(UI_DIST, 'index.html');
  if (!existsSync(index) || newest(join(ROOT, 'ui/src')) > statSync(index).mtimeMs) execFileSync('npm', ['run', '-s', 'build', '-w', 'ui'], { cwd: ROOT, stdio: 'ignore' });
  const source = new SyntheticSource(0);
  const hops = syntheticJourney(0).hops.length;
  const loads = RATE_ARG !== null
    ? [{ label: `${RATE_ARG} journeys/s`, rate: RATE_ARG }]
    : [
        { label: `5k hop events/s (${Math.round(5000 / hops)} journeys/s)`, rate: Math.round(5000 / hops) },
        { label: `5k journeys/s (${Math.round(5000 * hops / 1000)}k hop events/s)`, rate: 5000 },
      ];
  const server = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, uiDir: UI_DIST, source, topology: () => null, lab: null });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.goto(`${server.url.replace(/\/$/, '')}/?token=${TOKEN}`);
    await page.getByTestId('connection').filter({ hasText: 'open' }).waitFor({ timeout: 15_000 });
    const figures = [];
    for (const load of loads) {
      source.setRate(load.rate);
      await sleep(2000); // the list fills, the first layout settles
      const fps: number[] = [];
      const p95: number[] = [];
      const received: number[] = [];
      const dropped: number[] = [];
      const pageCount = async () => Number(await page.getByTestId('received').getAttribute('data-received'));
      for (let i = 0; i < RUNS; i++) {
        const before = { ...server.fanout.counters };
        const pageBefore = await pageCount();
        const r = await measureFrames(page, SECONDS * 1000);
        const c = server.fanout.counters;
        const rate = (k: 'journeysIn' | 'journeysOut' | 'droppedSlowClient') => Math.round((c[k] - before[k]) / SECONDS);
        const got = Math.round(((await pageCount()) - pageBefore) / SECONDS);
        fps.push(r.fps);
        p95.push(r.p95);
        received.push(got);
        dropped.push(rate('droppedSlowClient'));
        console.log(
          `${load.label} run ${i + 1}/${RUNS}: ${r.fps.toFixed(1)} fps, p95 frame ${r.p95.toFixed(1)} ms; journeys/s offered ${rate('journeysIn')}, written to the page ${rate('journeysOut')}, counted by the page ${got}, dropped as too slow ${rate('droppedSlowClient')}`,
        );
      }
      figures.push(
        figure(`UI fps, ${load.label}`, 'fps', fps, { op: '>', value: 50 }),
        figure(`UI p95 frame time, ${load.label}`, 'ms', p95),
        figure(`journeys/s counted by the page, ${load.label}`, 'journeys/s', received),
        figure(`journeys/s dropped for the page as too slow, ${load.label}`, 'journeys/s', dropped),
      );
    }
    report('ui-fps', figures, {
      setup: `Chromium (${browser.version()}, --disable-gpu), viewport 1600x900, synthetic source (${hops} hops a journey), ${SECONDS} s per run, ${RUNS} runs per load`,
    });
  } finally {
    await browser.close();
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runUiFps();
  process.exit(0);
}
