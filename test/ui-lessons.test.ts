// Every lesson walked end to end in real Chromium against `hopscope start`: the page rebuilds the
// lab in the lesson's mode (the tracer follows), makes the traffic, picks the journey and steps
// through every hop. Each command shown at a hop is run again here, typed as the page shows it
// (`sh -c` in the same namespace), and must print what the page printed; the DNAT hop's rules
// and endpoints must hold the backend the journey really went to. Screenshots: test-artifacts/lesson-*.png.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openUi, startLiveUi, stopLiveUi } from './browser.ts';
import { lessonsResponseSchema, type Lesson } from '../agent/src/protocol/lessons.ts';
import type { LabState } from '../agent/src/lab/state.ts';

const TOKEN = `lessons-test-${process.pid}-0123456789`;
const LAB = `le${process.pid % 100000}`;
const ART = 'test-artifacts';
let proc: ChildProcess | undefined;
let base = '';
let browser: Browser;
let page: Page;
const log: string[] = [];
let lessons: Lesson[] = [];

beforeAll(async () => {
  ({ proc, base, browser, page } = await startLiveUi(TOKEN, LAB, log, 90_000, { width: 1600, height: 900 }));
  await openUi(page, base, TOKEN, 30_000);
  lessons = lessonsResponseSchema.parse(await page.evaluate(async () => (await fetch('/api/lessons')).json())).lessons;
}, 180_000);

afterAll(() => stopLiveUi(LAB, proc, browser), 60_000);

function labState(): LabState {
  return JSON.parse(readFileSync(`/run/hopscope/labs/${LAB}.json`, 'utf8')) as LabState;
}

/** The command line run again where the page's prompt says, through a shell, as a user types it. */
function runAgain(prompt: string, line: string): string {
  const st = labState();
  const env = { ...process.env };
  let argv: string[];
  const node = /^(\S+) \$$/.exec(prompt);
  const pod = /^pod (\S+) \$$/.exec(prompt);
  if (prompt === '$') {
    env.KUBECONFIG = st.api!.kubeconfig;
    argv = ['sh', '-c', line];
  } else {
    const owner = pod ? pod[1] : node![1];
    const ns = st.netns.find((n) => n.kind === (pod ? 'pod' : 'node') && n.owner === owner);
    if (!ns) throw new Error(`no namespace for prompt "${prompt}"`);
    argv = ['ip', 'netns', 'exec', ns.name, 'sh', '-c', line];
  }
  let out = '';
  let err = '';
  try {
    out = execFileSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    out = x.stdout ?? '';
    err = x.stderr ?? '';
  }
  // sh with a pipeline: only the first command's stderr reaches a terminal that the agent shows
  return err ? `${out}${err}${err.endsWith('\n') ? '' : '\n'}` : out;
}

/** What may differ between two runs a second apart: counters, ages, timers and cache states. */
function stable(what: string, text: string): string {
  switch (what) {
    case 'conntrack':
      // "tcp 6 117 TIME_WAIT src=…": the timer counts down and the state moves on; the tuples stay.
      return text
        .split('\n')
        .map((l) => l.replace(/^(\w+)\s+(\d+)\s+\d+\s+([A-Z_]+\s+)?/, '$1 $2 T ').replace(/ \[(ASSURED|UNREPLIED)\]/g, '').replace(/ mark=\d+/, '').trimEnd())
        .filter((l) => !/flow entries have been shown/.test(l))
        .sort()
        .join('\n');
    case 'endpoints':
      // AGE
      return text.replace(/\s+\S+\s*$/gm, '');
    case 'neigh':
    case 'bridge-fdb':
      return text.replace(/\b(REACHABLE|STALE|DELAY|PROBE)\b/g, 'S');
    default:
      return text;
  }
}

