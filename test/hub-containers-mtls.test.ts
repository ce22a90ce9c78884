// Nothing secret on the node network: two agents and the hub in containers as the manifests say
// (mutual TLS, the Secrets `kubectl hopscope install` makes, mounted as kubelet mounts them), and
// tcpdump on the lab's underlay while the hub streams a cross-node call. The capture holds the
// agent↔hub stream (node-2's hub reaching node-1's agent crosses the underlay) and neither the
// token nor any field of the journeys it carried. The same run with --insecure is the control:
// there the token and the journeys are read off the wire, so the check can fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { launchChromium } from './browser.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { podToPodman, type NodeContext } from './podman-kit/pod-to-podman.ts';
import { loadManifest } from './podman-kit/manifests.ts';
import { buildImage, clusterTlsSecrets, inNetns, journeyFeed, labNodeContext, standInPod, writeSecretVolume, type JourneyFeed, removeNodeFiles } from './podman-kit/lab-node.ts';
import { issueClusterTls } from '../agent/src/tls/secrets.ts';
import { makeCa } from '../agent/src/tls/certs.ts';
import { containerName, leftContainers, requirePodman, sleep, startContainer, type Container } from './podman-kit/podman.ts';
import { curlUntilNode } from './trace-helpers.ts';
import type { Journey } from '../agent/src/protocol/events.ts';

const PREFIX = 'tl';
const NODES = ['node-1', 'node-2'] as const;
const HUB_NODE = 'node-2';
const HUB_POD = 'hopscope-hub-0';
const AGENT_PORT = 4780;
const ART = 'test-artifacts';

type Mode = 'mtls' | 'insecure';

/** The hub's /api/status, as far as these tests read it. */
interface HubStatus {
  status: { message?: string; transport?: { mode: string; detail: string; reloads?: number } };
  capabilities: { agents?: { name: string; state: string; lastError?: string; relinks?: number; connects?: number; status?: { transport?: { mode: string; reloads?: number } } }[] };
}

/** A stitched journey of a call to the web Service: hops from both agents, DNAT to a pod. */
const isStitchedWebCall = (j: Journey): boolean => new Set(j.hops.map((h) => h.agent)).size === 2 && j.dst.service?.name === 'web' && j.backend?.pod !== undefined;

/** What one run left on the wire and what the hub streamed meanwhile. */
interface Evidence {
  capture: Buffer;
  /** The agent↔hub TCP payload (port 4780), VXLAN-decapsulated, from tshark. */
  streamPayload: Buffer;
  tlsClientHellos: number;
  /** Text fields of the stitched journeys the hub streamed (names, addresses, fingerprints). */
  fields: string[];
  hubTransport: { mode: string; detail: string };
  agentTransports: { name: string; mode?: string }[];
  /** What Chromium shows about the transport in the hub's status bar: its text and background colour. */
  banner: { text: string; background: string; bad: string } | null;
}

