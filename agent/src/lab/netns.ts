// Thin I/O: applies a network plan (netplan.ts) and kube-proxy rules with `ip`, `sysctl`,
// `iptables-restore` and `nft`, and tears namespaces down. Synchronous on purpose: teardown
// must also run from an `exit` handler, where nothing asynchronous gets to run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { ClusterModel } from './model.ts';
import type { NetStep } from './netplan.ts';
import { renderIptablesNat } from './kubeproxy-iptables.ts';
import { renderNftables } from './kubeproxy-nft.ts';

/** Run a command; throw with its stderr when it fails. */
export function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 4).join(' ')}…: ${(r.stderr || r.stdout).trim()} (exit ${r.status})`);
  return r.stdout;
}

/** Apply plan steps in order; consecutive `ip` steps of one namespace go through one `ip -batch`. */
export function applyPlan(steps: NetStep[], onNetnsCreated?: (s: Extract<NetStep, { kind: 'netns' }>) => void): void {
  let i = 0;
  while (i < steps.length) {
    const s = steps[i]!;
    switch (s.kind) {
      case 'netns': {
        const group: Extract<NetStep, { kind: 'netns' }>[] = [];
        while (i < steps.length && steps[i]!.kind === 'netns') group.push(steps[i++] as Extract<NetStep, { kind: 'netns' }>);
        // Record each name before creating it, so a crash in between still lets teardown find it.
        for (const g of group) onNetnsCreated?.(g);
        run('ip', ['-batch', '-'], group.map((g) => `netns add ${g.name}`).join('\n') + '\n');
        // The lab is IPv4: without this every new interface sends IPv6 router solicitations
        // and neighbour discovery, which fill the live view with journeys nobody made.
        for (const g of group)
          run('ip', ['netns', 'exec', g.name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
        break;
      }
      case 'ip':
      case 'bridge': {
        const lines: string[] = [];
        const same = (x: NetStep) => x.kind === s.kind && x.ns === s.ns;
        while (i < steps.length && same(steps[i]!)) lines.push((steps[i++] as { cmd: string }).cmd);
        run(s.kind, ['-n', s.ns, '-batch', '-'], lines.join('\n') + '\n');
        break;
      }
      case 'sysctl':
        run('ip', ['netns', 'exec', s.ns, 'sysctl', '-q', '-w', ...s.settings.map(([k, v]) => `${k}=${v}`)]);
        i++;
        break;
      case 'resolv':
        // `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf.
        mkdirSync(`/etc/netns/${s.ns}`, { recursive: true });
        writeFileSync(`/etc/netns/${s.ns}/resolv.conf`, s.text);
        i++;
        break;
      default: {
        const never: never = s;
        throw new Error(`unknown step ${JSON.stringify(never)}`);
      }
    }
  }
}

/** Inode of a named namespace (what the kernel reports as the netns of an event). */
export function netnsInode(name: string): number {
  return statSync(`/run/netns/${name}`).ino;
}

/** Inode of a process's network namespace, or undefined when it is gone. */
export function processNetnsInode(pid: number): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Names of all network namespaces. */
export function listNetns(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((l) => l.length > 0);
}

/** Pids of processes inside a namespace. */
export function netnsPids(name: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/** Delete namespaces and their /etc/netns directories; missing ones are skipped. */
export function deleteNetns(names: string[]): void {
  if (names.length > 0) spawnSync('ip', ['-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}`).join('\n') + '\n', encoding: 'utf8' });
  for (const n of names) rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
}

/** Whether a pid is alive (a zombie, killed but not yet reaped by its parent, is not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGTERM the pids, wait up to `graceMs`, then SIGKILL what is left. */
export function killPids(pids: number[], graceMs = 1000): void {
  const live = [...new Set(pids)].filter((p) => p > 1 && p !== process.pid && alive(p));
  for (const p of live) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + graceMs;
  while (live.some(alive) && Date.now() < deadline) spawnSync('sleep', ['0.05']);
  for (const p of live.filter(alive)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const hard = Date.now() + 2000;
  while (live.some(alive) && Date.now() < hard) spawnSync('sleep', ['0.02']);
}

/** Program kube-proxy's rules for the model into every node namespace. */
export function applyKubeProxy(model: ClusterModel, nodeNetns: string[]): void {
  const mode = model.kubeProxy;
  switch (mode) {
    case 'iptables': {
      const text = renderIptablesNat(model);
      for (const ns of nodeNetns) run('ip', ['netns', 'exec', ns, 'iptables-restore', '-w'], text);
      break;
    }
    case 'nftables': {
      const text = renderNftables(model);
      for (const ns of nodeNetns) run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], text);
      break;
    }
    default: {
      const never: never = mode;
      throw new Error(`unknown kube-proxy mode ${String(never)}`);
    }
  }
}

/**
 * Whether the kernel can make IP-in-IP tunnels, tried for real in a throwaway namespace (never
 * in the root namespace). Returns the failure text when it cannot.
 */
export function ipipUnsupported(scratchNetns: string): string | undefined {
  try {
    run('ip', ['netns', 'add', scratchNetns]);
  } catch (e) {
    return `could not create a scratch namespace to probe: ${(e as Error).message}`;
  }
  try {
    const r = spawnSync('ip', ['-n', scratchNetns, 'link', 'add', 'hsprobe', 'type', 'ipip', 'local', '192.0.2.1', 'remote', '192.0.2.2'], { encoding: 'utf8' });
    return r.status === 0 ? undefined : (r.stderr || 'ip link add type ipip failed').trim();
  } finally {
    deleteNetns([scratchNetns]);
  }
}
