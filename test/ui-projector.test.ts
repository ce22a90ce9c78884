// Projector and the bigger lab, in real Chromium against `hopscope start` on the real 6-node lab
// (agent/src/lab/topologies/six-node.yaml: 3 Deployments x 12 replicas, 30 Services, 38 pods;
// real netns, real bpftrace): the traffic picker sends a real request that yields a journey; the
// hop diagram fills its pane with no text under 14 px at 1280x720 and 1920x1080; presenter mode
// fits both; the topology draws edges only for the focus and the traffic. What the page must list
// and draw is derived from the lab's model (that file as the lab expanded it, from its state
// file), not counted by hand. Screenshots go to
// test-artifacts/ (topology-6node.png, presenter-*.png, projector-*.png): look at them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type { Browser, Locator, Page } from 'playwright-core';
import { findRow, openUi, pickAction, startLiveUi, stopLiveUi } from './browser.ts';
import { readLabState } from '../agent/src/lab/state.ts';
import type { ClusterModel, ModelPod } from '../agent/src/lab/model.ts';

const TOKEN = `projector-test-${process.pid}-0123456789`;
const LAB = `pj${process.pid % 100000}`;
const ART = 'test-artifacts';
const SIZES = [
  { width: 1280, height: 720 },
  { width: 1920, height: 1080 },
] as const;
let proc: ChildProcess | undefined;
let base = '';
let browser: Browser;
let page: Page;
const log: string[] = [];

beforeAll(async () => {
  ({ proc, base, browser, page } = await startLiveUi(TOKEN, LAB, log, 240_000, { width: 1920, height: 1080 }, ['--topology', 'agent/src/lab/topologies/six-node.yaml']));
}, 300_000);

afterAll(() => stopLiveUi(LAB, proc, browser), 90_000);

interface TextSize {
  text: string;
  px: number;
  boxPx: number;
}

/**
 * Runs in the page (a function's text: the test's own tsconfig has no DOM types): every visible
 * text under the element with its drawn size, i.e. computed font size x the scale of every
 * transform above it (React Flow's viewport zoom), and its rendered line box height.
 */
const TEXT_SIZES = `(el) => {
  const out = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const t = walker.currentNode;
    const parent = t.parentElement;
    if (!t.textContent.trim() || !parent || parent.closest('.react-flow__minimap')) continue;
    const cs = getComputedStyle(parent);
    if (cs.display === 'none' || cs.visibility === 'hidden' || Number(cs.opacity) === 0) continue;
    let scale = 1;
    for (let a = parent; a && a !== el.parentElement; a = a.parentElement) {
      const tr = getComputedStyle(a).transform;
      if (tr && tr !== 'none') scale *= new DOMMatrixReadOnly(tr).a;
    }
    const r = document.createRange();
    r.selectNodeContents(t);
    const rects = [...r.getClientRects()];
    if (rects.length === 0) continue;
    out.push({ text: t.textContent.trim().slice(0, 50), px: parseFloat(cs.fontSize) * scale, boxPx: Math.min(...rects.map((x) => x.height)) });
  }
  return out;
}`;
const textSizes = (root: Locator): Promise<TextSize[]> => root.evaluate((el, src) => (0, eval)(src)(el) as TextSize[], TEXT_SIZES);

