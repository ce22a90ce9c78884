// The lab's cgroups: every pod process is placed in the cgroup kubelet and containerd would give
// it (kubelet.ts names them), in every cgroup hierarchy of the machine (v1 controllers and v2),
// so /proc/<pid>/cgroup reads as on a real node. The tree lives under a directory of its own,
// `<prefix>kubelet`, below this process's own cgroup in each hierarchy: it never meets a real
// kubelet's `kubepods`, another lab's tree, or the limits the machine put this process under.
// Synchronous, like the rest of teardown (it also runs from an `exit` handler).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseNetnsName } from './naming.ts';

/** One line of /proc/<pid>/cgroup: hierarchy id, its controllers ("" for cgroup v2), the path. */
export interface ProcCgroupLine {
  id: number;
  controllers: string[];
  path: string;
}

/** Parse /proc/<pid>/cgroup. Pure. */
export function parseProcCgroup(text: string): ProcCgroupLine[] {
  const out: ProcCgroupLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(\/.*)$/.exec(line.trim());
    if (m) out.push({ id: Number(m[1]), controllers: m[2] ? m[2].split(',') : [], path: m[3]! });
  }
  return out;
}

/** A cgroup mount from /proc/self/mountinfo. */
export interface CgroupMount {
  /** Where it is mounted. */
  mountPoint: string;
  /** The hierarchy path shown at the mount point ("/" unless mounted from inside a cgroup namespace). */
  root: string;
  version: 1 | 2;
  /** v1: controllers and name=… from the super options. */
  controllers: string[];
}

/** Parse the cgroup mounts of /proc/self/mountinfo. Pure. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const [fstype, , superOpts] = right.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const controllers = fstype === 'cgroup' ? (superOpts ?? '').split(',').filter((o) => o !== 'rw' && o !== 'ro' && !o.startsWith('release_agent') && o !== 'clone_children' && !o.includes('xattr') && !o.startsWith('noprefix')) : [];
    out.push({ mountPoint: unescapeMount(f[4] ?? ''), root: unescapeMount(f[3] ?? '/'), version: fstype === 'cgroup2' ? 2 : 1, controllers });
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Directories where the lab's tree goes, one per hierarchy this process is in that is mounted:
 * `<mount point>/<own cgroup>/<dirName>`. Pure.
 */
export function labCgroupRoots(own: ProcCgroupLine[], mounts: CgroupMount[], dirName: string): string[] {
  const out: string[] = [];
  for (const l of own) {
    const m =
      l.controllers.length === 0
        ? mounts.find((x) => x.version === 2)
        : mounts.find((x) => x.version === 1 && x.controllers.length === l.controllers.length && l.controllers.every((c) => x.controllers.includes(c)));
    if (!m) continue;
    const rel = m.root === '/' ? l.path : l.path.startsWith(m.root) ? l.path.slice(m.root.length) || '/' : undefined;
    if (rel === undefined) continue; // our cgroup is outside what this mount shows
    const dir = join(m.mountPoint, rel, dirName);
    if (!out.includes(dir)) out.push(dir);
  }
  return out;
}

/** The lab's tree roots on this machine, for a run prefix (`hs-<lab>.<run>-`). */
export function cgroupRootsFor(prefix: string): string[] {
  return labCgroupRoots(parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')), parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')), `${prefix}kubelet`);
}

/** Create `relPath` below every root (parents first) and move `pid` there in every hierarchy. */
export function placeInCgroup(roots: string[], relPath: string, pid: number): void {
  for (const root of roots) {
    const parts = relPath.split('/');
    const chain = [root, ...parts.map((_, i) => join(root, ...parts.slice(0, i + 1)))];
    for (const d of chain) {
      if (existsSync(d)) continue;
      mkdirSync(d);
      // NOTE: a new v1 cpuset group has no CPUs or memory nodes, and no process can join it
      // until it has: copy the parent's, as kubelet's cpuset handling does.
      for (const f of ['cpuset.cpus', 'cpuset.mems'])
        if (existsSync(join(d, f)) && readFileSync(join(d, f), 'utf8').trim() === '') writeFileSync(join(d, f), readFileSync(join(dirname(d), f), 'utf8'));
    }
    const dir = chain.at(-1)!;
    try {
      writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    } catch (e) {
      // The process may have exited already; anything else is a real failure.
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw new Error(`cannot move pid ${pid} into ${dir}: ${(e as Error).message}`);
    }
  }
}

/** Remove a lab tree, deepest groups first. Its processes must be gone; waits briefly for exits. */
export function removeCgroupTree(root: string): string[] {
  const left: string[] = [];
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return; // already gone
    }
    for (const e of entries) {
      const p = join(dir, e);
      try {
        if (statSync(p).isDirectory()) walk(p);
      } catch {
        /* removed meanwhile */
      }
    }
    // A killed process leaves its group a moment after the signal: retry for up to 2 s.
    for (let i = 0; ; i++) {
      try {
        rmdirSync(dir);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || i >= 40) {
          left.push(`${dir} (${code})`);
          return;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
  };
  walk(root);
  return left;
}

/**
 * Trees a lab left on this machine that its state file may not name (a run killed before it
 * wrote them): `<prefix>kubelet` directories of that lab below this process's own cgroups and
 * below each hierarchy's root.
 */
export function findLabCgroupRoots(lab: string): string[] {
  const bases = new Set<string>();
  let mounts: CgroupMount[] = [];
  try {
    mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    for (const r of labCgroupRoots(parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8')), mounts, '')) bases.add(r);
  } catch {
    return [];
  }
  for (const m of mounts) bases.add(m.mountPoint);
  const out: string[] = [];
  for (const b of bases) {
    let entries: string[] = [];
    try {
      entries = readdirSync(b);
    } catch {
      continue;
    }
    for (const e of entries) if (e.endsWith('-kubelet') && parseNetnsName(e)?.lab === lab) out.push(join(b, e));
  }
  return out;
}
