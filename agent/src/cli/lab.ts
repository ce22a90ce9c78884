// `hopscope lab …`: bring the namespace cluster up and down, look at it, and poke it the way a
// trainer does live (exec, curl, dig, scale, nodeport). The lab logic lives in agent/src/lab/.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Agent, fetch as httpsFetch, type Response } from 'undici';
import type { Command } from './command.ts';
import { parseFlags, pattern, short, toggle, UsageError, value, type Spec } from '../config/flags.ts';
import { labUp, loadTopology, targetNetns, type ExecTarget } from '../lab/lab.ts';
import { LABS_DIR, listLabNames, readLabState, type LabState } from '../lab/state.ts';
import { downAll, downLab } from '../lab/teardown.ts';
import { stopOnSignal } from './until-signal.ts';
import { alive } from '../lab/netns.ts';
import { cniModes, kubeProxyModes, type Topology } from '../lab/topology.ts';
import { cgroupDrivers } from '../lab/kubelet.ts';

const USAGE = `usage: hopscope lab <subcommand> [options]

  up [--topology FILE] [--name N] [--cni MODE] [--kube-proxy MODE] [--cgroup-driver D] [--foreground]
        bring a lab up (default: the built-in two-node topology); detached unless --foreground
        cni: ${cniModes.join(', ')}; kube-proxy: ${kubeProxyModes.join(', ')}
        cgroup-driver: ${cgroupDrivers.join(', ')} (default cgroupfs): pod processes live in the
        cgroups kubelet and containerd make with that driver; none: no cgroups
  down [--name N | --all]       remove a lab: processes, namespaces, /etc/netns, state
  status [--name N] [--json]    what is running
  exec <pod|ns/pod> -- <cmd...> run a command in a pod's network namespace
  curl <pod> <url|service>      HTTP from a pod (a bare service name means http://<service>/)
  dig <pod> <name>              DNS lookup from a pod through the cluster DNS
  scale <deployment> <n> [--namespace NS]   scale through the lab API (as kubectl scale does)
  nodeport <external> <node> <port>         HTTP from an external host to node:port
  kubectl [--name N] [--] <kubectl args...>  the real kubectl against the lab's API (its kubeconfig);
                                every argument after "kubectl" (or after "--") goes to kubectl

  --name N picks the lab (default: the only running lab).`;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function pickLab(name: string | undefined): LabState {
  if (name) return readLabState(name);
  const labs = listLabNames();
  if (labs.length === 1) return readLabState(labs[0]!);
  if (labs.length === 0) throw new Error('no lab is running; start one with "hopscope lab up"');
  throw new Error(`several labs are running (${labs.join(', ')}); pick one with --name`);
}

const NAME_FLAG = { name: pattern(/^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/, 'a lab name (1-20 of a-z 0-9 "-")') } satisfies Spec;
const UP_FLAGS = { ...NAME_FLAG, topology: value(), cni: value(), 'kube-proxy': value(), 'cgroup-driver': value() } satisfies Spec;

/** One subcommand's options (every one takes --name) and how many arguments it takes. */
function parse<S extends Spec>(args: string[], spec: S, positionals = 0) {
  return parseFlags(args, { ...NAME_FLAG, ...spec }, { positionals });
}

