// Two agents and the hub, all in containers, as the manifests say: an agent per lab node (the
// DaemonSet's pod on each, in its node's network namespace) and the hub (manifests/hub.yaml: a
// non-root user, every capability dropped, the runtime's default seccomp) in a pod network
// namespace on node-2, finding the agents through the lab API with its ServiceAccount. A
// cross-node ClusterIP call shows as one journey stitched from both agents in Chromium.
// The API lists stand-in pods with the manifests' own labels (the lab's pods, whose network
// namespaces the hub joins; the agents' pods are only listed: hostNetwork agents listen on the
// node address, which is all discovery reads).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { podToPodman, type PodmanRun } from './podman-kit/pod-to-podman.ts';
import { loadManifest } from './podman-kit/manifests.ts';
import { buildImage, inNetns, labNodeContext, standInPod, removeNodeFiles } from './podman-kit/lab-node.ts';
import { containerName, leftContainers, probeOnce, probeUntilSuccess, requirePodman, sleep, startContainer, type Container } from './podman-kit/podman.ts';
import { findRow, launchChromium } from './browser.ts';
import { curlUntilNode } from './trace-helpers.ts';

const PREFIX = 'ds';
const NODES = ['node-1', 'node-2'] as const;
const HUB_NODE = 'node-2';
const HUB_POD = 'hopscope-hub-0';
const ART = 'test-artifacts';

