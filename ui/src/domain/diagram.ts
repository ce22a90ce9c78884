// Journey → diagram model: one lane per node (plus the underlay), one box per hop with its
// headers, encapsulation, NAT and drop. Pure; layout (elk) and rendering (React Flow) come after.
import type { Hop, Journey } from '@hopscope/agent/protocol/events.ts';
import { duration, endpointLong, headerLine, isSocketDiscard } from './format.ts';
import { describeSource, ruleLines } from '@hopscope/agent/protocol/kube-proxy-text.ts';

/** Which of the two journeys a box belongs to. */
export type Direction = 'request' | 'reply';

/** One hop box. */
export interface HopBox {
  id: string;
  lane: string;
  direction: Direction;
  /** Index in its journey's hops (the first, when several hops share the box). */
  index: number;
  /** Every hop index this box stands for (consecutive underlay hops share one box). */
  indices: number[];
  kind: Hop['kind'];
  title: string;
  where: string;
  /** The packet's header as seen here (the inner one when encapsulated). */
  header: string;
  /** Outer header and tunnel id, drawn around the inner header. */
  encap?: { label: string; outer: string };
  /** `lines`: kube-proxy's pick, rule and disagreements, cut for the box; `disagree`: the rules and the packet disagree. */
  nat?: { before: string; after: string; rule?: string; lines?: string[]; disagree?: boolean };
  drop?: string;
  delta: string;
  deltaNs: number;
}

/** A node's lane (a group box). */
export interface Lane {
  id: string;
  label: string;
}

/** The diagram before layout. */
export interface DiagramModel {
  lanes: Lane[];
  boxes: HopBox[];
  edges: { id: string; source: string; target: string; direction: Direction }[];
  /**
   * Lane order for the layout, lane a left of lane b: a chain through the lanes in the order the
   * request first reaches them (the reply, which runs back through the same columns, only adds
   * lanes the request never reached, after them).
   */
  laneOrder: [string, string][];
}

const KIND_LABEL: Record<Hop['kind'], string> = {
  'pod-egress': 'pod egress',
  egress: 'egress',
  'host-veth': 'host veth',
  bridge: 'bridge',
  route: 'route',
  dnat: 'DNAT',
  snat: 'SNAT',
  'reverse-nat': 'reverse NAT',
  encap: 'encapsulate',
  underlay: 'underlay',
  decap: 'decapsulate',
  deliver: 'deliver',
  loopback: 'loopback',
  drop: 'DROP',
};

export const UNDERLAY_LANE = 'underlay';

/**
 * Lane id of a hop: the node it happened on; underlay hops share one lane between nodes. (An
 * external host's sending is an 'egress' hop, so it gets its host's lane like its delivery.)
 */
export function laneOf(h: Hop): string {
  if (h.kind === 'underlay') return UNDERLAY_LANE;
  return h.where.node ?? h.where.pod?.node ?? h.where.label;
}

function box(h: Hop, i: number, direction: Direction): HopBox {
  const inner = h.encap?.inner ?? h.packet;
  return {
    id: `${direction}-${i}`,
    lane: laneOf(h),
    direction,
    index: i,
    indices: [i],
    kind: h.kind,
    title: isSocketDiscard(h) ? 'discarded by the socket' : `${KIND_LABEL[h.kind]} · ${h.dev}`,
    where: h.where.label,
    header: headerLine(inner),
    ...(h.encap
      ? { encap: { label: h.encap.kind === 'vxlan' ? `VXLAN VNI ${h.encap.vni}` : 'IP-in-IP', outer: headerLine(h.packet) } }
      : {}),
    ...(h.nat ? { nat: natBox(h.nat) } : {}),
    ...(h.drop ? { drop: `${h.drop.reason} at ${h.drop.location}` } : {}),
    delta: i === 0 ? 'start' : `+${duration(h.deltaNs)}`,
    deltaNs: h.deltaNs,
  };
}

const clipLine = (l: string): string => (l.length > 96 ? `${l.slice(0, 95)}…` : l);