function oneOf<T extends string>(what: string, v: string | undefined, allowed: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${what} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

function upTopology(values: { topology?: string; name?: string; cni?: string; 'kube-proxy'?: string }): Topology {
  const t = loadTopology(values.topology !== undefined ? resolve(values.topology) : undefined);
  return {
    ...t,
    name: values.name ?? t.name,
    cni: oneOf('cni', values.cni, cniModes) ?? t.cni,
    kubeProxy: oneOf('kube-proxy', values['kube-proxy'], kubeProxyModes) ?? t.kubeProxy,
  };
}

/**
 * The lab's phase as the user should read it: a lab whose controller (or owning process) is gone
 * is not ready whatever its state file says: its API and workloads went with that process.
 */
export function phaseOf(s: Pick<LabState, 'phase' | 'controllerPid'>, isAlive: (pid: number) => boolean = alive): string {
  return isAlive(s.controllerPid) ? s.phase : 'stale';
}

/** Human summary of a running lab. */
export function summary(s: LabState): string {
  const m = s.model;
  const up = alive(s.controllerPid);
  const lines = [
    `lab ${s.name} (${phaseOf(s)}): cni ${m.cni}, kube-proxy ${m.kubeProxy}, cgroup driver ${s.cgroups?.driver ?? 'none'}, ${s.detached ? 'controller' : 'owner'} pid ${s.controllerPid}${up ? '' : ' (gone)'}`,
    ...(up ? [] : [`  its ${s.detached ? 'controller' : 'owner'} is gone, and its API and workloads with it: "hopscope lab down --name ${s.name}" removes what is left`]),
    ...(s.api
      ? [
          `  API ${s.api.url}   (inside the lab: ${s.api.inLab.url})`,
          `  kubeconfig ${s.api.kubeconfig}   (export KUBECONFIG=${s.api.kubeconfig})`,
          `  service account ${s.api.serviceAccountDir}   (mount at /var/run/secrets/kubernetes.io/serviceaccount)`,
        ]
      : []),
    '  nodes:',
    ...m.nodes.map((n) => `    ${n.name.padEnd(12)} ${n.address.padEnd(15)} pods ${n.podCIDR}`),
    '  pods:',
    ...m.pods.map((p) => `    ${`${p.namespace}/${p.name}`.padEnd(40)} ${p.ip.padEnd(15)} ${p.node.padEnd(10)} ${p.containers.map((c) => `${c.name}:${c.run.kind}`).join(',')}`),
    '  services:',
    ...m.services.map(
      (v) =>
        `    ${`${v.namespace}/${v.name}`.padEnd(40)} ${v.clusterIP.padEnd(15)} ${v.ports.map((p) => `${p.port}/${p.protocol}${p.nodePort ? `:${p.nodePort}` : ''}`).join(',')} -> ${v.endpoints.map((e) => e.ip).join(',') || 'no endpoints'}`,
    ),
    ...(m.externals.length ? ['  externals:', ...m.externals.map((e) => `    ${e.name.padEnd(12)} ${e.address}`)] : []),
  ];
  return lines.join('\n');
}

/**
 * Refuses a name the lab cannot resolve: without a kube-dns Service the pods have no resolv.conf
 * of the lab's and ask the host's resolver, which they cannot reach, so curl and dig only time out.
 */
function needsDns(s: LabState, host: string): void {
  if (isIP(host.replace(/^\[|\]$/g, ''))) return;
  const dns = s.model.services.find((v) => v.namespace === 'kube-system' && v.name === 'kube-dns');
  const why = !dns ? 'no kube-system/kube-dns Service' : dns.endpoints.length === 0 ? 'the kube-dns Service has no endpoints' : undefined;
  if (!why) return;
  const addrs = s.model.services.filter((v) => v.namespace !== 'kube-system').map((v) => `${v.name} ${v.clusterIP}`);
  throw new Error(`lab ${s.name} has no cluster DNS (${why}), so "${host}" cannot be resolved; use an address instead${addrs.length ? ` (services: ${addrs.join(', ')})` : ''}`);
}

async function inLab(s: LabState, target: ExecTarget, cmd: string[]): Promise<number> {
  const ns = targetNetns(s, target);
  const r = await execa('ip', ['netns', 'exec', ns.name, ...cmd], { reject: false, stdio: 'inherit' });
  return r.exitCode ?? 1;
}

async function up(args: string[]): Promise<number> {
  const { values } = parse(args, { ...UP_FLAGS, foreground: toggle() });
  const t = upTopology(values);
  const cgroupDriver = oneOf('cgroup-driver', values['cgroup-driver'] as string | undefined, cgroupDrivers) ?? 'cgroupfs';
  if (values.foreground) {
    // Signals are ours (stopOnSignal: a clean Ctrl-C exits 0, a second one 130); the lab still
    // cleans up on a crash, and on any exit before its down() finished.
    const lab = await labUp(t, { cleanupOnSignal: false, cleanupOnCrash: true, cgroupDriver, log: (l) => console.log(l) });
    // NOTE: the handlers go in before the line that says Ctrl-C works: a SIGINT sent on reading
    // it (a test does; a person may) otherwise killed the process by default (one CI run).
    const stopped = stopOnSignal(
      (l) => console.log(l),
      () => lab.down(),
    );
    console.log(summary(lab.state()));
    console.log('Ctrl-C tears the lab down.');
    return stopped;
  }
  if (listLabNames().includes(t.name)) {
    const old = readLabState(t.name);
    throw new Error(`lab "${t.name}" already exists (pid ${old.controllerPid}${alive(old.controllerPid) ? '' : ', gone'}); run "hopscope lab down --name ${t.name}" or pick another --name`);
  }
  const bin = fileURLToPath(new URL('../../bin/hopscope.mjs', import.meta.url));
  const logPath = join(LABS_DIR, `${t.name}.controller.log`);
  mkdirSync(LABS_DIR, { recursive: true, mode: 0o700 });
  const fd = openSync(logPath, 'w', 0o600);
  const passOn = ['--name', t.name, '--cni', t.cni, '--kube-proxy', t.kubeProxy, '--cgroup-driver', cgroupDriver, ...(values.topology !== undefined ? ['--topology', resolve(values.topology)] : [])];
  const child = spawn(process.execPath, [bin, 'lab', 'controller', ...passOn], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const pid = child.pid!;
  const deadline = Date.now() + 90_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    let s: LabState | undefined;
    try {
      s = readLabState(t.name);
    } catch {
      s = undefined;
    }
    if (s && s.controllerPid === pid && s.phase === 'ready') {
      console.log(summary(s));
      console.log(`controller log: ${logPath}\nstop with: hopscope lab down --name ${t.name}`);
      return 0;
    }
    if (!alive(pid) || Date.now() > deadline) {
      const tail = existsSync(logPath) ? readFileSync(logPath, 'utf8').trim().split('\n').slice(-15).join('\n') : '';
      const running = alive(pid);
      if (running) process.kill(pid, 'SIGTERM');
      else rmSync(logPath, { force: true });
      throw new Error(`the lab controller ${running ? 'did not become ready in 90 s' : 'exited'}; its log (${logPath}):\n${tail}`);
    }
  }
}

async function controller(args: string[]): Promise<number> {
  const { values } = parse(args, UP_FLAGS);
  const t = upTopology(values);
  const cgroupDriver = oneOf('cgroup-driver', values['cgroup-driver'] as string | undefined, cgroupDrivers) ?? 'cgroupfs';
  const lab = await labUp(t, { detached: true, cleanupOnCrash: true, cgroupDriver, log: (l) => console.log(`${new Date().toISOString()} ${l}`) });
  console.log(`${new Date().toISOString()} lab ${lab.name} ready`);
  // The API server keeps this process alive; SIGTERM/SIGINT tear the lab down (labUp's handlers).
  await new Promise(() => {});
  return 0;
}

async function scale(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { namespace: short('n', value()) }, 2);
  const [deployment, n] = positionals;
  if (!deployment || n === undefined) throw new UsageError('usage: hopscope lab scale <deployment> <replicas> [--namespace NS]');
  if (!/^\d{1,4}$/.test(n)) throw new UsageError(`scale: replicas must be a whole number from 0, got "${n.slice(0, 20)}"`);
  const namespace = values.namespace ?? 'default';
  if (!DNS_LABEL.test(deployment) || !DNS_LABEL.test(namespace)) throw new UsageError('deployment and namespace must be DNS-1123 labels');
  const s = pickLab(values.name);
  if (!s.api) throw new Error(`lab ${s.name} runs without an API`);
  let res: Response;
  // The lab API speaks HTTPS with the lab's own CA: trust exactly that CA for this call.
  const dispatcher = new Agent({ connect: { ca: readFileSync(s.api.caFile, 'utf8') } });
  try {
    res = await httpsFetch(`${s.api.url}/apis/apps/v1/namespaces/${namespace}/deployments/${deployment}/scale`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${s.api.token}`, 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ spec: { replicas: Number(n) } }),
      signal: AbortSignal.timeout(60_000),
      dispatcher,
    });
  } catch (e) {
    await dispatcher.close();
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach the lab API at ${s.api.url} (${cause?.code ?? cause?.message ?? (e as Error).message}); is the lab controller (pid ${s.controllerPid}) running?`);
  }
  const body = (await res.json()) as { message?: string; spec?: { replicas: number } };
  await dispatcher.close();
  if (!res.ok) throw new Error(`scale ${namespace}/${deployment}: ${body.message ?? res.statusText}`);
  const after = readLabState(s.name);
  const svcs = after.model.services.filter((v) => v.endpoints.length > 0);
  console.log(`deployment.apps/${deployment} scaled to ${body.spec?.replicas ?? n}`);
  for (const v of svcs) console.log(`  ${v.namespace}/${v.name} -> ${v.endpoints.map((e) => `${e.podName} ${e.ip}`).join(', ')}`);
  return 0;
}

