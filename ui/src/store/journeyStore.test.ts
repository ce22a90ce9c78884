import { describe, expect, it } from 'vitest';
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { appendRows, Coalescer, JourneyStore, toRow, type JourneyRow } from './journeyStore.ts';
import { dropped, loopback, reply, request, socketDiscard } from '../__tests__/testdata.ts';

const ids = (xs: readonly { id: string }[]) => xs.map((x) => x.id);
/** A store whose frames are the parsed batches themselves (the worker keeps text and parses again). */
class TestStore extends JourneyStore<readonly Journey[]> {
  constructor(capacity?: number) {
    super((f) => f, capacity);
  }
  add(seq: number, js: readonly Journey[]): ReturnType<JourneyStore<readonly Journey[]>['batch']> {
    return this.batch(seq, js, js);
  }
}
const many = (n: number, from = 0): Journey[] => Array.from({ length: n }, (_, i) => ({ ...dropped, id: `d${from + i}` }));

describe('JourneyStore (the stream worker)', () => {
  it('takes batches in order, ignores stale or repeated ones and known journeys, and counts what arrived', () => {
    const st = new TestStore();
    expect(ids(st.add(2, [request]).fresh)).toEqual(['j1']);
    expect(ids(st.add(1, [dropped]).fresh)).toEqual([]);
    expect(ids(st.add(3, [request, reply]).fresh)).toEqual(['j1r']);
    expect(ids(st.rows())).toEqual(['j1', 'j1r']);
    // stale batch 1 was not received; the repeated j1 in batch 3 was
    expect(st.received).toBe(3);
  });
  it("hands a connection's rows in the order asked for, leaving out those no longer listed", () => {
    const st = new TestStore();
    st.add(1, [request, dropped, reply]);
    expect(ids(st.rowsOf(['j1r', 'gone', 'j1']))).toEqual(['j1r', 'j1']);
  });
  it('numbers batches from 1 again after a reconnect', () => {
    const st = new TestStore();
    st.add(5, [request]);
    st.welcome();
    expect(ids(st.add(1, [dropped]).fresh)).toEqual(['j2']);
  });
  it('lists nothing while paused but still counts it', () => {
    const st = new TestStore();
    st.paused = true;
    expect(st.add(1, [request]).fresh).toEqual([]);
    st.paused = false;
    expect(ids(st.add(2, [dropped]).fresh)).toEqual(['j2']);
    expect(st.received).toBe(2);
  });
  it('applies a new filter to what is here and to what arrives later; the selection goes if it no longer matches', () => {
    const st = new TestStore();
    st.add(1, [request, dropped]);
    st.select('j1');
    st.setFilter({ onlyDrops: true, onlyNat: false });
    expect(ids(st.rows())).toEqual(['j2']);
    expect(st.selected).toBeNull();
    expect(st.add(2, [reply]).fresh).toEqual([]);
    expect(ids(st.rows())).toEqual(['j2']);
  });
  it('bounds what it keeps, oldest first', () => {
    const st = new TestStore(100);
    st.add(1, many(150));
    expect(st.size).toBe(100);
    expect(ids(st.rows(60))).toEqual(ids(many(60, 90)));
    // an aged-out journey is not known any more: it would be listed again
    expect(ids(st.add(2, many(1, 0)).fresh)).toEqual(['d0']);
  });
  it('selects a journey with its reply, and pairs a reply that arrives after the selection', () => {
    const st = new TestStore();
    st.add(1, [request]);
    expect(st.select('j1')).toMatchObject({ id: 'j1', request: { id: 'j1' } });
    expect(st.selected?.reply).toBeUndefined();
    const r = st.add(2, [dropped, reply]);
    expect(r.selectionChanged).toBe(true);
    expect(ids([st.selected!.request, st.selected!.reply!])).toEqual(['j1', 'j1r']);
    // selecting the reply shows its request
    expect(st.select('j1r')).toMatchObject({ id: 'j1r', journey: { id: 'j1r' }, request: { id: 'j1' }, reply: { id: 'j1r' } });
    expect(st.select('nope')).toBeNull();
  });
  it('pairs a request that arrives after its selected reply', () => {
    const st = new TestStore();
    st.add(1, [reply]);
    expect(st.select('j1r')).toMatchObject({ request: { id: 'j1r' } });
    expect(st.add(2, [request]).selectionChanged).toBe(true);
    expect(st.selected).toMatchObject({ id: 'j1r', request: { id: 'j1' }, reply: { id: 'j1r' } });
  });
  it('keeps the selection listed when it ages out, and through a clear', () => {
    const st = new TestStore(50);
    st.add(1, [request]);
    st.select('j1');
    st.add(2, many(200));
    const rows = st.rows(40);
    expect(rows).toHaveLength(40);
    expect(rows[0]!.id).toBe('j1');
    expect(ids(rows.slice(1))).toEqual(ids(many(39, 161)));
    st.clear();
    expect(ids(st.rows())).toEqual(['j1']);
    st.select(null);
    st.clear();
    expect(st.rows()).toEqual([]);
  });
  it('keeps frames as they came and reads a journey back from its frame when opened or refiltered', () => {
    const loaded: string[] = [];
    // Frames as text, as the worker keeps them.
    const st = new JourneyStore<string>((text) => {
      loaded.push(text);
      return JSON.parse(text) as Journey[];
    });
    const f1 = JSON.stringify([request, dropped]);
    const f2 = JSON.stringify([reply]);
    expect(ids(st.batch(1, JSON.parse(f1) as Journey[], f1).fresh)).toEqual(['j1', 'j2']);
    st.batch(2, JSON.parse(f2) as Journey[], f2);
    expect(loaded).toEqual([]);
    expect(st.select('j1')).toEqual({ id: 'j1', journey: request, request, reply });
    expect(loaded).toEqual([f1, f2]);
    loaded.length = 0;
    st.setFilter({ onlyDrops: false, onlyNat: true });
    // each frame parsed once for the whole list
    expect(loaded).toEqual([f1, f2]);
    expect(ids(st.rows())).toEqual(['j1', 'j1r']);
    // a frame that no longer holds the journey where it was is refused, not misread
    const bad = new JourneyStore<string>(() => [dropped]);
    bad.batch(1, [request], 'x');
    expect(() => bad.select('j1')).toThrow(/not where it was/);
  });
  it('leaves loopback journeys out by default, counted; shown from when the user asks, taken out again when hidden', () => {
    const st = new TestStore();
    const lo2 = { ...loopback, id: 'j3b' };
    expect(ids(st.add(1, [request, loopback]).fresh)).toEqual(['j1']);
    expect([st.received, st.hiddenLoopback]).toEqual([2, 1]);
    st.setHideLoopback(false);
    expect(ids(st.add(2, [lo2, dropped]).fresh)).toEqual(['j3b', 'j2']);
    expect(st.hiddenLoopback).toBe(1);
    st.select('j3b');
    st.setHideLoopback(true);
    expect(ids(st.rows())).toEqual(['j1', 'j2']);
    expect(st.selected).toBeNull();
    // a journey with one hop off lo is not loopback
    const out = { ...loopback, id: 'j4', hops: [loopback.hops[0]!, { ...request.hops[1]! }] };
    expect(ids(st.add(3, [out]).fresh)).toEqual(['j4']);
    // one that the receiving socket freed after delivery (QUEUE_PURGE on close) still is
    expect(ids(st.add(4, [{ ...loopback, id: 'j5', hops: [...loopback.hops, socketDiscard] }]).fresh)).toEqual([]);
    expect(st.hiddenLoopback).toBe(2);
  });
  it('rows carry what the list and the topology show', () => {
    const r = toRow(reply);
    expect(r).toMatchObject({ id: 'j1r', verdict: 'delivered', replyTo: 'j1', hops: reply.hops.length, identityUnknown: false, loopback: false, src: reply.src, dst: reply.dst });
    expect(toRow(loopback).loopback).toBe(true);
    expect(r.story).toMatchObject({ reply: true, proto: 'TCP [SA]' });
    expect('backend' in r).toBe(false);
    expect(toRow(request).backend).toEqual(request.backend);
  });
});

