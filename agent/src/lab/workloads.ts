// Starting the containers of lab pods: one small Node process per container, inside the pod's
// namespace via `ip netns exec` (which execs, so the recorded pid is the workload itself).
// Detached into their own process group with output to a log file, so they outlive neither
// the lab (teardown kills them) nor depend on the parent's pipes.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelPod } from './model.ts';
import type { Workload } from './topology.ts';
import type { LabWorkload } from './state.ts';

const script = (name: string) => fileURLToPath(new URL(`./workloads/${name}.mjs`, import.meta.url));

/** Arguments of a workload process, or undefined for `idle` (nothing runs). Pure. */
export function workloadArgv(pod: ModelPod, run: Workload, dnsRecordsPath: string): string[] | undefined {
  switch (run.kind) {
    case 'http':
      return [script('http'), pod.name, pod.namespace, pod.node, run.bind, String(run.port)];
    case 'dns':
      return [script('dns'), dnsRecordsPath, String(run.port)];
    case 'client':
      return [script('client'), run.target, String(run.intervalMs)];
    case 'idle':
      return undefined;
    default: {
      const never: never = run;
      throw new Error(`unknown workload ${JSON.stringify(never)}`);
    }
  }
}

/** Start every container of the pods and wait until each reports it is listening. */
export async function startWorkloads(
  pods: { pod: ModelPod; netns: string }[],
  opts: { logDir: string; dnsRecordsPath: string; readyTimeoutMs?: number },
): Promise<LabWorkload[]> {
  // Servers first, clients once the servers listen: a sidecar's first call then finds its app.
  const servers = await startPhase(pods, opts, (k) => k !== 'client');
  const clients = await startPhase(pods, opts, (k) => k === 'client');
  return [...servers, ...clients];
}

async function startPhase(
  pods: { pod: ModelPod; netns: string }[],
  opts: { logDir: string; dnsRecordsPath: string; readyTimeoutMs?: number },
  take: (kind: Workload['kind']) => boolean,
): Promise<LabWorkload[]> {
  const out: LabWorkload[] = [];
  for (const { pod, netns } of pods) {
    for (const c of pod.containers.filter((x) => take(x.run.kind))) {
      const argv = workloadArgv(pod, c.run, opts.dnsRecordsPath);
      if (!argv) continue;
      const log = join(opts.logDir, `${pod.namespace}.${pod.name}.${c.name}.log`);
      const pid = spawnNodeInNetns(netns, argv, log);
      if (pid === undefined) throw new Error(`could not start ${c.run.kind} in pod ${pod.namespace}/${pod.name}`);
      out.push({ pod: `${pod.namespace}/${pod.name}`, container: c.name, kind: c.run.kind, pid, netns, log });
    }
  }
  await waitReady(out, opts.readyTimeoutMs ?? 15_000);
  return out;
}

/** Start a Node script inside a namespace, detached, output to `log`; its pid (or undefined). */
function spawnNodeInNetns(netns: string, argv: string[], log: string): number | undefined {
  const fd = openSync(log, 'a', 0o600);
  // A small heap: these processes answer a few requests a second at most.
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--max-old-space-size=24', ...argv], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  return child.pid;
}

/**
 * Start a pod's sandbox process: it only holds the pod's network namespace, as the pause
 * container does, so even a pod whose containers run nothing has a process there.
 */
export function startSandbox(netns: string): number {
  const child = spawn('ip', ['netns', 'exec', netns, 'sleep', 'infinity'], { detached: true, stdio: 'ignore' });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start the sandbox process in ${netns}`);
  return child.pid;
}

/** Bound on the connections the API forwarder relays at once. */
export const API_FORWARDER_MAX_CONNECTIONS = 256;

/**
 * Start the API forwarder in the underlay namespace: `host:port` there → the API's Unix socket.
 * Resolves once it listens.
 */
export async function startApiForwarder(o: { netns: string; host: string; port: number; socket: string; log: string }): Promise<number> {
  const pid = spawnNodeInNetns(o.netns, [script('api-forwarder'), o.host, String(o.port), o.socket, String(API_FORWARDER_MAX_CONNECTIONS)], o.log);
  if (pid === undefined) throw new Error(`could not start the API forwarder in ${o.netns}`);
  await waitReady([{ pod: 'underlay', container: 'api-forwarder', kind: 'api-forwarder', pid, netns: o.netns, log: o.log }], 15_000);
  return pid;
}

async function waitReady(ws: LabWorkload[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = ws;
  while (pending.length > 0) {
    pending = pending.filter((w) => !(existsSync(w.log) && readFileSync(w.log, 'utf8').includes('listening ')));
    if (pending.length === 0) return;
    for (const w of pending) {
      try {
        process.kill(w.pid, 0);
      } catch {
        throw new Error(`workload ${w.pod}/${w.container} (${w.kind}) exited at start; see ${w.log}:\n${readFileSync(w.log, 'utf8').slice(-2000)}`);
      }
    }
    if (Date.now() > deadline) throw new Error(`workloads not ready after ${timeoutMs} ms: ${pending.map((w) => `${w.pod}/${w.container}`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
