import { describe, expect, it } from 'vitest';
import { filterKey, parseClientMessage, parseServerMessage } from './messages.ts';
import { syntheticJourney } from '../server/__tests__/synthetic.ts';

describe('client messages', () => {
  it('accepts hello, subscribe with defaults, pause, resume and actions', () => {
    expect(parseClientMessage('{"type":"hello","version":1}')).toEqual({ ok: true, message: { type: 'hello', version: 1 } });
    const s = parseClientMessage('{"type":"subscribe","filter":{"namespace":"default","port":80,"proto":"tcp"}}');
    expect(s).toEqual({ ok: true, message: { type: 'subscribe', filter: { namespace: 'default', port: 80, proto: 'tcp', onlyDrops: false, onlyNat: false } } });
    expect(parseClientMessage('{"type":"pause"}').ok).toBe(true);
    const a = parseClientMessage('{"type":"action","id":"a1","action":{"kind":"scale","namespace":"default","deployment":"web","replicas":3}}');
    expect(a.ok).toBe(true);
  });

  it('refuses malformed frames with a reason naming the field', () => {
    expect(parseClientMessage('not json')).toEqual({ ok: false, reason: 'not JSON' });
    const bad = parseClientMessage('{"type":"subscribe","filter":{"port":70000}}');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.reason).toMatch(/filter\.port/);
    expect(parseClientMessage('{"type":"subscribe","filter":{"pod":"Bad Name;rm"}}').ok).toBe(false);
    expect(parseClientMessage('{"type":"subscribe","filter":{"extra":1}}').ok).toBe(false);
    expect(parseClientMessage('{"type":"launch"}').ok).toBe(false);
    // dig names that would read as dig options are not names
    expect(parseClientMessage('{"type":"action","id":"x","action":{"kind":"dig","name":"+tcp"}}').ok).toBe(false);
    expect(parseClientMessage('{"type":"action","id":"x","action":{"kind":"dig","name":"-x"}}').ok).toBe(false);
    expect(parseClientMessage('{"type":"action","id":"x","action":{"kind":"scale","namespace":"default","deployment":"web","replicas":500}}').ok).toBe(false);
  });
});

describe('server messages', () => {
  it('round-trips a batch with a full journey', () => {
    const j = syntheticJourney(3);
    const r = parseServerMessage(JSON.stringify({ type: 'batch', seq: 1, dropped: 0, journeys: [j] }));
    expect(r).toEqual({ ok: true, message: { type: 'batch', seq: 1, dropped: 0, journeys: [j] } });
  });
  it('refuses a journey with an unknown hop kind', () => {
    const j = syntheticJourney(3);
    const broken = { ...j, hops: [{ ...j.hops[0], kind: 'teleport' }] };
    expect(parseServerMessage(JSON.stringify({ type: 'batch', seq: 1, dropped: 0, journeys: [broken] })).ok).toBe(false);
  });
});

it('filterKey is equal for equal filters and differs otherwise', () => {
  expect(filterKey({ port: 80, onlyDrops: false, onlyNat: false })).toBe(filterKey({ onlyNat: false, port: 80, onlyDrops: false }));
  expect(filterKey({ port: 80, onlyDrops: false, onlyNat: false })).not.toBe(filterKey({ port: 81, onlyDrops: false, onlyNat: false }));
});
