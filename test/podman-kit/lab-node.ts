// What the kubelet stand-in needs from a running lab, and the image it runs: shared by the
// tests that start hopscope's containers on lab nodes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { LabHandle } from '../../agent/src/lab/lab.ts';
import type { Topology } from '../../agent/src/lab/topology.ts';
import type { Journey } from '../../agent/src/protocol/events.ts';
import { assertWireValid } from '../trace-helpers.ts';
import { podTemplateOf, type NodeContext } from './pod-to-podman.ts';
import { grantableCapabilities, missingHostPaths } from './podman.ts';

/** The image of this checkout: scripts/image.sh builds it once per content and prints its name. */
export function buildImage(): string {
  const r = spawnSync('bash', ['scripts/image.sh'], { encoding: 'utf8', env: { ...process.env, HOPSCOPE_IMAGE_QUIET: '1' }, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`scripts/image.sh failed (${String(r.status)}): ${r.stderr.slice(-2000)}`);
  console.log(r.stderr.trim().split('\n').pop());
  return r.stdout.trim().split('\n').pop()!;
}

/**
 * The lab node `nodeName` as the node a manifest's pod runs on: its netns, address, the lab's
 * service-account folder and in-lab API address, the cluster DNS; `pod` names a lab pod whose
 * network namespace a pod-network container joins (as containers join a CRI sandbox).
 */
export function labNodeContext(
  lab: LabHandle,
  nodeName: string,
  o: { manifest: unknown; image: string; containerName: string; token: string; pod?: { namespace: string; name: string } },
): NodeContext {
  const state = lab.state();
  const api = state.api;
  if (!api) throw new Error(`lab ${lab.name} runs without its API`);
  const node = state.model.nodes.find((n) => n.name === nodeName);
  const nodeNetns = state.netns.find((n) => n.kind === 'node' && n.owner === nodeName);
  if (!node || !nodeNetns) throw new Error(`lab ${lab.name} has no node ${nodeName}`);
  const kubeDns = state.model.services.find((s) => s.namespace === 'kube-system' && s.name === 'kube-dns');
  if (!kubeDns) throw new Error(`lab ${lab.name} has no kube-system/kube-dns Service`);
  let pod: NodeContext['pod'];
  if (o.pod) {
    const owner = `${o.pod.namespace}/${o.pod.name}`;
    const p = state.model.pods.find((x) => x.namespace === o.pod!.namespace && x.name === o.pod!.name && x.node === nodeName);
    const ns = state.netns.find((n) => n.kind === 'pod' && n.owner === owner);
    if (!p || !ns) throw new Error(`lab ${lab.name} has no pod ${owner} on ${nodeName}`);
    pod = { name: p.name, netnsPath: `/run/netns/${ns.name}`, ip: p.ip };
  }
  return {
    nodeName,
    hostIP: node.address,
    netnsPath: `/run/netns/${nodeNetns.name}`,
    ...(pod ? { pod } : {}),
    image: o.image,
    containerName: o.containerName,
    secrets: { 'hopscope-token': { token: o.token } },
    serviceAccountDir: api.serviceAccountDir,
    apiHost: api.inLab.host,
    apiPort: api.inLab.port,
    clusterDns: kubeDns.clusterIP,
    clusterDomain: state.model.clusterDomain,
    grantableCapabilities: grantableCapabilities(),
    missingHostPaths: missingHostPaths(o.manifest),
  };
}

/**
 * A lab pod standing in for a manifest's pod in the API: the manifest's own pod labels, in its
 * namespace, on `node`, running an idle container (its network namespace is the sandbox the
 * real container joins).
 */
export function standInPod(manifest: unknown, name: string, node: string): Topology['pods'][number] {
  const t = podTemplateOf(manifest);
  return { name, namespace: t.namespace, node, labels: t.labels, containers: [{ name: 'sandbox', run: { kind: 'idle' } }] };
}

/** A child process printing journeys as JSON lines; collected as they come. */
export interface JourneyFeed {
  journeys: Journey[];
  stderr: string[];
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Start a journey feed (stdout: JSON lines; stderr lines kept, the first 200). */
export function journeyFeed(cmd: string, args: string[], env: NodeJS.ProcessEnv): JourneyFeed {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const feed: JourneyFeed = {
    journeys: [],
    stderr: [],
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (l.startsWith('{')) feed.journeys.push(assertWireValid(JSON.parse(l)));
  });
  createInterface({ input: child.stderr! }).on('line', (l) => {
    if (feed.stderr.length < 200) feed.stderr.push(l);
  });
  return feed;
}

/** Run a command in a lab namespace from this process (curl to lab addresses, etc.). */
export function inNetns(netns: string, cmd: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', netns, ...cmd], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
