// Nodes, the pods on them (a Deployment's replicas on a node as one box), Services and outside
// hosts. Click a Service to see its endpoints and callers with the rest dimmed, or focus a
// namespace; zoom to a node. Edges: the focused Service's endpoints and the recent traffic only.
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { BaseEdge, getBezierPath, Handle, Position, ReactFlow, type Edge, type EdgeProps, type Node, type NodeProps, type ReactFlowInstance } from '@xyflow/react';
import type { TopologyView as Topo } from '@hopscope/agent/protocol/messages.ts';
import { buildTopologyGraph, layoutKey, namespacesOf, type Focus, type TopoItem, type TrafficEnds } from '../domain/topologyGraph.ts';
import { layoutTopology, type Positioned } from '../domain/layout.ts';
import { useThrottled } from './useThrottled.ts';

/** How often the lit edges follow the traffic (ms): every list update would redraw the graph. */
const LIGHT_MS = 1000;

type ItemNode = Node<{ item: TopoItem; lit: boolean; focused: boolean }, 'item'>;
type GroupNode = Node<{ label: string }, 'group'>;

function ItemCard({ data }: NodeProps<ItemNode>) {
  const i = data.item;
  return (
    <div
      className={`topo-item topo-${i.kind} ${data.lit ? 'lit' : ''} ${i.dim ? 'dim' : ''} ${data.focused ? 'focused' : ''}`}
      data-testid={`topo-${i.id}`}
      data-dim={i.dim}
      title={i.pods.length > 1 ? i.pods.join('\n') : undefined}
    >
      <Handle type="target" position={Position.Left} />
      <div className="ti-label">{i.label}</div>
      <div className="ti-sub">{i.sub}</div>
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

const ALL: Focus = { kind: 'all' };

export const TopologyView = memo(function TopologyView({ topology, journeys }: { topology: Topo; journeys: readonly TrafficEnds[] }) {
  const flow = useRef<ReactFlowInstance<ItemNode | GroupNode, Edge> | null>(null);
  const [focus, setFocus] = useState<Focus>(ALL);
  const shown = useThrottled(journeys, LIGHT_MS);
  const recent = useMemo(() => shown.slice(-200), [shown]);
  const graph = useMemo(() => buildTopologyGraph(topology, recent, focus), [topology, recent, focus]);
  // Layout depends only on the boxes (layoutTopology reads no edges), not on the focus or the traffic.
  const structure = useMemo(() => layoutKey(graph), [graph]);
  const [pos, setPos] = useState<{ key: string; p: Positioned } | null>(null);
  useEffect(() => {
    let live = true;
    layoutTopology(graph).then(
      (p) => live && setPos({ key: structure, p }),
      (e: unknown) => console.error('layout failed', e),
    );
    return () => {
      live = false;
    };
    // `graph` changes with every batch; only a change of structure needs a new layout, and the
    // graph of the render that changed it has the boxes to lay out.
  }, [structure]);

  // Kept per layout: a new layout starts afresh. (The layout's key, tens of kB at 1000 pods, in
  // each box's reuse key cost ~100 ms an update comparing them.)
  const kept = useRef<{ pos: typeof pos; nodes: Kept<ItemNode | GroupNode>; edges: Kept<Edge> }>({ pos: null, nodes: new Map(), edges: new Map() });
  const { nodes, edges } = useMemo(() => {
    if (!pos) return { nodes: [], edges: [] };
    const p = pos.p;
    const prev = kept.current.pos === pos ? kept.current : { pos, nodes: new Map(), edges: new Map() };
    const next: typeof prev = { pos, nodes: new Map(), edges: new Map() };
    const lit = new Set(graph.edges.filter((e) => e.count > 0).flatMap((e) => [e.source, e.target]));
    const nodes: (ItemNode | GroupNode)[] = [];
    for (const g of graph.groups) {
      const r = p.lanes[g.id];
      if (r) nodes.push({ id: `lane:${g.id}`, type: 'group', position: { x: r.x, y: r.y }, data: { label: g.label }, style: { width: r.width, height: r.height }, className: 'lane', draggable: false, selectable: false });
    }
    for (const i of graph.items) {
      const r = p.boxes[i.id];
      const focused = focus.kind === 'service' && focus.id === i.id;
      const on = lit.has(i.id);
      if (r)
        nodes.push(
          reuse(prev.nodes, next.nodes, i.id, `${i.label}|${i.sub}|${on}|${focused}|${i.dim}`, () => ({
            id: i.id,
            type: 'item',
            parentId: `lane:${i.group}`,
            position: { x: r.x, y: r.y },
            data: { item: i, lit: on, focused },
            style: { width: r.width },
            draggable: false,
          })),
        );
    }
    // Lit, not animated: an animated edge repaints the whole drawing every frame (no GPU here,
    // and on many laptops in a workshop).
    const edges: Edge[] = graph.edges.map((e) => {
      const label = e.kind === 'traffic' ? `${e.count}${e.dropped ? ` (${e.dropped} dropped)` : ''}` : e.endpoints > 1 ? `×${e.endpoints}` : undefined;
      const className = `topo-edge-${e.kind} ${e.count > 0 ? 'lit' : ''} ${focus.kind === 'service' && e.source === focus.id ? 'focus' : ''} ${e.dropped > 0 ? 'has-drops' : ''} ${e.dim ? 'dim' : ''}`;
      return reuse(prev.edges, next.edges, e.id, `${label}|${className}`, () => ({ id: e.id, type: 'count', source: e.source, target: e.target, label, className, zIndex: e.dim ? 0 : 1 }));
    });
    kept.current = next;
    return { nodes, edges };
  }, [pos, graph, focus]);

  // A new focus brings what it touches into view, as large as fits.
  const fitFocus = useCallback(
    (f: Focus) => {
      const ids = f.kind === 'all' ? [] : graph.items.filter((i) => !i.dim).map((i) => ({ id: i.id }));
      void flow.current?.fitView({ ...(ids.length ? { nodes: ids } : {}), padding: 0.08, duration: 300, maxZoom: 1.2 });
    },
    [graph],
  );
  const focusKey = JSON.stringify(focus);
  const fitted = useRef('');
  useEffect(() => {
    if (!pos || fitted.current === focusKey) return;
    fitted.current = focusKey;
    fitFocus(focus);
  }, [focusKey, focus, fitFocus, pos]);

  const zoomTo = (node: string) => void flow.current?.fitView({ nodes: [{ id: `lane:${node}` }], padding: 0.1, duration: 300, maxZoom: 2 });
  const namespaces = useMemo(() => namespacesOf(topology), [topology]);

  return (
    <div className="topology-view">
      <div className="topo-bar" data-testid="topo-bar">
        <label>
          <span className="dim">namespace</span>
          <select
            value={focus.kind === 'namespace' ? focus.namespace : ''}
            onChange={(e) => setFocus(e.target.value ? { kind: 'namespace', namespace: e.target.value } : ALL)}
            data-testid="topo-namespace"
          >
            <option value="">all</option>
            {namespaces.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="dim">zoom to</span>
          <select value="" onChange={(e) => e.target.value && zoomTo(e.target.value)} data-testid="topo-zoom-node">
            <option value="">node…</option>
            {topology.nodes.map((n) => (
              <option key={n.name} value={n.name}>
                {n.name}
              </option>
            ))}
          </select>
        </label>
        <button
          onClick={() => {
            fitted.current = '';
            setFocus(ALL);
            if (focus.kind === 'all') fitFocus(ALL);
          }}
          data-testid="topo-all"
        >
          show all
        </button>
        <span className="topo-focus" data-testid="topo-focus">
          {focus.kind === 'service' ? `Service ${focus.id.slice(4)}: its endpoints and callers` : focus.kind === 'namespace' ? `namespace ${focus.namespace}` : 'click a Service to see its endpoints'}
        </span>
        {graph.hiddenTraffic > 0 && <span className="dim">{graph.hiddenTraffic} quieter traffic edges not drawn</span>}
      </div>
      <div className="diagram topology" data-testid="topology" data-edges={edges.length} data-focus={focus.kind === 'service' ? focus.id : focus.kind === 'namespace' ? `ns:${focus.namespace}` : ''}>
        {nodes.length > 0 && (
          <ReactFlow
            key={pos?.key}
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            edgeTypes={edgeTypes}
            onInit={(i) => {
              flow.current = i;
            }}
            onNodeClick={(_e, n) => {
              if (n.type === 'group') zoomTo(n.id.slice(5));
              else if (n.id.startsWith('svc:')) setFocus(focus.kind === 'service' && focus.id === n.id ? ALL : { kind: 'service', id: n.id });
            }}
            fitView
            fitViewOptions={{ padding: 0.02 }}
            minZoom={0.1}
            zoomOnDoubleClick={false}
            nodesDraggable={false}
            nodesConnectable={false}
            colorMode="dark"
            proOptions={{ hideAttribution: true }}
          />
        )}
      </div>
    </div>
  );
});
