// Nodes, pods, Services and outside hosts; edges lit by the recent journeys.
import { memo, useEffect, useMemo, useRef, useState } from 'react';
import { BaseEdge, getBezierPath, Handle, Position, ReactFlow, type Edge, type EdgeProps, type Node, type NodeProps } from '@xyflow/react';
import type { TopologyView as Topo } from '@hopscope/agent/protocol/messages.ts';
import { buildTopologyGraph, layoutPart, type TopoItem, type TrafficEnds } from '../domain/topologyGraph.ts';
import { layoutTopology, type Positioned } from '../domain/layout.ts';
import { useThrottled } from './useThrottled.ts';

/** How often the lit edges follow the traffic (ms): every list update would redraw the graph. */
const LIGHT_MS = 1000;

type ItemNode = Node<{ item: TopoItem; lit: boolean }, 'item'>;
type GroupNode = Node<{ label: string }, 'group'>;

function ItemCard({ data }: NodeProps<ItemNode>) {
  return (
    <div className={`topo-item topo-${data.item.kind} ${data.lit ? 'lit' : ''}`} data-testid={`topo-${data.item.id}`}>
      <Handle type="target" position={Position.Left} />
      <div className="ti-label">{data.item.label}</div>
      <div className="ti-sub">{data.item.sub}</div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
}
function GroupBox({ data }: NodeProps<GroupNode>) {
  return <div className="lane-label">{data.label}</div>;
}
const nodeTypes = { item: ItemCard, group: GroupBox };

/**
 * An edge with its count as plain SVG text. React Flow's own label measures itself (getBBox) when
 * it mounts, a forced layout of the whole page per edge; with the traffic edges changing every
 * second, a cluster of 200 pods spent most of each second in them.
 */
function CountEdge({ id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition, label }: EdgeProps) {
  const [path, x, y] = getBezierPath({ sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition });
  return (
    <>
      <BaseEdge id={id} path={path} />
      {label !== undefined && (
        <text x={x} y={y} className="react-flow__edge-text topo-count" textAnchor="middle" dominantBaseline="central">
          {label}
        </text>
      )}
    </>
  );
}
const edgeTypes = { count: CountEdge };

type Kept<T> = Map<string, { key: string; v: T }>;
/**
 * The object of the last update for `id` when its `key` is unchanged, else a new one: React Flow
 * redraws only the nodes and edges whose objects changed. New objects for all of them every
 * second froze the page at 1000 pods (p95 frame ~3 s) while an idle page kept 60 fps.
 */
function reuse<T>(prev: Kept<T>, next: Kept<T>, id: string, key: string, make: () => T): T {
  const old = prev.get(id);
  const v = old && old.key === key ? old.v : make();
  next.set(id, { key, v });
  return v;
}

export const TopologyView = memo(function TopologyView({ topology, journeys }: { topology: Topo; journeys: readonly TrafficEnds[] }) {
  const shown = useThrottled(journeys, LIGHT_MS);
  const recent = useMemo(() => shown.slice(-200), [shown]);
  const graph = useMemo(() => buildTopologyGraph(topology, recent), [topology, recent]);
  // Layout depends only on the structure, not on the traffic.
  const structure = useMemo(() => layoutPart(graph), [graph]);
  const [pos, setPos] = useState<{ key: string; p: Positioned } | null>(null);
  useEffect(() => {
    let live = true;
    layoutTopology(structure.graph).then(
      (p) => live && setPos({ key: structure.key, p }),
      (e: unknown) => console.error('layout failed', e),
    );
    return () => {
      live = false;
    };
    // `graph` changes with every batch; only a change of structure needs a new layout.
  }, [structure.key]);

  const kept = useRef<{ nodes: Kept<ItemNode | GroupNode>; edges: Kept<Edge> }>({ nodes: new Map(), edges: new Map() });
  const { nodes, edges } = useMemo(() => {
    if (!pos) return { nodes: [], edges: [] };
    const p = pos.p;
    const prev = kept.current;
    const next: typeof prev = { nodes: new Map(), edges: new Map() };
    const lit = new Set(graph.edges.filter((e) => e.kind === 'traffic' && e.count > 0).flatMap((e) => [e.source, e.target]));
    const nodes: (ItemNode | GroupNode)[] = [];
    for (const g of graph.groups) {
      const r = p.lanes[g.id];
      const id = `lane:${g.id}`;
      if (r) nodes.push(reuse(prev.nodes, next.nodes, id, `${pos.key}|${g.label}`, () => ({ id, type: 'group', position: { x: r.x, y: r.y }, data: { label: g.label }, style: { width: r.width, height: r.height }, className: 'lane', draggable: false, selectable: false })));
    }
    for (const i of graph.items) {
      const r = p.boxes[i.id];
      const on = lit.has(i.id);
      if (r) nodes.push(reuse(prev.nodes, next.nodes, i.id, `${pos.key}|${i.label}|${i.sub}|${on}`, () => ({ id: i.id, type: 'item', parentId: `lane:${i.group}`, position: { x: r.x, y: r.y }, data: { item: i, lit: on }, style: { width: r.width }, draggable: false })));
    }
    // Lit, not animated: an animated edge repaints the whole drawing every frame (no GPU here,
    // and on many laptops in a workshop).
    const edges: Edge[] = graph.edges.map((e) => {
      const label = e.kind === 'traffic' ? `${e.count}${e.dropped ? ` (${e.dropped} dropped)` : ''}` : undefined;
      const className = `topo-edge-${e.kind} ${e.count > 0 ? 'lit' : ''} ${e.dropped > 0 ? 'has-drops' : ''}`;
      return reuse(prev.edges, next.edges, e.id, `${pos.key}|${label}|${className}`, () => ({ id: e.id, type: 'count', source: e.source, target: e.target, label, className }));
    });
    kept.current = next;
    return { nodes, edges };
  }, [pos, graph]);

  return (
    <div className="diagram topology" data-testid="topology">
      {nodes.length > 0 && (
        <ReactFlow key={pos?.key} nodes={nodes} edges={edges} nodeTypes={nodeTypes} edgeTypes={edgeTypes} fitView fitViewOptions={{ padding: 0.05 }} minZoom={0.1} nodesDraggable={false} nodesConnectable={false} colorMode="dark" proOptions={{ hideAttribution: true }} />
      )}
    </div>
  );
});
