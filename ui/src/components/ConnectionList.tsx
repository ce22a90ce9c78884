// The live list as conversations: one row per connection (who called whom through which
// Service, packets, verdict, handshake), virtualized; opening one lists its packets, and a
// packet opens its hops on the right as in the packet list.
import { memo, useMemo, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { ConnectionRow } from '../domain/conversations.ts';
import { duration } from '../domain/format.ts';
import type { JourneyRow } from '../store/journeyStore.ts';

interface Packets {
  id: string;
  rows: readonly JourneyRow[];
  total: number;
}

const PacketRow = memo(function PacketRow({ j, selected, onSelect }: { j: JourneyRow; selected: boolean; onSelect(id: string): void }) {
  const s = j.story;
  return (
    <div
      className={`conn-packet verdict-${s.verdict} ${selected ? 'selected' : ''}`}
      onClick={(e) => {
        e.stopPropagation();
        onSelect(j.id);
      }}
      data-testid="conn-packet"
      data-journey-id={j.id}
      data-verdict={s.verdict}
    >
      <span className={s.reply ? 'jr-reply' : 'cp-dir'}>{s.reply ? '↩' : '→'}</span>
      <span className="cp-proto">{s.proto}</span>
      <span className="cp-who">
        {s.from} → {s.to}
      </span>
      <span className={`jr-verdict v-${s.verdict}`}>{s.verdict}</span>
      <span className="jr-hops">{j.hops} hops</span>
    </div>
  );
});

const Row = memo(function Row({
  c,
  open,
  packets,
  selectedId,
  index,
  start,
  measure,
  onOpen,
  onSelect,
}: {
  c: ConnectionRow;
  open: boolean;
  packets: Packets | null;
  selectedId: string | null;
  index: number;
  start: number;
  measure(el: HTMLElement | null): void;
  onOpen(id: string | null): void;
  onSelect(id: string): void;
}) {
  const shown = open && packets?.id === c.id ? packets : null;
  return (
    <div
      ref={measure}
      data-index={index}
      className={`conn-row verdict-${c.verdict} ${open ? 'open' : ''}`}
      style={{ position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${start}px)` }}
      data-testid="conn-row"
      data-conn-id={c.id}
      data-packets={c.packets}
      data-verdict={c.verdict}
    >
      <div className="conn-head" onClick={() => onOpen(open ? null : c.id)} data-testid="conn-head" title={`${c.fromAddr} → ${c.toAddr}`}>
        <div className="jr-main">
          <span className="conn-caret">{open ? '▾' : '▸'}</span>
          <span className="jr-from">{c.from}</span>
          <span className="jr-arrow">→</span>
          {c.service && <span className="jr-svc">{c.service} →</span>}
          <span className="jr-to">{c.to}</span>
        </div>
        <div className="jr-meta">
          <span className="jr-proto">
            {c.proto.toUpperCase()}
            {(c.proto === 'tcp' || c.proto === 'udp') && ` ${c.fromAddr.slice(c.fromAddr.lastIndexOf(':'))}`}
          </span>
          <span className={`jr-verdict v-${c.verdict}`}>{c.verdict}</span>
          <span className="conn-packets" data-testid="conn-packets">
            {c.packets} packets ({c.requests}→ {c.replies}↩)
          </span>
          {c.handshake && <span className="jr-lat">handshake {c.handshake}</span>}
          {c.state === 'closed' && <span className="conn-state">closed</span>}
          {c.dns && (
            <span className="conn-dns" title="a DNS lookup from the same pod just before this call (matched by pod and time: the query name is not traced)" data-testid="conn-dns">
              DNS {duration(c.dns.beforeNs)} before
            </span>
          )}
        </div>
      </div>
      {open && (
        <div className="conn-packets-list" data-testid="conn-packets-list">
          {!shown && <div className="dim">loading packets…</div>}
          {shown?.rows.map((j) => <PacketRow key={j.id} j={j} selected={j.id === selectedId} onSelect={onSelect} />)}
          {shown && shown.total > shown.rows.length && <div className="dim">{shown.total - shown.rows.length} older packets no longer held</div>}
        </div>
      )}
    </div>
  );
});

export function ConnectionList({
  connections,
  openId,
  packets,
  selectedId,
  onOpen,
  onSelect,
}: {
  /** Newest first. */
  connections: readonly ConnectionRow[];
  openId: string | null;
  packets: Packets | null;
  selectedId: string | null;
  onOpen(id: string | null): void;
  onSelect(id: string): void;
}) {
  const parent = useRef<HTMLDivElement>(null);
  // Totals on the list element: what the rows add up to, for a reader (and a test) to check.
  const totals = useMemo(() => {
    let sum = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (const c of connections) {
      sum += c.packets;
      min = Math.min(min, c.packets);
      max = Math.max(max, c.packets);
    }
    return { sum, min: connections.length ? min : 0, max };
  }, [connections]);
  const v = useVirtualizer({ count: connections.length, getScrollElement: () => parent.current, estimateSize: () => 76, overscan: 8, getItemKey: (i) => connections[i]!.id });
  return (
    <div className="journey-list" ref={parent} data-testid="conn-list" data-count={connections.length} data-packets={totals.sum} data-packets-min={totals.min} data-packets-max={totals.max}>
      {connections.length === 0 && <div className="empty">No connections yet. Make some traffic with the buttons above.</div>}
      <div style={{ height: v.getTotalSize(), position: 'relative' }}>
        {v.getVirtualItems().map((item) => {
          const c = connections[item.index]!;
          return (
            <Row
              key={c.id}
              c={c}
              open={c.id === openId}
              packets={c.id === openId ? packets : null}
              selectedId={selectedId}
              index={item.index}
              start={item.start}
              measure={v.measureElement}
              onOpen={onOpen}
              onSelect={onSelect}
            />
          );
        })}
      </div>
    </div>
  );
}
