// The UI in real Chromium against `hopscope start`: the real lab, the real tracer and pipeline.
// Screenshots of every view go to test-artifacts/ (look at them: the page is for projectors).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { findRow, openUi, pickAction, startLiveUi, stopLiveUi } from './browser.ts';

const TOKEN = `ui-test-${process.pid}-0123456789`;
const LAB = `hsui${process.pid % 100000}`;
const ART = 'test-artifacts';
let proc: ChildProcess | undefined;
let base = '';
let browser: Browser;
let page: Page;
const log: string[] = [];

beforeAll(async () => {
  ({ proc, base, browser, page } = await startLiveUi(TOKEN, LAB, log, 90_000, { width: 1600, height: 900 }));
}, 180_000);

afterAll(() => stopLiveUi(LAB, proc, browser), 60_000);


async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(ART, `ui-${name}.png`) });
}

describe('hopscope UI on the live lab', () => {
  it('refuses the page, the API and the websocket without the token', async () => {
    const r = await page.goto(base);
    expect(r?.status()).toBe(401);
    expect(await page.textContent('h1')).toContain('token required');
    const api = await page.evaluate(async () => (await fetch('/api/topology')).status);
    expect(api).toBe(401);
    const ws = await page.evaluate(
      (host) =>
        new Promise<string>((resolve) => {
          const s = new WebSocket(`ws://${host}/ws`);
          s.onopen = () => resolve('open');
          s.onerror = () => resolve('refused');
        }),
      new URL(base).host,
    );
    expect(ws).toBe('refused');
    await shot('no-token');
  });

  it('opens with the token, connects and shows the lab status', async () => {
    await openUi(page, base, TOKEN, 10_000);
    expect(new URL(page.url()).search).toBe(''); // the token left the address bar for a cookie
    expect(await page.getByTestId('status-bar').textContent()).toContain(`lab "${LAB}" (flannel-vxlan)`);
  });

  it("leaves the sidecar's loopback journeys out by default, counted, and lists them when asked", async () => {
    const hide = page.getByTestId('filter-hide-loopback');
    const lo = page.locator('[data-testid=journey-row][data-loopback=true]');
    expect(await hide.isChecked()).toBe(true);
    // the sidecar calls its app over lo every 5 s
    await page.getByTestId('hidden-loopback').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('hidden-loopback').textContent()).toMatch(/^[1-9]\d* loopback hidden$/);
    expect(await findRow(page, () => lo)).toBe(false);
    await hide.uncheck();
    await expect.poll(() => findRow(page, () => lo), { timeout: 20_000 }).toBe(true);
    expect(await lo.first().textContent()).toContain('sidecar-demo');
    await hide.check();
    await expect.poll(() => findRow(page, () => lo)).toBe(false);
  });

  it('makes a ClusterIP call from the page and shows its journey across VXLAN', async () => {
    // Only the web Service's journeys (server- and list-side filter).
    await page.getByTestId('filter-service').fill('web');
    await page.getByTestId('filter-apply').click();
    // kube-proxy picks a backend at random: call until a SYN lands on the other node.
    const cross = () => page.locator('[data-testid=journey-row]').filter({ hasText: 'svc/web:80' }).filter({ hasText: 'TCP [S]' }).filter({ hasText: /(1[0-9]|[89]) hops/ });
    let row = cross();
    for (let i = 0; i < 15 && !(await findRow(page, cross)); i++) {
      await pickAction(page, 'curl', 'svc:default/web');
      await page.getByTestId('action-result').and(page.locator('[data-state=ok]')).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(800);
    }
    row = cross();
    expect(await row.count(), `no cross-node SYN journey among: ${(await page.locator('[data-testid=journey-row]').allTextContents()).join(' | ')}`).toBeGreaterThan(0);
    expect(await page.getByTestId('action-result').textContent()).toMatch(/200 in/);
    const first = row.first();
    const text = (await first.textContent()) ?? '';
    expect(text).toContain('client');
    expect(text).toContain('svc/web:80');
    expect(text).toMatch(/web-[a-z0-9]+-[a-z0-9]+/);
    expect(await first.getAttribute('data-verdict')).toBe('delivered');
    await first.click();
    const diagram = page.getByTestId('hop-diagram');
    await diagram.locator('[data-kind=dnat]').first().waitFor({ timeout: 10_000 });
    const dnat = (await diagram.locator('[data-kind=dnat]').first().textContent()) ?? '';
    expect(dnat).toContain('10.96.0.20:80');
    expect(dnat).toMatch(/⇒ 10\.244\.2\.\d+:8080 \(pod web-/);
    // the kube-proxy chains of this lab's rules for that Service port and backend
    expect(dnat).toMatch(/KUBE-SERVICES → KUBE-SVC-[A-Z2-7]{16} → KUBE-SEP-[A-Z2-7]{16}/);
    const underlay = (await diagram.locator('[data-kind=underlay]').first().textContent()) ?? '';
    expect(underlay).toContain('VXLAN VNI 1');
    expect(underlay).toMatch(/outer 10\.0\.0\.1:\d+ → 10\.0\.0\.2:8472 UDP/);
    expect(await diagram.locator('[data-kind=deliver]').count()).toBeGreaterThan(0);
    // React Flow's zoom buttons are a narrow column in the corner: its panel carries a "left"
    // class, which the list column's style once matched (420 px wide, with a border through the diagram).
    expect((await diagram.locator('.react-flow__controls').boundingBox())!.width).toBeLessThan(60);
    await shot('live');
    // click a hop: the diagram zooms to read it at full size
    const box = diagram.locator('[data-kind=dnat]').first();
    const before = (await box.boundingBox())!.width;
    await box.click();
    // The zoom is a 300 ms animation, which a loaded machine renders late: wait for its result.
    // (the diagram never starts under a readable zoom, 0.875; a clicked hop is drawn at 1.1, or
    // as wide as the pane when it is wider than that: a DNAT box with its rule lines)
    const pane = (await diagram.boundingBox())!.width;
    const zoomed = (w: number) => w > before * 1.2 || (w > before && w >= pane * 0.85);
    await expect.poll(async () => zoomed((await box.boundingBox())!.width), { timeout: 5000 }).toBe(true);
    await shot('live-zoom');
  });

  it('steps through the journey in workshop mode', async () => {
    await page.getByTestId('tab-workshop').click();
    const title = page.getByTestId('workshop-title');
    await expect.poll(() => title.textContent()).toMatch(/^Leaves pod client/);
    await shot('workshop-1');
    // the buttons stay one line each beside a key hint that goes under them when it must
    for (const b of ['ws-prev', 'ws-next']) expect((await page.getByTestId(b).boundingBox())!.height, b).toBeLessThan(70);
    const seen: string[] = [];
    for (let i = 0; i < 14; i++) {
      const t = (await title.textContent()) ?? '';
      seen.push(t);
      // let the view finish gliding to the current hop before the picture
      if (t.startsWith('kube-proxy DNAT')) await page.waitForTimeout(500).then(() => shot('workshop-dnat'));
      if (t === 'On the wire between nodes' && !seen.slice(0, -1).includes(t)) await page.waitForTimeout(500).then(() => shot('workshop-vxlan'));
      // the keys every stepping view shares (ui/src/domain/stepKeys.ts); a clicker sends PageDown
      await page.keyboard.press(['ArrowRight', 'Space', 'PageDown'][i % 3]!);
    }
    expect(seen).toContain('kube-proxy DNAT: Service → pod');
    expect(seen).toContain('On the wire between nodes');
    expect(seen.some((t) => t.startsWith('Delivered to pod web-'))).toBe(true);
    // node-2 sends the packet into the backend's veth: it leaves the node there, it does not arrive
    expect(seen, seen.join(' | ')).toContainEqual(expect.stringMatching(/^Leaves node-2 via veth/));
    const last = Number(await page.getByTestId('workshop-step').getAttribute('data-step'));
    // the counter shown is the step the keys moved to
    expect(await page.getByTestId('workshop-step').textContent()).toContain(`step ${last + 1} of `);
    const at = async () => Number(await page.getByTestId('workshop-step').getAttribute('data-step'));
    await page.keyboard.press('ArrowLeft');
    expect(await at()).toBe(last - 1);
    await page.keyboard.press('PageUp');
    expect(await at()).toBe(last - 2);
    await page.keyboard.press('Home');
    expect(await at()).toBe(0);
    await page.keyboard.press('End');
    const end = await at();
    expect(await page.getByTestId('workshop-step').textContent()).toContain(`step ${end + 1} of ${end + 1}`);
    // keys in a form field are the field's: the traffic picker's select takes its arrows, Home and End
    await page.keyboard.press('Home');
    const picker = page.getByTestId('pick-action');
    await picker.focus();
    for (const k of ['ArrowDown', 'End', 'PageDown']) await page.keyboard.press(k);
    expect(await at()).toBe(0);
    await picker.blur();
  });

  it('shows the topology with the traffic lit', async () => {
    await page.getByTestId('tab-topology').click();
    const web = page.getByTestId('topo-svc:default/web');
    await web.waitFor({ timeout: 10_000 });
    // lit is the Service the calls above went to, not just some box
    expect(await web.getAttribute('class')).toMatch(/\blit\b/);
    await shot('topology');
  });

  it('triggers a drop and shows its reason', async () => {
    await page.getByTestId('tab-live').click();
    await page.getByTestId('filter-service').fill('');
    await page.getByTestId('filter-apply').click();
    await pickAction(page, 'closed-port', 'deploy:default/web');
    const row = page.locator('[data-testid=journey-row][data-verdict=dropped]');
    await row.first().waitFor({ timeout: 15_000 });
    await row.first().click();
    const drop = page.getByTestId('hop-diagram').locator('[data-kind=drop]').first();
    await drop.waitFor({ timeout: 10_000 });
    expect(await drop.textContent()).toMatch(/✖ [A-Z_]+ at \w+/);
    await shot('drop');
    // the drops-only filter: the server and the list keep only dropped journeys
    await page.getByTestId('filter-drops').check();
    await page.getByTestId('filter-apply').click();
    await pickAction(page, 'closed-port', 'deploy:default/web');
    await expect.poll(() => page.locator('[data-testid=journey-row][data-verdict=dropped]').count(), { timeout: 10_000 }).toBeGreaterThan(1);
    const verdicts = await page.locator('[data-testid=journey-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-verdict')));
    expect(new Set(verdicts)).toEqual(new Set(['dropped']));
    await shot('drops-only');
  });

  it('tears down server, bpftrace and the lab on Ctrl-C', async () => {
    const pid = proc!.pid!;
    const children = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(pid)], { encoding: 'utf8' });
    expect(children).toMatch(/bpftrace/);
    const bpftracePids = children.split('\n').filter((l) => l.includes('bpftrace')).map((l) => Number(l.trim().split(/\s+/)[0]));
    const exited = new Promise<number | null>((r) => proc!.once('exit', (code) => r(code)));
    proc!.kill('SIGINT');
    // When it hangs, say where: what it logged while stopping and what it still runs.
    const timeout = new Promise<string>((r) =>
      setTimeout(() => {
        let tree = '';
        try {
          tree = execFileSync('ps', ['-o', 'pid=,stat=,wchan:20=,comm=', '--ppid', String(pid)], { encoding: 'utf8' });
        } catch {
          // no children
        }
        r(`no exit 60 s after SIGINT; log:\n${log.join('').slice(-3000)}\nchildren:\n${tree}`);
      }, 60_000).unref(),
    );
    expect(await Promise.race([exited, timeout])).toBe(0);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`hs-${LAB}.`);
    expect(existsSync(`/run/hopscope/labs/${LAB}.json`)).toBe(false);
    for (const p of bpftracePids) expect(existsSync(`/proc/${p}`)).toBe(false);
    expect((await fetch(`${base}healthz`).catch(() => undefined))?.status).toBeUndefined();
  });
});
