// Who owns each network namespace (by inode, as bpftrace reports it): the lab's state file, or a
// real node's /proc. Parsing is pure (file contents in, owners out); the readers are thin.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { PodRef } from '../protocol/events.ts';
import { readLabState, type LabState } from '../lab/state.ts';
import type { NetnsOwner } from './types.ts';

/** How a real node's netns source names a container process: by its container id, else its pod uid. */
export interface PodResolver {
  podByUid(uid: string): PodRef | undefined;
  podByContainerId(id: string): PodRef | undefined;
}

/** Where netns owners come from; `read` is called again whenever pods change. */
export interface NetnsSource {
  /** "lab:<name>" or "proc:<root>", for stats and errors. */
  readonly name: string;
  /** Current owners by inode. The resolver names container processes (real nodes). */
  read(ctx: PodResolver): Promise<Map<number, NetnsOwner>>;
  /**
   * A real node's source: this node's name, and whether its kernel is shared with other nodes
   * (known after the first read): its own network namespace is not the kernel's first one,
   * as for nodes of kind or of a hopscope lab. Then only this node's namespaces are its to trace.
   */
  readonly node?: { name: string; sharedKernel(): boolean };
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

/**
 * Container id from /proc/<pid>/cgroup: containerd's `cri-containerd-<id>.scope`, CRI-O's
 * `crio-<id>.scope` and docker's `docker-<id>.scope` (systemd driver), or the group below the pod's
 * (`…/pod<uid>/<id>`, cgroupfs driver).
 */
export function containerIdFromCgroup(text: string): string | undefined {
  const m =
    /kubepods[^\n]*?\/(?:cri-containerd|crio|docker)-([0-9a-f]{64})\.scope/.exec(text) ??
    /kubepods[^\n]*?\/pod[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}(?:\.slice)?\/([0-9a-f]{64})(?:\/|$|\n)/.exec(text);
  return m ? m[1] : undefined;
}

/** What a process contributes: its netns link and its cgroup file (either may be unreadable). */
export interface ProcEntry {
  pid: number;
  netLink?: string;
  cgroup?: string;
}

/**
 * Owners on a real node: the node's own netns (the agent's: it runs with hostNetwork) is the node,
 * a netns holding a pod's processes is that pod (by container id, else by pod uid).
 */
export function netnsOwnersFromProc(entries: ProcEntry[], rootNetLink: string | undefined, nodeName: string, pods: PodResolver): Map<number, NetnsOwner> {
  const out = new Map<number, NetnsOwner>();
  const root = rootNetLink ? parseNetnsLink(rootNetLink) : undefined;
  if (root !== undefined) out.set(root, { node: nodeName, label: nodeName });
  for (const e of entries) {
    const inode = e.netLink ? parseNetnsLink(e.netLink) : undefined;
    if (inode === undefined || inode === root || out.has(inode) || !e.cgroup) continue;
    const id = containerIdFromCgroup(e.cgroup);
    const uid = podUidFromCgroup(e.cgroup);
    const pod = (id ? pods.podByContainerId(id) : undefined) ?? (uid ? pods.podByUid(uid) : undefined);
    // hostNetwork pods live in the root netns (skipped above); unknown uids resolve on a later read.
    if (pod) out.set(inode, { pod, node: pod.node ?? nodeName, label: podLabel(pod) });
  }
  return out;
}

/** The inodes of a node's namespaces: its own and its pods'. Pure. */
export function nodeNetnsInodes(owners: Map<number, NetnsOwner>, node: string): number[] {
  return [...owners]
    .filter(([, o]) => o.node === node)
    .map(([i]) => i)
    .sort((a, b) => a - b);
}

/** Netns of this node from /proc (the agent needs hostPID and CAP_SYS_PTRACE to read them). */
export function procNetnsSource(opts: { procRoot?: string; nodeName?: string } = {}): NetnsSource {
  const root = opts.procRoot ?? '/proc';
  const nodeName = opts.nodeName ?? process.env.NODE_NAME ?? hostname();
  let shared = false;
  const tryRead = (f: () => string): string | undefined => {
    try {
      return f();
    } catch {
      return undefined; // the process exited, or we may not look: skip it
    }
  };
  return {
    name: `proc:${root}`,
    node: { name: nodeName, sharedKernel: () => shared },
    read: async (pods) => {
      // NOTE: the agent runs with hostNetwork, so its own netns is the node's. Kernel threads
      // (kthreadd, pid 2) live in the kernel's first netns: the node's own on a node with a kernel
      // of its own, another where nodes share one (kind, a hopscope lab), whose other namespaces
      // are then not this node's to trace. pid 1 stands in where pid 2 is not kthreadd; it may
      // be unreadable (a sandbox's init refuses ptrace access).
      const selfLink = tryRead(() => readlinkSync(join(root, 'self', 'ns', 'net')));
      const kthreadd = tryRead(() => readFileSync(join(root, '2', 'comm'), 'utf8').trim()) === 'kthreadd';
      const initLink = tryRead(() => readlinkSync(join(root, kthreadd ? '2' : '1', 'ns', 'net')));
      const rootLink = selfLink ?? initLink;
      shared = selfLink !== undefined && initLink !== undefined && selfLink !== initLink;
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
      return netnsOwnersFromProc(entries, rootLink, nodeName, pods);
    },
  };
}
