// Shared by the browser tests: a fresh UI build when the sources changed, and Debian's Chromium.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

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
