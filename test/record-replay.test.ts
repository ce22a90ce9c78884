// A recording of the lab made by `hopscope start --write`, replayed by `hopscope open` run as
// uid 65534 (no root, no bpftrace, no lab) in real Chromium: the same journeys, hops and names the
// live view showed, and the status bar says it is a recording, of what, from when.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ensureUiBuilt, findRow, launchChromium, openUi, pickAction } from './browser.ts';
import { readRecordingFile } from '../agent/src/wiring/recording-file.ts';
import { spawnHopscope, stopChild } from './server-helpers.ts';

const TOKEN = `rec-test-${process.pid}-0123456789`;
const LAB = `rcr${process.pid % 10000}`;
const dir = mkdtempSync(path.join(tmpdir(), 'hopscope-replay-'));
const REC = path.join(dir, 'lab.hsrec');
let browser: Browser;
const procs: ChildProcess[] = [];

/** A hopscope server command (`launcher` runs node); resolves with the process and its base URL. */
async function up(command: string, args: string[], log: string[], launcher?: string[]): Promise<{ proc: ChildProcess; base: string }> {
  const r = await spawnHopscope(command, args, TOKEN, log, 120_000, launcher);
  procs.push(r.proc);
  return r;
}

beforeAll(async () => {
  ensureUiBuilt();
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  for (const p of procs) await stopChild(p);
  try {
    execFileSync('node', ['agent/bin/hopscope.mjs', 'lab', 'down', '--name', LAB], { stdio: 'ignore' });
  } catch {
    // already down
  }
  rmSync(dir, { recursive: true, force: true });
}, 90_000);

/** What the page shows of one journey: its row and every hop box of its diagram. */
interface Seen {
  id: string;
  row: string;
  hops: string[];
}

async function openPage(base: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  await openUi(page, base, TOKEN);
  return page;
}

async function seeJourney(page: Page, id: string): Promise<Seen> {
  const row = () => page.locator(`[data-testid=journey-row][data-journey-id="${id}"]`);
  await expect.poll(() => findRow(page, row), { timeout: 20_000 }).toBe(true);
  const text = (await row().first().textContent()) ?? '';
  await row().first().click();
  const diagram = page.getByTestId('hop-diagram');
  await diagram.locator('[data-kind]').first().waitFor({ timeout: 10_000 });
  await expect.poll(async () => (await diagram.locator('[data-kind]').allTextContents()).length, { timeout: 10_000 }).toBeGreaterThan(3);
  return { id, row: text, hops: await diagram.locator('[data-kind]').allTextContents() };
}

const seenLive: Seen[] = [];

