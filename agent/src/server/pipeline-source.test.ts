import { describe, expect, it } from 'vitest';
import { kernelSpecFor, sourceStatusFrom } from './pipeline-source.ts';
import { unionFilters } from './filter.ts';
import type { ClientFilter } from '../protocol/messages.ts';

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
