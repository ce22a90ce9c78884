// Bare network namespaces for the tracer's kernel tests (no lab): made here, unique names,
// removed in afterAll.
import { execFileSync } from 'node:child_process';

/** Runs a command, its stdout as text; throws with its stderr on failure. */
export const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** `ip ARGS...` */
export const ip = (...args: string[]): string => sh('ip', args);

/** Removes the named namespaces, those that exist. */
export function deleteNetns(names: string[]): void {
  for (const n of names) {
    try {
      ip('netns', 'del', n);
    } catch {
      // not created
    }
  }
}

/** Makes the named namespaces (loopback up) and returns their inode numbers, in order. */
export function addNetns(names: string[]): number[] {
  return names.map((n) => {
    ip('netns', 'add', n);
    ip('-n', n, 'link', 'set', 'lo', 'up');
    return Number(sh('stat', ['-L', '-c', '%i', `/run/netns/${n}`]).trim());
  });
}

/** One end of a veth pair: its namespace, device name and address (CIDR). */
export interface VethEnd {
  ns: string;
  dev: string;
  addr: string;
}

/**
 * Joins two namespaces by a veth pair, both ends addressed and up. With `bridge`, B's end is a
 * port of a bridge of that name in B, and the bridge holds B's address.
 */
export function vethPair(a: VethEnd, b: VethEnd, bridge?: string): void {
  ip('link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns);
  if (bridge) {
    ip('-n', b.ns, 'link', 'add', bridge, 'type', 'bridge');
    ip('-n', b.ns, 'link', 'set', b.dev, 'master', bridge);
  }
  ip('-n', a.ns, 'addr', 'add', a.addr, 'dev', a.dev);
  ip('-n', b.ns, 'addr', 'add', b.addr, 'dev', bridge ?? b.dev);
  ip('-n', a.ns, 'link', 'set', a.dev, 'up');
  ip('-n', b.ns, 'link', 'set', b.dev, 'up');
  if (bridge) ip('-n', b.ns, 'link', 'set', bridge, 'up');
}
