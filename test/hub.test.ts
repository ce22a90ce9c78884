// Hub mode on the real lab: two agents (`hopscope serve` child processes, real bpftrace), each
// scoped to one lab node's network namespaces (standing for two cluster nodes), and `hopscope
// hub` connected to both. A cross-node ClusterIP call must come out as ONE journey with hops
// from both agents, in the CLI (`hopscope hub trace`) and in Chromium; killing one agent marks
// its lane missing while the rest of the journey still shows; restarting it resumes stitching.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ensureUiBuilt, findRow, launchChromium, openUi } from './browser.ts';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { journeySchema } from '../agent/src/protocol/messages.ts';
import type { Journey } from '../agent/src/protocol/events.ts';
import { requests } from './lab-helpers.ts';
import { remoteTrace } from '../agent/src/hubmode/remote-trace.ts';
import { fakeKubectl } from './fake-kubectl.ts';
import { listenBelowEphemeral } from './ports.ts';
import { k8sDiscovery, type AgentEndpoint } from '../agent/src/hubmode/discovery.ts';

const LAB = `hshb${process.pid % 100000}`;
const TOKEN = `hub-test-${process.pid}-0123456789`;
const ART = 'test-artifacts';
const NODES = ['node-1', 'node-2'] as const;
type NodeName = (typeof NODES)[number];

let lab: LabHandle;
const agents = new Map<NodeName, { proc: ChildProcess; port: number }>();
const ports = new Map<NodeName, number>();
let hub: ChildProcess | undefined;
let hubUrl = '';
let browser: Browser | undefined;
let page: Page;
const logs: string[] = [];
const auth = { Authorization: `Bearer ${TOKEN}` };

/** A port free now, for an agent to listen on (and again after a restart): below the ephemeral range, see ports.ts. */
async function freePort(): Promise<number> {
  const probe = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
  return (await listenBelowEphemeral(probe)).port;
}