async function shownCommands(where: string): Promise<{ what: string; prompt: string; line: string; output: string }[]> {
  const cmds = page.getByTestId('cmd');
  // every command of this hop answered
  const states = () => cmds.evaluateAll((els) => els.map((e) => `${e.getAttribute('data-state')} ${e.textContent}`));
  await expect
    .poll(async () => (await states()).every((s) => s.startsWith('ok') || s.startsWith('failed')), { timeout: 20_000 })
    .toBe(true)
    .catch(async (e: unknown) => {
      await page.screenshot({ path: path.join(ART, 'lesson-unanswered.png') });
      throw new Error(`${where}: ${(await states()).join(' | ')} (${(e as Error).message})`);
    });
  return cmds.evaluateAll((els) =>
    els.map((e) => {
      const code = e.querySelector('[data-testid=cmd-line]')!.textContent ?? '';
      const at = code.indexOf('$ ');
      return {
        what: e.getAttribute('data-what') ?? '',
        prompt: code.slice(0, at + 1).trim(),
        line: code.slice(at + 2),
        output: e.querySelector('[data-testid=cmd-output]')?.textContent ?? '',
      };
    }),
  );
}


describe('lessons on the live lab', () => {
  it('ships a lesson for each scenario, grouped by mode', () => {
    expect(lessons.map((l) => l.id)).toEqual(
      expect.arrayContaining(['container-to-container', 'pod-to-pod-same-node', 'pod-to-pod-vxlan', 'calico-routed', 'dns-then-service', 'clusterip-dnat', 'clusterip-nftables', 'nodeport-masquerade', 'scale-new-targets', 'drop-no-socket']),
    );
  });

  it('walks every lesson end to end, each hop\'s commands printing what the lab prints', async () => {
    await page.getByTestId('tab-lessons').click();
    const modesSeen: string[] = [];
    // HOPSCOPE_LESSONS=id,id walks only those (while writing a lesson); the suite walks them all.
    const only = process.env.HOPSCOPE_LESSONS?.split(',');
    for (const lesson of lessons.filter((l) => !only || only.includes(l.id))) {
      await page.getByTestId(`lesson-item-${lesson.id}`).click();
      const before = labState().model;
      const rebuild = before.cni !== lesson.mode.cni || before.kubeProxy !== lesson.mode.kubeProxy;
      for (let part = 0; part < lesson.parts.length; part++) {
        if (part > 0) await page.getByTestId('lesson-next-part').click();
        await page.getByTestId('lesson-run').click();
        if (rebuild && part === 0) {
          // the page says what it is doing while the lab is rebuilt
          await expect.poll(() => page.getByTestId('lesson-phase').textContent(), { timeout: 10_000 }).toContain(`Rebuilding the lab as ${lesson.mode.cni} + ${lesson.mode.kubeProxy}`);
          await page.getByTestId('lab-rebuilding').waitFor({ timeout: 10_000 });
          await page.screenshot({ path: path.join(ART, `lesson-rebuilding-${lesson.mode.cni}-${lesson.mode.kubeProxy}.png`) });
        }
        const lessonEl = page.getByTestId('lesson');
        await expect.poll(() => lessonEl.getAttribute('data-phase'), { timeout: 240_000, interval: 500 }).toMatch(/^(walk|failed)$/);
        if ((await lessonEl.getAttribute('data-phase')) === 'failed') {
          await page.screenshot({ path: path.join(ART, `lesson-${lesson.id}-failed.png`) });
          throw new Error(`${lesson.id} part ${part + 1}: ${await page.getByTestId('lesson-phase').textContent()}`);
        }
        if (rebuild && part === 0) {
          const st = labState().model;
          expect({ cni: st.cni, kubeProxy: st.kubeProxy }).toEqual(lesson.mode);
          expect(await page.getByTestId('lab-mode').getAttribute('data-cni')).toBe(lesson.mode.cni);
          expect(await page.getByTestId('lab-mode').getAttribute('data-kube-proxy')).toBe(lesson.mode.kubeProxy);
          modesSeen.push(`${st.cni}+${st.kubeProxy}`);
        }
        const step = page.getByTestId('lesson-step');
        await step.waitFor({ timeout: 15_000 });
        const kinds: string[] = [];
        let shot = false;
        let backend: string | undefined;
        for (let i = 0; i < 40; i++) {
          await expect.poll(() => step.getAttribute('data-step')).toBe(String(i));
          const kind = (await step.getAttribute('data-kind')) ?? '';
          const direction = (await step.getAttribute('data-direction')) ?? '';
          kinds.push(`${direction}:${kind}`);
          const where = `${lesson.id} part ${part + 1} step ${i + 1} (${direction} ${kind})`;
          if ((await page.getByTestId('lesson-try').count()) > 0) {
            const cmds = await shownCommands(where);
            for (const c of cmds) {
              expect(c.output.length, `${where}: ${c.line} printed nothing`).toBeGreaterThan(0);
              expect(stable(c.what, c.output), `${where}: ${c.prompt} ${c.line}`).toBe(stable(c.what, runAgain(c.prompt, c.line)));
            }
            if (kind === 'dnat' && direction === 'request') {
              const box = (await page.getByTestId('hop-diagram').locator('[data-kind=dnat]').first().textContent()) ?? '';
              backend = /⇒ (\d+\.\d+\.\d+\.\d+:\d+)/.exec(box)?.[1];
              expect(backend, box).toBeDefined();
              const rules = cmds.find((c) => c.what === 'service-rules')!.output;
              expect(rules).toContain(lesson.mode.kubeProxy === 'nftables' ? `dnat to ${backend}` : `--to-destination ${backend}`);
              expect(cmds.find((c) => c.what === 'endpoints')!.output).toContain(backend);
              if (lesson.id === 'scale-new-targets') expect(cmds.find((c) => c.what === 'endpoints')!.output.match(/10\.244\.\d+\.\d+:8080/g)).toHaveLength(3);
            }
            if (kind === 'encap') {
              // the FDB sends the inner frame to the other node's underlay address
              const fdb = cmds.find((c) => c.what === 'vxlan-fdb')!;
              const other = labState().model.nodes.find((n) => `${n.name} $` !== fdb.prompt)!.address;
              expect(fdb.output).toContain(`dst ${other}`);
            }
            if (kind === 'reverse-nat' && backend) {
              // the entry the reply was un-NATed by: the ClusterIP called, the pod that answered
              const ct = cmds.find((c) => c.what === 'conntrack')!;
              expect(ct.output, `${ct.prompt} ${ct.line}`).toContain(`src=${backend.split(':')[0]}`);
            }
            // the picture at the hop the part is about: the first kind its journey must have
            if (!shot && kind === lesson.parts[part]!.journey.hops[0]) {
              await page.waitForTimeout(500);
              await page.screenshot({ path: path.join(ART, `lesson-${lesson.id}${part ? `-${part + 1}` : ''}.png`) });
              shot = true;
            }
          }
          if (await page.getByTestId('lesson-next').isDisabled()) break;
          // the keys every stepping view shares (ui/src/domain/stepKeys.ts); a clicker sends PageDown
          await page.keyboard.press(['ArrowRight', 'Space', 'PageDown'][i % 3]!);
        }
        console.log(`${lesson.id} part ${part + 1}: ${kinds.join(' ')}`);
        if (!shot) await page.screenshot({ path: path.join(ART, `lesson-${lesson.id}${part ? `-${part + 1}` : ''}.png`) });
        // the walk covered what the part picked the journey for
        for (const k of lesson.parts[part]!.journey.hops) expect(kinds, kinds.join(' ')).toContain(`request:${k}`);
      }
    }
    // what the rebuilds cost (the agent logs each)
    for (const l of log.join('').split('\n').filter((x) => x.includes('rebuilt in'))) console.log(l);
    // each mode built once: the lessons come grouped by mode
    expect(new Set(modesSeen).size).toBe(modesSeen.length);
    if (!only) expect(modesSeen.length).toBeGreaterThan(0);
  }, 1_200_000);
});
