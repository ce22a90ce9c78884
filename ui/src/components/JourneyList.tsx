// The live journey list, virtualized: only the rows on screen are in the DOM.
import { useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { journeyStory } from '../domain/format.ts';

export function JourneyList({ journeys, selectedId, onSelect }: { journeys: Journey[]; selectedId: string | null; onSelect(id: string): void }) {
  const parent = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({ count: journeys.length, getScrollElement: () => parent.current, estimateSize: () => 104, overscan: 8 });
  return (
    <div className="journey-list" ref={parent} data-testid="journey-list">
      {journeys.length === 0 && <div className="empty">No journeys yet. Make some traffic with the buttons above.</div>}
      <div style={{ height: v.getTotalSize(), position: 'relative' }}>
        {v.getVirtualItems().map((row) => {
          const j = journeys[row.index]!;
          const s = journeyStory(j);
          return (
            <div
              key={j.id}
              className={`journey-row verdict-${s.verdict} ${j.id === selectedId ? 'selected' : ''}`}
              style={{ position: 'absolute', top: 0, left: 0, right: 0, height: row.size, transform: `translateY(${row.start}px)` }}
              onClick={() => onSelect(j.id)}
              data-testid="journey-row"
              data-journey-id={j.id}
              data-verdict={s.verdict}
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
                <span className="jr-hops">{j.hops.length} hops</span>
                {j.identityUnknown && (
                  <span className="jr-unknown" title="seen while the identity index was resyncing: names withheld">
                    names withheld
                  </span>
                )}
              </div>
            </div>
          );
        })}
      </div>
    </div>
  );
}
