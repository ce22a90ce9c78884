// Per-hop latency as a waterfall: each bar starts where the previous hop ended.
import { memo } from 'react';
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { duration } from '../domain/format.ts';

export const Waterfall = memo(function Waterfall({ journey, activeIndex }: { journey: Journey; activeIndex?: number }) {
  const total = Math.max(1, journey.endNs - journey.startNs);
  return (
    <div className="waterfall" data-testid="waterfall">
      {journey.hops.map((h, i) => {
        const start = h.tsNs - h.deltaNs - journey.startNs;
        const left = (Math.max(0, start) / total) * 100;
        const width = Math.max(0.6, (h.deltaNs / total) * 100);
        return (
          <div key={i} className={`wf-row ${i === activeIndex ? 'active' : ''}`}>
            <span className="wf-label">
              {i + 1}. {h.kind} · {h.dev}
            </span>
            <span className="wf-track">
              <span className={`wf-bar wf-${h.kind}`} style={{ left: `${left}%`, width: `${width}%` }} />
            </span>
            <span className="wf-time">{i === 0 ? '0' : `+${duration(h.deltaNs)}`}</span>
          </div>
        );
      })}
      <div className="wf-total">total {duration(total)}</div>
    </div>
  );
});