describe('record the lab, replay it without root', () => {
  it('hopscope start --write records what the live view shows', async () => {
    const log: string[] = [];
    const { proc, base } = await up('start', ['--port', '0', '--name', LAB, '--write', REC], log);
    const page = await openPage(base);
    await expect.poll(() => page.getByTestId('status-bar').textContent(), { timeout: 15_000 }).toContain('tracer running');
    // The page's own record button too: what this page receives, saved as a recording.
    await page.getByTestId('record').click();
    await expect.poll(() => page.getByTestId('record').getAttribute('data-recording')).toBe('true');
    await page.getByTestId('filter-service').fill('web');
    await page.getByTestId('filter-apply').click();
    const cross = () => page.locator('[data-testid=journey-row]').filter({ hasText: 'svc/web:80' }).filter({ hasText: 'TCP [S]' }).filter({ hasText: /(1[0-9]|[89]) hops/ });
    for (let i = 0; i < 15 && !(await findRow(page, cross)); i++) {
      await pickAction(page, 'curl', 'svc:default/web');
      await page.getByTestId('action-result').and(page.locator('[data-state=ok]')).waitFor({ timeout: 10_000 });
      await page.waitForTimeout(800);
    }
    expect(await cross().count()).toBeGreaterThan(0);
    const ids = await page.locator('[data-testid=journey-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-journey-id')!));
    const crossId = (await cross().first().getAttribute('data-journey-id'))!;
    for (const id of [crossId, ...ids.filter((x) => x !== crossId).slice(0, 2)]) seenLive.push(await seeJourney(page, id));
    expect(seenLive[0]!.hops.join(' ')).toContain('VXLAN VNI 1');
    expect(seenLive[0]!.hops.join(' ')).toMatch(/KUBE-SVC-[A-Z2-7]{16}/);
    await page.screenshot({ path: path.join(dir, 'live.png') });
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('record').click()]);
    expect(download.suggestedFilename()).toMatch(/^hopscope-.*\.hsrec$/);
    const uiRec = path.join(dir, 'ui.hsrec');
    await download.saveAs(uiRec);
    await page.close();
    expect(await stopChild(proc)).toBe(0);
    expect(statSync(REC).mode & 0o777).toBe(0o600);
    // The page's recording holds what the server's holds for the same journeys, and opens.
    const [server, ui] = [await readRecordingFile(REC), await readRecordingFile(uiRec)];
    expect(ui.problems).toEqual([]);
    expect(ui.header).toMatchObject({ source: `lab ${LAB} (flannel-vxlan), hopscope UI`, writer: 'hopscope UI' });
    expect(ui.topologies[0]!.topology).toEqual(server.topologies[0]!.topology);
    expect(ui.statuses.length).toBeGreaterThan(0);
    expect(ui.journeys.map((j) => j.id)).toContain(seenLive[0]!.id);
    const byId = new Map(server.journeys.map((j) => [j.id, j]));
    for (const j of ui.journeys) expect(j).toEqual(byId.get(j.id));
  }, 240_000);

  it('hopscope open as uid 65534 replays the same journeys, hops and names in Chromium', async () => {
    expect(seenLive.length).toBeGreaterThan(0);
    // The recording handed to someone else: their own private copy.
    const theirs = mkdtempSync(path.join(tmpdir(), 'hopscope-nobody-'));
    try {
      chownSync(theirs, 65534, 65534);
      const copy = path.join(theirs, 'lab.hsrec');
      copyFileSync(REC, copy);
      chownSync(copy, 65534, 65534);
      chmodSync(copy, 0o600);
      const log: string[] = [];
      const { proc, base } = await up('open', ['--jump', '--port', '0', copy], log, ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--', process.execPath]);
      const uid = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      expect(uid?.slice(1)).toEqual(['65534', '65534']);
      const page = await openPage(base);
      const bar = page.getByTestId('recording');
      await expect.poll(() => bar.getAttribute('data-state'), { timeout: 20_000 }).toBe('ended');
      expect(await bar.textContent()).toMatch(new RegExp(`recording of lab ${LAB} \\(flannel-vxlan\\), hopscope start from `));
      expect(await page.getByTestId('status-bar').textContent()).not.toContain('tracer');
      // nothing to make traffic with in a recording
      expect(await page.getByTestId('lab-picker').count()).toBe(0);
      await page.getByTestId('filter-service').fill('web');
      await page.getByTestId('filter-apply').click();
      for (const live of seenLive) expect(await seeJourney(page, live.id)).toEqual(live);
      // The shown journey (request and reply) as pcapng from the page, read by tshark.
      await seeJourney(page, seenLive[0]!.id);
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-pcapng').click()]);
      expect(download.suggestedFilename()).toBe(`hopscope-${seenLive[0]!.id}.pcapng`);
      const saved = path.join(dir, 'ui.pcapng');
      await download.saveAs(saved);
      const frames = execFileSync('tshark', ['-r', saved, '-d', 'udp.port==8472,vxlan', '-T', 'fields', '-e', 'frame.interface_name', '-e', 'vxlan.vni', '-e', 'frame.comment'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      const recorded = await readRecordingFile(REC);
      const req = recorded.journeys.find((j) => j.id === seenLive[0]!.id)!;
      const reply = recorded.journeys.find((j) => j.replyTo === req.id);
      // The journey shown, and its reply when the page holds it: every hop of each, once.
      const byJourney = new Map<string, number>();
      for (const f of frames) {
        const id = /^journey (\S+) hop /.exec(f[2]!)?.[1] ?? '?';
        byJourney.set(id, (byJourney.get(id) ?? 0) + 1);
      }
      expect(byJourney.get(req.id)).toBe(req.hops.length);
      expect([...byJourney.keys()].every((id) => id === req.id || id === reply?.id)).toBe(true);
      if (reply && byJourney.has(reply.id)) expect(byJourney.get(reply.id)).toBe(reply.hops.length);
      expect(frames.some((f) => f[0] === 'client/eth0')).toBe(true);
      expect(frames.some((f) => f[1] === '1')).toBe(true);
      expect(frames.some((f) => f[2]!.startsWith(`journey ${seenLive[0]!.id} hop 1/`))).toBe(true);
      // the topology the journeys were named with, lit by the replayed traffic
      await page.getByTestId('tab-topology').click();
      await page.getByTestId('topo-svc:default/web').waitFor({ timeout: 10_000 });
      expect(await page.locator('.topo-item.lit').count()).toBeGreaterThan(0);
      await page.screenshot({ path: path.join(dir, 'replay.png') });
      mkdirArtifacts();
      await page.close();
      expect(log.join('')).toMatch(new RegExp(`a recording of lab ${LAB} \\(flannel-vxlan\\), hopscope start from .*; plays when a browser connects`));
      expect(log.join('')).toMatch(/read \d+ journeys/);
      expect(await stopChild(proc)).toBe(0);
    } finally {
      rmSync(theirs, { recursive: true, force: true });
    }
  }, 180_000);

  it('plays at the recorded pace from the page: pause holds, jump to the end delivers the rest', async () => {
    const log: string[] = [];
    const { proc, base } = await up('open', ['--port', '0', REC], log);
    const page = await openPage(base);
    const bar = page.getByTestId('recording');
    await expect.poll(() => bar.getAttribute('data-state'), { timeout: 20_000 }).toBe('playing');
    await page.getByTestId('replay-pause').click();
    await expect.poll(() => bar.getAttribute('data-state')).toBe('paused');
    const held = await page.getByTestId('received').getAttribute('data-received');
    await page.waitForTimeout(1500);
    expect(await page.getByTestId('received').getAttribute('data-received')).toBe(held);
    await page.getByTestId('replay-play').click();
    await expect.poll(() => bar.getAttribute('data-state')).toBe('playing');
    await page.getByTestId('replay-end').click();
    await expect.poll(() => bar.getAttribute('data-state'), { timeout: 10_000 }).toBe('ended');
    const total = (await readRecordingFile(REC)).journeys.length;
    expect(await bar.textContent()).toContain(`ended ${total}/${total}`);
    await expect.poll(() => page.getByTestId('received').getAttribute('data-received')).toBe(String(total));
    await page.close();
    expect(await stopChild(proc)).toBe(0);
  }, 90_000);

  it('open refuses a damaged or foreign file with a clear error, and plays a cut one up to the cut', async () => {
    const bad = path.join(dir, 'foreign.hsrec');
    execFileSync('sh', ['-c', `echo '{"type":"journey"}' | gzip > ${bad}`]);
    const r = spawn(process.execPath, ['agent/bin/hopscope.mjs', 'open', '--port', '0', bad], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    r.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((res) => r.once('exit', res));
    expect(code).toBe(1);
    expect(err).toContain('not a hopscope recording');

    const cut = path.join(dir, 'cut.hsrec');
    const whole = readFileSync(REC);
    execFileSync('sh', ['-c', `head -c ${Math.floor(whole.length * 0.6)} ${REC} > ${cut}`]);
    const log: string[] = [];
    const { proc } = await up('open', ['--jump', '--port', '0', cut], log);
    await expect.poll(() => log.join(''), { timeout: 20_000 }).toMatch(/cut short/);
    expect(await stopChild(proc)).toBe(0);
  }, 60_000);
});

function mkdirArtifacts(): void {
  try {
    mkdirSync('test-artifacts', { recursive: true });
    copyFileSync(path.join(dir, 'live.png'), 'test-artifacts/replay-live.png');
    copyFileSync(path.join(dir, 'replay.png'), 'test-artifacts/replay-open.png');
  } catch {
    // screenshots are for people to look at; the assertions above are the test
  }
}
