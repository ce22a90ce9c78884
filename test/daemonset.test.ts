// The agent DaemonSet, run as written: the real image, started by podman with the arguments the
// kubelet stand-in (test/podman-kit) derives from manifests/agent-daemonset.yaml, on lab node-1
// (its network namespace is the "host" network). The agent finds the API by in-cluster
// configuration through the lab's service-account folder and in-lab API address, traces a
// cross-node ClusterIP call, and shows node-1's half of it, named from the API, the same hops as
// `hopscope trace --lab` on this machine sees. Its probes run as kubelet runs them.
// Needs root, podman and the image (built by scripts/image.sh, cached by content).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import type { Hop, Journey } from '../agent/src/protocol/events.ts';
import { podToPodman, type NodeContext, type PodmanRun } from './podman-kit/pod-to-podman.ts';
import { loadManifest } from './podman-kit/manifests.ts';
import { agentCurl, buildImage, inNetns, journeyFeed, labClusterTls, labNodeContext, removeNodeFiles, type JourneyFeed } from './podman-kit/lab-node.ts';
import { containerName, leftContainers, probeOnce, probeUntilSuccess, requirePodman, sleep, startContainer, type Container } from './podman-kit/podman.ts';
import { curlUntilNode, synOf } from './trace-helpers.ts';

const PREFIX = 'ds';
const NODE = 'node-1';

/** What makes two hops "the same hop" seen by two tracers of one kernel. */
const hopKey = (h: Hop): string => {
  const p = h.encap ? h.encap.inner : h.packet;
  return `${h.kind} ${h.hook} ${h.where.label} ${h.dev} ${h.netns} ${p.src}->${p.dst}${h.encap ? ` in ${h.packet.src}->${h.packet.dst}` : ''}`;
};
const onNode = (h: Hop, node: string): boolean => h.where.node === node || h.where.pod?.node === node;

