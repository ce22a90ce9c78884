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
        // Request and reply are two components: packed in the model's order, the request's
        // column is the left one (ELK's packing had put the reply's there, so a view opened at
        // the lane's left showed the reply first).
        'elk.layered.considerModelOrder.components': 'MODEL_ORDER',
        // The order edges leave and enter at the lane's top corners: ELK lines the lanes up to
        // keep those edges straight, so every lane starts at the top (centred on the edge, a
        // short lane started lower than a tall one, and a view opened at the first lane's top
        // cut off the top of the taller lane beside it).
        'elk.portConstraints': 'FIXED_SIDE',
        'elk.portAlignment.default': 'BEGIN',
      },
      ports: [
        { id: `lane:${l.id}:in`, width: 1, height: 1, layoutOptions: { 'elk.port.side': 'WEST' } },
        { id: `lane:${l.id}:out`, width: 1, height: 1, layoutOptions: { 'elk.port.side': 'EAST' } },
      ],
      children: m.boxes.filter((b) => b.lane === l.id).map((b) => ({ id: b.id, ...boxSize(b) })),
      // Edges inside this lane shape its column.
      edges: m.edges
        .filter((e) => m.boxes.find((b) => b.id === e.source)?.lane === l.id && m.boxes.find((b) => b.id === e.target)?.lane === l.id)
        .map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
    })),
    // Lane-to-lane edges only order the columns; hop edges are drawn by React Flow.
    edges: m.laneOrder.map(([a, b], k) => ({ id: `order${k}`, sources: [`lane:${a}:out`], targets: [`lane:${b}:in`] })),
  };
  return positioned(await elk.layout(graph));
}

/** Size of a topology box (px, before zoom): wide enough for a generated pod name at 21 px. */
export const TOPO_ITEM = { width: 300, height: 76 };

/** Above this many items the topology is laid out as a grid (see gridTopology). */
export const GRID_ABOVE = 120;
const BOX = TOPO_ITEM;
const PAD = { top: 56, left: 24, bottom: 24, right: 24 };
const GAP = { x: 30, y: 30, lanes: 120 };
/** Rows in one column of a lane before it grows another column. */
const ROWS_PER_COLUMN = 20;

/**
 * A grid: the Services lane first (its edges go to the pods), then the nodes in the topology's
 * order, then outside hosts; each lane's items in columns of ROWS_PER_COLUMN. ELK on the page's
 * thread (its layered layout, measured) took ~2 s for 200 pods and ~15 s for 1000, growing faster
 * than the pods, which froze the page; a grid is linear and keeps the topology's order. Pure.
 */
export function gridTopology(g: TopoGraph): Positioned {
  const res: Positioned = { lanes: {}, boxes: {} };
  const lanes = [...g.groups].sort((a, b) => Number(b.id === 'services') - Number(a.id === 'services'));
  let x = 0;
  for (const lane of lanes) {
    const items = g.items.filter((i) => i.group === lane.id);
    const rows = Math.min(ROWS_PER_COLUMN, Math.max(1, items.length));
    const cols = Math.max(1, Math.ceil(items.length / ROWS_PER_COLUMN));
    items.forEach((it, k) => {
      const c = Math.floor(k / ROWS_PER_COLUMN);
      const r = k % ROWS_PER_COLUMN;
      res.boxes[it.id] = { x: PAD.left + c * (BOX.width + GAP.x), y: PAD.top + r * (BOX.height + GAP.y), ...BOX };
    });
    const width = PAD.left + cols * BOX.width + (cols - 1) * GAP.x + PAD.right;
    const height = PAD.top + rows * BOX.height + (rows - 1) * GAP.y + PAD.bottom;
    res.lanes[lane.id] = { x, y: 0, width, height };
    x += width + GAP.lanes;
  }
  return res;
}

/**
 * Lay out the topology: each group packs its boxes into a block, and the blocks pack into a
 * screen-shaped rectangle. Edges take no part: they change with the focus and the traffic, and
 * moving every box when a Service is clicked would lose the viewer. Above GRID_ABOVE boxes, a grid.
 */
export async function layoutTopology(g: TopoGraph): Promise<Positioned> {
  if (g.items.length > GRID_ABOVE) return gridTopology(g);
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
