// The lab state file, /run/hopscope/labs/<lab>.json: what a running lab consists of. Written
// by the lab (in-process `labUp` or the detached controller), read by `lab down`, the tracer,
// the identity index and the server. Written atomically (temp file + rename), mode 0600
// because it holds the API token.
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterModel } from './model.ts';
import type { NetnsKind } from './naming.ts';
import type { CgroupDriver } from './kubelet.ts';

/** Directory holding state files, kubeconfigs and workload logs. */
export const LABS_DIR = process.env.HOPSCOPE_LABS_DIR ?? '/run/hopscope/labs';

/** One network namespace of the lab. */
export interface LabNetns {
  name: string;
  kind: NetnsKind;
  /** Node name, external name, "namespace/pod" for pods, "underlay". */
  owner: string;
  /** Node a pod runs on (pods only). */
  node?: string;
  /** Inode of /run/netns/<name>: what bpftrace reports as the netns of an event. */
  inode: number;
}

/** One container process of a pod. */
export interface LabWorkload {
  /** "namespace/pod". */
  pod: string;
  container: string;
  kind: string;
  pid: number;
  netns: string;
  log: string;
}

/** A pod's sandbox: the process holding its network namespace, as the pause container does. */
export interface LabSandbox {
  /** "namespace/pod". */
  pod: string;
  /** containerd's sandbox id (kubelet.ts sandboxId). */
  id: string;
  pid: number;
  netns: string;
}

/** The Kubernetes-compatible API of the lab, when one runs. It speaks HTTPS only. */
export interface LabApiInfo {
  /** For this machine's root namespace: https://127.0.0.1:<port>. */
  url: string;
  token: string;
  /** Kubeconfig for `url`, with the CA inline (kubectl and client-node verify it). */
  kubeconfig: string;
  /** PEM of the lab CA that signed the API's certificate. */
  caFile: string;
  /** The API's Unix socket, what the in-lab forwarder relays to. */
  socket: string;
  /**
   * The API as the lab's nodes reach it, like a real control-plane address: a forwarder process
   * in the underlay namespace listens on `host:port` and relays to `socket`. Use it from a node's
   * namespace: KUBERNETES_SERVICE_HOST=host, KUBERNETES_SERVICE_PORT=port.
   */
  inLab: {
    host: string;
    port: number;
    url: string;
    /** Kubeconfig with `url` as its server, for kubectl inside a node's namespace. */
    kubeconfig: string;
    forwarderPid: number;
    forwarderLog: string;
  };
  /**
   * What a pod's service account sees (`token`, `ca.crt`, `namespace`): mount this folder at
   * /var/run/secrets/kubernetes.io/serviceaccount for in-cluster configuration.
   */
  serviceAccountDir: string;
}

/** Everything a lab run consists of. */
export interface LabState {
  version: 1;
  name: string;
  runId: string;
  /** Prefix of every namespace of this run. */
  prefix: string;
  phase: 'starting' | 'ready' | 'stopping' | 'failed';
  /** Why the lab failed to come up (phase "failed"). */
  error?: string;
  createdAt: string;
  /** Process owning the lab: the detached controller, or the process that called labUp. */
  controllerPid: number;
  detached: boolean;
  netns: LabNetns[];
  workloads: LabWorkload[];
  /** One per pod while a cgroup driver is in use (absent in labs without one). */
  sandboxes?: LabSandbox[];
  /**
   * The kubelet-shaped cgroup trees: the driver imitated and the tree's root directory in each
   * cgroup hierarchy (recorded before anything is created in them; teardown removes them).
   */
  cgroups?: { driver: Exclude<CgroupDriver, 'none'>; roots: string[] };
  api?: LabApiInfo;
  logDir: string;
  model: ClusterModel;
}

/** Path of a lab's state file. */
export function statePath(name: string): string {
  return join(LABS_DIR, `${name}.json`);
}

/** Write the state atomically. */
export function writeLabState(state: LabState): void {
  mkdirSync(LABS_DIR, { recursive: true, mode: 0o700 });
  const path = statePath(state.name);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

/** Read a lab's state; throws a clear error when there is no such lab. */
export function readLabState(name: string): LabState {
  const path = statePath(name);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    const have = listLabNames();
    throw new Error(`no lab "${name}" (no ${path}); running labs: ${have.length ? have.join(', ') : 'none'}`);
  }
  const s = JSON.parse(text) as LabState;
  if (s.version !== 1) throw new Error(`${path}: unsupported state version ${String(s.version)}`);
  return s;
}

/** Names of labs that have a state file. */
export function listLabNames(): string[] {
  if (!existsSync(LABS_DIR)) return [];
  return readdirSync(LABS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** Namespace of a pod ("namespace/name" or a bare pod name, searched in every namespace). */
export function findPodNetns(state: LabState, pod: string): LabNetns {
  const pods = state.netns.filter((n) => n.kind === 'pod');
  const hit = pod.includes('/') ? pods.find((n) => n.owner === pod) : pods.filter((n) => n.owner.split('/')[1] === pod);
  if (Array.isArray(hit)) {
    if (hit.length === 1) return hit[0]!;
    if (hit.length > 1) throw new Error(`pod name "${pod}" is ambiguous: ${hit.map((h) => h.owner).join(', ')}`);
  } else if (hit) return hit;
  throw new Error(`no pod "${pod}" in lab ${state.name}; pods: ${pods.map((p) => p.owner).join(', ') || 'none'}`);
}