describe('the agent DaemonSet, run as written on lab node-1', () => {
  const containerNameOfRun = containerName(PREFIX);
  let lab: LabHandle | undefined;
  let agent: Container | undefined;
  let run: PodmanRun;
  let ctx: NodeContext;
  let nodeNetns: string;
  let hostTrace: JourneyFeed | undefined;
  let tap: JourneyFeed | undefined;
  const figures: Record<string, string> = {};
  const token = randomBytes(18).toString('base64url');

  beforeAll(async () => {
    console.log(requirePodman());
    const image = buildImage();
    lab = await labUp(loadTopology(), { name: `${PREFIX}-${randomBytes(3).toString('hex')}` });
    const manifest = loadManifest('agent-daemonset.yaml', 'DaemonSet');
    ctx = labNodeContext(lab, NODE, { manifest, image, containerName: containerNameOfRun, token });
    nodeNetns = ctx.netnsPath.slice('/run/netns/'.length);
    run = podToPodman(manifest, 'agent', ctx);
    console.log(`podman ${run.argv.join(' ')}`);
    console.log(`approximated:\n${run.approximations.map((a) => `  ${a.field}: ${a.why}`).join('\n')}`);
  }, 1_800_000);

  afterAll(async () => {
    await tap?.stop();
    await hostTrace?.stop();
    await agent?.remove();
    await lab?.down();
    removeNodeFiles();
    // Nothing of this file is left in podman.
    expect(leftContainers(PREFIX).filter((n) => n === containerNameOfRun)).toEqual([]);
    console.log(`figures: ${JSON.stringify(figures)}`);
  }, 120_000);

  it('starts with the manifest settings and passes its readiness probe', async () => {
    const t0 = Date.now();
    agent = await startContainer(run);
    // Listening: /healthz answers on the node address (the probe below runs on its own schedule).
    for (;;) {
      const r = inNetns(nodeNetns, ['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '-m', '1', `https://${ctx.hostIP}:4780/healthz`]);
      if (r.stdout === '200') break;
      // pid() throws, with podman's word, once the container has exited.
      await agent.pid().catch(async (e: Error) => {
        throw new Error(`${e.message}; its log: ${(await agent!.logs()).slice(-3000)}`);
      });
      if (Date.now() - t0 > 120_000) throw new Error(`the agent did not listen within 120 s: ${await agent.logs()}`);
      await sleep(100);
    }
    figures.startToListeningMs = String(Date.now() - t0);
    // Tracing: the agent's own status, polled as a client would (it reports "running" once
    // bpftrace has attached).
    for (let tracer = ''; tracer !== 'running'; await sleep(100)) {
      const r = inNetns(nodeNetns, agentCurl(lab!, NODE, ctx.hostIP, 'api/status', token));
      tracer = r.stdout ? (JSON.parse(r.stdout) as { status: { tracer: string } }).status.tracer : '';
      if (tracer === 'unavailable' || Date.now() - t0 > 120_000) throw new Error(`the agent's tracer is ${tracer || 'silent'}: ${(await agent.logs()).slice(-3000)}`);
    }
    figures.startToTracingMs = String(Date.now() - t0);
    const ready = await probeUntilSuccess(agent, run.readiness!, { nodeNetns, podIP: ctx.hostIP }, 120_000, t0);
    figures.readyAfterMs = String(Date.now() - t0);
    expect(ready.attempts.at(-1)).toMatch(/^ok/);
    // The container runs what the manifest asks: its user, capabilities and read-only root.
    const pid = await agent.pid();
    const status = await agent.exec(['sh', '-c', `grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' /proc/${pid}/status; touch /probe-ro 2>&1; echo; cat /proc/${pid}/cmdline | tr '\\0' ' '`], 10_000);
    console.log(status.stdout);
    expect(status.stdout).toMatch(/^Uid:\s+0\s/m);
    expect(status.stdout).toMatch(/^NoNewPrivs:\s+1/m);
    expect(status.stdout).toMatch(/^Seccomp:\s+0/m);
    expect(status.stdout).toContain('Read-only file system');
    expect(status.stdout).toContain(`--node ${NODE}`);
    // hostPID: the lab's pod processes are visible from inside, with their network namespaces.
    const web = lab!.state().workloads.find((w) => w.kind === 'http')!;
    const seen = await agent.exec(['readlink', `/proc/${web.pid}/ns/net`], 10_000);
    expect(seen.stdout.trim()).toMatch(/^net:\[\d+\]$/);
  }, 300_000);

  it("shows node-1's half of a cross-node ClusterIP call, named from the API, as trace --lab sees it", async () => {
    if (!lab || !agent) throw new Error('the agent did not start');
    const state = lab.state();
    tap = journeyFeed('ip', ['netns', 'exec', nodeNetns, process.execPath, '--import', 'tsx', 'test/podman-kit/agent-tap.ts', NODE, `https://${ctx.hostIP}:4780/`], { ...process.env, HOPSCOPE_TOKEN: token, HOPSCOPE_TLS_DIR: labClusterTls(lab).hubDir });
    hostTrace = journeyFeed(process.execPath, ['agent/bin/hopscope.mjs', 'trace', '--lab', lab.name, '--json'], process.env);
    const client = state.model.pods.find((p) => p.name === 'client')!;
    expect(client.node).toBe(NODE);
    const web = state.model.services.find((s) => s.namespace === 'default' && s.name === 'web')!;
    for (const t0 = Date.now(); !tap.stderr.includes('tracer running'); await sleep(200)) {
      const why = `agent log: ${(await agent.logs()).slice(-3000)}`;
      if (tap.stderr.includes('tracer unavailable')) throw new Error(`the agent in the container cannot trace: ${why}`);
      if (Date.now() - t0 > 120_000) throw new Error(`the agent's tracer is not running after 120 s (${tap.stderr.join(' | ')}); ${why}`);
    }
    const t0 = Date.now();
    let pair: [Journey, Journey] | undefined;
    // Both tracers report attached before their probes are live: call until both saw one SYN.
    for (let i = 0; i < 40 && !pair; i++) {
      const a = await curlUntilNode(lab, 'default/client', `http://${web.clusterIP}/`, 'node-2');
      if (a.node !== 'node-2') continue;
      for (let w = 0; w < 30 && !pair; w++) {
        await sleep(100);
        const inAgent = synOf(tap.journeys, client.ip, a.peerPort);
        const onHost = synOf(hostTrace.journeys, client.ip, a.peerPort);
        if (inAgent && onHost) pair = [inAgent, onHost];
      }
    }
    if (!pair) throw new Error(`no SYN seen by both: agent ${tap.journeys.length} journeys (${tap.stderr.join(' | ')}), host ${hostTrace.journeys.length} (${hostTrace.stderr.join(' | ')}); agent log: ${(await agent.logs()).slice(-3000)}`);
    figures.firstTracedCallMs = String(Date.now() - t0);
    const [fromAgent, fromHost] = pair;
    // Names from the API: the client pod, the Service it called, the backend on node-2.
    expect(fromAgent.src.pod).toMatchObject({ namespace: 'default', name: client.name });
    expect(fromAgent.dst.service).toMatchObject({ namespace: 'default', name: web.name });
    expect(fromAgent.backend?.pod?.node).toBe('node-2');
    // node-1's half only (the agent says it traces node-1's namespaces alone: the lab's nodes
    // share one kernel), and the same hops as the host's tracer sees on node-1.
    expect(await agent.logs()).toMatch(new RegExp(`tracing only ${NODE}'s network namespaces`));
    expect(fromAgent.hops.every((h) => onNode(h, NODE))).toBe(true);
    const hostHalf = fromHost.hops.filter((h) => onNode(h, NODE)).map(hopKey);
    expect(fromHost.hops.some((h) => onNode(h, 'node-2'))).toBe(true);
    expect(fromAgent.hops.map((h) => h.kind)).toEqual(expect.arrayContaining(['pod-egress', 'dnat', 'encap']));
    expect(fromAgent.hops.map(hopKey)).toEqual(hostHalf);
    console.log(`node-1's half, from the agent in the container:\n  ${fromAgent.hops.map(hopKey).join('\n  ')}`);
  }, 300_000);

  it('records the agent RSS inside the container', async () => {
    if (!agent) throw new Error('the agent did not start');
    const pid = await agent.pid();
    const r = await agent.exec(['sh', '-c', `grep VmRSS /proc/${pid}/status; for c in $(cat /proc/${pid}/task/*/children); do echo "$(cat /proc/$c/comm) $(grep VmRSS /proc/$c/status)"; done`], 10_000);
    const agentRss = /VmRSS:\s+(\d+) kB/.exec(r.stdout);
    expect(agentRss).not.toBeNull();
    figures.agentRssMB = (Number(agentRss![1]) / 1024).toFixed(0);
    const bpftrace = /bpftrace VmRSS:\s+(\d+) kB/.exec(r.stdout);
    expect(bpftrace, r.stdout).not.toBeNull();
    figures.bpftraceRssMB = (Number(bpftrace![1]) / 1024).toFixed(0);
  });

  it('fails its liveness probe while the agent is stopped, and when it is killed', async () => {
    if (!agent) throw new Error('the agent did not start');
    const live = run.liveness!;
    const from = { nodeNetns, podIP: ctx.hostIP };
    expect((await probeOnce(agent, live, from)).ok).toBe(true);
    const pid = await agent.pid();
    process.kill(pid, 'SIGSTOP');
    try {
      const stopped = await probeOnce(agent, live, from);
      expect(stopped).toMatchObject({ ok: false, detail: `timed out after ${live.timeoutSeconds} s` });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect((await probeOnce(agent, live, from)).ok).toBe(true);
    process.kill(pid, 'SIGKILL');
    await sleep(1000);
    const killed = await probeOnce(agent, live, from);
    expect(killed.ok).toBe(false);
  }, 120_000);
});
