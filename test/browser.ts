// Shared by the browser tests: a fresh UI build when the sources changed, and Debian's Chromium.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { spawnHopscope, stopChild } from './server-helpers.ts';

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds ui/dist when it is missing or older than ui/src (the server serves ui/dist). */
export function ensureUiBuilt(): void {
  if (!existsSync('ui/dist/index.html') || newest('ui/src') > statSync('ui/dist/index.html').mtimeMs)
    execFileSync('npm', ['run', '-s', 'build', '-w', 'ui'], { stdio: 'ignore' });
}

/**
 * Headless Chromium from Debian, without the background traffic this closed network refuses.
 * `executablePath`: a wrapper that starts it elsewhere (e.g. in a lab network namespace).
 */
export function launchChromium(executablePath = '/usr/bin/chromium'): Promise<Browser> {
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** What `startLiveUi` brought up, for `stopLiveUi`. */
export interface LiveUi {
  proc: ChildProcess;
  base: string;
  browser: Browser;
  page: Page;
}

/**
 * `hopscope start` on a lab of its own named `lab` (`args` after the name, e.g. a topology; its
 * stderr into `log`), on a fresh UI build, and one Chromium page at `viewport`; test-artifacts/
 * made for the screenshots.
 */
export async function startLiveUi(token: string, lab: string, log: string[], upMs: number, viewport: { width: number; height: number }, args: string[] = []): Promise<LiveUi> {
  mkdirSync('test-artifacts', { recursive: true });
  ensureUiBuilt();
  const { proc, base } = await spawnHopscope('start', ['--port', '0', '--name', lab, ...args], token, log, upMs);
  const browser = await launchChromium();
  return { proc, base, browser, page: await browser.newPage({ viewport }) };
}

/** Undoes `startLiveUi` (either part may be missing when it failed half-way). */
export async function stopLiveUi(lab: string, proc: ChildProcess | undefined, browser: Browser | undefined): Promise<void> {
  await browser?.close().catch(() => undefined);
  await stopChild(proc);
  // A start killed before its own teardown leaves its lab: take it down by name.
  if (proc?.signalCode === 'SIGKILL') execFileSync('node', ['agent/bin/hopscope.mjs', 'lab', 'down', '--name', lab], { stdio: 'ignore' });
}

/**
 * Opens the UI at `url` with its token and waits for its websocket to be open and, when
 * `tracerMs` is given, for the status bar to say the tracer runs.
 */
export async function openUi(page: Page, url: string, token: string, tracerMs?: number): Promise<void> {
  await page.goto(`${url}?token=${token}`);
  await page.getByTestId('connection').filter({ hasText: 'open' }).waitFor({ timeout: 20_000 });
  if (tracerMs !== undefined) await page.getByTestId('status-bar').filter({ hasText: 'tracer running' }).waitFor({ timeout: tracerMs });
}

/**
 * The live list one row per packet (it opens on connections; the page remembers the choice, so
 * a reload keeps it).
 */
export async function showPackets(page: Page): Promise<void> {
  const toggle = page.getByTestId('list-mode-packets');
  if ((await toggle.getAttribute('aria-pressed')) !== 'true') await toggle.click();
  await page.getByTestId('journey-list').waitFor();
}

/** The journey list is virtualized: scroll through it until a row matches (left scrolled there). */
export async function findRow(page: Page, rows: () => Locator): Promise<boolean> {
  await showPackets(page);
  const list = page.getByTestId('journey-list');
  const height = await list.evaluate((el) => el.scrollHeight);
  for (let y = 0; y <= height; y += 400) {
    await list.evaluate((el, top) => el.scrollTo(0, top), y);
    await page.waitForTimeout(50);
    if ((await rows().count()) > 0) return true;
  }
  return false;
}

/**
 * Runs a lab action through the traffic picker: the action, its target (`svc:<ns>/<name>` or
 * `deploy:<ns>/<name>`) and, when given, the pod (or node, for a NodePort) it runs from. Returns
 * the action's label, which the result line repeats.
 */
export async function pickAction(page: Page, kind: string, target: string, from?: string): Promise<string> {
  await page.getByTestId('pick-action').selectOption(kind);
  await page.getByTestId('pick-target').selectOption(target);
  if (from !== undefined) await page.getByTestId('pick-from').selectOption(from);
  const run = page.getByTestId('pick-run');
  const label = (await run.getAttribute('title')) ?? '';
  await run.click();
  return label;
}