describe('two agents and the hub in containers, as the manifests say', () => {
  const token = randomBytes(18).toString('base64url');
  const names: string[] = [];
  let lab: LabHandle | undefined;
  const containers: Container[] = [];
  let hub: Container;
  let hubRun: PodmanRun;
  let hubNodeNetns: string;
  let hubUrl: string;
  let browser: Browser | undefined;
  let wrapperDir: string | undefined;

  /** GET on the hub from node-2's namespace (where the hub's pod address is routed). */
  const hubGet = (path: string): { code: string; body: string } => {
    const r = inNetns(hubNodeNetns, ['curl', '-s', '-m', '5', '-H', `Authorization: Bearer ${token}`, '-w', '\n%{http_code}', `${hubUrl}${path}`]);
    const i = r.stdout.lastIndexOf('\n');
    return { body: r.stdout.slice(0, i), code: r.stdout.slice(i + 1) };
  };

  beforeAll(async () => {
    console.log(requirePodman());
    const image = buildImage();
    const agentManifest = loadManifest('agent-daemonset.yaml', 'DaemonSet');
    const hubManifest = loadManifest('hub.yaml', 'Deployment');
    const topology = loadTopology();
    topology.pods.push(...NODES.map((n) => standInPod(agentManifest, `hopscope-agent-${n}`, n)), standInPod(hubManifest, HUB_POD, HUB_NODE));
    lab = await labUp(topology, { name: `${PREFIX}-${randomBytes(3).toString('hex')}` });
    const readiness: Promise<unknown>[] = [];
    for (const node of NODES) {
      const name = containerName(PREFIX);
      names.push(name);
      const ctx = labNodeContext(lab, node, { manifest: agentManifest, image, containerName: name, token });
      const run = podToPodman(agentManifest, 'agent', ctx);
      const c = await startContainer(run);
      containers.push(c);
      readiness.push(probeUntilSuccess(c, run.readiness!, { nodeNetns: ctx.netnsPath.slice('/run/netns/'.length), podIP: run.podIP }, 120_000));
    }
    const name = containerName(PREFIX);
    names.push(name);
    const ctx = labNodeContext(lab, HUB_NODE, { manifest: hubManifest, image, containerName: name, token, pod: { namespace: 'hopscope', name: HUB_POD } });
    hubNodeNetns = ctx.netnsPath.slice('/run/netns/'.length);
    hubRun = podToPodman(hubManifest, 'hub', ctx);
    console.log(`hub: podman ${hubRun.argv.join(' ')}\napproximated:\n${hubRun.approximations.map((a) => `  ${a.field}: ${a.why}`).join('\n')}`);
    hub = await startContainer(hubRun);
    containers.push(hub);
    hubUrl = `http://${hubRun.podIP}:${hubRun.ports[0]!.containerPort}/`;
    readiness.push(probeUntilSuccess(hub, hubRun.readiness!, { nodeNetns: hubNodeNetns, podIP: hubRun.podIP }, 120_000));
    await Promise.all(readiness);
  }, 1_800_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true });
    for (const c of containers) await c.remove();
    await lab?.down();
    removeNodeFiles();
    expect(leftContainers(PREFIX).filter((n) => names.includes(n))).toEqual([]);
  }, 120_000);

  it('the hub runs unprivileged and finds both agents through the API with its ServiceAccount', async () => {
    const status = await hub.exec(['sh', '-c', "grep -E '^(Uid|Gid|CapEff|NoNewPrivs):' /proc/1/status"], 10_000);
    expect(status.stdout).toMatch(/^Uid:\s+65534\s/m);
    expect(status.stdout).toMatch(/^Gid:\s+65534\s/m);
    expect(status.stdout).toMatch(/^CapEff:\s+0+$/m);
    expect(status.stdout).toMatch(/^NoNewPrivs:\s+1/m);
    let last = '';
    for (const t0 = Date.now(); ; await sleep(500)) {
      const r = hubGet('api/status');
      last = r.body;
      if (r.code === '200' && (JSON.parse(r.body) as { status: { message?: string } }).status.message === 'hub: 2/2 agents up') break;
      if (Date.now() - t0 > 60_000) throw new Error(`the hub did not reach both agents: ${last}\nhub log: ${(await hub.logs()).slice(-3000)}`);
    }
    expect(hubGet('api/status').code).toBe('200');
    // Discovery went through the API (the pods of the manifest's labels), not a static list.
    expect(await hub.logs()).toMatch(/pods app\.kubernetes\.io\/name=hopscope,app\.kubernetes\.io\/component=agent in namespace hopscope/);
  }, 120_000);

  it('a cross-node ClusterIP call is one journey stitched from both agents in Chromium', async () => {
    if (!lab) throw new Error('the lab is not up');
    // Chromium runs in node-2's network namespace, where the hub's pod address is routed (as a
    // port-forward would reach it on a cluster); playwright drives it over a pipe.
    wrapperDir = mkdtempSync(join(tmpdir(), 'hs-ds-chromium-'));
    const wrapper = join(wrapperDir, 'chromium');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${hubNodeNetns} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
    browser = await launchChromium(wrapper);
    const page: Page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.goto(`${hubUrl}?token=${token}`);
    await page.getByTestId('connection').filter({ hasText: 'open' }).waitFor({ timeout: 15_000 });
    await page.getByTestId('filter-service').fill('web');
    await page.getByTestId('filter-apply').click();
    const web = lab.state().model.services.find((s) => s.namespace === 'default' && s.name === 'web')!;
    const stitched = page.getByTestId('lanes-stitched');
    const rows = () => page.locator('[data-testid=journey-row]').filter({ hasText: 'svc/web:80' }).filter({ hasText: 'TCP [S]' });
    let found = false;
    for (let attempt = 0; attempt < 5 && !found; attempt++) {
      const a = await curlUntilNode(lab, 'default/client', `http://${web.clusterIP}/`, 'node-2');
      expect(a.node).toBe('node-2');
      await page.waitForTimeout(2000);
      if (!(await findRow(page, rows))) continue;
      for (let i = 0; i < (await rows().count()) && !found; i++) {
        await rows().nth(i).click();
        await page.getByTestId('hop-diagram').locator('[data-kind]').first().waitFor({ timeout: 10_000 });
        found = (await stitched.count()) > 0;
      }
    }
    mkdirSync(ART, { recursive: true });
    await page.screenshot({ path: join(ART, 'hub-containers-stitched.png') });
    expect(found, `no stitched SYN row; hub log: ${(await hub.logs()).slice(-2000)}`).toBe(true);
    expect(await stitched.textContent()).toBe('stitched from agents node-1 + node-2');
    const diagram = page.getByTestId('hop-diagram');
    expect(await diagram.locator('.lane-label').allTextContents()).toEqual(expect.arrayContaining(['node-1', 'node-2']));
    for (const kind of ['pod-egress', 'dnat', 'deliver']) expect(await diagram.locator(`[data-kind=${kind}]`).count(), kind).toBeGreaterThan(0);
    expect(await page.getByTestId('lane-missing').count()).toBe(0);
  }, 300_000);

  it("fails the hub's liveness probe (httpGet from its node) while the hub is stopped", async () => {
    const live = hubRun.liveness!;
    const from = { nodeNetns: hubNodeNetns, podIP: hubRun.podIP };
    expect((await probeOnce(hub, live, from)).ok).toBe(true);
    const pid = await hub.pid();
    process.kill(pid, 'SIGSTOP');
    try {
      const stopped = await probeOnce(hub, live, from);
      expect(stopped.ok, stopped.detail).toBe(false);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect((await probeOnce(hub, live, from)).ok).toBe(true);
  }, 60_000);
});
