// Names of everything a lab run creates. Pure. Every namespace name carries the per-run
// prefix `hs-<lab>.<runid>-` so two runs never collide and `lab down` can find what a
// killed run left behind. The dot cannot occur in a lab name (a DNS-1123 label), so the
// prefix of lab "a" never matches a namespace of lab "a-beef".
import { randomBytes } from 'node:crypto';
import { shortHash } from './model.ts';

/** Kind of network namespace in a lab. */
export type NetnsKind = 'node' | 'pod' | 'external' | 'underlay';

/** Four hex digits identifying one run of a lab. */
export function newRunId(): string {
  return randomBytes(2).toString('hex');
}

const LAB_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RUN_ID = /^[0-9a-f]{4}$/;

/** Prefix of every namespace of one run: `hs-<lab>.<runid>-`. */
export function netnsPrefix(lab: string, runId: string): string {
  if (!LAB_NAME.test(lab) || lab.length > 20) throw new Error(`lab name must be a DNS-1123 label of at most 20 characters, got "${lab}"`);
  if (!RUN_ID.test(runId)) throw new Error(`run id must be 4 hex digits, got "${runId}"`);
  return `hs-${lab}.${runId}-`;
}

/** Namespace name of a node, pod, external host or the underlay. */
export function netnsName(prefix: string, kind: NetnsKind, owner: string): string {
  switch (kind) {
    case 'underlay':
      return `${prefix}underlay`;
    case 'node':
      return `${prefix}n-${owner}`;
    case 'external':
      return `${prefix}x-${owner}`;
    case 'pod': {
      // owner is "namespace/name"; the dot separates them unambiguously (neither may hold one).
      const [ns, name] = owner.split('/');
      return `${prefix}p-${ns}.${name}`;
    }
    default: {
      const never: never = kind;
      throw new Error(`unknown netns kind ${String(never)}`);
    }
  }
}

/** Which lab and run a namespace name belongs to, or undefined when it is not a lab namespace. */
export function parseNetnsName(name: string): { lab: string; runId: string } | undefined {
  const m = /^hs-([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([0-9a-f]{4})-/.exec(name);
  return m ? { lab: m[1]!, runId: m[2]! } : undefined;
}

/** Underlay-side interface name of the i-th node / external (the underlay holds all of them). */
export function underlayPort(kind: 'node' | 'external', index: number): string {
  return `${kind === 'node' ? 'un' : 'ux'}${index + 1}`;
}

/**
 * MAC address of a node's VXLAN device. Fixed (derived from the node name) so the forwarding
 * entries on the other nodes can be written before the device exists, as flanneld and Felix
 * do from the node annotations. Locally administered, unicast.
 */
export function vtepMac(node: string): string {
  const h = shortHash(`vtep/${node}`, 10);
  return ['0e', h.slice(0, 2), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10)].join(':');
}