/** Start a child and resolve with the first stdout match of `re`. */
function startChild(args: string[], re: RegExp, what: string): Promise<{ proc: ChildProcess; match: RegExpExecArray }> {
  const proc = spawn('node', ['agent/bin/hopscope.mjs', ...args], { env: { ...process.env, HOPSCOPE_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr!.on('data', (d: Buffer) => logs.push(`[${what}] ${d.toString()}`));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not come up:\n${logs.join('')}`)), 90_000);
    proc.stdout!.on('data', (d: Buffer) => {
      const m = re.exec(d.toString());
      if (m) {
        clearTimeout(t);
        resolve({ proc, match: m });
      }
    });
    proc.once('exit', (code) => reject(new Error(`${what} exited ${code}:\n${logs.join('')}`)));
  });
}

async function startAgent(node: NodeName): Promise<void> {
  const port = ports.get(node)!;
  const { proc } = await startChild(
    ['serve', '--lab', LAB, '--netns-scope', `lab:${LAB}/${node}`, '--node', node, '--host', '127.0.0.1', '--port', String(port)],
    /hopscope is up: /,
    `agent ${node}`,
  );
  agents.set(node, { proc, port });
}

/** Descendants of a process (the agent's bpftrace), from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** Kill an agent the hard way (no goodbye to the hub), then the bpftrace it left behind. */
async function killAgent(node: NodeName): Promise<void> {
  const a = agents.get(node)!;
  const kids = descendants(a.proc.pid!);
  const exited = new Promise<void>((r) => a.proc.once('exit', () => r()));
  a.proc.kill('SIGKILL');
  await exited;
  for (const k of kids) {
    try {
      process.kill(k, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  agents.delete(node);
}

async function stopChild(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGINT');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

interface AgentInfo {
  name: string;
  state: string;
  connects: number;
}

async function hubAgents(): Promise<AgentInfo[]> {
  const r = await fetch(`${hubUrl}api/status`, { headers: auth });
  const body = (await r.json()) as { capabilities: { agents?: AgentInfo[] } };
  return body.capabilities.agents ?? [];
}

async function waitAgents(want: Record<string, string>, minConnects: Record<string, number> = {}): Promise<void> {
  // A plain loop: expect.poll only works inside a test, and this also runs in beforeAll.
  let last: AgentInfo[] = [];
  for (const end = Date.now() + 30_000; Date.now() < end; ) {
    last = await hubAgents();
    if (NODES.every((n) => last.find((x) => x.name === n)?.state === want[n] && (last.find((x) => x.name === n)?.connects ?? 0) >= (minConnects[n] ?? 0))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`agents did not reach ${JSON.stringify(want)}: ${JSON.stringify(last)}`);
}

/** `hopscope hub trace` against the hub, collecting its output; resolves once it has subscribed. */
async function hubTrace(args: string[]): Promise<{ proc: ChildProcess; out: () => string }> {
  const proc = spawn('node', ['agent/bin/hopscope.mjs', 'hub', 'trace', '--url', hubUrl, ...args], { env: { ...process.env, HOPSCOPE_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    logs.push(`[hub trace] ${d.toString()}`);
  });
  await until(() => err.includes('hopscope: following'), 30_000, () => `hub trace did not subscribe: ${err}`);
  return { proc, out: () => out };
}

/** Wait for `ok`, failing with `why()` (evaluated at the end, so it shows what was seen). */
async function until(ok: () => boolean, ms: number, why: () => string): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!ok()) throw new Error(why());
}

/** Complete lines only: the last one may still be arriving. */
const lines = (out: string) => out.split('\n').slice(0, -1).filter(Boolean);
const agentsOf = (j: Journey) => new Set(j.hops.map((h) => h.agent));
const clientToWebOnNode2 = (j: Journey) => j.proto === 'tcp' && j.src.pod?.name === 'client' && j.dst.service?.name === 'web' && j.backend?.pod?.node === 'node-2';

/** Curl the web ClusterIP until kube-proxy has picked the backend on node-2 at least `n` times. */
async function crossNodeCalls(n: number): Promise<void> {
  let hits = 0;
  for (let i = 0; i < 30 && hits < n; i++) {
    const [a] = await requests(lab, 'client', 'http://10.96.0.20/', 1);
    if (a!.node === 'node-2') hits++;
  }
  expect(hits).toBe(n);
}

/**
 * bpftrace says "Attaching N probes" before the probes are live: make traffic to a web pod on
 * each node until the hub has passed on journeys from both agents.
 */
async function warmUp(): Promise<void> {
  const seen = new Set<string>();
  const ac = new AbortController();
  const done = remoteTrace({
    url: hubUrl,
    token: TOKEN,
    filter: { onlyDrops: false, onlyNat: false },
    format: 'json',
    write: (line) => {
      const j = JSON.parse(line) as Journey;
      if (j.src.pod?.name === 'client') for (const h of j.hops) if (h.agent) seen.add(h.agent);
    },
    signal: ac.signal,
  });
  const web = lab.state().model.pods.filter((p) => p.deployment?.name === 'web');
  try {
    for (let i = 0; seen.size < 2; i++) {
      if (i === 20) throw new Error(`no journeys from both agents after 20 rounds (seen: ${[...seen].join(', ')})\n${logs.join('')}`);
      for (const w of web) await lab.exec('client', ['curl', '-s', '-o', '/dev/null', '-m', '2', `http://${w.ip}:8080/`]);
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    ac.abort();
    await done.catch(() => undefined);
  }
}

beforeAll(async () => {
  mkdirSync(ART, { recursive: true });
  ensureUiBuilt();
  lab = await labUp(loadTopology(), { name: LAB });
  const kubeconfig = lab.state().api?.kubeconfig;
  if (!kubeconfig) throw new Error('lab came up without its API');
  for (const n of NODES) ports.set(n, await freePort());
  await Promise.all(NODES.map((n) => startAgent(n)));
  const list = NODES.map((n) => `${n}=http://127.0.0.1:${ports.get(n)}`).join(',');
  const h = await startChild(['hub', '--agents', list, '--kubeconfig', kubeconfig, '--host', '127.0.0.1', '--port', '0'], /hopscope hub is up: (http:\/\/[^/]+\/)/, 'hub');
  hub = h.proc;
  hubUrl = h.match[1]!;
  await waitAgents({ 'node-1': 'up', 'node-2': 'up' });
  await warmUp();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
}, 240_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await stopChild(hub);
  await Promise.all([...agents.values()].map((a) => stopChild(a.proc)));
  await lab?.down();
}, 90_000);


/** Click cross-node SYN rows until one whose diagram satisfies `ok`. */
async function openSyn(ok: () => Promise<boolean>): Promise<boolean> {
  const rows = () => page.locator('[data-testid=journey-row]').filter({ hasText: 'svc/web:80' }).filter({ hasText: 'TCP [S]' });
  if (!(await findRow(page, rows))) return false;
  const n = await rows().count();
  for (let i = 0; i < n; i++) {
    await rows().nth(i).click();
    await page.getByTestId('hop-diagram').locator('[data-kind]').first().waitFor({ timeout: 10_000 });
    await page.waitForTimeout(300);
    if (await ok()) return true;
  }
  return false;
}

/** openSyn, with a new cross-node call after each miss: up to three tries, `waitMs` apart. */
async function openSynAfterCalls(ok: () => Promise<boolean>, waitMs: number): Promise<boolean> {
  for (let i = 0; i < 3; i++) {
    await page.waitForTimeout(waitMs);
    if (await openSyn(ok)) return true;
    await crossNodeCalls(1);
  }
  return false;
}

describe('hopscope hub with two node-scoped agents', () => {
  it('each agent traces only its node: the hub sees both agents and its status says so', async () => {
    const r = await fetch(`${hubUrl}api/status`, { headers: auth });
    const body = (await r.json()) as { status: { tracer: string; message?: string; bpftraceVersion: string | null }; capabilities: { mode: string } };
    expect(body.capabilities.mode).toBe('hub');
    expect(body.status.tracer).toBe('running');
    expect(body.status.message).toBe('hub: 2/2 agents up');
    expect(body.status.bpftraceVersion).toMatch(/\d+\.\d+/);
    expect((await fetch(`${hubUrl}api/status`)).status).toBe(401);
    expect(logs.join('')).toMatch(new RegExp(`\\[agent node-1\\][^\\n]*tracing \\d+ network namespaces only \\(lab:${LAB}/node-1\\)`));
  });

  it('a cross-node ClusterIP call is ONE stitched journey with hops from both agents (CLI)', async () => {
    const t = await hubTrace(['--json']);
    let lastAgents: unknown = null;
    const poll = setInterval(() => void hubAgents().then((a) => (lastAgents = a), () => undefined), 1000);
    try {
      await crossNodeCalls(1);
      const parsed = () => lines(t.out()).map((l) => journeySchema.parse(JSON.parse(l)) as Journey);
      await until(() => parsed().some((j) => clientToWebOnNode2(j) && j.hops[0]?.kind === 'pod-egress'), 15_000, () =>
        `no stitched journey (agents: ${JSON.stringify(lastAgents)}) among:\n${parsed().map((j) => `${j.id} ${j.src.ip}>${j.dst.ip} ${j.backend?.pod?.node} ${j.hops.map((h) => `${h.agent}:${h.kind}`).join(',')} ${j.missingAgents ?? ''}`).join('\n')}`);
      // Let any half that was not stitched run out its wait before counting.
      await new Promise((r) => setTimeout(r, 4000));
      const js = parsed();
      const syn = js.find((j) => clientToWebOnNode2(j) && j.hops[0]?.kind === 'pod-egress' && j.hops[0].packet.l4.proto === 'tcp' && j.hops[0].packet.l4.flags === 'S')!;
      expect(syn, `journeys: ${js.filter((j) => j.src.ip.startsWith('10.')).map((j) => `${j.id} ${j.verdict} ${j.missingAgents ?? ''} ${j.hops.map((h) => `${h.agent}:${h.kind}`).join(',')}`).join('\n')}`).toBeDefined();
      expect(agentsOf(syn)).toEqual(new Set(['node-1', 'node-2']));
      expect(syn.missingAgents).toBeUndefined();
      expect(syn.verdict).toBe('delivered');
      const kinds = syn.hops.map((h) => `${h.agent}:${h.kind}`);
      expect(kinds[0]).toBe('node-1:pod-egress');
      expect(kinds).toContain('node-1:dnat');
      expect(kinds).toContain('node-1:encap');
      expect(kinds).toContain('node-2:decap');
      expect(kinds.at(-1)).toBe('node-2:deliver');
      // node-1's hops all come before node-2's: one path, two lanes.
      const firstOf2 = kinds.findIndex((k) => k.startsWith('node-2:'));
      expect(kinds.slice(firstOf2).every((k) => k.startsWith('node-2:'))).toBe(true);
      // No underlay-bridge hop: that netns belongs to neither agent's scope.
      expect(syn.hops.some((h) => h.where.label === 'underlay')).toBe(false);
      // ONE journey: neither half was also emitted on its own.
      expect(js.filter((j) => j.fingerprint === syn.fingerprint && j.proto === 'tcp' && (j.src.ip === syn.src.ip || j.dst.ip === syn.backend?.ip))).toHaveLength(1);
      // The reply is linked to the stitched request's id.
      const reply = js.find((j) => j.replyTo === syn.id);
      if (reply) expect(agentsOf(reply)).toEqual(new Set(['node-1', 'node-2']));
    } finally {
      clearInterval(poll);
      await stopChild(t.proc);
    }
  });

  it('shows the stitched journey with both lanes in the browser', async () => {
    await openUi(page, hubUrl, TOKEN);
    await page.getByTestId('filter-service').fill('web');
    await page.getByTestId('filter-apply').click();
    await crossNodeCalls(1);
    const stitched = page.getByTestId('lanes-stitched');
    expect(await openSynAfterCalls(async () => (await stitched.count()) > 0, 1500)).toBe(true);
    expect(await stitched.textContent()).toBe('stitched from agents node-1 + node-2');
    const diagram = page.getByTestId('hop-diagram');
    expect(await diagram.locator('.lane-label').allTextContents()).toEqual(expect.arrayContaining(['node-1', 'node-2']));
    expect(await diagram.locator('[data-kind=pod-egress]').count()).toBeGreaterThan(0);
    expect(await diagram.locator('[data-kind=dnat]').count()).toBeGreaterThan(0);
    expect(await diagram.locator('[data-kind=deliver]').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('lane-missing').count()).toBe(0);
    await page.screenshot({ path: path.join(ART, 'hub-stitched.png') });
  });

  it('killing an agent marks its lane missing; what node-1 saw still shows (CLI and browser)', async () => {
    await killAgent('node-2');
    await waitAgents({ 'node-1': 'up', 'node-2': 'down' });
    expect(((await (await fetch(`${hubUrl}api/status`, { headers: auth })).json()) as { status: { message: string } }).status.message).toBe('hub: 1/2 agents up; down: node-2');
    const t = await hubTrace(['--service', 'web']);
    try {
      await crossNodeCalls(1);
      await until(() => /lane missing: node-2/.test(t.out()), 15_000, () => `hub trace printed:\n${t.out()}\n${logs.slice(-20).join('')}`);
      const story = t.out().split(/\n(?=j|node-)/).find((s) => s.includes('lane missing: node-2') && s.includes('[S]'));
      expect(story, t.out()).toBeDefined();
      expect(story).toContain('pod default/client');
      expect(story).toMatch(/pod-egress/);
      expect(story).toMatch(/dnat\s+DNAT svc default\/web/);
      expect(story).toContain(': in-flight');
      expect(story).not.toMatch(/^\s+\+.*\sdeliver\s/m);
    } finally {
      await stopChild(t.proc);
    }
    const missing = page.locator('[data-testid=lane-missing][data-node=node-2]');
    expect(await openSynAfterCalls(async () => (await missing.count()) > 0, 1000)).toBe(true);
    const diagram = page.getByTestId('hop-diagram');
    expect(await diagram.locator('[data-kind=pod-egress]').count()).toBeGreaterThan(0);
    expect(await diagram.locator('[data-kind=dnat]').count()).toBeGreaterThan(0);
    expect(await diagram.locator('[data-kind=deliver]').count()).toBe(0);
    expect(await missing.textContent()).toBe('⚠ lane node-2 missing: its agent was not connected');
    await page.screenshot({ path: path.join(ART, 'hub-lane-missing.png') });
  });

  it('restarting the agent resumes stitching', async () => {
    await startAgent('node-2');
    await waitAgents({ 'node-1': 'up', 'node-2': 'up' }, { 'node-2': 2 });
    const t = await hubTrace(['--json', '--service', 'web']);
    try {
      await crossNodeCalls(1);
      const stitched = () =>
        lines(t.out()).map((l) => JSON.parse(l) as Journey).filter((j) => clientToWebOnNode2(j) && agentsOf(j).size === 2 && !j.missingAgents);
      await expect.poll(() => stitched().length, { timeout: 15_000 }).toBeGreaterThan(0);
      expect(stitched()[0]!.hops.at(-1)!.agent).toBe('node-2');
    } finally {
      await stopChild(t.proc);
    }
  });

  it('kubectl hopscope trace streams from the hub (kubectl faked: its port-forward points at the hub)', async () => {
    const fake = fakeKubectl();
    try {
      const p = spawn('node', ['agent/bin/kubectl-hopscope.mjs', 'trace', '--service', 'web', '--json', '--count', '1'], {
        env: { ...process.env, KUBECTL: fake.path, FAKE_LOG: fake.log, FAKE_PF_PORT: new URL(hubUrl).port, FAKE_TOKEN_B64: Buffer.from(TOKEN).toString('base64') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      for (let i = 0; i < 10 && p.exitCode === null; i++) {
        await requests(lab, 'client', 'http://10.96.0.20/', 1);
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(await exited).toBe(0);
      const j = journeySchema.parse(JSON.parse(out.trim())) as Journey;
      expect(j.dst.service?.name ?? j.src.service?.name).toBe('web');
      expect(j.hops.every((h) => h.agent === 'node-1' || h.agent === 'node-2')).toBe(true);
    } finally {
      rmSync(fake.dir, { recursive: true, force: true });
    }
  });

  it('discovers agents by watching pods through a Kubernetes API (the lab API, web pods standing in for agent pods)', async () => {
    // The same code the hub runs in a cluster, against the lab's Kubernetes-compatible API: the
    // web Deployment's pods play the DaemonSet's, so scaling it makes "agents" come and go.
    const seen: AgentEndpoint[][] = [];
    const d = k8sDiscovery({ kubeconfigPath: lab.state().api!.kubeconfig, namespace: 'default', labelSelector: 'app=web', port: 8080 });
    try {
      await d.start((a) => seen.push(a));
      expect(seen.at(-1)).toEqual([
        { name: 'node-1', url: 'http://10.0.0.1:8080/' },
        { name: 'node-2', url: 'http://10.0.0.2:8080/' },
      ]);
      await lab.scale('default', 'web', 1);
      const left = lab.state().model.pods.filter((p) => p.deployment?.name === 'web').map((p) => p.node);
      await until(() => seen.at(-1)?.length === 1, 15_000, () => `discovery saw ${JSON.stringify(seen)}`);
      expect(seen.at(-1)!.map((a) => a.name)).toEqual(left);
    } finally {
      await d.stop();
    }
  });
});
