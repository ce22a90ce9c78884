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
