// labUp: bring a lab up in this process and hand back a handle (exec, scale, down). Used by
// `hopscope start`, the tracer tests and the detached lab controller. The pure parts (plan,
// rules, DNS) live in their own modules; this file sequences them and owns the processes.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { EXEC_MAX_BYTES, execBounded, type ExecResult } from '../exec/bounded.ts';
import { expandTopology, scaleDeployment, type ClusterModel, type ModelPod } from './model.ts';
import { parseTopology, type Topology } from './topology.ts';
import { newRunId, netnsPrefix, netnsName } from './naming.ts';
import { namerFor, planLab, planPod } from './netplan.ts';
import { applyKubeProxy, applyPlan, deleteNetns, ipipUnsupported, killPids, netnsInode, netnsPids } from './netns.ts';
import { LABS_DIR, findPodNetns, listLabNames, readLabState, writeLabState, type LabNetns, type LabState } from './state.ts';
import { dnsRecords } from './dns.ts';
import { startApiForwarder, startSandbox, startWorkloads } from './workloads.ts';
import { containerCgroupPath, containerId, labPodQos, podCgroupPath, sandboxId, type CgroupDriver } from './kubelet.ts';
import { cgroupRootsFor, placeInCgroup, removeCgroupTree } from './cgroups.ts';
import { teardownLab } from './teardown.ts';
import { startLabApi, writeKubeconfig, type LabApi } from './api-server.ts';
import { KUBERNETES_SERVICE_NAMES, makeLabTls } from './tls.ts';
import { API_SERVER_PORT } from './netplan.ts';
import { controlPlaneAddress } from './model.ts';
import { alive } from './netns.ts';

/** The built-in topology: two nodes, flannel VXLAN, kube-proxy iptables. */
export const DEFAULT_TOPOLOGY_PATH = fileURLToPath(new URL('./topologies/default.yaml', import.meta.url));

