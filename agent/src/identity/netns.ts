// Who owns each network namespace (by inode, as bpftrace reports it): the lab's state file, or a
// real node's /proc. Parsing is pure (file contents in, owners out); the readers are thin.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { PodRef } from '../protocol/events.ts';
import { readLabState, type LabState } from '../lab/state.ts';
import type { NetnsOwner } from './types.ts';

/** Where netns owners come from; `read` is called again whenever pods change. */
export interface NetnsSource {
  /** "lab:<name>" or "proc:<root>", for stats and errors. */
  readonly name: string;
  /** Current owners by inode. `podByUid` names container processes by their pod uid (real nodes). */
  read(ctx: { podByUid(uid: string): PodRef | undefined }): Promise<Map<number, NetnsOwner>>;
}

/** "client (default)": the label style of NetnsOwner. */
export function podLabel(p: PodRef): string {
  return `${p.name} (${p.namespace})`;
}

/** Owners from a lab state (pods, nodes, externals and the underlay). */
export function netnsOwnersFromLabState(state: Pick<LabState, 'netns'>): Map<number, NetnsOwner> {
  const out = new Map<number, NetnsOwner>();
  for (const n of state.netns) {
    if (!Number.isSafeInteger(n.inode) || n.inode <= 0) continue;
    switch (n.kind) {
      case 'pod': {
        const [namespace, name] = n.owner.includes('/') ? n.owner.split('/', 2) : ['default', n.owner];
        const pod: PodRef = { namespace: namespace!, name: name!, ...(n.node ? { node: n.node } : {}) };
        out.set(n.inode, { pod, ...(n.node ? { node: n.node } : {}), label: podLabel(pod) });
        break;
      }
      case 'node':
        out.set(n.inode, { node: n.owner, label: n.owner });
        break;
      case 'external':
        out.set(n.inode, { label: n.owner });
        break;
      case 'underlay':
        out.set(n.inode, { label: 'underlay' });
        break;
      default: {
        const never: never = n.kind;
        throw new Error(`unknown netns kind ${String(never)}`);
      }
    }
  }
  return out;
}

/** Netns of a running lab, read from its state file on every refresh (scaling rewrites it). */
export function labNetnsSource(labName: string): NetnsSource {
  return {
    name: `lab:${labName}`,
    read: async () => netnsOwnersFromLabState(readLabState(labName)),
  };
}

/** `net:[4026531840]` (readlink of /proc/<pid>/ns/net) → 4026531840. */
export function parseNetnsLink(link: string): number | undefined {
  const m = /^net:\[(\d+)\]$/.exec(link.trim());
  return m ? Number(m[1]) : undefined;
}

/**
 * Pod uid from /proc/<pid>/cgroup, for the cgroupfs (`/kubepods/besteffort/pod<uid>/…`) and
 * systemd (`kubepods-besteffort-pod<uid with _>.slice`) drivers, cgroup v1 and v2.
 */
export function podUidFromCgroup(text: string): string | undefined {
  const m = /kubepods[^\n]*?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/.exec(text);
  return m ? m[1]!.replace(/_/g, '-') : undefined;
}

/** What a process contributes: its netns link and its cgroup file (either may be unreadable). */
export interface ProcEntry {
  pid: number;
  netLink?: string;
  cgroup?: string;
}

/** Owners on a real node: the root netns is the node, a netns holding a pod's processes is that pod. */
export function netnsOwnersFromProc(
  entries: ProcEntry[],
  rootNetLink: string | undefined,
  nodeName: string,
  podByUid: (uid: string) => PodRef | undefined,
): Map<number, NetnsOwner> {
  const out = new Map<number, NetnsOwner>();
  const root = rootNetLink ? parseNetnsLink(rootNetLink) : undefined;
  if (root !== undefined) out.set(root, { node: nodeName, label: nodeName });
  for (const e of entries) {
    const inode = e.netLink ? parseNetnsLink(e.netLink) : undefined;
    if (inode === undefined || inode === root || out.has(inode) || !e.cgroup) continue;
    const uid = podUidFromCgroup(e.cgroup);
    const pod = uid ? podByUid(uid) : undefined;
    // hostNetwork pods live in the root netns (skipped above); unknown uids resolve on a later read.
    if (pod) out.set(inode, { pod, node: pod.node ?? nodeName, label: podLabel(pod) });
  }
  return out;
}

/** Netns of this node from /proc (the agent needs hostPID and CAP_SYS_PTRACE to read them). */
export function procNetnsSource(opts: { procRoot?: string; nodeName?: string } = {}): NetnsSource {
  const root = opts.procRoot ?? '/proc';
  const nodeName = opts.nodeName ?? process.env.NODE_NAME ?? hostname();
  const tryRead = (f: () => string): string | undefined => {
    try {
      return f();
    } catch {
      return undefined; // the process exited, or we may not look: skip it
    }
  };
  return {
    name: `proc:${root}`,
    read: async ({ podByUid }) => {
      // NOTE: pid 1 may be unreadable (a sandbox, no CAP_SYS_PTRACE over it); the agent runs with
      // hostNetwork, so its own netns is the node's too.
      const rootLink = tryRead(() => readlinkSync(join(root, '1', 'ns', 'net'))) ?? tryRead(() => readlinkSync(join(root, 'self', 'ns', 'net')));
      const entries: ProcEntry[] = [];
      const seen = new Set<string>();
      for (const d of readdirSync(root)) {
        if (!/^\d+$/.test(d)) continue;
        const netLink = tryRead(() => readlinkSync(join(root, d, 'ns', 'net')));
        // Most processes share the root netns or one already named: no need to read their cgroup.
        if (!netLink || netLink === rootLink || seen.has(netLink)) continue;
        const cgroup = tryRead(() => readFileSync(join(root, d, 'cgroup'), 'utf8'));
        if (cgroup && podUidFromCgroup(cgroup)) seen.add(netLink);
        entries.push({ pid: Number(d), netLink, cgroup });
      }
      return netnsOwnersFromProc(entries, rootLink, nodeName, podByUid);
    },
  };
}
