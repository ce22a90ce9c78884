import { describe, expect, it } from 'vitest';
import { kernelSpecFor, sourceStatusFrom } from './pipeline-source.ts';
import { unionFilters } from './filter.ts';
import type { ClientFilter } from '../protocol/messages.ts';
import type { PipelineStatus } from '../wiring/pipeline.ts';

const f = (x: Partial<ClientFilter>): ClientFilter => ({ onlyDrops: false, onlyNat: false, ...x });

describe('kernelSpecFor', () => {
  it('narrows the kernel to a protocol only when every client wants that one', () => {
    expect(kernelSpecFor(unionFilters([f({ proto: 'udp', port: 53 }), f({ proto: 'udp' })]), { firstPackets: 4 })).toEqual({ firstPackets: 4, proto: 'udp' });
    expect(kernelSpecFor(unionFilters([f({ proto: 'udp' }), f({ proto: 'tcp' })]), {})).toEqual({});
    expect(kernelSpecFor(unionFilters([f({ proto: 'udp' }), f({})]), { proto: 'tcp' })).toEqual({});
  });
  it('never narrows on ports or names, which change along a journey (DNAT, VXLAN)', () => {
    const spec = kernelSpecFor(unionFilters([f({ port: 80, service: 'web', pod: 'client' })]), {});
    expect(spec).toEqual({});
  });
});

describe('sourceStatusFrom', () => {
  it('says why the tracer is not running', () => {
    const s = sourceStatusFrom(undefined, undefined, 'unavailable', 'bpftrace not found');
    expect(s).toMatchObject({ tracer: 'unavailable', probeSet: null, message: 'bpftrace not found' });
    expect(s.counters.eventsIn).toBe(0);
  });
});

describe('sourceStatusFrom: tracer gaps', () => {
  const p = (tracer: PipelineStatus['tracer'], lastGap?: PipelineStatus['lastGap']) =>
    ({
      state: 'running',
      tracer,
      probeSet: 'tracepoints',
      sampling: { enabled: true, description: 'x', suppressed: 0 },
      counters: { events: 5, rejections: 0, lost: 0, gaps: lastGap ? 1 : 0, restarts: lastGap ? 1 : 0, evicted: 0, journeys: 1 },
      identitySynced: true,
      ...(lastGap ? { lastGap } : {}),
    }) as unknown as PipelineStatus;
  it('says restarting while bpftrace is down, and passes the last gap to clients', () => {
    expect(sourceStatusFrom(p('running'), undefined, 'running').tracer).toBe('running');
    for (const t of ['exited', 'restarting', 'starting'] as const) expect(sourceStatusFrom(p(t), undefined, 'running').tracer).toBe('restarting');
    const gap = { fromMs: 1000, toMs: 2500, reason: 'bpftrace killed by SIGKILL' };
    const s = sourceStatusFrom(p('running', gap), undefined, 'running');
    expect(s.lastGap).toEqual(gap);
    expect(s.counters.bpftraceRestarts).toBe(1);
    expect(sourceStatusFrom(p('running'), undefined, 'running').lastGap).toBeUndefined();
  });
});
