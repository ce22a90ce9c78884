// Cross-node stitching for the hub: each agent sees only its own node's half of a packet's
// path (the encapsulated packet leaving node A, the one arriving at node B). The halves share
// the inner packet's fingerprint (NAT and tunnels leave it alone), so the hub holds a half for
// a short while, joins it with its counterpart from another agent, and emits one journey with
// both lanes. A half whose other node's agent is down is emitted with that lane marked missing.
// Pure: time and agent liveness come in as arguments.
import type { Hop, Journey } from '../protocol/events.ts';
import { innerPacket, joinable } from '../journeys/fingerprint.ts';

/** Liveness of the agent of a node, as the hub knows it. */
export type AgentLiveness = 'up' | 'down' | 'unknown';

/** Stitcher tuning and the facts it needs from the hub. */
export interface StitcherOptions {
  /** How long a half waits for its counterpart (ms). The agents' correlators close a half that
   * leaves their node after about a second of silence, so this must be longer than that. */
  waitMs: number;
  /** Most halves held at once; the oldest is emitted as it is when more arrive. */
  maxHeld: number;
  /** Liveness of the agent that traces a node ('unknown': the hub has no agent for it). */
  agentOf(node: string): AgentLiveness;
  /** Whether two agents' kernel timestamps come from one clock (agents on one machine). */
  sameClock(a: string, b: string): boolean;
}

/** Counters of the stitcher. */
export interface StitcherStats {
  held: number;
  stitched: number;
  /** Halves emitted alone because the wait ran out. */
  timedOut: number;
  /** Halves emitted early because the held set was full. */
  overflow: number;
  /** Journeys emitted with at least one lane missing. */
  withMissing: number;
}

interface Held {
  journey: Journey;
  /** Agents whose hops the journey holds. */
  agents: Set<string>;
  sinceMs: number;
}

/** The stitcher: push agents' journeys in, get journeys to emit out. */
export interface Stitcher {
  /** A journey from one agent; returns what is ready to emit (possibly nothing yet). */
  push(agent: string, j: Journey, nowMs: number): Journey[];
  /** Emits halves whose wait ran out or whose missing agent went down. */
  tick(nowMs: number): Journey[];
  /** Everything held, as it is (shutdown). */
  flush(): Journey[];
  stats(): StitcherStats;
}

/** Nodes a journey says it touches: its endpoints' nodes and the nodes its hops were seen on. */
export function nodesOf(j: Journey): Set<string> {
  const out = new Set<string>();
  const add = (n: string | undefined) => {
    if (n) out.add(n);
  };
  for (const ep of [j.src, j.dst, j.backend]) {
    if (!ep) continue;
    add(ep.node);
    add(ep.pod?.node);
  }
  for (const h of j.hops) {
    add(h.where.node);
    add(h.where.pod?.node);
    add(h.nat?.after.pod?.node);
    add(h.nat?.after.node);
  }
  return out;
}

/** Nodes that some hop was seen on (the lanes the journey has). */
export function nodesSeen(j: Journey): Set<string> {
  const out = new Set<string>();
  for (const h of j.hops) {
    const n = h.where.node ?? h.where.pod?.node;
    if (n) out.add(n);
  }
  return out;
}

/** Ids from different agents collide ("j5" on both): the hub names a journey by its agent. */
export function agentId(agent: string, id: string): string {
  return `${agent}/${id}`;
}

/** A journey from one agent as the hub handles it: ids made unique, hops tagged with the agent. */
export function tagJourney(agent: string, j: Journey): Journey {
  return {
    ...j,
    id: agentId(agent, j.id),
    ...(j.replyTo !== undefined ? { replyTo: agentId(agent, j.replyTo) } : {}),
    hops: j.hops.map((h) => (h.agent === agent ? h : { ...h, agent })),
  };
}

// Where a half sits on the path: the sender's half first, the receiver's half last.
function rank(j: Journey): number {
  const first = j.hops[0]?.kind;
  if (first === 'pod-egress' || first === 'egress' || first === 'loopback') return 0;
  if (j.hops.some((h) => h.kind === 'deliver')) return 2;
  // A half that starts by receiving from the underlay or a tunnel is a later half.
  if (first === 'underlay' || first === 'decap') return 1.5;
  return 1;
}

