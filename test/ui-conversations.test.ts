// The conversations view on the live lab (`hopscope start`: real lab, real tracer and pipeline,
// real Chromium): one curl is one connection row, which opens to its packets, and a packet to
// its hops; a dig just before a curl is linked to it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { openUi, pickAction, startLiveUi, stopLiveUi } from './browser.ts';

const TOKEN = `conv-test-${process.pid}-0123456789`;
const LAB = `cv${process.pid % 100000}`;
let proc: ChildProcess | undefined;
let base = '';
let browser: Browser;
let page: Page;
const log: string[] = [];

beforeAll(async () => {
  ({ proc, base, browser, page } = await startLiveUi(TOKEN, LAB, log, 90_000, { width: 1600, height: 900 }));
}, 180_000);

afterAll(() => stopLiveUi(LAB, proc, browser), 60_000);

/** Runs a lab action from the picker and waits for its answer. */
async function act(kind: string, target: string): Promise<void> {
  const label = await pickAction(page, kind, target);
  await page.locator('[data-testid=action-result][data-state=ok]').filter({ hasText: label }).waitFor({ timeout: 10_000 });
}

/** The list's totals once they stop changing (the tracer hands a flow's last packets on after an idle time-out). */
async function settled(): Promise<{ count: number; packets: number }> {
  const list = page.getByTestId('conn-list');
  const read = async () => ({ count: Number(await list.getAttribute('data-count')), packets: Number(await list.getAttribute('data-packets')) });
  let last = await read();
  for (let quiet = 0; quiet < 4; ) {
    await page.waitForTimeout(500);
    const now = await read();
    quiet = now.count === last.count && now.packets === last.packets ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

describe('conversations on the live lab', () => {
  it('shows one curl as ONE connection row, which opens to its packets and a packet to its hops', async () => {
    await openUi(page, base, TOKEN, 20_000);
    // Only what the client pod sends and receives.
    await page.getByTestId('filter-pod').fill('client');
    await page.getByTestId('filter-apply').click();
    await page.waitForTimeout(1000);
    await page.getByRole('button', { name: 'clear' }).click();
    expect(await page.getByTestId('list-mode-connections').getAttribute('aria-pressed')).toBe('true');

    await act('curl', 'svc:default/web');
    await expect.poll(async () => Number(await page.getByTestId('conn-list').getAttribute('data-packets')), { timeout: 15_000 }).toBeGreaterThanOrEqual(5);
    const { count, packets } = await settled();
    const rows = page.getByTestId('conn-row');
    expect(count, `rows: ${(await rows.allTextContents()).join(' | ')}`).toBe(1);
    expect(await rows.count()).toBe(1);
    const row = rows.first();
    const text = (await row.textContent()) ?? '';
    expect(text).toMatch(/client.*svc\/web:80.*web-[a-z0-9]+-[a-z0-9]+/);
    expect(text).toContain('delivered');
    expect(text).toMatch(/handshake \d+(\.\d+)? (µs|ms)/);
    expect(Number(await row.getAttribute('data-packets'))).toBe(packets);
    // Every packet the list holds belongs to that connection.
    expect(await page.getByTestId('list-mode-packets').textContent()).toContain(`Packets · ${packets}`);

    await row.getByTestId('conn-head').click();
    const pkts = row.getByTestId('conn-packet');
    await expect.poll(() => pkts.count(), { timeout: 10_000 }).toBe(packets);
    const all = await pkts.allTextContents();
    expect(all.some((t) => /→TCP \[S\]/.test(t)), all.join(' | ')).toBe(true);
    expect(all.some((t) => /↩TCP \[S\.\]/.test(t)), all.join(' | ')).toBe(true);
    expect(all.some((t) => /TCP \[F/.test(t)), all.join(' | ')).toBe(true);
    await pkts.filter({ hasText: 'TCP [S]' }).first().click();
    const diagram = page.getByTestId('hop-diagram');
    await diagram.locator('[data-kind=dnat]').first().waitFor({ timeout: 10_000 });
    expect(await diagram.locator('[data-kind=dnat]').first().textContent()).toMatch(/10\.96\.0\.\d+:80/);
    await page.screenshot({ path: 'test-artifacts/ui-conversations-curl.png' });

    // The per-packet view is one click away and lists the same packets.
    await page.getByTestId('list-mode-packets').click();
    await page.getByTestId('journey-row').first().waitFor({ timeout: 5000 });
    expect(await page.getByTestId('journey-row').filter({ hasText: 'TCP [S]' }).count()).toBeGreaterThan(0);
    await page.getByTestId('list-mode-connections').click();
    await row.getByTestId('conn-packet').first().waitFor({ timeout: 5000 });
  }, 120_000);

  it('links the DNS lookup made just before a call to that call', async () => {
    await page.getByRole('button', { name: 'clear' }).click();
    await act('dig', 'svc:default/web');
    await act('curl', 'svc:default/web');
    await expect.poll(async () => Number(await page.getByTestId('conn-list').getAttribute('data-count')), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await settled();
    const rows = page.getByTestId('conn-row');
    const texts = await rows.allTextContents();
    // The call, the lookup (UDP to kube-dns) and the packet still selected from before (a clear
    // keeps the selection, with its connection); listed as they came in.
    expect(texts.length, texts.join(' | ')).toBe(3);
    expect(texts.filter((t) => /1 packets \(1→ 0↩\)/.test(t))).toHaveLength(1);
    expect(texts.filter((t) => /client.*svc\/kube-dns:53.*UDP/.test(t))).toHaveLength(1);
    const call = rows.filter({ hasText: 'svc/web:80' }).filter({ hasText: 'handshake' });
    expect(await call.count(), texts.join(' | ')).toBe(1);
    const dns = call.getByTestId('conn-dns');
    expect(await dns.textContent()).toMatch(/^DNS \d+(\.\d+)? (µs|ms|s) before$/);
    await page.screenshot({ path: 'test-artifacts/ui-conversations-dns.png' });
  }, 60_000);
});
