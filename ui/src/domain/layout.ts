// Layout by elkjs: lanes left to right in the order the request crosses them, hops top to
// bottom inside a lane, request and reply side by side. No hand-placed coordinates.
import ELK, { type ElkNode } from 'elkjs/lib/elk.bundled.js';
import { boxSize, type DiagramModel } from './diagram.ts';
import type { TopoGraph } from './topologyGraph.ts';

const elk = new ELK();

/** Positions (relative to the parent lane for boxes) and sizes from elk. */
export interface Positioned {
  lanes: Record<string, { x: number; y: number; width: number; height: number }>;
  boxes: Record<string, { x: number; y: number; width: number; height: number }>;
}

/** Where ELK put each lane (`lane:<id>` at the top level) and each box inside one. */
function positioned(out: ElkNode): Positioned {
  const res: Positioned = { lanes: {}, boxes: {} };
  for (const lane of out.children ?? []) {
    res.lanes[lane.id.slice(5)] = { x: lane.x ?? 0, y: lane.y ?? 0, width: lane.width ?? 0, height: lane.height ?? 0 };
    for (const b of lane.children ?? []) res.boxes[b.id] = { x: b.x ?? 0, y: b.y ?? 0, width: b.width ?? 0, height: b.height ?? 0 };
  }
  return res;
}

/** Lay out a diagram model. */
export async function layoutDiagram(m: DiagramModel): Promise<Positioned> {
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.spacing.nodeNode': '60',
      'elk.layered.spacing.nodeNodeBetweenLayers': '90',
    },
    children: m.lanes.map((l) => ({
      id: `lane:${l.id}`,
      layoutOptions: {
        'elk.algorithm': 'layered',
        'elk.direction': 'DOWN',
        'elk.padding': '[top=56,left=24,bottom=24,right=24]',
        'elk.spacing.nodeNode': '40',
        'elk.layered.spacing.nodeNodeBetweenLayers': '44',
        'elk.separateConnectedComponents': 'true',
      },
      children: m.boxes.filter((b) => b.lane === l.id).map((b) => ({ id: b.id, ...boxSize(b) })),
      // Edges inside this lane shape its column.
      edges: m.edges
        .filter((e) => m.boxes.find((b) => b.id === e.source)?.lane === l.id && m.boxes.find((b) => b.id === e.target)?.lane === l.id)
        .map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
    })),
    // Lane-to-lane edges only order the columns; hop edges are drawn by React Flow.
    edges: m.laneOrder.map(([a, b], k) => ({ id: `order${k}`, sources: [`lane:${a}`], targets: [`lane:${b}`] })),
  };
  return positioned(await elk.layout(graph));
}

/** Size of a topology box (px, before zoom): wide enough for a generated pod name at 21 px. */
export const TOPO_ITEM = { width: 300, height: 76 };

/**
 * Lay out the topology: each group packs its boxes into a block, and the blocks pack into a
 * screen-shaped rectangle. Edges take no part: they change with the focus and the traffic, and
 * moving every box when a Service is clicked would lose the viewer.
 */
export async function layoutTopology(g: TopoGraph): Promise<Positioned> {
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'rectpacking',
      'elk.aspectRatio': '2',
      'elk.spacing.nodeNode': '36',
      'elk.padding': '[top=12,left=12,bottom=12,right=12]',
    },
    children: g.groups.map((grp) => ({
      id: `lane:${grp.id}`,
      layoutOptions: {
        'elk.algorithm': 'rectpacking',
        // Node groups stand as columns side by side; the Services spread wide beneath them.
        'elk.aspectRatio': grp.id === 'services' ? '3.2' : '0.5',
        'elk.padding': '[top=56,left=20,bottom=20,right=20]',
        'elk.spacing.nodeNode': '16',
      },
      children: g.items.filter((i) => i.group === grp.id).map((i) => ({ id: i.id, ...TOPO_ITEM })),
    })),
  };
  return positioned(await elk.layout(graph));
}
