import { describe, expect, it } from 'vitest';
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { parseServerMessage } from '@hopscope/agent/protocol/messages.ts';
import { parseFrame, verifyJourney, verifySelection } from './frames.ts';
import { dropped, reply, request } from '../__tests__/testdata.ts';

const batch = (journeys: unknown[]) => JSON.stringify({ type: 'batch', seq: 1, dropped: 0, journeys });
/** `request` with one hop's field replaced (by JSON, so nothing is shared with testdata). */
function withHop(k: number, patch: Record<string, unknown>): Journey {
  const j = JSON.parse(JSON.stringify(request)) as Journey;
  Object.assign(j.hops[k]!, patch);
  return j;
}

describe('parseFrame (the stream worker)', () => {
  it('takes what parseServerMessage takes', () => {
    const frames = [
      batch([request, reply, dropped]),
      JSON.stringify({ type: 'missed', count: 3, total: 9 }),
      JSON.stringify({ type: 'actionResult', id: 'a1', ok: true, output: 'x' }),
      JSON.stringify({ type: 'topologyChanged' }),
    ];
    for (const f of frames) {
      const r = parseFrame(f);
      expect(r.ok).toBe(true);
      expect(r).toEqual(parseServerMessage(f));
    }
  });
  it('refuses what the list reads when it is malformed, with the path', () => {
    expect(parseFrame('{nope')).toEqual({ ok: false, reason: 'not JSON' });
    expect(parseFrame(JSON.stringify({ type: 'missed', count: 'x', total: 1 }))).toMatchObject({ ok: false, reason: expect.stringContaining('count') });
    expect(parseFrame(batch([{ ...request, src: { port: 1 } }]))).toMatchObject({ ok: false, reason: expect.stringContaining('journeys.0.src.ip') });
    expect(parseFrame(batch([request, { ...reply, verdict: 'maybe' }]))).toMatchObject({ ok: false, reason: expect.stringContaining('journeys.1.verdict') });
    // the first and the last hop are read by the list: checked in full
    expect(parseFrame(batch([withHop(0, { packet: { src: 1 } })]))).toMatchObject({ ok: false, reason: expect.stringContaining('journeys.0.hops.0.packet') });
    const last = request.hops.length - 1;
    expect(parseFrame(batch([withHop(last, { where: {} })]))).toMatchObject({ ok: false, reason: expect.stringContaining(`journeys.0.hops.${last}.where.label`) });
    // every hop is at least an object
    expect(parseFrame(batch([{ ...request, hops: [request.hops[0], null, request.hops[1]] }]))).toMatchObject({ ok: false, reason: expect.stringContaining('journeys.0.hops.1') });
    expect(parseFrame(JSON.stringify({ type: 'batch', seq: 1.5, dropped: 0, journeys: [] }))).toMatchObject({ ok: false, reason: expect.stringContaining('seq') });
  });
  it('leaves the middle hops to verifyJourney, which a journey must pass before it is shown', () => {
    const bad = withHop(3, { packet: { src: '10.0.0.1' } });
    const r = parseFrame(batch([bad]));
    expect(r.ok).toBe(true);
    const listed = r.ok && r.message.type === 'batch' ? r.message.journeys[0]! : undefined;
    expect(listed?.id).toBe('j1');
    expect(verifyJourney(listed!)).toMatchObject({ ok: false, reason: expect.stringContaining('journey j1.hops.3.packet') });
    const cache = new WeakMap<Journey, Journey>();
    expect(verifySelection({ id: 'j1', journey: listed!, request: listed! }, cache)).toMatchObject({ ok: false });
    // a sound one comes back validated (a copy), once per journey
    const good = parseFrame(batch([request, reply]));
    const [rq, rp] = good.ok && good.message.type === 'batch' ? good.message.journeys : [];
    const v = verifySelection({ id: 'j1r', journey: rp!, request: rq!, reply: rp! }, cache);
    expect(v).toMatchObject({ ok: true, message: { id: 'j1r', journey: { id: 'j1r' }, request: { id: 'j1' }, reply: { id: 'j1r' } } });
    expect(v.ok && v.message.request).toEqual(request);
    expect(v.ok && v.message.journey).toBe(v.ok && v.message.reply);
    expect(cache.get(rq!)).toBe(v.ok && v.message.request);
  });
});
