import { describe, expect, it } from 'vitest';
import type { AgentStatus, ServerMessage } from '@hopscope/agent/protocol/messages.ts';
import { initialState, reduce, MAX_JOURNEYS, selectedJourney, visibleJourneys, type UiAction, type UiState } from './reducer.ts';
import { dropped, reply, request } from '../testdata.ts';

const status: AgentStatus = {
  tracer: 'running', probeSet: 'tracepoints', bpftraceVersion: 'v0.17.0',
  sampling: { enabled: false, description: 'off', suppressed: 0 },
  counters: { eventsIn: 1, journeysOut: 0, lostEvents: 0, bpftraceRestarts: 0, dropped: {}, clients: 1 }, lab: null,
};
const server = (message: ServerMessage): UiAction => ({ type: 'server', message });
const run = (...as: UiAction[]): UiState => as.reduce(reduce, initialState);

describe('reducer', () => {
  it('opens on welcome and appends batches in order', () => {
    const s = run(server({ type: 'welcome', version: 1, clientId: 'c1', status }), server({ type: 'batch', seq: 1, dropped: 0, journeys: [request, reply] }));
    expect(s.connection).toBe('open');
    expect(s.journeys.map((j) => j.id)).toEqual(['j1', 'j1r']);
    expect(visibleJourneys(s).map((j) => j.id)).toEqual(['j1r', 'j1']);
  });
  it('ignores stale or repeated batches and duplicate journeys', () => {
    const s = run(
      server({ type: 'welcome', version: 1, clientId: 'c1', status }),
      server({ type: 'batch', seq: 2, dropped: 0, journeys: [request] }),
      server({ type: 'batch', seq: 1, dropped: 0, journeys: [dropped] }),
      server({ type: 'batch', seq: 3, dropped: 0, journeys: [request] }),
    );
    expect(s.journeys.map((j) => j.id)).toEqual(['j1']);
    expect(s.lastSeq).toBe(3);
  });
  it('renumbers from 1 after a reconnect', () => {
    const s = run(
      server({ type: 'welcome', version: 1, clientId: 'c1', status }),
      server({ type: 'batch', seq: 5, dropped: 0, journeys: [request] }),
      { type: 'connection', state: 'closed', reason: 'connection lost' },
      server({ type: 'welcome', version: 1, clientId: 'c2', status }),
      server({ type: 'batch', seq: 1, dropped: 0, journeys: [dropped] }),
    );
    expect(s.journeys.map((j) => j.id)).toEqual(['j1', 'j2']);
    expect(s.clientId).toBe('c2');
  });
  it('drops incoming journeys while paused and counts missed notices', () => {
    const s = run(
      server({ type: 'welcome', version: 1, clientId: 'c1', status }),
      { type: 'pause' },
      server({ type: 'batch', seq: 1, dropped: 0, journeys: [request] }),
      server({ type: 'missed', count: 7, total: 7 }),
      { type: 'resume' },
      server({ type: 'batch', seq: 2, dropped: 7, journeys: [dropped] }),
    );
    expect(s.journeys.map((j) => j.id)).toEqual(['j2']);
    expect(s.missed).toBe(7);
  });
  it('applies a new filter to the list already shown', () => {
    const s = run(server({ type: 'welcome', version: 1, clientId: 'c1', status }), server({ type: 'batch', seq: 1, dropped: 0, journeys: [request, dropped] }), {
      type: 'filter',
      filter: { onlyDrops: true, onlyNat: false },
    });
    expect(s.journeys.map((j) => j.id)).toEqual(['j2']);
    // and to what arrives later
    const t = reduce(s, server({ type: 'batch', seq: 2, dropped: 0, journeys: [reply] }));
    expect(t.journeys.map((j) => j.id)).toEqual(['j2']);
  });
  it('bounds the list, keeping the selected journey', () => {
    let s = run(server({ type: 'welcome', version: 1, clientId: 'c1', status }), server({ type: 'batch', seq: 1, dropped: 0, journeys: [request] }), { type: 'select', id: 'j1' });
    const many = Array.from({ length: MAX_JOURNEYS + 10 }, (_, i) => ({ ...dropped, id: `d${i}` }));
    s = reduce(s, server({ type: 'batch', seq: 2, dropped: 0, journeys: many }));
    expect(s.journeys).toHaveLength(MAX_JOURNEYS);
    expect(selectedJourney(s)?.id).toBe('j1');
  });
  it('steps through the selected journey within its hops', () => {
    let s = run(server({ type: 'welcome', version: 1, clientId: 'c1', status }), server({ type: 'batch', seq: 1, dropped: 0, journeys: [request] }), { type: 'select', id: 'j1' });
    s = reduce(s, { type: 'step', delta: -1 });
    expect(s.step).toBe(0);
    for (let i = 0; i < 20; i++) s = reduce(s, { type: 'step', delta: 1 });
    expect(s.step).toBe(request.hops.length - 1);
    s = reduce(s, { type: 'select', id: 'j1' });
    expect(s.step).toBe(0);
  });
  it('tracks actions to their results and marks the topology stale after a change', () => {
    const s = run(
      { type: 'actionStarted', id: 'a1', describe: 'curl svc/web' },
      { type: 'actionStarted', id: 'a2', describe: 'scale web' },
      server({ type: 'actionResult', id: 'a1', ok: true, output: '200 in 0.01s' }),
      server({ type: 'actionResult', id: 'a2', ok: false, output: '', error: 'no lab' }),
      { type: 'topology', topology: { name: 'lab', cni: 'x', nodes: [], pods: [], services: [], externals: [], deployments: [] } },
      server({ type: 'topologyChanged' }),
    );
    expect(s.actions.map((a) => [a.id, a.state, a.output])).toEqual([
      ['a2', 'failed', 'no lab'],
      ['a1', 'ok', '200 in 0.01s'],
    ]);
    expect(s.topologyStale).toBe(true);
  });
});
