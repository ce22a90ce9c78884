import { describe, expect, it } from 'vitest';
import { Fanout } from './fanout.ts';
import { FakeSocket, runningStatus } from './__tests__/fanout-kit.ts';
import { syntheticJourney } from './__tests__/synthetic.ts';

const status = runningStatus;

function connect(fanout: Fanout, filter?: object): { id: string; sock: FakeSocket } {
  const sock = new FakeSocket();
  const id = fanout.addClient(sock);
  fanout.handleMessage(id, JSON.stringify({ type: 'hello', version: 1 }));
  if (filter) fanout.handleMessage(id, JSON.stringify({ type: 'subscribe', filter }));
  return { id, sock };
}

describe('Fanout', () => {
  it('welcomes, then batches matching journeys per client filter', () => {
    const fanout = new Fanout({ status });
    const all = connect(fanout);
    const drops = connect(fanout, { onlyDrops: true });
    expect(all.sock.messages()[0]).toMatchObject({ type: 'welcome', version: 1 });
    fanout.publish(syntheticJourney(1));
    fanout.publish(syntheticJourney(2, { dropped: true }));
    fanout.flush();
    expect(all.sock.journeys()).toEqual(['syn-1', 'syn-2']);
    expect(drops.sock.journeys()).toEqual(['syn-2']);
    const batches = all.sock.messages().filter((m) => m.type === 'batch');
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ seq: 1, dropped: 0 });
  });

  it('serialises once per filter group', () => {
    const fanout = new Fanout({ status });
    for (let i = 0; i < 5; i++) connect(fanout);
    connect(fanout, { port: 53 });
    fanout.publish(syntheticJourney(1));
    fanout.flush();
    expect(fanout.counters.serialisations).toBe(1); // the port-53 group matched nothing and sent nothing
    expect(fanout.counters.journeysOut).toBe(5);
  });

  it('sends nothing before hello and nothing while paused', () => {
    const fanout = new Fanout({ status });
    const early = new FakeSocket();
    fanout.addClient(early);
    const p = connect(fanout);
    fanout.handleMessage(p.id, '{"type":"pause"}');
    fanout.publish(syntheticJourney(1));
    fanout.flush();
    expect(early.sent).toEqual([]);
    expect(p.sock.journeys()).toEqual([]);
    fanout.handleMessage(p.id, '{"type":"resume"}');
    fanout.publish(syntheticJourney(2));
    fanout.flush();
    expect(p.sock.journeys()).toEqual(['syn-2']);
  });

  it('bounds a slow client backlog, counts and tells the drops, and keeps others whole', () => {
    const fanout = new Fanout({ status, maxQueue: 10, maxBufferedBytes: 1000 });
    const slow = connect(fanout);
    const fast = connect(fanout);
    slow.sock.bufferedAmount = 5000; // the peer stopped reading
    for (let i = 0; i < 25; i++) fanout.publish(syntheticJourney(i));
    fanout.flush();
    for (let i = 25; i < 30; i++) fanout.publish(syntheticJourney(i));
    fanout.flush();
    expect(fast.sock.journeys()).toHaveLength(30);
    expect(slow.sock.journeys()).toHaveLength(0);
    const s = fanout.clientStats().find((c) => c.id === slow.id)!;
    expect(s.backlog).toBe(10);
    expect(s.missedTotal).toBe(20);
    // The peer catches up: it gets the newest 10 and a notice of the 20 it missed.
    slow.sock.bufferedAmount = 0;
    fanout.flush();
    const msgs = slow.sock.messages();
    expect(msgs.find((m) => m.type === 'missed')).toEqual({ type: 'missed', count: 20, total: 20 });
    const batch = msgs.find((m) => m.type === 'batch');
    expect(batch).toMatchObject({ dropped: 20 });
    expect(slow.sock.journeys()).toEqual(Array.from({ length: 10 }, (_, k) => `syn-${20 + k}`));
    expect(fanout.counters.droppedSlowClient).toBe(20);
  });

  it('closes only the client that sent a malformed message, with 1008 and a reason', () => {
    const fanout = new Fanout({ status });
    const bad = connect(fanout);
    const good = connect(fanout);
    fanout.handleMessage(bad.id, '{"type":"subscribe","filter":{"port":"eighty"}}');
    expect(bad.sock.closed?.code).toBe(1008);
    expect(bad.sock.closed?.reason).toMatch(/filter\.port/);
    expect(good.sock.closed).toBeUndefined();
    fanout.publish(syntheticJourney(1));
    fanout.flush();
    expect(good.sock.journeys()).toEqual(['syn-1']);
    expect(fanout.clientCount).toBe(1);
  });

  it('closes a client whose malformed frame is quoted in a reason over 123 bytes of UTF-8, and only it', () => {
    const fanout = new Fanout({ status });
    const bad = connect(fanout);
    const good = connect(fanout);
    // The frame that took the agent down: the zod reason quotes the key, cut mid-"é".
    fanout.handleMessage(bad.id, JSON.stringify({ type: 'subscribe', filter: { onlyDrops: false, onlyNat: false }, ['é'.repeat(60)]: 1 }));
    expect(bad.sock.closed?.code).toBe(1008);
    expect(bad.sock.closed?.reason).toMatch(/^invalid message: .*éé…$/);
    expect(Buffer.byteLength(bad.sock.closed!.reason)).toBeLessThanOrEqual(123);
    expect(fanout.counters.clientsClosedMalformed).toBe(1);
    fanout.publish(syntheticJourney(1));
    fanout.flush();
    expect(good.sock.journeys()).toEqual(['syn-1']);
  });

  it('closes a client whose frame makes the fan-out throw (1011, counted), and only it', () => {
    let failNext = false;
    const fanout = new Fanout({
      status,
      onFilterUnion: () => {
        if (failNext) throw new Error('filter sink broke');
      },
    });
    const bad = connect(fanout, { port: 80, onlyDrops: false, onlyNat: false });
    const good = connect(fanout, { port: 80, onlyDrops: false, onlyNat: false });
    failNext = true;
    expect(() => fanout.handleMessage(bad.id, JSON.stringify({ type: 'subscribe', filter: { port: 443, onlyDrops: false, onlyNat: false } }))).not.toThrow();
    failNext = false;
    expect(bad.sock.closed).toEqual({ code: 1011, reason: 'internal error: filter sink broke' });
    expect(fanout.counters.clientsClosedError).toBe(1);
    expect(fanout.clientCount).toBe(1);
    fanout.publish(syntheticJourney(1));
    fanout.flush();
    expect(good.sock.journeys()).toEqual(['syn-1']);
  });

  it('closes a client whose action result cannot be sent (1011) instead of rejecting unhandled', async () => {
    const fanout = new Fanout({ status, onAction: async () => ({ ok: true, output: 'done' }) });
    const bad = connect(fanout);
    bad.sock.send = () => {
      throw new Error('send failed');
    };
    fanout.handleMessage(bad.id, JSON.stringify({ type: 'action', id: 'a1', action: { kind: 'scale', namespace: 'default', deployment: 'web', replicas: 2 } }));
    await new Promise((r) => setTimeout(r, 0));
    expect(bad.sock.closed).toEqual({ code: 1011, reason: 'internal error: send failed' });
    expect(fanout.counters.clientsClosedError).toBe(1);
    // The same failure reported again for a client already closed counts nothing more.
    fanout.failClient(bad.id, new Error('send failed'));
    expect(fanout.counters.clientsClosedError).toBe(1);
  });

  it('refuses a wrong protocol version and messages before hello', () => {
    const fanout = new Fanout({ status });
    const a = new FakeSocket();
    fanout.handleMessage(fanout.addClient(a), '{"type":"hello","version":2}');
    expect(a.closed).toEqual({ code: 1008, reason: 'unsupported protocol version 2 (want 1)' });
    const b = new FakeSocket();
    fanout.handleMessage(fanout.addClient(b), '{"type":"pause"}');
    expect(b.closed?.reason).toBe('expected hello first');
  });

  it('closes a client whose hello carries a wrong token', () => {
    const fanout = new Fanout({ status, checkToken: (t) => t === 'right-token' });
    const a = new FakeSocket();
    fanout.handleMessage(fanout.addClient(a), '{"type":"hello","version":1,"token":"wrong"}');
    expect(a.closed).toEqual({ code: 1008, reason: 'wrong token' });
    const b = new FakeSocket();
    fanout.handleMessage(fanout.addClient(b), '{"type":"hello","version":1,"token":"right-token"}');
    expect(b.closed).toBeUndefined();
    expect(b.messages()[0]?.type).toBe('welcome');
  });

  it('reports the union of filters when it changes', () => {
    const unions: unknown[] = [];
    const fanout = new Fanout({ status, onFilterUnion: (u) => unions.push(u) });
    const a = connect(fanout, { port: 80 });
    connect(fanout, { port: 53 });
    expect(unions.at(-1)).toMatchObject({ ports: [53, 80] });
    fanout.removeClient(a.id);
    expect(unions.at(-1)).toMatchObject({ ports: [53] });
  });

  it('runs actions one at a time per client and reports the outcome', async () => {
    let release!: () => void;
    const fanout = new Fanout({
      status,
      onAction: () => new Promise((r) => (release = () => r({ ok: true, output: '200 in 0.01s', topologyChanged: true }))),
    });
    const c = connect(fanout);
    const other = connect(fanout);
    const act = '{"type":"action","id":"a1","action":{"kind":"scale","namespace":"default","deployment":"web","replicas":3}}';
    fanout.handleMessage(c.id, act);
    fanout.handleMessage(c.id, act.replace('a1', 'a2'));
    await Promise.resolve();
    release();
    await new Promise((r) => setTimeout(r, 0));
    const results = c.sock.messages().filter((m) => m.type === 'actionResult');
    expect(results).toEqual([
      { type: 'actionResult', id: 'a2', ok: false, output: '', error: 'another action is still running' },
      { type: 'actionResult', id: 'a1', ok: true, output: '200 in 0.01s' },
    ]);
    expect(other.sock.messages().some((m) => m.type === 'topologyChanged')).toBe(true);
  });
});
