import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '@hopscope/agent/protocol/messages.ts';
import type { WorkerEvent } from '../api/workerProtocol.ts';
import { actionText, initialState, reduce, MAX_JOURNEYS, selectedJourney, visibleJourneys, type UiAction, type UiState } from './reducer.ts';
import { toRow, type Selection } from './journeyStore.ts';
import { ConnectionTable } from '../domain/conversations.ts';
import { dropped, reply, request } from '../__tests__/testdata.ts';

const status: AgentStatus = {
  tracer: 'running', probeSet: 'tracepoints', bpftraceVersion: 'v0.17.0',
  sampling: { enabled: false, description: 'off', suppressed: 0 },
  counters: { eventsIn: 1, journeysOut: 0, lostEvents: 0, bpftraceRestarts: 0, dropped: {}, clients: 1 }, lab: null,
};
const server = (message: Extract<WorkerEvent, { type: 'server' }>['message']): UiAction => ({ type: 'server', message });
const welcome = server({ type: 'welcome', version: 1, clientId: 'c1', status });
const noConns = { connections: [], connStats: { connections: 0, evicted: 0, journeys: 0 } };
const rows = (js: typeof request[], received: number, hiddenLoopback = 0): UiAction => ({ type: 'rows', rows: js.map(toRow), ...noConns, received, hiddenLoopback });
const run = (...as: UiAction[]): UiState => as.reduce(reduce, initialState);
const sel1: Selection = { id: 'j1', journey: request, request, reply };