/**
 * Join two halves of one packet's path into one journey. `sameClock` says whether the
 * kernel timestamps of the two halves can be compared; when not, the gap between the halves
 * (the wire) is unknown and counted as 0.
 */
export function mergeHalves(a: Journey, b: Journey, sameClock: boolean): Journey {
  let [first, second] = [a, b];
  const ra = rank(a);
  const rb = rank(b);
  if (rb < ra || (ra === rb && sameClock && b.startNs < a.startNs)) [first, second] = [b, a];
  const lastOfFirst = first.hops[first.hops.length - 1];
  const gap = sameClock && lastOfFirst && second.hops[0] ? Math.max(0, second.hops[0].tsNs - lastOfFirst.tsNs) : 0;
  const hops: Hop[] = [...first.hops, ...second.hops.map((h, i) => (i === 0 ? { ...h, deltaNs: gap } : h))];
  const verdict = first.verdict === 'dropped' ? 'dropped' : second.verdict;
  const startNs = first.startNs;
  const endNs = sameClock ? Math.max(first.endNs, second.endNs) : startNs + hops.reduce((s, h) => s + h.deltaNs, 0);
  const backend = first.backend ?? second.backend;
  const replyTo = first.replyTo ?? second.replyTo;
  const sampled = Math.max(first.sampledOut ?? 0, second.sampledOut ?? 0);
  return {
    type: 'journey',
    id: first.id,
    fingerprint: first.fingerprint,
    verdict,
    startNs,
    endNs,
    proto: first.proto,
    src: first.src,
    dst: first.dst,
    ...(backend ? { backend } : {}),
    hops,
    ...(replyTo !== undefined ? { replyTo } : {}),
    ...(first.identityUnknown || second.identityUnknown ? { identityUnknown: true } : {}),
    ...(sampled > 0 ? { sampledOut: sampled } : {}),
  };
}

/** Whether a journey's fingerprint is specific enough to join on (see fingerprint.ts). */
function stitchable(j: Journey): boolean {
  const h = j.hops[0];
  return h !== undefined && joinable(innerPacket(h));
}

/** Whether a journey runs from its sender (a pod's egress) to its end (delivery or a drop). */
export function whole(j: Journey): boolean {
  const first = j.hops[0]?.kind;
  return (first === 'pod-egress' || first === 'egress' || first === 'loopback') && j.hops.some((h) => h.kind === 'deliver' || h.kind === 'drop' || h.kind === 'loopback');
}

function agentsOf(j: Journey): Set<string> {
  const s = new Set<string>();
  for (const h of j.hops) if (h.agent) s.add(h.agent);
  return s;
}

