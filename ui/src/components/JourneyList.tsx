// The live journey list, virtualized: only the rows on screen are in the DOM.
import { memo, useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { JourneyRow } from '../store/journeyStore.ts';

// One row; memoized so a list update re-renders only the rows whose journey or place changed.
const Row = memo(function Row({ j, selected, start, size, onSelect }: { j: JourneyRow; selected: boolean; start: number; size: number; onSelect(id: string): void }) {
  const s = j.story;
  return (
    <div
      className={`journey-row verdict-${s.verdict} ${selected ? 'selected' : ''}`}
      style={{ position: 'absolute', top: 0, left: 0, right: 0, height: size, transform: `translateY(${start}px)` }}
      onClick={() => onSelect(j.id)}
      data-testid="journey-row"
      data-journey-id={j.id}
      data-verdict={s.verdict}
      data-loopback={j.loopback}
    >
      <div className="jr-main">
        {s.reply && <span className="jr-reply">↩</span>}
        <span className="jr-from">{s.from}</span>
        <span className="jr-arrow">→</span>
        {s.service && <span className="jr-svc">{s.service} →</span>}
        <span className="jr-to">{s.to}</span>
      </div>
      <div className="jr-meta">
        <span className="jr-proto">{s.proto}</span>
        <span className={`jr-verdict v-${s.verdict}`}>{s.verdict}</span>
        <span className="jr-lat">{s.latency}</span>
        <span className="jr-hops">{j.hops} hops</span>
        {j.identityUnknown && (
          <span className="jr-unknown" title="seen while the identity index was resyncing: names withheld">
            names withheld
          </span>
        )}
      </div>
    </div>
  );
});

export function JourneyList({ journeys, selectedId, onSelect }: { journeys: readonly JourneyRow[]; selectedId: string | null; onSelect(id: string): void }) {
  const parent = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({ count: journeys.length, getScrollElement: () => parent.current, estimateSize: () => 104, overscan: 8 });
  return (
    <div className="journey-list" ref={parent} data-testid="journey-list">
      {journeys.length === 0 && <div className="empty">No journeys yet. Make some traffic with the buttons above.</div>}
      <div style={{ height: v.getTotalSize(), position: 'relative' }}>
        {v.getVirtualItems().map((row) => {
          const j = journeys[row.index]!;
          return <Row key={j.id} j={j} selected={j.id === selectedId} start={row.start} size={row.size} onSelect={onSelect} />;
        })}
      </div>
    </div>
  );
}
