// The real agent (`hopscope start`: lab + trace pipeline + server in one process) under faults:
// bpftrace SIGKILLed mid-stream is replaced within 2 s and the gap reaches websocket clients;
// then the agent itself is SIGKILLed and `hopscope lab down` leaves nothing behind.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execa } from 'execa';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServerMessage, type AgentStatus, type ServerMessage } from '../agent/src/protocol/messages.ts';
import { readLabState, type LabState } from '../agent/src/lab/state.ts';
import { expectGone } from './lab-helpers.ts';
import { ensureUiBuilt, launchChromium } from './browser.ts';
import { spawnHopscope } from './server-helpers.ts';

const NAME = `hsra${process.pid % 100000}`;
const TOKEN = `reliability-agent-${process.pid}-0123456789`;
let agent: ChildProcess;
let base = '';
const log: string[] = [];
let rootLinksBefore: string[] = [];
let rootRulesBefore = '';

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

/** Every process below `pid` (children, their children...), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const comm = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
};
const bpftracePids = (): number[] => descendants(agent.pid!).filter((p) => comm(p) === 'bpftrace');

async function until<T>(what: string, f: () => T | undefined | false, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms\n${log.join('').slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function rootState(): Promise<{ links: string[]; rules: string }> {
  const links = (await execa('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(':')[1]!.trim().split('@')[0]!);
  const rules = `${(await execa('iptables-save', [], { reject: false })).stdout}\n${(await execa('nft', ['list', 'ruleset'], { reject: false })).stdout}`;
  return { links, rules };
}

function curlFromClient(state: LabState): Promise<unknown> {
  const ns = state.netns.find((n) => n.kind === 'pod' && n.owner.endsWith('client'));
  if (!ns) throw new Error(`no client pod netns: ${state.netns.map((n) => `${n.kind}:${n.owner}`).join(', ')}`);
  return execa('ip', ['netns', 'exec', ns.name, 'curl', '-s', '-o', '/dev/null', '-m', '2', 'http://10.96.0.20/'], { reject: false });
}

beforeAll(async () => {
  ({ links: rootLinksBefore, rules: rootRulesBefore } = await rootState());
  ensureUiBuilt();
  ({ proc: agent, base } = await spawnHopscope('start', ['--name', NAME, '--port', '0'], TOKEN, log, 90_000));
}, 120_000);

afterAll(async () => {
  // Only what this file started: the agent's own tree, then the lab by its name.
  if (agent?.pid && alive(agent.pid)) {
    const tree = descendants(agent.pid);
    agent.kill('SIGKILL');
    for (const p of tree) if (alive(p)) process.kill(p, 'SIGKILL');
  }
  if (existsSync(`/run/hopscope/labs/${NAME}.json`)) await execa(process.execPath, ['agent/bin/hopscope.mjs', 'lab', 'down', '--name', NAME], { reject: false });
}, 60_000);

describe('hopscope start under faults', () => {
  it('listens on loopback only, with the token', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await fetch(`${base}api/status`)).status).toBe(401);
    expect((await fetch(`${base}api/status`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('bpftrace SIGKILLed mid-stream: a new one within 2 s, the gap sent to clients, journeys again, no crash, no orphan', async () => {
    const state = readLabState(NAME);
    const msgs: ServerMessage[] = [];
    const ws = new WebSocket(`${base.replace('http', 'ws')}ws`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    ws.on('message', (d) => {
      const m = parseServerMessage(d.toString());
      if (m.ok) msgs.push(m.message);
    });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'hello', version: 1 }));
    const journeys = () => msgs.reduce((n, m) => n + (m.type === 'batch' ? m.journeys.length : 0), 0);
    const statuses = (): AgentStatus[] => msgs.flatMap((m) => (m.type === 'status' || m.type === 'welcome' ? [m.status] : []));

    // Mid-stream: journeys are flowing when bpftrace dies.
    for (let i = 0; i < 20 && journeys() === 0; i++) {
      await curlFromClient(state);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(journeys()).toBeGreaterThan(0);
    const traffic = setInterval(() => void curlFromClient(state), 200);
    try {
      const [old] = bpftracePids();
      expect(old).toBeDefined();
      const killedAt = Date.now();
      process.kill(old!, 'SIGKILL');
      const fresh = await until('a new bpftrace process', () => bpftracePids().find((p) => p !== old), 2000);
      expect(Date.now() - killedAt).toBeLessThan(2000);
      expect(alive(old!)).toBe(false); // reaped, not a zombie
      // The gap reaches the client once the new bpftrace traces again (compiling takes a while).
      const gapped = await until('a status with the gap', () => statuses().find((s) => s.lastGap && s.lastGap.fromMs >= killedAt), 45_000);
      expect(gapped.lastGap!.reason).toMatch(/SIGKILL/);
      expect(gapped.lastGap!.toMs).toBeGreaterThan(gapped.lastGap!.fromMs);
      expect(gapped.counters.bpftraceRestarts).toBeGreaterThanOrEqual(1);
      // A person watching the page sees the gap in the status bar.
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(`${base}?token=${TOKEN}`);
        await page.getByTestId('last-gap').waitFor({ timeout: 15_000 });
        expect(await page.getByTestId('last-gap').getAttribute('title')).toMatch(/SIGKILL/);
      } finally {
        await browser.close();
      }
      await until('running again', () => statuses().at(-1)?.tracer === 'running', 10_000);
      const after = journeys();
      await until('journeys after the restart', () => journeys() > after, 20_000);
      expect(bpftracePids()).toEqual([fresh]);
      expect(alive(agent.pid!)).toBe(true);
      expect((await fetch(`${base}healthz`)).status).toBe(200);
      const m = await (await fetch(`${base}metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
      expect(m).toMatch(/^hopscope_bpftrace_restarts_total [1-9]$/m);
    } finally {
      clearInterval(traffic);
      ws.close();
    }
  }, 120_000);

  it('kill -9 of the agent, then `lab down`: no namespace, veth, rule, /etc/netns dir, state file or process is left', async () => {
    const state = readLabState(NAME);
    const tree = descendants(agent.pid!);
    const bpf = bpftracePids();
    expect(bpf).toHaveLength(1);
    expect(tree.length).toBeGreaterThan(3); // bpftrace, workloads, ...
    const exited = new Promise((r) => agent.once('exit', r));
    process.kill(agent.pid!, 'SIGKILL');
    await exited;
    // pdeathsig: bpftrace does not outlive the agent.
    await until('bpftrace gone with the agent', () => !alive(bpf[0]!), 3000);
    const down = await execa(process.execPath, ['agent/bin/hopscope.mjs', 'lab', 'down', '--name', NAME], { reject: false });
    expect(down.exitCode, down.stderr).toBe(0);
    expectGone(NAME, [agent.pid!, ...tree, ...state.workloads.map((w) => w.pid)], state.netns.map((n) => n.name));
    // Veths and kube-proxy rules lived only in the lab's namespaces (gone above); the root
    // namespace has no new interface and no new rule.
    const after = await rootState();
    expect(after.links.filter((l) => !rootLinksBefore.includes(l))).toEqual([]);
    expect(after.rules.split('\n').filter((l) => !rootRulesBefore.includes(l) && !/^#|^:|^\*|^COMMIT/.test(l))).toEqual([]);
    expect(existsSync(`/run/hopscope/labs/${NAME}.json`)).toBe(false);
  }, 60_000);
});