/**
 * `lab kubectl`: hopscope's own options are the leading `--name N` (and a `--` that ends them);
 * everything else is kubectl's, untouched, so `exec pod -- cmd` and `--help` reach kubectl.
 */
export function splitKubectlArgs(args: readonly string[]): { own: string[]; kubectl: string[] } {
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === '--') return { own: args.slice(0, i), kubectl: args.slice(i + 1) };
    if (a === '--name') i += 2;
    else if (a.startsWith('--name=')) i += 1;
    else break;
  }
  return { own: args.slice(0, Math.min(i, args.length)), kubectl: args.slice(i) };
}

async function kubectl(args: string[]): Promise<number> {
  const split = splitKubectlArgs(args);
  const { values } = parse(split.own, {});
  if (split.kubectl.length === 0) throw new UsageError('usage: hopscope lab kubectl [--name N] [--] <kubectl arguments...>, e.g. hopscope lab kubectl get pods -o wide');
  const s = pickLab(values.name);
  if (!s.api) throw new Error(`lab ${s.name} runs without an API`);
  if (phaseOf(s) === 'stale') throw new Error(`lab ${s.name} is stale: its controller (pid ${s.controllerPid}) is gone and its API with it; "hopscope lab down --name ${s.name}" removes the rest`);
  // KUBECONFIG rather than --kubeconfig: a --kubeconfig or --context the user gives still wins.
  const r = await execa('kubectl', split.kubectl, { env: { KUBECONFIG: s.api.kubeconfig }, reject: false, stdio: 'inherit' });
  if ((r as { code?: string }).code === 'ENOENT')
    throw new Error('kubectl is not installed (Debian: apt-get install kubernetes-client; npm run setup installs it)');
  return r.exitCode ?? 1;
}

