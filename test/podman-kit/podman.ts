// The thin I/O half of the kubelet stand-in: podman runs, execs and removes containers, and
// every container started here is removed when the process exits, is interrupted or crashes.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { podTemplateOf, type PodmanRun, type Probe } from './pod-to-podman.ts';

/** podman's settings for this machine (no default ulimits, runc), without touching /etc. */
export const CONTAINERS_CONF = join(import.meta.dirname, '..', '..', 'scripts', 'containers.conf');

/** Environment for every podman call. */
export function podmanProcessEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  if (!existsSync(CONTAINERS_CONF)) throw new Error(`${CONTAINERS_CONF} is missing: podman cannot start containers on this machine without it`);
  return { ...process.env, CONTAINERS_CONF, ...extra };
}

/** Fails (never skips) when podman is not installed: `npm run setup` installs it. */
export function requirePodman(): string {
  const r = spawnSync('podman', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`podman is missing (run: npm run setup): ${r.error?.message ?? r.stderr}`);
  return r.stdout.trim();
}

// Capability names by bit number (linux/capability.h).
const CAPS = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
  'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
  'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
  'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
];

/** Capabilities in this process's bounding set: all a container started from here can get. */
export function grantableCapabilities(): Set<string> {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no CapBnd in /proc/self/status');
  const mask = BigInt(`0x${m[1]}`);
  return new Set(CAPS.flatMap((c, bit) => ((mask >> BigInt(bit)) & 1n ? [`CAP_${c}`] : [])));
}

/** hostPath sources of a manifest document's pod template that do not exist on this machine. */
export function missingHostPaths(doc: unknown): Set<string> {
  const volumes = (podTemplateOf(doc).spec.volumes ?? []) as { hostPath?: { path?: unknown } }[];
  return new Set(volumes.flatMap((v) => (typeof v.hostPath?.path === 'string' && !existsSync(v.hostPath.path) ? [v.hostPath.path] : [])));
}

/** A podman container name of this test kit: `hs-<prefix>-<random>`. */
export function containerName(prefix: string): string {
  return `hs-${prefix}-${randomBytes(4).toString('hex')}`;
}

const started = new Set<string>();
let hooked = false;

function removeAllSync(): void {
  for (const name of started) {
    spawnSync('podman', ['rm', '-f', '-t', '0', name], { env: podmanProcessEnv(), stdio: 'ignore' });
    started.delete(name);
  }
}

// One set of hooks for every container: exit (a crash exits too), Ctrl-C and termination remove them.
function hookCleanup(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', removeAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.prependOnceListener(sig, () => {
      removeAllSync();
      // NOTE: re-raise only when nothing else handles the signal: another handler (the lab's
      // teardown) ends the process itself when done, and a re-raise now would cut it short.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
}

/** Result of a command. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Run podman with a deadline; never throws for a non-zero exit. */
export function podman(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile('podman', args, { env: podmanProcessEnv(opts.env), timeout: opts.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 8 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr, timedOut: !!e?.killed });
    });
  });
}

/** A running container of this kit. */
export interface Container {
  name: string;
  /** Host PID of the container's main process. */
  pid(): Promise<number>;
  exec(cmd: string[], timeoutMs: number): Promise<Ran>;
  logs(): Promise<string>;
  /** Remove it (idempotent). */
  remove(): Promise<void>;
}