describe('appendRows (the page list)', () => {
  const rows = (n: number, from = 0): JourneyRow[] => many(n, from).map(toRow);
  it('appends, bounds to the newest, and keeps the selected row', () => {
    const a = rows(8);
    expect(appendRows(a, [], 10, null)).toBe(a);
    expect(ids(appendRows(a, rows(2, 8), 10, null))).toEqual(ids(rows(10)));
    expect(ids(appendRows(a, rows(5, 8), 10, null))).toEqual(ids(rows(10, 3)));
    expect(ids(appendRows(a, rows(5, 8), 10, 'd1'))).toEqual(['d1', ...ids(rows(9, 4))]);
    // a selection still inside the bound stays where it is
    expect(ids(appendRows(a, rows(5, 8), 10, 'd5'))).toEqual(ids(rows(10, 3)));
    expect(ids(appendRows(a, rows(30, 8), 10, 'd2'))).toEqual(['d2', ...ids(rows(9, 29))]);
  });
  it('gives the page the list the worker holds, however the worker coalesced the rows', () => {
    // The worker bounds per batch; the page gets several batches' rows at once.
    const st = new TestStore(7 + 3);
    let page: readonly JourneyRow[] = [];
    let pending: JourneyRow[] = [];
    for (let seq = 1, n = 0; seq <= 40; seq++) {
      const size = (seq * 7) % 5;
      pending.push(...st.add(seq, many(size, n)).fresh);
      n += size;
      if (seq === 12) {
        st.select('d20');
        page = appendRows(page, pending, 7, null);
        pending = [];
      }
      if (seq % 3 === 0) {
        page = appendRows(page, pending, 7, seq >= 12 ? 'd20' : null);
        pending = [];
      }
    }
    page = appendRows(page, pending, 7, 'd20');
    expect(ids(page)).toEqual(ids(st.rows(7)));
    expect(page[0]!.id).toBe('d20');
  });
});

