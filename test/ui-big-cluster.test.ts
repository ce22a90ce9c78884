// The UI on a cluster of 200 pods (20 Services, 20 Deployments): the real server with a synthetic
// source of pod → Service journeys and that topology, the built UI in Chromium. The lab buttons
// (a curl per Service, scale and closed-port per Deployment) once filled the screen and hid the
// live list; the topology once laid the whole cluster out again every second. Screenshot:
// test-artifacts/topology-200-pods.png. The traffic actions are now one picker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../agent/src/server/http.ts';
import { SyntheticSource } from '../agent/src/server/__tests__/synthetic.ts';
import { journeyMaker, scaleTopology } from '../bench/ui-scale-data.ts';
import { ensureUiBuilt, launchChromium, openUi } from './browser.ts';

const ART = 'test-artifacts';
const TOKEN = `big-cluster-${process.pid}-0123456789`;
const topo = scaleTopology(200);
let server: RunningServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  ensureUiBuilt();
  const source = new SyntheticSource(0, 10, Number.POSITIVE_INFINITY, journeyMaker(topo));
  server = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, uiDir: 'ui/dist', source, topology: () => topo, lab: null });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  await openUi(page, server.url, TOKEN);
  source.setRate(100);
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('a cluster of 200 pods', () => {
  it('keeps the live list on screen under the traffic picker, which offers every Service', async () => {
    await expect.poll(() => page.getByTestId('conn-row').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    const picker = page.getByTestId('lab-picker');
    expect((await picker.boundingBox())!.height).toBeLessThan(150);
    await page.getByTestId('pick-action').selectOption('curl');
    const targets = await page.getByTestId('pick-target').locator('option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
    expect(new Set(targets)).toEqual(new Set(topo.services.map((s) => `svc:${s.namespace}/${s.name}`)));
    const row = (await page.getByTestId('conn-row').first().boundingBox())!;
    expect(row.y + row.height).toBeLessThan(900);
  });

  it("shows every pod in the topology (a Deployment's replicas on a node as one box), lit by the traffic, with counts on the traffic edges", async () => {
    await page.getByTestId('tab-topology').click();
    const boxes = page.locator('[data-testid^="topo-rs:"], [data-testid^="topo-pod:"]');
    const perNode = new Set(topo.pods.map((p) => `${p.namespace}/${p.deployment ?? p.name}@${p.node}`));
    await expect.poll(() => boxes.count(), { timeout: 15_000 }).toBe(perNode.size);
    // Each box names its pods (one, or the replicas in its tooltip): together, every pod once.
    const named = await boxes.evaluateAll((els) => els.flatMap((e) => (e.getAttribute('title') ?? e.querySelector('.ti-label')?.textContent ?? '').split('\n')));
    expect(named.length).toBe(topo.pods.length);
    await expect.poll(() => page.locator('.topo-item.lit').count(), { timeout: 5000 }).toBeGreaterThan(0);
    // The traffic edges carry their counts as text.
    await expect.poll(() => page.locator('text.topo-count').count(), { timeout: 5000 }).toBeGreaterThan(0);
    mkdirSync(ART, { recursive: true });
    await page.screenshot({ path: `${ART}/topology-200-pods.png` });
  });
});