/** Read and validate a topology file (the built-in one when no path is given). */
export function loadTopology(path?: string): Topology {
  const file = path ?? DEFAULT_TOPOLOGY_PATH;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read topology ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parseTopology(text);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/** Options of labUp; name/cni/kubeProxy override the topology. */
export interface LabUpOptions {
  name?: string;
  cni?: Topology['cni'];
  kubeProxy?: Topology['kubeProxy'];
  /**
   * Put pod processes in the cgroups kubelet and containerd make with this driver (default
   * cgroupfs), each pod with a sandbox process; `none`: no cgroups, no sandboxes.
   */
  cgroupDriver?: CgroupDriver;
  /** Start the Kubernetes-compatible API and write a kubeconfig (default true). */
  api?: boolean;
  /** Tear down on exit, SIGINT and SIGTERM of this process (default true). */
  cleanupOnExit?: boolean;
  /**
   * With cleanupOnExit, also on SIGINT and SIGTERM (default true). false: the caller owns the
   * signals and calls down() (start and `lab up --foreground` stop their server first); the lab
   * is still torn down on any exit before down() finished.
   */
  cleanupOnSignal?: boolean;
  /** Also tear down and exit(1) on an uncaught exception (the controller and the CLI; default false). */
  cleanupOnCrash?: boolean;
  /** Set by the detached controller so `lab status` can tell the two apart. */
  detached?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Where a command runs: a pod ("ns/name" or a unique pod name), a node or an external host. */
export type ExecTarget = string | { node: string } | { external: string };

/** Result of a command run inside the lab. */
export type { ExecResult } from '../exec/bounded.ts';

/** A running lab owned by this process. */
export interface LabHandle {
  name: string;
  /** The current state (as in the state file). */
  state(): LabState;
  /** Run a command in a pod's (or node's, or external host's) namespace. */
  exec(target: ExecTarget, cmd: string[], opts?: { timeoutMs?: number; maxBytes?: number }): Promise<ExecResult>;
  /** Scale a Deployment: pods built or removed, kube-proxy rules re-applied on every node. */
  scale(namespace: string, deployment: string, replicas: number): Promise<ClusterModel>;
  /** Remove everything of the lab. Idempotent. */
  down(): Promise<void>;
}

/** Namespace of an exec target. */
export function targetNetns(state: LabState, target: ExecTarget): LabNetns {
  if (typeof target === 'string') return findPodNetns(state, target);
  const [kind, owner] = 'node' in target ? (['node', target.node] as const) : (['external', target.external] as const);
  const hit = state.netns.find((n) => n.kind === kind && n.owner === owner);
  if (!hit) throw new Error(`no ${kind} "${owner}" in lab ${state.name}; ${kind}s: ${state.netns.filter((n) => n.kind === kind).map((n) => n.owner).join(', ') || 'none'}`);
  return hit;
}

/** Bring a lab up from a validated topology. Throws (after cleaning up) when anything fails. */
export async function labUp(topology: Topology, opts: LabUpOptions = {}): Promise<LabHandle> {
  const log = opts.log ?? (() => {});
  const t: Topology = { ...topology, name: opts.name ?? topology.name, cni: opts.cni ?? topology.cni, kubeProxy: opts.kubeProxy ?? topology.kubeProxy };
  const runId = newRunId();
  const prefix = netnsPrefix(t.name, runId);
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces, iptables)');
  if (listLabNames().includes(t.name)) {
    const old = readLabState(t.name);
    throw new Error(
      alive(old.controllerPid)
        ? `lab "${t.name}" is already up (pid ${old.controllerPid}); use another --name or run "hopscope lab down --name ${t.name}"`
        : `lab "${t.name}" left state behind (its process ${old.controllerPid} is gone); run "hopscope lab down --name ${t.name}" first`,
    );
  }
  if (t.cni === 'calico-ipip') {
    const why = ipipUnsupported(netnsName(prefix, 'underlay', 'probe') + '-ipip');
    throw new Error(
      why
        ? `cni calico-ipip needs IP-in-IP tunnels (tunl0), which this kernel cannot make ("${why}"); use --cni calico-vxlan or calico-routed`
        : 'cni calico-ipip: this kernel has IP-in-IP, but the lab only builds flannel-vxlan, calico-routed and calico-vxlan; use one of those',
    );
  }
  const model0 = expandTopology(t, { uidSeed: prefix });
  const driver = opts.cgroupDriver ?? 'cgroupfs';
  const logDir = join(LABS_DIR, t.name);
  mkdirSync(logDir, { recursive: true, mode: 0o700 });
  let state: LabState = {
    version: 1,
    name: t.name,
    runId,
    prefix,
    phase: 'starting',
    createdAt: new Date().toISOString(),
    controllerPid: process.pid,
    detached: opts.detached ?? false,
    netns: [],
    workloads: [],
    logDir,
    model: model0,
    // The roots are recorded before any group is made in them, so a crash leaves them findable.
    ...(driver === 'none' ? {} : { cgroups: { driver, roots: cgroupRootsFor(prefix) }, sandboxes: [] }),
  };
  writeLabState(state);
  let api: LabApi | undefined;
  let downed = false;
  const ns = namerFor(prefix);
  const nodeNetns = () => state.netns.filter((n) => n.kind === 'node').map((n) => n.name);
  const recordsPath = join(logDir, 'dns-records.json');

  const teardownSync = () => {
    if (downed) return;
    downed = true;
    uninstall();
    teardownLab(t.name, state);
  };
  const onExit = () => teardownSync();
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: tearing down lab ${t.name}`);
    void (api?.close() ?? Promise.resolve()).finally(() => {
      teardownSync();
      // Re-raise so the process ends the way the signal asked.
      process.kill(process.pid, sig);
    });
  };
  const onCrash = (e: unknown) => {
    console.error(`lab ${t.name}: ${(e as Error)?.stack ?? String(e)}`);
    teardownSync();
    process.exit(1);
  };
  const uninstall = () => {
    process.off('exit', onExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('uncaughtException', onCrash);
  };
  if (opts.cleanupOnExit ?? true) {
    process.on('exit', onExit);
    if (opts.cleanupOnSignal ?? true) {
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    }
  }
  if (opts.cleanupOnCrash) process.on('uncaughtException', onCrash);

  const record = (s: { name: string; nsKind: LabNetns['kind']; owner: string; node?: string }) => {
    state.netns.push({ name: s.name, kind: s.nsKind, owner: s.owner, ...(s.node ? { node: s.node } : {}), inode: 0 });
  };
  const fillInodes = () => {
    for (const n of state.netns) if (n.inode === 0) n.inode = netnsInode(n.name);
  };
  // A pod as kubelet and containerd run it: the sandbox first (it holds the netns), then the
  // containers, each process in the cgroup named by the pod's QoS class, uid and container id.
  const podWorkloads = async (model: ClusterModel, pods: ModelPod[]) => {
    const cg = state.cgroups;
    if (cg) {
      const sandboxes = (state.sandboxes ??= []);
      try {
        for (const p of pods) {
          const netns = ns('pod', `${p.namespace}/${p.name}`);
          const id = sandboxId(p.uid);
          const pid = startSandbox(netns);
          sandboxes.push({ pod: `${p.namespace}/${p.name}`, id, pid, netns });
          placeInCgroup(cg.roots, containerCgroupPath(cg.driver, labPodQos(), p.uid, id), pid);
        }
      } finally {
        // One write for all the pods (a write per pod made lab up quadratic in pods): a run
        // killed before it still has its sandboxes found, by their namespaces' names.
        writeLabState(state);
      }
    }
    const started = await startWorkloads(
      pods.map((p) => ({ pod: p, netns: ns('pod', `${p.namespace}/${p.name}`) })),
      { logDir, dnsRecordsPath: recordsPath },
    );
    if (cg) {
      const byKey = new Map(pods.map((p) => [`${p.namespace}/${p.name}`, p]));
      for (const w of started) {
        const p = byKey.get(w.pod)!;
        placeInCgroup(cg.roots, containerCgroupPath(cg.driver, labPodQos(), p.uid, containerId(p.uid, w.container)), w.pid);
      }
    }
    return started;
  };
  /** Stop removed pods' sandboxes and remove their cgroups (their containers are killed by then). */
  const dropPods = (pods: ModelPod[]) => {
    const keys = new Set(pods.map((p) => `${p.namespace}/${p.name}`));
    killPids((state.sandboxes ?? []).filter((x) => keys.has(x.pod)).map((x) => x.pid));
    if (state.sandboxes) state.sandboxes = state.sandboxes.filter((x) => !keys.has(x.pod));
    const cg = state.cgroups;
    if (cg) for (const p of pods) for (const root of cg.roots) removeCgroupTree(`${root}/${podCgroupPath(cg.driver, labPodQos(), p.uid)}`);
  };

  try {
    const started = Date.now();
    // Written once the plan is applied, not per namespace: teardown finds a killed run's
    // namespaces by their names (netnsPrefix), and the file is rewritten whole each time.
    applyPlan(planLab(model0, ns), record);
    fillInodes();
    writeLabState(state);
    applyKubeProxy(model0, nodeNetns());
    writeFileSync(recordsPath, JSON.stringify(dnsRecords(model0)));
    log(`network up in ${Date.now() - started} ms: ${state.netns.length} namespaces, cni ${t.cni}, kube-proxy ${t.kubeProxy}`);
    state.workloads = await podWorkloads(model0, model0.pods);
    log(`${state.workloads.length} workloads running`);
    writeLabState(state);
  } catch (e) {
    state.phase = 'failed';
    state.error = (e as Error).message;
    teardownSync();
    throw e;
  }

  // The API over HTTPS with this run's CA: on loopback for this machine, and inside the lab at
  // the control-plane address through a forwarder in the underlay namespace to its Unix socket.
  const startApi = async (): Promise<NonNullable<LabState['api']>> => {
    const token = randomBytes(24).toString('base64url');
    const host = controlPlaneAddress(state.model.underlayCIDR);
    const tls = makeLabTls({ commonName: `${t.name} ${runId}`, ips: ['127.0.0.1', host], dnsNames: ['localhost', ...KUBERNETES_SERVICE_NAMES] });
    const socket = join(logDir, 'api.sock');
    api = await startLabApi({ model: state.model, token, host: '127.0.0.1', port: 0, tls, socketPath: socket, onScale: (n, d, r) => scale(n, d, r) });
    const caFile = join(logDir, 'ca.crt');
    writeFileSync(caFile, tls.caPem, { mode: 0o644 });
    const kubeconfig = join(LABS_DIR, `${t.name}.kubeconfig`);
    writeKubeconfig(kubeconfig, { url: api.url, token, ca: tls.caPem }, `hopscope-${t.name}`);
    const inLabUrl = `https://${host}:${API_SERVER_PORT}`;
    const inLabKubeconfig = join(logDir, 'in-lab.kubeconfig');
    writeKubeconfig(inLabKubeconfig, { url: inLabUrl, token, ca: tls.caPem }, `hopscope-${t.name}`);
    // What the kubelet mounts into a pod of the hopscope ServiceAccount (manifests/rbac.yaml).
    const serviceAccountDir = join(logDir, 'serviceaccount');
    mkdirSync(serviceAccountDir, { recursive: true, mode: 0o755 });
    writeFileSync(join(serviceAccountDir, 'token'), token, { mode: 0o644 });
    writeFileSync(join(serviceAccountDir, 'ca.crt'), tls.caPem, { mode: 0o644 });
    writeFileSync(join(serviceAccountDir, 'namespace'), 'hopscope', { mode: 0o644 });
    const underlay = state.netns.find((n) => n.kind === 'underlay')!.name;
    const forwarderLog = join(logDir, 'api-forwarder.log');
    // NOTE: it runs in the underlay namespace, so teardown finds it there even if it never
    // reported its pid (a start that failed half-way).
    const info = { url: api.url, token, kubeconfig, caFile, socket, serviceAccountDir, inLab: { host, port: API_SERVER_PORT, url: inLabUrl, kubeconfig: inLabKubeconfig, forwarderPid: 0, forwarderLog } };
    info.inLab.forwarderPid = await startApiForwarder({ netns: underlay, host, port: API_SERVER_PORT, socket, log: forwarderLog });
    return info;
  };

  let queue: Promise<unknown> = Promise.resolve();
  const scaleNow = async (namespace: string, deployment: string, replicas: number): Promise<ClusterModel> => {
    if (downed) throw new Error(`lab ${t.name} is down`);
    const { model, added, removed } = scaleDeployment(state.model, namespace, deployment, replicas);
    const addedNetns = new Set(added.map((p) => ns('pod', `${p.namespace}/${p.name}`)));
    let fresh: LabState['workloads'] = [];
    try {
      for (const p of added) applyPlan(planPod(model, p, ns), record);
      fillInodes();
      fresh = await podWorkloads(model, added);
    } catch (e) {
      // Leave the lab as it was: the half-built pods go, the model stays the old one.
      killPids(fresh.map((w) => w.pid));
      for (const n of addedNetns) killPids(netnsPids(n));
      dropPods(added);
      deleteNetns([...addedNetns]);
      state = { ...state, netns: state.netns.filter((n) => !addedNetns.has(n.name)) };
      writeLabState(state);
      throw e;
    }
    // Rules follow the endpoints before removed pods go, so no new flow picks a dying pod.
    applyKubeProxy(model, nodeNetns());
    const goneNetns = new Set(removed.map((p) => ns('pod', `${p.namespace}/${p.name}`)));
    killPids(state.workloads.filter((w) => goneNetns.has(w.netns)).map((w) => w.pid));
    dropPods(removed);
    deleteNetns([...goneNetns]);
    state = {
      ...state,
      model,
      netns: state.netns.filter((n) => !goneNetns.has(n.name)),
      workloads: [...state.workloads.filter((w) => !goneNetns.has(w.netns)), ...fresh],
    };
    writeFileSync(recordsPath, JSON.stringify(dnsRecords(model)));
    for (const w of state.workloads.filter((x) => x.kind === 'dns')) {
      try {
        process.kill(w.pid, 'SIGHUP');
      } catch {
        /* restarted meanwhile */
      }
    }
    writeLabState(state);
    log(`scaled ${namespace}/${deployment} to ${replicas}: +${added.length} -${removed.length} pods`);
    return model;
  };
  const scale = (namespace: string, deployment: string, replicas: number): Promise<ClusterModel> => {
    const run = queue.then(() => scaleNow(namespace, deployment, replicas));
    queue = run.catch(() => undefined);
    return run;
  };

  if (opts.api ?? true) {
    try {
      state.api = await startApi();
    } catch (e) {
      teardownSync();
      throw e;
    }
  }
  state.phase = 'ready';
  writeLabState(state);

  return {
    name: t.name,
    state: () => state,
    async exec(target, cmd, o = {}) {
      const n = targetNetns(state, target);
      if (cmd.length === 0) throw new Error('exec: no command given');
      return execBounded(['ip', 'netns', 'exec', n.name, ...cmd], { timeoutMs: o.timeoutMs ?? 30_000, maxBytes: o.maxBytes ?? EXEC_MAX_BYTES });
    },
    async scale(namespace, deployment, replicas) {
      const model = await scale(namespace, deployment, replicas);
      api?.setModel(model);
      return model;
    },
    async down() {
      if (downed) return;
      state.phase = 'stopping';
      await queue;
      await api?.close();
      teardownSync();
    },
  };
}