/** Create a stitcher. Journeys pushed in must already be tagged (`tagJourney`). */
export function createStitcher(opts: StitcherOptions): Stitcher {
  // fingerprint → halves waiting for a counterpart (usually one).
  const held = new Map<string, Held[]>();
  let heldCount = 0;
  // Half id → the id of the journey it was merged into, so replies link to what was emitted.
  const alias = new Map<string, string>();
  const MAX_ALIAS = 20_000;
  const stats = { stitched: 0, timedOut: 0, overflow: 0, withMissing: 0 };

  // Nodes a journey touches that no hop was seen on, split by their agent's liveness. A
  // journey seen from its sender to its end (delivery or drop) lacks nothing, even when its
  // addresses name another node (a packet dropped before it left).
  const lanes = (j: Journey): { waiting: string[]; missing: string[] } => {
    if (whole(j)) return { waiting: [], missing: [] };
    const seen = nodesSeen(j);
    const waiting: string[] = [];
    const missing: string[] = [];
    for (const n of nodesOf(j)) {
      if (seen.has(n)) continue;
      const l = opts.agentOf(n);
      if (l === 'up') waiting.push(n);
      else if (l === 'down') missing.push(n);
      // 'unknown': no agent is meant to trace that node (an external host): not a lane.
    }
    return { waiting: waiting.sort(), missing: missing.sort() };
  };

  const finish = (j: Journey, markWaitingMissing: boolean): Journey => {
    const { waiting, missing } = lanes(j);
    const all = markWaitingMissing ? [...missing, ...waiting].sort() : missing;
    const replyTo = j.replyTo !== undefined ? (alias.get(j.replyTo) ?? j.replyTo) : undefined;
    const out: Journey = { ...j, ...(replyTo !== undefined ? { replyTo } : {}) };
    delete out.missingAgents;
    if (all.length > 0) {
      out.missingAgents = all;
      stats.withMissing++;
      // NOTE: a node frees a packet's skb once it has sent it on (and in the lab the agent sees
      // the other node's free: one kernel), so a half says "delivered". Without the lane where
      // it was delivered, all that is known is that it left.
      if (out.verdict === 'delivered' && !out.hops.some((h) => h.kind === 'deliver')) out.verdict = 'in-flight';
    }
    return out;
  };

  const remember = (from: string, to: string) => {
    if (from === to) return;
    alias.set(from, to);
    if (alias.size > MAX_ALIAS) alias.delete(alias.keys().next().value!);
  };

  const removeHeld = (fp: string, h: Held) => {
    const list = held.get(fp);
    if (!list) return;
    const i = list.indexOf(h);
    if (i >= 0) {
      list.splice(i, 1);
      heldCount--;
    }
    if (list.length === 0) held.delete(fp);
  };

  const hold = (j: Journey, nowMs: number, out: Journey[]) => {
    if (heldCount >= opts.maxHeld) {
      // Emit the oldest as it is: bounded memory beats a complete picture.
      const [fp, list] = held.entries().next().value as [string, Held[]];
      const oldest = list[0]!;
      removeHeld(fp, oldest);
      stats.overflow++;
      out.push(finish(oldest.journey, true));
    }
    const list = held.get(j.fingerprint) ?? [];
    list.push({ journey: j, agents: agentsOf(j), sinceMs: nowMs });
    held.set(j.fingerprint, list);
    heldCount++;
  };

  const place = (j: Journey, nowMs: number, out: Journey[]) => {
    if (!stitchable(j)) {
      out.push(finish(j, false));
      return;
    }
    const agents = agentsOf(j);
    const list = held.get(j.fingerprint);
    const partner = list?.find((h) => [...h.agents].every((a) => !agents.has(a)));
    if (partner) {
      removeHeld(j.fingerprint, partner);
      const pa = [...partner.agents][0];
      const ja = [...agents][0];
      const merged = mergeHalves(partner.journey, j, pa !== undefined && ja !== undefined && opts.sameClock(pa, ja));
      remember(partner.journey.id, merged.id);
      remember(j.id, merged.id);
      stats.stitched++;
      // A path over three nodes (a NodePort forwarded to a pod elsewhere) may wait for more.
      place(merged, nowMs, out);
      return;
    }
    if (lanes(j).waiting.length > 0) hold(j, nowMs, out);
    else out.push(finish(j, false));
  };

  return {
    push(agent, j, nowMs) {
      const out: Journey[] = [];
      place(j.hops.every((h) => h.agent === agent) ? j : tagJourney(agent, j), nowMs, out);
      return out;
    },
    tick(nowMs) {
      const out: Journey[] = [];
      for (const [fp, list] of [...held]) {
        for (const h of [...list]) {
          const expired = nowMs - h.sinceMs >= opts.waitMs;
          if (!expired && lanes(h.journey).waiting.length > 0) continue;
          removeHeld(fp, h);
          if (expired) stats.timedOut++;
          // Still waiting on a live agent after the wait: that lane is missing from this journey.
          out.push(finish(h.journey, true));
        }
      }
      return out;
    },
    flush() {
      const out: Journey[] = [];
      for (const [fp, list] of [...held]) for (const h of [...list]) {
        removeHeld(fp, h);
        out.push(finish(h.journey, true));
      }
      return out;
    },
    stats: () => ({ held: heldCount, ...stats }),
  };
}