/** Run `hopscope lab <sub> …`. */
async function runLab(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  // Before the help check below: `lab kubectl get pods --help` is kubectl's help.
  if (sub === 'kubectl') return kubectl(rest);
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (own.includes('--help') || own.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  switch (sub) {
    case undefined:
      console.error(USAGE);
      return 1;
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    case 'up':
      return up(rest);
    case 'controller':
      return controller(rest);
    case 'down': {
      const { values } = parse(rest, { all: toggle() });
      if (values.all && values.name) throw new UsageError('--all and --name: choose one');
      // By name, down also finds a lab whose state file is gone but whose namespaces remain.
      const name = values.name;
      const reports = values.all ? await downAll() : [await downLab(name ?? pickLab(undefined).name)];
      for (const r of reports) {
        console.log(`lab ${r.lab} down: ${r.netns.length} namespaces removed, ${r.killed.length} processes stopped`);
        for (const c of r.cgroupsLeft) console.error(`lab ${r.lab}: could not remove cgroup ${c}`);
      }
      if (reports.length === 0) console.log('no labs');
      return 0;
    }
    case 'status': {
      const { values } = parse(rest, { json: toggle() });
      const names = values.name ? [values.name] : listLabNames();
      const states = names.map((n) => readLabState(n));
      if (values.json) console.log(JSON.stringify(states.map((s) => ({ ...s, api: s.api ? { url: s.api.url, kubeconfig: s.api.kubeconfig, caFile: s.api.caFile, inLab: s.api.inLab, serviceAccountDir: s.api.serviceAccountDir } : undefined })), null, 2));
      else console.log(states.length ? states.map(summary).join('\n\n') : 'no labs running');
      return 0;
    }
    case 'exec': {
      const dash = rest.indexOf('--');
      const before = dash >= 0 ? rest.slice(0, dash) : rest;
      const cmd = dash >= 0 ? rest.slice(dash + 1) : [];
      const { values, positionals } = parse(before, {}, 1);
      if (positionals.length !== 1 || cmd.length === 0) throw new UsageError('usage: hopscope lab exec <pod|ns/pod> -- <command...>');
      return inLab(pickLab(values.name), positionals[0]!, cmd);
    }
    case 'curl': {
      const { values, positionals } = parse(rest, {}, 2);
      const [pod, target] = positionals;
      if (!pod || !target) throw new UsageError('usage: hopscope lab curl <pod> <url|service[.namespace]>');
      let url = target;
      if (!/^https?:\/\//.test(target)) {
        if (!/^[a-z0-9.-]+(:\d{1,5})?(\/[\w./-]*)?$/.test(target)) throw new UsageError(`"${target}" is neither a URL nor a service name`);
        url = `http://${target}${target.includes('/') ? '' : '/'}`;
      }
      const s = pickLab(values.name);
      needsDns(s, new URL(url).hostname);
      return inLab(s, pod, ['curl', '-sS', '-m', '5', url]);
    }
    case 'dig': {
      const { values, positionals } = parse(rest, {}, 2);
      const [pod, name] = positionals;
      if (!pod || !name) throw new UsageError('usage: hopscope lab dig <pod> <name>');
      if (!/^[A-Za-z0-9.-]+$/.test(name)) throw new UsageError(`"${name}" is not a DNS name`);
      const s = pickLab(values.name);
      needsDns(s, name);
      return inLab(s, pod, ['dig', '+search', '+nocmd', '+nostats', name]);
    }
    case 'scale':
      return scale(rest);
    case 'nodeport': {
      const { values, positionals } = parse(rest, {}, 3);
      const [ext, node, port] = positionals;
      if (!ext || !node || !port || !/^\d{1,5}$/.test(port)) throw new UsageError('usage: hopscope lab nodeport <external> <node> <port>');
      const s = pickLab(values.name);
      const n = s.model.nodes.find((x) => x.name === node);
      if (!n) throw new Error(`no node "${node}"; nodes: ${s.model.nodes.map((x) => x.name).join(', ')}`);
      return inLab(s, { external: ext }, ['curl', '-sS', '-m', '5', `http://${n.address}:${port}/`]);
    }
    default:
      throw new UsageError(`unknown subcommand "${sub}"\n${USAGE}`);
  }
}

export const command: Command = { summary: 'bring up and drive the network-namespace lab cluster', run: runLab };