/** The cluster the running lab made of six-node.yaml: pods placed, Services with their endpoints. */
const model = (): ClusterModel => readLabState(LAB).model;
/** The topology box a pod is drawn in: its own, or one for its Deployment's replicas on its node. */
const boxOf = (p: Pick<ModelPod, 'namespace' | 'name' | 'node' | 'deployment'>) => (p.deployment ? `rs:${p.namespace}/${p.deployment.name}@${p.node}` : `pod:${p.namespace}/${p.name}`);
/** The boxes a Service's endpoints are drawn in. */
function endpointBoxes(m: ClusterModel, namespace: string, name: string): Set<string> {
  const svc = m.services.find((s) => s.namespace === namespace && s.name === name)!;
  return new Set(svc.endpoints.map((e) => boxOf(m.pods.find((p) => p.namespace === e.podNamespace && p.name === e.podName)!)));
}
const values = (sel: Locator) => sel.locator('option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));

const smallest = (s: TextSize[]) => s.reduce((a, b) => (b.px < a.px ? b : a));

/** The SYN of a call through svc/api that crossed nodes (VXLAN), made with the picker. */
const crossSyn = () => page.locator('[data-testid=journey-row]').filter({ hasText: 'svc/api:80' }).filter({ hasText: 'TCP [S]' }).filter({ hasText: /(1[0-9]|[89]) hops/ });

describe('projector and the 6-node lab', () => {
  it('opens on the 6-node lab with the traffic actions as one compact picker', async () => {
    await openUi(page, base, TOKEN, 30_000);
    const picker = page.getByTestId('lab-picker');
    await picker.waitFor();
    // one line at 1920 px, not 42 buttons over half the screen
    expect((await picker.boundingBox())!.height).toBeLessThan(70);
    expect(await picker.getByRole('button').count()).toBe(1);
    await page.getByTestId('pick-action').selectOption('curl');
    const m = model();
    // every Service a pod can curl (kube-dns is what `dig` asks), from every pod of the lab
    const curlable = m.services.filter((s) => s.name !== 'kube-dns' && s.ports.some((p) => p.protocol === 'TCP'));
    expect(curlable.length).toBeGreaterThan(20);
    expect(new Set(await values(page.getByTestId('pick-target')))).toEqual(new Set(curlable.map((s) => `svc:${s.namespace}/${s.name}`)));
    expect(new Set(await values(page.getByTestId('pick-from')))).toEqual(new Set(m.pods.map((p) => p.name)));
    await page.screenshot({ path: `${ART}/picker-6node.png`, clip: { x: 0, y: 0, width: 1920, height: 200 } });
  });

  it('sends a real request from the picker that yields a journey, and keeps it at hand', async () => {
    await page.getByTestId('filter-service').fill('api');
    await page.getByTestId('filter-apply').click();
    let label = '';
    // kube-proxy picks among 12 backends on 6 nodes: call until a SYN crossed nodes
    for (let i = 0; i < 15 && !(await findRow(page, crossSyn)); i++) {
      label = i === 0 ? await pickAction(page, 'curl', 'svc:backend/api') : label;
      if (i > 0) await page.getByTestId('pick-recent').first().click();
      await page.locator('[data-testid=action-result][data-state=ok]').filter({ hasText: label }).waitFor({ timeout: 15_000 });
      await page.waitForTimeout(800);
    }
    expect(label).toBe('curl svc/backend/api');
    expect(await page.getByTestId('action-result').textContent()).toMatch(/200 in/);
    expect(await crossSyn().count()).toBeGreaterThan(0);
    // the recent pick is one button, repeated picks not repeated
    expect(await page.getByTestId('pick-recent').count()).toBe(1);
    expect(await page.getByTestId('pick-recent').getAttribute('data-pick')).toBe('curl|svc:backend/api|client');
    const text = (await crossSyn().first().textContent()) ?? '';
    expect(text).toMatch(/client.*svc\/api:80.*api-[a-z0-9]+-[a-z0-9]+/);
    await crossSyn().first().click();
    await page.getByTestId('hop-diagram').locator('[data-kind=dnat]').first().waitFor({ timeout: 10_000 });
    const api = model().services.find((s) => s.namespace === 'backend' && s.name === 'api')!;
    expect(await page.getByTestId('hop-diagram').locator('[data-kind=dnat]').first().textContent()).toContain(`${api.clusterIP}:${api.ports[0]!.port}`);
  });

  for (const size of SIZES)
    it(`draws the hop diagram filling its pane, no text under 14 px, at ${size.width}x${size.height}`, async () => {
      await page.setViewportSize(size);
      const diagram = page.getByTestId('hop-diagram');
      await diagram.locator('[data-kind=dnat]').first().waitFor();
      // let the resize's new overview land
      await page.waitForTimeout(600);
      const sizes = await textSizes(diagram);
      const min = smallest(sizes);
      console.log(`projector ${size.width}x${size.height}: ${sizes.length} texts, smallest ${min.px.toFixed(1)} px ("${min.text}"), smallest line box ${Math.min(...sizes.map((s) => s.boxPx)).toFixed(1)} px`);
      expect(sizes.length).toBeGreaterThan(30);
      expect(min.px, JSON.stringify(min)).toBeGreaterThanOrEqual(14);
      // the rendered line boxes agree: none shorter than 14 px
      expect(Math.min(...sizes.map((s) => s.boxPx))).toBeGreaterThanOrEqual(14);
      // fills its pane: the lanes' drawing spans the pane's width or its height (within 10 %)
      const pane = (await diagram.boundingBox())!;
      const lanes = await Promise.all((await diagram.locator('.react-flow__node-lane').all()).map(async (e) => (await e.boundingBox())!)).then((bs) => bs.map((r) => ({ l: r.x, t: r.y, r: r.x + r.width, b: r.y + r.height })));
      const ix = Math.min(pane.x + pane.width, Math.max(...lanes.map((r) => r.r))) - Math.max(pane.x, Math.min(...lanes.map((r) => r.l)));
      const iy = Math.min(pane.y + pane.height, Math.max(...lanes.map((r) => r.b))) - Math.max(pane.y, Math.min(...lanes.map((r) => r.t)));
      console.log(`projector ${size.width}x${size.height}: pane ${pane.width.toFixed(0)}x${pane.height.toFixed(0)}, drawing covers ${((ix / pane.width) * 100).toFixed(0)}% x ${((iy / pane.height) * 100).toFixed(0)}%`);
      expect(Math.max(ix / pane.width, iy / pane.height)).toBeGreaterThan(0.9);
      // the drawing is larger than the pane at a readable zoom: the mini-map shows where the view is
      if (await diagram.locator('.react-flow__minimap').count()) expect(await diagram.locator('.react-flow__minimap-node').count()).toBeGreaterThan(10);
      // the traffic picker stays compact: two short lines at most
      expect((await page.getByTestId('lab-picker').boundingBox())!.height).toBeLessThan(size.width < 1500 ? 100 : 60);
      // the whole page stays in the window: nothing pushed below the fold
      expect(await page.evaluate('document.documentElement.scrollHeight')).toBeLessThanOrEqual(size.height);
      await page.screenshot({ path: `${ART}/projector-${size.width}x${size.height}.png` });
    });

  it('presents one hop large with its narration, stepped from the keyboard, fitting 1920x1080 and 1280x720', async () => {
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.getByTestId('present').click();
    const pr = page.getByTestId('presenter');
    await pr.waitFor();
    const title = page.getByTestId('presenter-title');
    const hops = Number((await crossSyn().first().textContent())!.match(/(\d+) hops/)![1]);
    const seen: string[] = [];
    const shot = new Set<string>();
    for (let i = 0; i < hops; i++) {
      expect(Number(await pr.getAttribute('data-step'))).toBe(i);
      const t = (await title.textContent()) ?? '';
      seen.push(t);
      const name = t.startsWith('kube-proxy DNAT') ? 'dnat' : t === 'On the wire between nodes' ? 'vxlan' : t.startsWith('Delivered to pod') ? 'deliver' : '';
      for (const size of name && !shot.has(name) ? SIZES : []) {
        await page.setViewportSize(size);
        // fits: nothing of the narration or the hop cut off, nothing scrolls
        for (const part of [pr, page.getByTestId('presenter-text')]) {
          const { sh, ch } = await part.evaluate((e) => ({ sh: e.scrollHeight, ch: e.clientHeight }));
          expect(sh, `${t} at ${size.width}x${size.height}`).toBeLessThanOrEqual(ch + 1);
        }
        const hop = (await page.getByTestId('presenter-hop').boundingBox())!;
        expect(hop.y + hop.height).toBeLessThanOrEqual(size.height);
        const min = smallest(await textSizes(pr));
        console.log(`presenter ${size.width}x${size.height} "${t}": smallest text ${min.px.toFixed(1)} px ("${min.text}")`);
        expect(min.px).toBeGreaterThanOrEqual(14);
        shot.add(name);
        await page.screenshot({ path: `${ART}/presenter-${name}-${size.width}x${size.height}.png` });
      }
      await page.setViewportSize({ width: 1920, height: 1080 });
      // a clicker sends PageDown; the keyboard arrows and space
      await page.keyboard.press(['ArrowRight', 'PageDown', 'Space'][i % 3]!);
    }
    expect(seen[0]).toMatch(/^Leaves pod client/);
    expect(seen).toContain('kube-proxy DNAT: Service → pod');
    expect(seen).toContain('On the wire between nodes');
    expect(seen.some((t) => t.startsWith('Delivered to pod api-'))).toBe(true);
    // at the end it stays there; back steps back, Home goes to the start
    expect(Number(await pr.getAttribute('data-step'))).toBe(hops - 1);
    await page.keyboard.press('PageUp');
    expect(Number(await pr.getAttribute('data-step'))).toBe(hops - 2);
    await page.keyboard.press('Home');
    expect(Number(await pr.getAttribute('data-step'))).toBe(0);
    await page.keyboard.press('Escape');
    await pr.waitFor({ state: 'detached' });
  });

  it('keeps the 6-node topology readable: boxes per Deployment, edges only for traffic and focus', async () => {
    await page.setViewportSize({ width: 1920, height: 1080 });
    // (a presenter left open by a failed step above would cover the page)
    if ((await page.getByTestId('presenter').count()) > 0) await page.keyboard.press('Escape');
    await page.getByTestId('filter-service').fill('');
    await page.getByTestId('filter-apply').click();
    await page.getByTestId('tab-topology').click();
    const topo = page.getByTestId('topology');
    await page.getByTestId('topo-svc:backend/api').waitFor({ timeout: 15_000 });
    const m = model();
    // a box per pod outside a Deployment, one per Deployment per node its replicas run on, one
    // per Service, one per outside host (six-node.yaml: 2 + 3 x 6 + 30 + 1)
    const podBoxes = new Set(m.pods.map(boxOf));
    const rsBoxes = [...podBoxes].filter((b) => b.startsWith('rs:'));
    const boxes = [...podBoxes, ...m.services.map((s) => `svc:${s.namespace}/${s.name}`), ...m.externals.map((x) => `ext:${x.name}`)];
    const shown = await topo.locator('.topo-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
    expect(shown.sort()).toEqual(boxes.map((b) => `topo-${b}`).sort());
    // (the lab places replicas so that boxes do group them)
    expect(rsBoxes.length).toBeLessThan(m.pods.length / 2);
    expect(await topo.locator('.topo-replicas').count()).toBe(rsBoxes.length);
    // each replicas box counts the Deployment's pods on its node
    for (const b of rsBoxes) expect(await page.getByTestId(`topo-${b}`).locator('.ti-label').textContent(), b).toMatch(new RegExp(` ×${m.pods.filter((p) => boxOf(p) === b).length}$`));
    // at rest, only what carried traffic has an edge (the old view drew 360 Service→endpoint edges)
    await expect.poll(async () => Number(await topo.getAttribute('data-edges')), { timeout: 5000 }).toBeGreaterThan(0);
    const atRest = Number(await topo.getAttribute('data-edges'));
    expect(await topo.locator('.react-flow__edge').count()).toBe(atRest);
    expect(await topo.locator('.react-flow__edge.lit').count()).toBe(atRest);
    // what the calls above can light: client → svc/backend/api, the Service → each box its backends
    // are in, and a DNS lookup (client → kube-dns → coredns's box); not the other Services' endpoints
    const apiBoxes = endpointBoxes(m, 'backend', 'api');
    expect(atRest).toBeLessThanOrEqual(1 + apiBoxes.size + 2);
    await page.waitForTimeout(500);
    const labels = await textSizes(topo.locator('.react-flow__viewport'));
    const minLabel = Math.min(...labels.map((s) => s.px));
    console.log(`topology 1920x1080: ${atRest} edges at rest, smallest text ${minLabel.toFixed(1)} px`);
    expect(minLabel).toBeGreaterThanOrEqual(14);
    await page.screenshot({ path: `${ART}/topology-6node.png` });

    // a Service in focus: each box holding its endpoints (12 pods in 6 boxes) gets one edge, the
    // rest dims (no call went to api-v2, so none of its endpoint edges was lit at rest)
    const v2Boxes = endpointBoxes(m, 'backend', 'api-v2');
    expect(v2Boxes.size).toBeGreaterThan(1);
    await page.getByTestId('topo-svc:backend/api-v2').click();
    await expect.poll(() => topo.getAttribute('data-focus')).toBe('svc:backend/api-v2');
    await expect.poll(async () => Number(await topo.getAttribute('data-edges'))).toBe(atRest + v2Boxes.size);
    const bright = await topo.locator('.topo-item[data-dim=false]').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
    expect(bright.sort()).toEqual(['topo-svc:backend/api-v2', ...[...v2Boxes].map((b) => `topo-${b}`)].sort());
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${ART}/topology-6node-focus.png` });

    // a namespace in focus: only its boxes bright
    await page.getByTestId('topo-namespace').selectOption('shop');
    await expect.poll(() => topo.getAttribute('data-focus')).toBe('ns:shop');
    const shop = await topo.locator('.topo-item[data-dim=false]').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')));
    const inShop = [...[...podBoxes].filter((b) => b.split(':')[1]!.startsWith('shop/')), ...m.services.filter((s) => s.namespace === 'shop').map((s) => `svc:shop/${s.name}`)];
    expect(shop.sort()).toEqual(inShop.map((b) => `topo-${b}`).sort());

    // zoom to a node: its lane fills the pane
    await page.getByTestId('topo-all').click();
    const node3 = m.nodes.find((n) => n.name === 'node-3')!;
    await page.getByTestId('topo-zoom-node').selectOption(node3.name);
    const lane = topo.locator('.react-flow__node-group', { hasText: `${node3.name} · ${node3.address}` });
    const pane = (await topo.boundingBox())!;
    await expect.poll(async () => (await lane.boundingBox())!.height / pane.height, { timeout: 5000 }).toBeGreaterThan(0.7);
    const zoomed = Math.min(...(await textSizes(lane)).map((s) => s.px));
    expect(zoomed).toBeGreaterThan(minLabel);
    await page.screenshot({ path: `${ART}/topology-6node-node3.png` });
  });
});
