// What the kubelet stand-in needs from a running lab, and the image it runs: shared by the
// tests that start hopscope's containers on lab nodes.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueClusterTls, tlsSecretsYaml, AGENT_TLS_SECRET, HUB_TLS_SECRET } from '../../agent/src/tls/secrets.ts';
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

/** The mutual-TLS material of a lab as `kubectl hopscope install` makes it for a cluster. */
export interface LabClusterTls {
  issued: ReturnType<typeof issueClusterTls>;
  /** The Secrets' contents: name → key → PEM (what the DaemonSet and hub mount). */
  secrets: Record<string, Record<string, string>>;
  /** A host folder with the hub's files (ca.crt, hub.crt, hub.key): for test clients standing in for the hub. */
  hubDir: string;
}

const scratch: string[] = [];
/** A private folder, removed by removeNodeFiles (call it in afterAll: a vitest worker may end without 'exit'). */
function scratchDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o700);
  scratch.push(d);
  return d;
}

/** Remove the Secret folders and certificates labNodeContext and labClusterTls wrote (they hold private keys). */
export function removeNodeFiles(): void {
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
  labTls.clear();
}

/** The Secrets' key → value maps of issued material. */
export function clusterTlsSecrets(issued: ReturnType<typeof issueClusterTls>): Record<string, Record<string, string>> {
  const agent: Record<string, string> = { 'ca.crt': issued.ca.certPem };
  for (const [n, c] of Object.entries(issued.agents)) Object.assign(agent, { [`${n}.crt`]: c.certPem, [`${n}.key`]: c.keyPem });
  return { [AGENT_TLS_SECRET]: agent, [HUB_TLS_SECRET]: { 'ca.crt': issued.ca.certPem, 'hub.crt': issued.hub.certPem, 'hub.key': issued.hub.keyPem } };
}

const labTls = new Map<string, LabClusterTls>();
/** The lab's CA and certificates (made once per lab, for all its nodes), as install would make them. */
export function labClusterTls(lab: LabHandle): LabClusterTls {
  let t = labTls.get(lab.name);
  if (!t) {
    const issued = issueClusterTls({ nodes: lab.state().model.nodes.map((n) => n.name) });
    // The Secrets go through the same text install applies (tls.yaml), read back as kubelet would.
    const secrets = secretsFromYaml(tlsSecretsYaml(issued));
    const hubDir = scratchDir('hs-tls-hub-');
    for (const [k, v] of Object.entries(secrets[HUB_TLS_SECRET]!)) writeFileSync(join(hubDir, k), v, { mode: 0o600 });
    t = { issued, secrets, hubDir };
    labTls.set(lab.name, t);
  }
  return t;
}

/** Secret name → key → decoded value, from tls.yaml's JSON documents. */
function secretsFromYaml(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const doc of text.split(/^---$/m)) {
    const body = doc.replace(/^#.*$/gm, '').trim();
    if (!body) continue;
    const o = JSON.parse(body) as { metadata: { name: string }; data: Record<string, string> };
    out[o.metadata.name] = Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  }
  return out;
}

/**
 * Write (or update) a Secret volume's folder as kubelet's atomic writer does: the files in a new
 * `..<timestamp>` folder, then `..data` swapped to it by one rename, each key a symlink
 * `key → ..data/key`. A running container sees the whole new set at once.
 */
export function writeSecretVolume(dir: string, files: Readonly<Record<string, string>>, mode: number): void {
  const stamp = `..${Date.now()}_${Math.random().toString(16).slice(2, 8)}`;
  mkdirSync(join(dir, stamp), { mode: 0o755 });
  for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, stamp, k), v, { mode });
  let old: string | undefined;
  try {
    old = readlinkSync(join(dir, '..data'));
  } catch {
    old = undefined;
  }
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const k of Object.keys(files)) {
    try {
      readlinkSync(join(dir, k));
    } catch {
      symlinkSync(join('..data', k), join(dir, k));
    }
  }
  if (old) rmSync(join(dir, old), { recursive: true, force: true });
}

/** The secret volumes of a manifest's pod template: secret name → defaultMode (kubelet's default 0644). */
function secretVolumesOf(manifest: unknown): Map<string, number> {
  const vols = (podTemplateOf(manifest).spec.volumes ?? []) as { secret?: { secretName?: string; defaultMode?: number } }[];
  return new Map(vols.flatMap((v) => (v.secret?.secretName ? [[v.secret.secretName, v.secret.defaultMode ?? 0o644] as const] : [])));
}

/**
 * The lab node `nodeName` as the node a manifest's pod runs on: its netns, address, the lab's
 * service-account folder and in-lab API address, the cluster DNS; `pod` names a lab pod whose
 * network namespace a pod-network container joins (as containers join a CRI sandbox).
 */
export function labNodeContext(
  lab: LabHandle,
  nodeName: string,
  o: { manifest: unknown; image: string; containerName: string; token: string; pod?: { namespace: string; name: string }; secrets?: Record<string, Record<string, string>> },
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
  // The Secrets install makes (token and mutual TLS), unless the test gives its own; the
  // manifest's secret volumes are written as kubelet writes them, one folder per container.
  const secrets: Record<string, Record<string, string>> = { 'hopscope-token': { token: o.token }, ...(o.secrets ?? labClusterTls(lab).secrets) };
  const secretDirs: Record<string, string> = {};
  for (const [name, mode] of secretVolumesOf(o.manifest)) {
    if (!secrets[name]) continue;
    const d = scratchDir(`hs-secret-${o.containerName}-`);
    chmodSync(d, 0o755);
    writeSecretVolume(d, secrets[name], mode);
    secretDirs[name] = d;
  }
  return {
    nodeName,
    hostIP: node.address,
    netnsPath: `/run/netns/${nodeNetns.name}`,
    ...(pod ? { pod } : {}),
    image: o.image,
    containerName: o.containerName,
    secrets,
    secretDirs,
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

/**
 * curl arguments for a request to a lab node's agent as the hub makes it: https to the node
 * name (resolved to its address), the CA, the hub's client certificate, the token.
 */
export function agentCurl(lab: LabHandle, node: string, hostIP: string, path: string, token: string, port = 4780): string[] {
  const t = labClusterTls(lab);
  return ['curl', '-s', '-m', '2', '--cacert', join(t.hubDir, 'ca.crt'), '--cert', join(t.hubDir, 'hub.crt'), '--key', join(t.hubDir, 'hub.key'), '--resolve', `${node}:${port}:${hostIP}`, '-H', `Authorization: Bearer ${token}`, `https://${node}:${port}/${path.replace(/^\//, '')}`];
}
