// The agent's node flags of `hopscope serve`: which node it is, where the host's /proc is, and
// the network namespaces it traces (its scope: "this node"). Parsing and scope resolution are
// pure; the lab state is passed in.
import type { LabState } from '../lab/state.ts';
import { clip, int, many, parseFlags, pattern, toggle, value, type Spec } from '../config/flags.ts';
import { SERVER_FLAGS } from '../server/config.ts';
import { readKubeProxyMode, type KubeProxyMode } from '../kubeproxy/names.ts';

/** Node flags of `hopscope serve`; the rest of argv goes to the server's own parser. */
export interface AgentFlags {
  /** This node's name (names netns owners from /proc; the hub names the agent by it). */
  node?: string;
  /** The host's /proc as mounted in the container (the DaemonSet mounts it at /host/proc). */
  procRoot?: string;
  /** Trace a lab: names from its state file and API. */
  lab?: string;
  /** `--netns-scope lab:<lab>/<node>` entries. */
  scopes: { lab: string; node: string }[];
  /** `--netns-inode N` entries. */
  inodes: number[];
  /** kube-proxy's mode, for naming chains when the node's rules cannot be read. */
  kubeProxyMode?: KubeProxyMode;
  /** The mounted TLS Secret: ca.crt, <node>.crt, <node>.key (mutual TLS with the hub). */
  tlsDir?: string;
  /** Serve plain HTTP beyond loopback anyway. */
  insecure: boolean;
  rest: string[];
}

const LAB = /^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/;
const NODE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const MAX_INODES = 64;

/** Flags help, for usage texts. */
export const AGENT_FLAGS_HELP = `  --node <name>            this node's name (default: $NODE_NAME, else the host name)
  --proc-root <dir>        the host's /proc (default /proc; /host/proc in the DaemonSet)
  --lab <name>             trace a lab on this machine (names from its state file and API)
  --netns-scope lab:<lab>/<node>
                           trace only that lab node's network namespaces and its pods' (repeatable);
                           two agents scoped to two nodes stand for two cluster nodes
  --netns-inode <n>        trace only this network namespace (inode; repeatable)
  --kube-proxy-mode <m>    iptables, nftables or ipvs: how to name DNAT chains when the node's
                           rules cannot be read (default iptables; the rules' own mode wins)
  --tls-dir <dir>          mutual TLS with the hub: ca.crt, <node>.crt, <node>.key (the mounted
                           Secret; re-read when it changes). Required with a --host beyond loopback
  --insecure               serve plain HTTP beyond loopback anyway (token and journeys in clear)`;

const AGENT_FLAGS = {
  node: pattern(NODE, 'a Kubernetes node name'),
  'proc-root': value((t) => {
    if (!t.startsWith('/')) throw new Error(`expected an absolute path, got "${clip(t)}"`);
    return t;
  }),
  lab: pattern(LAB, 'a lab name (1-20 of a-z 0-9 "-")'),
  'netns-scope': many(value(readScope)),
  'netns-inode': many(int(1, 0xffffffff, 'an inode number')),
  'kube-proxy-mode': value(readKubeProxyMode),
  'tls-dir': value(),
  insecure: toggle(),
} satisfies Spec;

/** Pull the node flags out of argv; the server's flags are left in `rest`. Throws Error naming the flag. */
export function parseAgentFlags(argv: string[]): AgentFlags {
  const { values: v, rest } = parseFlags(argv, AGENT_FLAGS, { forward: SERVER_FLAGS });
  const out: AgentFlags = {
    ...(v.node ? { node: v.node } : {}),
    ...(v['proc-root'] ? { procRoot: v['proc-root'] } : {}),
    ...(v.lab ? { lab: v.lab } : {}),
    scopes: v['netns-scope'] ?? [],
    inodes: v['netns-inode'] ?? [],
    ...(v['kube-proxy-mode'] ? { kubeProxyMode: v['kube-proxy-mode'] } : {}),
    ...(v['tls-dir'] ? { tlsDir: v['tls-dir'] } : {}),
    insecure: v.insecure ?? false,
    rest,
  };
  if (out.inodes.length > MAX_INODES) throw new Error(`--netns-inode: at most ${MAX_INODES}`);
  const labs = new Set(out.scopes.map((s) => s.lab));
  if (labs.size > 1) throw new Error(`--netns-scope: all scopes must name one lab, got ${[...labs].join(', ')}`);
  const scoped = [...labs][0];
  if (scoped && out.lab && out.lab !== scoped) throw new Error(`--netns-scope names lab ${scoped} but --lab is ${out.lab}`);
  if (scoped) out.lab = scoped;
  return out;
}

/**
 * How an agent bound to `host` is reached, or why it must not start: beyond loopback only with
 * mutual TLS, or --insecure. Pure.
 */
export function agentTransportPlan(host: string, flags: Pick<AgentFlags, 'tlsDir' | 'insecure'>, loopback: boolean): { kind: 'tls'; dir: string } | { kind: 'plain'; insecure: boolean } | { kind: 'refuse'; message: string } {
  if (flags.tlsDir && flags.insecure) return { kind: 'refuse', message: '--tls-dir and --insecure: choose one' };
  if (flags.tlsDir) return { kind: 'tls', dir: flags.tlsDir };
  if (loopback) return { kind: 'plain', insecure: false };
  if (flags.insecure) return { kind: 'plain', insecure: true };
  return {
    kind: 'refuse',
    message:
      `--host ${host}: an agent reachable beyond loopback serves HTTPS with mutual TLS only. Give --tls-dir <dir> ` +
      '(ca.crt, <node>.crt, <node>.key: the Secret `kubectl hopscope install` makes), or --insecure to serve plain HTTP ' +
      'anyway (the token and every journey then cross the network in clear)',
  };
}

/** "lab:<lab>/<node>" → its parts. */
function readScope(text: string): { lab: string; node: string } {
  const m = /^lab:([^/]+)\/(.+)$/.exec(text);
  if (!m || !LAB.test(m[1]!) || !NODE.test(m[2]!)) throw new Error(`expected lab:<lab>/<node> (e.g. lab:demo/node-1), got "${clip(text, 80)}"`);
  return { lab: m[1]!, node: m[2]! };
}

/** The network namespaces of a lab node: the node's own and its pods'. Throws for an unknown node. */
export function labNodeInodes(state: Pick<LabState, 'name' | 'netns'>, node: string): number[] {
  const nodes = state.netns.filter((n) => n.kind === 'node').map((n) => n.owner);
  if (!nodes.includes(node)) throw new Error(`--netns-scope: lab ${state.name} has no node "${node}" (nodes: ${nodes.join(', ')})`);
  return state.netns
    .filter((n) => (n.kind === 'node' && n.owner === node) || (n.kind === 'pod' && n.node === node))
    .map((n) => n.inode)
    .filter((i) => Number.isSafeInteger(i) && i > 0)
    .sort((a, b) => a - b);
}

/** The scope as a netns inode list (empty: not scoped). */
export function scopeInodes(flags: Pick<AgentFlags, 'scopes' | 'inodes'>, state: Pick<LabState, 'name' | 'netns'> | undefined): number[] {
  const set = new Set(flags.inodes);
  for (const s of flags.scopes) {
    if (!state) throw new Error('--netns-scope needs the lab to be up');
    for (const i of labNodeInodes(state, s.node)) set.add(i);
  }
  if (set.size > MAX_INODES) throw new Error(`the scope has ${set.size} network namespaces; at most ${MAX_INODES}`);
  return [...set].sort((a, b) => a - b);
}