describe('reducer', () => {
  it('keeps the connections the worker sends, updated in place, and the packets of the open one only', () => {
    const t = new ConnectionTable();
    t.add(request);
    const first: UiAction = { type: 'rows', rows: [toRow(request)], connections: t.takeChanged(), connStats: t.stats, received: 1, hiddenLoopback: 0 };
    t.add(reply);
    t.add(dropped);
    const second: UiAction = { type: 'rows', rows: [toRow(reply), toRow(dropped)], connections: t.takeChanged(), connStats: t.stats, received: 3, hiddenLoopback: 0 };
    let s = run(welcome, first, second);
    expect(s.connections.map((c) => [c.id, c.packets])).toEqual([
      ['c1', 2],
      ['c2', 1],
    ]);
    expect(s.connStats).toEqual({ connections: 2, evicted: 0, journeys: 3 });
    s = reduce(s, { type: 'openConnection', id: 'c1' });
    s = reduce(s, { type: 'connectionPackets', id: 'c2', rows: [toRow(dropped)], total: 1 });
    expect(s.connectionPackets).toBeNull();
    s = reduce(s, { type: 'connectionPackets', id: 'c1', rows: [toRow(request), toRow(reply)], total: 2 });
    expect(s.connectionPackets?.rows.map((r) => r.id)).toEqual(['j1', 'j1r']);
    expect(reduce(s, { type: 'clear' }).connections).toEqual([]);
  });
  it('opens on welcome and appends rows in order, newest first on screen', () => {
    const s = run(welcome, rows([request], 1), rows([reply], 2));
    expect(s.connection).toBe('open');
    expect(s.journeys.map((j) => j.id)).toEqual(['j1', 'j1r']);
    expect(visibleJourneys(s).map((j) => j.id)).toEqual(['j1r', 'j1']);
    expect(s.received).toBe(2);
  });
  it('takes the whole list again after a filter change or a clear', () => {
    let s = run(welcome, rows([request, dropped], 2), { type: 'filter', filter: { onlyDrops: true, onlyNat: false } });
    expect(s.filter.onlyDrops).toBe(true);
    s = reduce(s, { type: 'reset', rows: [toRow(dropped)], ...noConns, received: 2, hiddenLoopback: 0 });
    expect(s.journeys.map((j) => j.id)).toEqual(['j2']);
  });
  it('lists nothing while paused and counts missed notices', () => {
    const s = run(welcome, { type: 'pause' }, rows([request], 1), server({ type: 'missed', count: 7, total: 7 }), { type: 'resume' }, rows([dropped], 9));
    expect(s.journeys.map((j) => j.id)).toEqual(['j2']);
    expect(s.missed).toBe(7);
    expect(s.received).toBe(9);
  });
  it('shows the selection the worker sends for the current click only', () => {
    let s = run(welcome, rows([request, reply, dropped], 3), { type: 'select', id: 'j2' }, { type: 'select', id: 'j1' });
    expect(selectedJourney(s)).toBeUndefined();
    // the answer to the first click came late: not what the user looks at
    s = reduce(s, { type: 'selection', id: 'j2', selection: { id: 'j2', journey: dropped, request: dropped } });
    expect(s.selection).toBeNull();
    s = reduce(s, { type: 'selection', id: 'j1', selection: sel1 });
    expect(selectedJourney(s)?.id).toBe('j1');
    expect(s.selection?.reply?.id).toBe('j1r');
    // a filter dropped it
    s = reduce(s, { type: 'selection', id: 'j1', selection: null });
    expect(selectedJourney(s)).toBeUndefined();
  });
  it('bounds the list, keeping the selected row', () => {
    let s = run(welcome, rows([request], 1), { type: 'select', id: 'j1' }, { type: 'selection', id: 'j1', selection: sel1 });
    const many = Array.from({ length: MAX_JOURNEYS + 10 }, (_, i) => ({ ...dropped, id: `d${i}` }));
    s = reduce(s, rows(many, many.length + 1));
    expect(s.journeys).toHaveLength(MAX_JOURNEYS);
    expect(s.journeys[0]!.id).toBe('j1');
    expect(s.journeys.at(-1)!.id).toBe(`d${MAX_JOURNEYS + 9}`);
    expect(selectedJourney(s)?.id).toBe('j1');
  });
  it('clear keeps the selected row and zeroes missed', () => {
    const s = run(welcome, rows([request, dropped], 2), server({ type: 'missed', count: 3, total: 3 }), { type: 'select', id: 'j1' }, { type: 'clear' });
    expect(s.journeys.map((j) => j.id)).toEqual(['j1']);
    expect(s.missed).toBe(0);
  });
  it('steps through the selected journey within its hops', () => {
    let s = run(welcome, rows([request], 1), { type: 'select', id: 'j1' }, { type: 'selection', id: 'j1', selection: sel1 });
    s = reduce(s, { type: 'step', delta: -1 });
    expect(s.step).toBe(0);
    for (let i = 0; i < 20; i++) s = reduce(s, { type: 'step', delta: 1 });
    expect(s.step).toBe(request.hops.length - 1);
    s = reduce(s, { type: 'select', id: 'j1' });
    expect(s.step).toBe(0);
    expect(s.selection?.id).toBe('j1');
  });
  it('tracks actions to their results and marks the topology stale after a change', () => {
    const s = run(
      { type: 'actionStarted', id: 'a1', describe: 'curl svc/web' },
      { type: 'actionStarted', id: 'a2', describe: 'scale web' },
      server({ type: 'actionResult', id: 'a1', ok: true, output: '200 in 0.01s' }),
      server({ type: 'actionResult', id: 'a2', ok: false, output: '', error: 'no lab' }),
      { type: 'actionStarted', id: 'a3', describe: 'inspect' },
      // An error and output that hold colons of their own stay apart.
      server({ type: 'actionResult', id: 'a3', ok: false, output: 'node-1 $ nft list\nError: No such file', error: 'exit code 1: nft' }),
      { type: 'topology', topology: { name: 'lab', cni: 'x', nodes: [], pods: [], services: [], externals: [], deployments: [] } },
      server({ type: 'topologyChanged' }),
    );
    expect(s.actions.map((a) => [a.id, a.state, a.error, a.output])).toEqual([
      ['a3', 'failed', 'exit code 1: nft', 'node-1 $ nft list\nError: No such file'],
      ['a2', 'failed', 'no lab', ''],
      ['a1', 'ok', undefined, '200 in 0.01s'],
    ]);
    expect(s.actions.map(actionText)).toEqual(['exit code 1: nft: node-1 $ nft list\nError: No such file', 'no lab', '200 in 0.01s']);
    expect(s.topologyStale).toBe(true);
  });
  it('hides loopback journeys by default, counting them; the user can show them', () => {
    let s = run(welcome, rows([request], 3, 2));
    expect([s.hideLoopback, s.hiddenLoopback]).toEqual([true, 2]);
    s = reduce(s, { type: 'hideLoopback', on: false });
    expect(s.hideLoopback).toBe(false);
  });
  it('reports a closed connection with its reason', () => {
    const s = run(welcome, { type: 'connection', state: 'closed', reason: 'connection lost' });
    expect([s.connection, s.closeReason]).toEqual(['closed', 'connection lost']);
  });
});