describe('Coalescer', () => {
  function fake() {
    let now = 0;
    let next = 0;
    const timers = new Map<number, { at: number; f: () => void }>();
    const clock = {
      now: () => now,
      setTimeout: (f: () => void, ms: number) => {
        timers.set(++next, { at: now + ms, f });
        return next as unknown as ReturnType<typeof setTimeout>;
      },
      clearTimeout: (t: ReturnType<typeof setTimeout>) => void timers.delete(t as unknown as number),
    };
    const advance = (ms: number) => {
      now += ms;
      for (const [id, t] of [...timers]) {
        if (t.at > now || !timers.has(id)) continue;
        timers.delete(id);
        t.f();
      }
    };
    return { clock, advance };
  }
  it('emits the first push at once, then at most once per interval, everything in between together', () => {
    const { clock, advance } = fake();
    const out: number[][] = [];
    const c = new Coalescer<number>(100, 1000, (xs) => out.push(xs), clock);
    c.push([1]);
    expect(out).toEqual([[1]]);
    advance(10);
    c.push([2]);
    advance(10);
    c.push([3, 4]);
    expect(out).toHaveLength(1);
    advance(79);
    expect(out).toHaveLength(1);
    advance(1);
    expect(out).toEqual([[1], [2, 3, 4]]);
    // quiet for longer than the interval: at once again
    advance(500);
    c.push([5]);
    expect(out).toEqual([[1], [2, 3, 4], [5]]);
  });
  it('emits for an empty push (counters moved) and keeps only the newest past its bound', () => {
    const { clock, advance } = fake();
    const out: number[][] = [];
    const c = new Coalescer<number>(100, 3, (xs) => out.push(xs), clock);
    c.push([]);
    expect(out).toEqual([[]]);
    c.push([1, 2]);
    c.push([3, 4, 5]);
    advance(100);
    expect(out).toEqual([[], [3, 4, 5]]);
    c.push([6]);
    c.discard();
    advance(1000);
    expect(out).toHaveLength(2);
  });
});
