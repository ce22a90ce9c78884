// The hop diagram: model (diagram.ts) → layout (elk) → React Flow. One lane per node, one box
// per hop with its headers; encapsulation drawn as an outer header around the inner one.
import { memo, useEffect, useMemo, useRef, useState } from 'react';
import { Controls, Handle, Position, ReactFlow, type Edge, type Node, type NodeProps, type ReactFlowInstance } from '@xyflow/react';
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { buildDiagram, type HopBox } from '../domain/diagram.ts';
import { layoutDiagram, type Positioned } from '../domain/layout.ts';
import { LaneNotes } from './LaneNotes.tsx';

type HopNode = Node<{ box: HopBox; active: boolean }, 'hop'>;
type LaneNode = Node<{ label: string }, 'lane'>;

function HopCard({ data }: NodeProps<HopNode>) {
  const b = data.box;
  return (
    <div className={`hop hop-${b.kind} ${b.direction} ${data.active ? 'active' : ''}`} data-testid={`hop-${b.direction}-${b.index}`} data-kind={b.kind}>
      <Handle type="target" position={Position.Top} id="t" />
      <Handle type="target" position={Position.Left} id="l" />
      <Handle type="target" position={Position.Right} id="rt" />
      <div className="hop-title">
        <span>{b.title}</span>
        <span className="hop-delta">{b.delta}</span>
      </div>
      <div className="hop-where">{b.where}</div>
      {b.encap ? (
        <div className="encap-outer">
          <div className="encap-label">
            {b.encap.label} · outer {b.encap.outer}
          </div>
          <div className="encap-inner">{b.header}</div>
        </div>
      ) : (
        <div className="hop-header">{b.header}</div>
      )}
      {b.nat && (
        <div className="hop-nat">
          <div>{b.nat.before}</div>
          <div>⇒ {b.nat.after}</div>
          {b.nat.rule && <div className="hop-rule">{b.nat.rule}</div>}
          {b.nat.lines?.map((l, i) => (
            <div key={i} className={l.startsWith('⚠') ? 'hop-rule hop-disagree' : 'hop-rule'}>
              {l}
            </div>
          ))}
        </div>
      )}
      {b.drop && <div className="hop-drop">✖ {b.drop}</div>}
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
      nodes.push({ id: `lane:${l.id}`, type: 'lane', position: { x: r.x, y: r.y }, data: { label: l.label }, style: { width: r.width, height: r.height }, className: 'lane', selectable: false, draggable: false });
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
    <div className="diagram" data-testid="hop-diagram">
      <LaneNotes journey={request} />
      {nodes.length > 0 && (
        <ReactFlow
          key={key}
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          onInit={(i) => {
            flow.current = i;
          }}
          // Click a hop to read it at full size; double-click the background to see all again.
          onNodeClick={(_e, n) => {
            if (n.type === 'hop') void flow.current?.fitView({ nodes: [{ id: n.id }], maxZoom: 1.1, duration: 300, padding: 0.3 });
          }}
          onPaneClick={() => void flow.current?.fitView({ padding: 0.04, duration: 300 })}
          zoomOnDoubleClick={false}
          fitView={!follow}
          fitViewOptions={{ padding: 0.04 }}
          minZoom={0.1}
          nodesDraggable={false}
          nodesConnectable={false}
          colorMode="dark"
          proOptions={{ hideAttribution: true }}
        >
          <Controls showInteractive={false} />
        </ReactFlow>
      )}
      <div className="legend">
        <span className="legend-hint">click a hop to zoom</span>
        <span className="legend-request">━ request</span>
        {reply && <span className="legend-reply">━ reply</span>}
      </div>
    </div>
  );
});
