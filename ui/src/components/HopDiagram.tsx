// The hop diagram: model (diagram.ts) → layout (elk) → React Flow. One lane per node, one box
// per hop with its headers; encapsulation drawn as an outer header around the inner one.
import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Controls, Handle, MiniMap, Position, ReactFlow, type Edge, type Node, type NodeProps, type ReactFlowInstance } from '@xyflow/react';
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { buildDiagram, type HopBox } from '../domain/diagram.ts';
import { layoutDiagram, type Positioned } from '../domain/layout.ts';
import { READABLE_ZOOM, boundsOf, readableView } from '../domain/viewport.ts';
import { LaneNotes } from './LaneNotes.tsx';
import { HopBody } from './HopBody.tsx';

type HopNode = Node<{ box: HopBox; active: boolean }, 'hop'>;
type LaneNode = Node<{ label: string }, 'lane'>;

function HopCard({ data }: NodeProps<HopNode>) {
  const b = data.box;
  return (
    <div className={`hop hop-${b.kind} ${b.direction} ${data.active ? 'active' : ''}`} data-testid={`hop-${b.direction}-${b.index}`} data-kind={b.kind}>
      <Handle type="target" position={Position.Top} id="t" />
      <Handle type="target" position={Position.Left} id="l" />
      <Handle type="target" position={Position.Right} id="rt" />
      <HopBody box={b} />
      <Handle type="source" position={Position.Bottom} id="b" />
      <Handle type="source" position={Position.Right} id="r" />
      <Handle type="source" position={Position.Left} id="ls" />
    </div>
  );
}

function LaneBox({ data }: NodeProps<LaneNode>) {
  return <div className="lane-label">{data.label}</div>;
}

const nodeTypes = { hop: HopCard, lane: LaneBox };

/** Mini-map fill: the page's own palette (an SVG fill attribute cannot take a CSS variable). */
function miniMapColor(n: Node): string {
  const css = getComputedStyle(document.documentElement);
  return css.getPropertyValue(n.type === 'lane' ? '--line' : '--req').trim();
}

/**
 * The diagram of a request and its reply (when known). `activeIndex` highlights a request hop;
 * with `follow` the view centres on it at a readable zoom (workshop mode).
 */
