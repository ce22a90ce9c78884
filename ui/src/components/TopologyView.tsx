// Nodes, pods, Services and outside hosts; edges lit by the recent journeys.
import { memo, useEffect, useMemo, useState } from 'react';
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

  const { nodes, edges } = useMemo(() => {
    if (!pos) return { nodes: [], edges: [] };
    const p = pos.p;
    const lit = new Set(graph.edges.filter((e) => e.kind === 'traffic' && e.count > 0).flatMap((e) => [e.source, e.target]));
    const nodes: (ItemNode | GroupNode)[] = [];
    for (const g of graph.groups) {
      const r = p.lanes[g.id];
      if (r) nodes.push({ id: `lane:${g.id}`, type: 'group', position: { x: r.x, y: r.y }, data: { label: g.label }, style: { width: r.width, height: r.height }, className: 'lane', draggable: false, selectable: false });
    }
    for (const i of graph.items) {
      const r = p.boxes[i.id];
      if (r) nodes.push({ id: i.id, type: 'item', parentId: `lane:${i.group}`, position: { x: r.x, y: r.y }, data: { item: i, lit: lit.has(i.id) }, style: { width: r.width }, draggable: false });
    }
    // Lit, not animated: an animated edge repaints the whole drawing every frame (no GPU here,
    // and on many laptops in a workshop).
    const edges: Edge[] = graph.edges.map((e) => ({
      id: e.id,
      type: 'count',
      source: e.source,
      target: e.target,
      label: e.kind === 'traffic' ? `${e.count}${e.dropped ? ` (${e.dropped} dropped)` : ''}` : undefined,
      className: `topo-edge-${e.kind} ${e.count > 0 ? 'lit' : ''} ${e.dropped > 0 ? 'has-drops' : ''}`,
    }));
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