function natBox(nat: NonNullable<Hop['nat']>): NonNullable<HopBox['nat']> {
  const kp = nat.kubeProxy;
  // Chains named from the API alone look the same as chains read from the node: say which.
  const lines = kp ? [...(kp.source === 'api' ? [describeSource(kp)] : []), ...ruleLines(kp)].map(clipLine) : [];
  return {
    before: endpointLong(nat.before),
    after: endpointLong(nat.after),
    ...(nat.rule ? { rule: clipLine(nat.rule) } : {}),
    ...(lines.length ? { lines } : {}),
    ...(kp?.disagreements ? { disagree: true } : {}),
  };
}

/** Build the diagram for a request and, when known, its reply. */
export function buildDiagram(request: Journey, reply?: Journey): DiagramModel {
  const lanes: Lane[] = [];
  const laneOrder: [string, string][] = [];
  // NOTE: the order is a chain of lanes as the request first reaches them, not every lane change
  // it makes: a request that crosses the underlay twice (external host → underlay → node-1 →
  // underlay → node-2) made the cycle underlay → node-1 → underlay, and ELK broke it by turning
  // underlay → node-1 around, which put node-1 in the first column with the external host under it.
  const addLane = (id: string) => {
    if (lanes.some((l) => l.id === id)) return;
    const before = lanes.at(-1);
    lanes.push({ id, label: id === UNDERLAY_LANE ? 'underlay (node ↔ node)' : id });
    if (before) laneOrder.push([before.id, id]);
  };
  const boxes: HopBox[] = [];
  const edges: DiagramModel['edges'] = [];
  for (const [j, direction] of [[request, 'request'], ...(reply ? [[reply, 'reply']] : [])] as [Journey, Direction][]) {
    let prev: HopBox | undefined;
    j.hops.forEach((h, i) => {
      // The same outer packet crossing the underlay's devices is one step of the story.
      if (prev && h.kind === 'underlay' && prev.kind === 'underlay' && prev.encap && h.encap && headerLine(h.packet) === prev.encap.outer) {
        prev.indices.push(i);
        prev.title = `${prev.title} → ${h.dev}`;
        prev.where = `${prev.where.split(' → ')[0]} → ${h.where.label}`;
        prev.deltaNs += h.deltaNs;
        prev.delta = `+${duration(prev.deltaNs)}`;
        return;
      }
      const b = box(h, i, direction);
      addLane(b.lane);
      boxes.push(b);
      if (prev) {
        edges.push({ id: `${direction}-e${i}`, source: prev.id, target: b.id, direction });
      }
      prev = b;
    });
  }
  return { lanes, boxes, edges, laneOrder };
}

/** The reply journey answering `j` among `all`, or the request if `j` is itself a reply. */
export function pairOf(j: Journey, all: readonly Journey[]): { request: Journey; reply?: Journey } {
  if (j.replyTo) {
    const req = all.find((x) => x.id === j.replyTo);
    return req ? { request: req, reply: j } : { request: j };
  }
  const reply = all.find((x) => x.replyTo === j.id);
  return reply ? { request: j, reply } : { request: j };
}

/** Box size for the layout engine (px), from its content: the widest line sets the width. */
export function boxSize(b: HopBox): { width: number; height: number } {
  const mono = [b.header, ...(b.encap ? [`${b.encap.label} · outer ${b.encap.outer}`] : []), ...(b.nat ? [b.nat.before, `⇒ ${b.nat.after}`, b.nat.rule ?? '', ...(b.nat.lines ?? [])] : []), b.drop ? `✖ ${b.drop}` : ''];
  const prose = [b.title + '  +00.0 µs', b.where];
  // Character widths of the fonts in styles.css at their sizes (19px mono, 20px bold sans).
  const w = Math.max(...mono.map((l) => l.length * 11.6 + (b.encap ? 64 : 30)), ...prose.map((l) => l.length * 12 + 30), 300);
  let lines = 3; // title, where, header
  if (b.encap) lines += 2;
  if (b.nat) lines += (b.nat.rule ? 3 : 2) + (b.nat.lines?.length ?? 0);
  if (b.drop) lines += 1;
  return { width: Math.ceil(w), height: 30 + lines * 27 + (b.encap ? 14 : 0) };
}