export const HopDiagram = memo(function HopDiagram({
  request,
  reply,
  activeIndex,
  activeDirection = 'request',
  follow,
}: {
  request: Journey;
  reply?: Journey;
  activeIndex?: number;
  /** Which journey `activeIndex` counts in (a lesson walks the reply too). */
  activeDirection?: 'request' | 'reply';
  follow?: boolean;
}) {
  const flow = useRef<ReactFlowInstance<HopNode | LaneNode, Edge> | null>(null);
  const model = useMemo(() => buildDiagram(request, reply), [request, reply]);
  const [pos, setPos] = useState<{ key: string; p: Positioned } | null>(null);
  const key = `${request.id}/${reply?.id ?? ''}`;
  useEffect(() => {
    let live = true;
    layoutDiagram(model).then(
      (p) => live && setPos({ key, p }),
      (e: unknown) => console.error('layout failed', e),
    );
    return () => {
      live = false;
    };
  }, [model, key]);

  const { nodes, edges } = useMemo(() => {
    if (!pos || pos.key !== key) return { nodes: [], edges: [] };
    const p = pos.p;
    const nodes: (HopNode | LaneNode)[] = [];
    for (const l of model.lanes) {
      const r = p.lanes[l.id];
      if (!r) continue;
      nodes.push({ id: `lane:${l.id}`, type: 'lane', position: { x: r.x, y: r.y }, data: { label: l.label }, style: { width: r.width, height: r.height }, initialWidth: r.width, initialHeight: r.height, className: 'lane', selectable: false, draggable: false });
    }
    for (const b of model.boxes) {
      const r = p.boxes[b.id];
      if (!r) continue;
      nodes.push({
        id: b.id,
        type: 'hop',
        parentId: `lane:${b.lane}`,
        position: { x: r.x, y: r.y },
        data: { box: b, active: b.direction === activeDirection && activeIndex !== undefined && b.indices.includes(activeIndex) },
        style: { width: r.width },
        // The mini-map draws only nodes whose size it knows: controlled nodes never get `measured`.
        initialWidth: r.width,
        initialHeight: r.height,
        draggable: false,
      });
    }
    const laneX = (id: string) => p.lanes[model.boxes.find((b) => b.id === id)?.lane ?? '']?.x ?? 0;
    const edges: Edge[] = model.edges.map((e) => {
      const sx = laneX(e.source);
      const tx = laneX(e.target);
      const [sourceHandle, targetHandle] = sx === tx ? ['b', 't'] : tx > sx ? ['r', 'l'] : ['ls', 'rt'];
      const tgt = model.boxes.find((b) => b.id === e.target);
      const active = e.direction === activeDirection && activeIndex !== undefined && !!tgt?.indices.includes(activeIndex);
      return {
        id: e.id,
        source: e.source,
        target: e.target,
        sourceHandle,
        targetHandle,
        type: 'smoothstep',
        animated: active,
        className: `edge-${e.direction}${active ? ' edge-active' : ''}`,
      };
    });
    return { nodes, edges };
  }, [pos, key, model, activeIndex, activeDirection]);

  // The whole diagram when it is readable whole, else its start at a readable size (a projector
  // at 1280x720 showed a cross-node journey with its reply at 3 px text).
  const pane = useRef<HTMLDivElement>(null);
  const [cramped, setCramped] = useState(false);
  const overview = useCallback(
    (duration: number) => {
      const el = pane.current;
      if (!flow.current || !el || !pos || pos.key !== key) return;
      // The lane of the request's first hop. The layout puts it leftmost (lanes are chained in
      // the order the request reaches them) and the lanes top-aligned; starting there says so
      // rather than trusting the drawing's corner to be the story's start.
      const bounds = boundsOf(pos.p.lanes);
      const first = model.boxes.find((b) => b.direction === 'request' && b.indices.includes(0));
      const lane = first && pos.p.lanes[first.lane];
      const v = readableView(bounds, { width: el.clientWidth, height: el.clientHeight }, lane ? { start: { x: lane.x, y: lane.y } } : {});
      setCramped(v.cramped);
      void flow.current.setViewport({ x: v.x, y: v.y, zoom: v.zoom }, { duration });
    },
    [pos, key, model],
  );
  useEffect(() => {
    if (follow || nodes.length === 0) return;
    overview(0);
    // A window resized (or a projector plugged in) gets its own overview.
    const el = pane.current;
    if (!el) return;
    let last = `${el.clientWidth}x${el.clientHeight}`;
    const ro = new ResizeObserver(() => {
      const now = `${el.clientWidth}x${el.clientHeight}`;
      if (now !== last) overview(0);
      last = now;
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [follow, nodes.length, overview]);

  // Workshop: keep the current hop in the middle of the screen, large enough to read.
  useEffect(() => {
    if (!follow || activeIndex === undefined || !pos || pos.key !== key || !flow.current) return;
    const b = model.boxes.find((x) => x.direction === activeDirection && x.indices.includes(activeIndex));
    const r = b && pos.p.boxes[b.id];
    const lane = b && pos.p.lanes[b.lane];
    if (!b || !r || !lane) return;
    void flow.current.setCenter(lane.x + r.x + r.width / 2, lane.y + r.y + r.height / 2, { zoom: 1, duration: 300 });
  }, [follow, activeIndex, activeDirection, pos, key, model, nodes]);

  return (
    <div className={cramped ? 'diagram cramped' : 'diagram'} data-testid="hop-diagram" ref={pane}>
      <LaneNotes journey={request} />
      {nodes.length > 0 && (
        <ReactFlow
          key={key}
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          onInit={(i) => {
            flow.current = i;
            if (!follow) overview(0);
          }}
          // Click a hop to read it at full size; double-click the background to see all again.
          onNodeClick={(_e, n) => {
            if (n.type === 'hop') void flow.current?.fitView({ nodes: [{ id: n.id }], maxZoom: 1.1, duration: 300, padding: 0.05 });
          }}
          onPaneClick={() => overview(300)}
          zoomOnDoubleClick={false}
          // Zooming out further would draw text under 14 px: the mini-map gives the overview.
          minZoom={READABLE_ZOOM}
          nodesDraggable={false}
          nodesConnectable={false}
          colorMode="dark"
          proOptions={{ hideAttribution: true }}
        >
          <Controls showInteractive={false} />
          {cramped && <MiniMap pannable zoomable nodeColor={miniMapColor} nodeStrokeWidth={0} maskColor="rgba(10, 12, 16, 0.55)" style={{ width: 180, height: 110 }} />}
        </ReactFlow>
      )}
      <div className="legend">
        <span className="legend-hint">{cramped ? 'drag to move · click a hop to zoom' : 'click a hop to zoom'}</span>
        <span className="legend-request">━ request</span>
        {reply && <span className="legend-reply">━ reply</span>}
      </div>
    </div>
  );
});