/** Start a translated container; it is removed on exit/signals/crash even if the caller forgets. */
export async function startContainer(run: PodmanRun): Promise<Container> {
  hookCleanup();
  const name = run.argv[run.argv.indexOf('--name') + 1]!;
  started.add(name);
  const r = await podman(run.argv, { env: run.podmanEnv, timeoutMs: 120_000 });
  if (r.code !== 0) {
    await podman(['rm', '-f', '-t', '0', name]);
    started.delete(name);
    throw new Error(`podman run failed (${r.code}): ${r.stderr.trim()}`);
  }
  return {
    name,
    async pid() {
      const i = await podman(['inspect', '--format', '{{.State.Pid}}', name]);
      const pid = Number(i.stdout.trim());
      if (i.code !== 0 || !(pid > 0)) throw new Error(`container ${name} has no running process: ${i.stderr.trim() || i.stdout.trim()}`);
      return pid;
    },
    exec: (cmd, timeoutMs) => podman(['exec', name, ...cmd], { timeoutMs }),
    async logs() {
      const l = await podman(['logs', name]);
      return l.stdout + l.stderr;
    },
    async remove() {
      await podman(['rm', '-f', '-t', '0', name]);
      started.delete(name);
    },
  };
}

/**
 * Start a translated container, wait for it to exit, and remove it: its exit code (null when it
 * did not exit within `timeoutMs`) and its output, stdout and stderr apart.
 */
export async function runToExit(run: PodmanRun, timeoutMs: number): Promise<Ran> {
  const c = await startContainer(run);
  try {
    const w = await podman(['wait', c.name], { timeoutMs });
    const logs = await podman(['logs', c.name]);
    return { code: w.code === 0 ? Number(w.stdout.trim()) : null, stdout: logs.stdout, stderr: logs.stderr, timedOut: w.timedOut };
  } finally {
    await c.remove();
  }
}

/** Names of containers of a kit prefix that podman still knows (running or not). */
export function leftContainers(prefix: string): string[] {
  const out = execFileSync('podman', ['ps', '-a', '--format', '{{.Names}}'], { env: podmanProcessEnv(), encoding: 'utf8' });
  return out.split('\n').filter((n) => n.startsWith(`hs-${prefix}-`));
}

/** One probe run, as kubelet does it: exec in the container, or HTTP from the node to the pod. */
export async function probeOnce(c: Container, p: Probe, from: { nodeNetns: string; podIP: string }): Promise<{ ok: boolean; detail: string }> {
  switch (p.kind) {
    case 'exec': {
      const r = await c.exec(p.command, p.timeoutSeconds * 1000);
      return { ok: r.code === 0, detail: r.timedOut ? `timed out after ${p.timeoutSeconds} s` : `exit ${String(r.code)} ${r.stderr.trim()}` };
    }
    case 'http': {
      const url = `${p.scheme.toLowerCase()}://${from.podIP}:${p.port}${p.path}`;
      const r = spawnSync('ip', ['netns', 'exec', from.nodeNetns, 'curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '-m', String(p.timeoutSeconds), url], { encoding: 'utf8' });
      const code = Number(r.stdout);
      // kubelet: any status from 200 to 399 is a success.
      return { ok: code >= 200 && code < 400, detail: `${url} → ${r.stdout || r.stderr.trim()}` };
    }
    default: {
      const never: never = p;
      throw new Error(`unknown probe ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Run a probe on its own schedule (initial delay from the container's start `startedAt`, then
 * every period) until it reaches its success threshold or `deadlineMs` passes; resolves with
 * the attempts.
 */
export async function probeUntilSuccess(c: Container, p: Probe, from: { nodeNetns: string; podIP: string }, deadlineMs: number, startedAt = Date.now()): Promise<{ attempts: string[] }> {
  const t0 = Date.now();
  const attempts: string[] = [];
  await sleep(Math.max(0, startedAt + p.initialDelaySeconds * 1000 - t0));
  let successes = 0;
  while (Date.now() - t0 < deadlineMs) {
    const r = await probeOnce(c, p, from);
    attempts.push(`${r.ok ? 'ok' : 'fail'}: ${r.detail}`);
    successes = r.ok ? successes + 1 : 0;
    if (successes >= p.successThreshold) return { attempts };
    await sleep(p.periodSeconds * 1000);
  }
  throw new Error(`probe of ${c.name} did not pass within ${deadlineMs} ms: ${attempts.slice(-3).join('; ')}; its log: ${(await c.logs()).slice(-3000)}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