function tshark(args: string[]): string {
  const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error || r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed (tshark is installed by npm run setup): ${r.error?.message ?? r.stderr}`);
  return r.stdout;
}

/** Every string value of a journey that names or addresses something (what must not leak). */
function journeyFields(j: Journey): string[] {
  const out = new Set<string>([j.fingerprint]);
  for (const e of [j.src, j.dst, j.backend]) {
    if (!e) continue;
    out.add(e.ip);
    if (e.pod) out.add(e.pod.name);
    if (e.service) out.add(`${e.service.namespace}/${e.service.name}`);
  }
  for (const h of j.hops) {
    out.add(h.packet.src);
    out.add(h.packet.dst);
    if (h.where.pod) out.add(h.where.pod.name);
  }
  // Short words ("web", "client") could turn up in ciphertext by chance; 8+ characters cannot.
  return [...out].filter((s) => s.length >= 8);
}

describe('the agent↔hub stream on the node network, in containers as the manifests say', () => {
  const token = randomBytes(18).toString('base64url');
  let lab: LabHandle | undefined;
  let image: string;
  let work: string;
  const containers: Container[] = [];
  const names: string[] = [];
  let tcpdump: ChildProcess | undefined;
  let tap: JourneyFeed | undefined;
  const evidence: Partial<Record<Mode, Evidence>> = {};

  beforeAll(async () => {
    console.log(requirePodman());
    image = buildImage();
    const topology = loadTopology();
    const agentManifest = loadManifest('agent-daemonset.yaml', 'DaemonSet');
    const hubManifest = loadManifest('hub.yaml', 'Deployment');
    topology.pods.push(...NODES.map((n) => standInPod(agentManifest, `hopscope-agent-${n}`, n)), standInPod(hubManifest, HUB_POD, HUB_NODE));
    lab = await labUp(topology, { name: `${PREFIX}${randomBytes(2).toString('hex')}` });
    work = mkdtempSync(join(tmpdir(), 'hs-tl-capture-'));
    mkdirSync(ART, { recursive: true });
  }, 1_800_000);

  afterAll(async () => {
    tcpdump?.kill('SIGKILL');
    await tap?.stop();
    for (const c of containers) await c.remove();
    await lab?.down();
    removeNodeFiles();
    if (work) rmSync(work, { recursive: true, force: true });
    expect(leftContainers(PREFIX).filter((n) => names.includes(n))).toEqual([]);
  }, 120_000);

  /** The manifests as written (mtls), or with --insecure in place of --tls-dir (the control). */
  const manifests = (mode: Mode) => {
    const edit = (doc: unknown) => {
      const d = structuredClone(doc) as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
      if (mode === 'insecure') {
        for (const c of d.spec.template.spec.containers) {
          const i = c.args.indexOf('--tls-dir');
          c.args.splice(i, 2, '--insecure');
        }
      }
      return d;
    };
    return { agent: edit(loadManifest('agent-daemonset.yaml', 'DaemonSet')), hub: edit(loadManifest('hub.yaml', 'Deployment')) };
  };

  /** Both agents and the hub, as the manifests say (or with --insecure), until the hub has both. */
  async function deploy(mode: Mode) {
    if (!lab) throw new Error('the lab is not up');
    const m = manifests(mode);
    const started: Container[] = [];
    const agentCtxs: NodeContext[] = [];
    for (const node of NODES) {
      const name = containerName(PREFIX);
      names.push(name);
      const actx = labNodeContext(lab, node, { manifest: m.agent, image, containerName: name, token });
      agentCtxs.push(actx);
      const c = await startContainer(podToPodman(m.agent, 'agent', actx));
      containers.push(c);
      started.push(c);
    }
    const name = containerName(PREFIX);
    names.push(name);
    const ctx = labNodeContext(lab, HUB_NODE, { manifest: m.hub, image, containerName: name, token, pod: { namespace: 'hopscope', name: HUB_POD } });
    const hubRun = podToPodman(m.hub, 'hub', ctx);
    const hub = await startContainer(hubRun);
    containers.push(hub);
    started.push(hub);
    const hubNetns = ctx.netnsPath.slice('/run/netns/'.length);
    const hubUrl = `http://${hubRun.podIP}:${hubRun.ports[0]!.containerPort}/`;
    const hubStatus = () => {
      const r = inNetns(hubNetns, ['curl', '-s', '-m', '5', '-H', `Authorization: Bearer ${token}`, `${hubUrl}api/status`]);
      return r.stdout ? (JSON.parse(r.stdout) as HubStatus) : undefined;
    };
    const remove = async () => {
      for (const c of started) await c.remove();
    };
    try {
      let last: ReturnType<typeof hubStatus>;
      for (const t0 = Date.now(); (last = hubStatus())?.status.message !== 'hub: 2/2 agents up'; await sleep(500))
        if (Date.now() - t0 > 120_000) throw new Error(`${mode}: the hub did not reach both agents: ${JSON.stringify(last?.capabilities.agents)}\nhub log: ${(await hub.logs()).slice(-3000)}`);
    } catch (e) {
      await remove();
      throw e;
    }
    return { hub, hubNetns, hubUrl, hubStatus, agentCtxs, hubCtx: ctx, remove };
  }

  async function run(mode: Mode): Promise<Evidence> {
    if (!lab) throw new Error('the lab is not up');
    const state = lab.state();
    const web = state.model.services.find((s) => s.namespace === 'default' && s.name === 'web')!;
    const underlay = state.netns.find((n) => n.kind === 'underlay')!.name;
    const pcap = join(work, `${mode}.pcap`);
    // The underlay namespace is the lab's: its bridge and the ports of both nodes. Bounded.
    tcpdump = spawn('ip', ['netns', 'exec', underlay, 'tcpdump', '-i', 'any', '-U', '-s', '0', '-c', '200000', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] });
    let tcpdumpErr = '';
    tcpdump.stderr!.on('data', (d: Buffer) => (tcpdumpErr += d.toString()));
    for (const t0 = Date.now(); !tcpdumpErr.includes('listening on'); await sleep(100)) if (Date.now() - t0 > 10_000) throw new Error(`tcpdump did not start: ${tcpdumpErr}`);

    const d = await deploy(mode);
    const { hub, hubNetns, hubUrl, hubStatus } = d;
    try {
      // A client of the hub (as a browser is), in the hub's node namespace: never on the underlay.
      tap = journeyFeed('ip', ['netns', 'exec', hubNetns, process.execPath, '--import', 'tsx', 'test/podman-kit/agent-tap.ts', 'hub', hubUrl], { ...process.env, HOPSCOPE_TOKEN: token });
      // The call's journeys (the hub's own link to node-1 is traced too, and stitched as well).
      const stitched = () => tap!.journeys.filter(isStitchedWebCall);
      for (let attempt = 0; attempt < 8 && stitched().length === 0; attempt++) {
        await curlUntilNode(lab, 'default/client', `http://${web.clusterIP}/`, 'node-2');
        for (const t0 = Date.now(); stitched().length === 0 && Date.now() - t0 < 6000; ) await sleep(250);
      }
      expect(stitched().length, `${mode}: no stitched journey; tap: ${tap.stderr.join(' | ')}; hub log: ${(await hub.logs()).slice(-2000)}`).toBeGreaterThan(0);
      const st = hubStatus()!;
      const fields = [...new Set(stitched().flatMap(journeyFields))];
      const banner = await statusBanner(hubNetns, hubUrl, mode);
      // Let the last batches and statuses cross the wire before the capture ends.
      await sleep(1500);
      return {
        fields,
        banner,
        hubTransport: st.status.transport!,
        agentTransports: (st.capabilities.agents ?? []).map((a) => ({ name: a.name, ...(a.status?.transport ? { mode: a.status.transport.mode } : {}) })),
        ...(await stopCapture(pcap)),
      };
    } finally {
      await tap?.stop();
      tap = undefined;
      tcpdump?.kill('SIGKILL');
      await d.remove();
    }
  }

  /** The hub's page in Chromium (in the hub's node namespace, as a port-forward reaches it). */
  async function statusBanner(hubNetns: string, hubUrl: string, mode: Mode): Promise<Evidence['banner']> {
    const wrapper = join(work, `chromium-${mode}`);
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${hubNetns} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
    const browser = await launchChromium(wrapper);
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
      await page.goto(`${hubUrl}?token=${token}`);
      await page.getByTestId('connection').filter({ hasText: 'open' }).waitFor({ timeout: 15_000 });
      const id = mode === 'insecure' ? 'transport-insecure' : 'transport-mtls';
      const el = page.getByTestId(id);
      await el.waitFor({ timeout: 10_000 });
      await page.screenshot({ path: join(ART, `hub-transport-${mode}.png`) });
      expect(await page.getByTestId(mode === 'insecure' ? 'transport-mtls' : 'transport-insecure').count()).toBe(0);
      // The badge's background, and the palette's alarm red (--bad) resolved the same way.
      const [background, bad] = await el.evaluate((n) => {
        const doc = n.ownerDocument;
        const view = doc.defaultView as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } };
        const probe = doc.createElement('span');
        probe.style.background = 'var(--bad)';
        doc.body.appendChild(probe);
        const red = view.getComputedStyle(probe).backgroundColor;
        probe.remove();
        return [view.getComputedStyle(n).backgroundColor, red];
      });
      return { text: (await el.textContent()) ?? '', background, bad };
    } finally {
      await browser.close();
    }
  }

  async function stopCapture(pcap: string): Promise<Pick<Evidence, 'capture' | 'streamPayload' | 'tlsClientHellos'>> {
    const p = tcpdump!;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGINT');
    await Promise.race([exited, sleep(10_000)]);
    tcpdump = undefined;
    expect(statSync(pcap).size).toBeGreaterThan(0);
    // Replies to the hub's pod address go back over VXLAN (flannel's port 8472): decode it, so the
    // stream is read in both directions.
    const decode = ['-d', 'udp.port==8472,vxlan', '-d', `tcp.port==${AGENT_PORT},tls`];
    const hex = tshark(['-r', pcap, ...decode, '-Y', `tcp.port==${AGENT_PORT} && tcp.len>0`, '-T', 'fields', '-e', 'tcp.payload']).replace(/[^0-9a-f]/gi, '');
    const hellos = tshark(['-r', pcap, ...decode, '-Y', `tcp.port==${AGENT_PORT} && tls.handshake.type==1`, '-T', 'fields', '-e', 'frame.number']).trim();
    return { capture: readFileSync(pcap), streamPayload: Buffer.from(hex, 'hex'), tlsClientHellos: hellos ? hellos.split('\n').length : 0 };
  }

  it('mutual TLS: the capture carries the agent↔hub stream, and neither the token nor any journey field', async () => {
    const e = (evidence.mtls = await run('mtls'));
    console.log(`mtls: capture ${e.capture.length} bytes, agent↔hub payload ${e.streamPayload.length} bytes, ${e.tlsClientHellos} TLS ClientHello(s), ${e.fields.length} journey fields checked: ${e.fields.slice(0, 8).join(', ')}, …`);
    // The check can fail: the stream is in the capture, and it is TLS.
    expect(e.streamPayload.length).toBeGreaterThan(20_000);
    expect(e.tlsClientHellos).toBeGreaterThan(0);
    expect(e.fields.length).toBeGreaterThan(5);
    expect(e.capture.includes(token)).toBe(false);
    expect(e.streamPayload.includes(token)).toBe(false);
    expect(e.fields.filter((f) => e.streamPayload.includes(f))).toEqual([]);
    expect(e.hubTransport.mode).toBe('mtls');
    expect(e.banner?.text).toBe('mutual TLS');
    expect(e.agentTransports).toEqual([
      { name: 'node-1', mode: 'mtls' },
      { name: 'node-2', mode: 'mtls' },
    ]);
  }, 900_000);

  it('the control, --insecure: the same capture shows the token and the journeys in clear (and the status says INSECURE)', async () => {
    const e = (evidence.insecure = await run('insecure'));
    console.log(`insecure: capture ${e.capture.length} bytes, agent↔hub payload ${e.streamPayload.length} bytes, ${e.fields.filter((f) => e.streamPayload.includes(f)).length}/${e.fields.length} journey fields in clear`);
    expect(e.tlsClientHellos).toBe(0);
    expect(e.capture.includes(token)).toBe(true);
    expect(e.streamPayload.includes(token)).toBe(true);
    expect(e.fields.filter((f) => e.streamPayload.includes(f)).length).toBeGreaterThan(0);
    expect(e.hubTransport.mode).toBe('insecure');
    // The UI says so in red (screenshot test-artifacts/hub-transport-insecure.png).
    expect(e.banner?.text).toBe('⚠ INSECURE: plain HTTP on the network');
    expect(e.banner?.bad).toMatch(/^rgb\(\d+, \d+, \d+\)$/);
    expect(e.banner?.background).toBe(e.banner?.bad);
    expect(e.hubTransport.detail).toMatch(/^INSECURE: plain HTTP to node-1, node-2/);
    expect(e.agentTransports).toEqual([
      { name: 'node-1', mode: 'insecure' },
      { name: 'node-2', mode: 'insecure' },
    ]);
  }, 900_000);
  it('rotation: the Secrets replaced under the running pods (a new CA) keeps stitched journeys flowing, no restart', async () => {
    if (!lab) throw new Error('the lab is not up');
    const d = await deploy('mtls');
    const web = lab.state().model.services.find((s) => s.namespace === 'default' && s.name === 'web')!;
    try {
      tap = journeyFeed('ip', ['netns', 'exec', d.hubNetns, process.execPath, '--import', 'tsx', 'test/podman-kit/agent-tap.ts', 'hub', d.hubUrl], { ...process.env, HOPSCOPE_TOKEN: token });
      const calls = async (n: number): Promise<number> => {
        const before = tap!.journeys.filter(isStitchedWebCall).length;
        for (let i = 0; i < n; i++) await curlUntilNode(lab!, 'default/client', `http://${web.clusterIP}/`, 'node-2');
        // Halves wait up to --stitch-wait-ms for each other: give the last call that long.
        await sleep(n > 1 ? 4000 : 1500);
        return tap!.journeys.filter(isStitchedWebCall).length - before;
      };
      const pids = await Promise.all(containers.slice(-3).map((c) => c.pid()));
      // Warm up: both tracers attached and one call stitched end to end before counting.
      for (let i = 0; i < 10 && tap.journeys.filter(isStitchedWebCall).length === 0; i++) await calls(1);
      expect(tap.journeys.filter(isStitchedWebCall).length, `no stitched call before the rotation; tap: ${tap.stderr.join(' | ')}`).toBeGreaterThan(0);
      const before = await calls(4);
      expect(before).toBeGreaterThan(0);
      // What `kubectl hopscope install` does on a renewal with a new CA: new leaves, the new CA in
      // the bundle next to the old one. kubelet swaps each mounted Secret's files at once.
      const next = issueClusterTls({ nodes: [...NODES], ca: makeCa('hopscope-ca rotated', { days: 3650 }) });
      const secrets = clusterTlsSecrets(next);
      const oldCa = d.agentCtxs[0]!.secrets['hopscope-agent-tls']!['ca.crt']!;
      for (const s of Object.values(secrets)) s['ca.crt'] = next.ca.certPem + oldCa;
      const t0 = Date.now();
      for (const ctx of [...d.agentCtxs, d.hubCtx])
        for (const [name, dir] of Object.entries(ctx.secretDirs ?? {})) if (secrets[name]) writeSecretVolume(dir, secrets[name], name === 'hopscope-hub-tls' ? 0o444 : 0o400);
      let st: HubStatus | undefined;
      const rotated = (s: HubStatus | undefined) => s?.status.transport?.reloads === 1 && (s.capabilities.agents ?? []).every((a) => a.relinks === 1 && a.status?.transport?.reloads === 1 && a.state === 'up');
      for (; !rotated((st = d.hubStatus())); await sleep(500))
        if (Date.now() - t0 > 60_000) throw new Error(`the rotation was not taken in 60 s: ${JSON.stringify(st)}\nhub log: ${(await d.hub.logs()).slice(-3000)}`);
      const tookMs = Date.now() - t0;
      const after = await calls(4);
      console.log(`rotation in containers: ${before} stitched web journeys from 4 calls before, ${after} from 4 after; taken by hub and agents in ${tookMs} ms; agents: ${JSON.stringify(st!.capabilities.agents!.map((a) => ({ name: a.name, connects: a.connects, relinks: a.relinks })))}`);
      expect(after).toBeGreaterThanOrEqual(before);
      // No pod restarted: the same processes, and each link was replaced once, not dropped.
      expect(await Promise.all(containers.slice(-3).map((c) => c.pid()))).toEqual(pids);
      expect((st!.capabilities.agents ?? []).map((a) => a.connects)).toEqual([2, 2]);
      expect(await d.hub.logs()).toMatch(/certificates rotated: now .*relinking every agent/);
    } finally {
      await tap?.stop();
      tap = undefined;
      await d.remove();
    }
  }, 900_000);
});
