import { describe, expect, it } from 'vitest';
import { swappableSource } from './lab-session.ts';
import type { JourneySource, SourceSink, SourceStatus } from './source.ts';
import type { Journey } from '../protocol/events.ts';

const status: SourceStatus = {
  tracer: 'running',
  probeSet: null,
  bpftraceVersion: null,
  sampling: { enabled: false, description: 'none', suppressed: 0 },
  counters: { eventsIn: 0, lostEvents: 0, bpftraceRestarts: 0, dropped: {} },
};

/** A source that emits journeys j1, j2… (as a fresh pipeline numbers them) when told. */
function numbering(log: string[]) {
  const made: { emit(replyTo?: string): void; stopped: boolean }[] = [];
  const make = (): JourneySource => {
    let sink: SourceSink | undefined;
    let n = 0;
    const me = { emit: (replyTo?: string) => sink?.onJourney({ id: `j${++n}`, ...(replyTo ? { replyTo } : {}) } as Journey), stopped: false };
    made.push(me);
    return {
      start: (s) => {
        sink = s;
        return Promise.resolve();
      },
      setFilter: (u) => log.push(`filter ${JSON.stringify(u)}`),
      status: () => status,
      capabilities: () => ({}),
      stop: () => {
        me.stopped = true;
        return Promise.resolve();
      },
    };
  };
  return { make, made };
}

describe('swappableSource', () => {
  it('starts a fresh source after the swap, keeps the filter, and keeps journey ids unique across builds', async () => {
    const log: string[] = [];
    const { make, made } = numbering(log);
    const src = swappableSource(make);
    const ids: string[] = [];
    const statuses: string[] = [];
    await src.start({ onJourney: (j) => ids.push(`${j.id}${j.replyTo ? `<${j.replyTo}` : ''}`), onStatus: (s) => statuses.push(s.tracer) });
    src.setFilter({ protos: ['tcp'] } as never);
    made[0]!.emit();
    let during = '';
    await src.swap(() => {
      during = src.status().tracer;
      return Promise.resolve();
    });
    expect(made[0]!.stopped).toBe(true);
    made[1]!.emit();
    made[1]!.emit('j1');
    expect(ids).toEqual(['j1', 'b2-j1', 'b2-j2<b2-j1']);
    expect(during).toBe('restarting');
    expect(statuses).toContain('restarting');
    expect(log.filter((l) => l.startsWith('filter'))).toHaveLength(2);
    expect(src.status().tracer).toBe('running');
  });

  it('a stop during the swap starts nothing afterwards', async () => {
    const { make, made } = numbering([]);
    const src = swappableSource(make);
    await src.start({ onJourney: () => undefined, onStatus: () => undefined });
    await src.swap(() => src.stop());
    expect(made).toHaveLength(1);
  });
});
