// The stitcher on halves made the way agents make them: the fixture SYN / SYN-ACK paths split by
// node (what two agents scoped to one node each see) and run through two real correlators.
import { beforeEach, describe, expect, it } from 'vitest';
import { createCorrelator } from '../journeys/correlate.ts';
import { NS, fakeIdentity, flannelDevices, free, resetSeq, synAckPath, synPath, udp, hop } from '../journeys/__tests__/testdata.ts';
import type { Journey, TraceEvent } from '../protocol/events.ts';
import { createStitcher, mergeHalves, nodesOf, tagJourney, whole, type AgentLiveness } from './stitch.ts';

const NODE1 = new Set([NS.client, NS.sidecar, NS.node1]);
const NODE2 = new Set([NS.web, NS.node2]);

/** What one agent scoped to `scope` makes of the events: its own correlator's journeys. */
function agentHalf(events: TraceEvent[], scope: Set<number>): Journey[] {
  const c = createCorrelator({ identity: fakeIdentity() });
  for (const d of flannelDevices()) if (scope.has(d.netns)) c.push(d);
  for (const e of events) if (!('netns' in e) || scope.has(e.netns)) c.push(e);
  return [...c.tick(10_000_000_000), ...c.flush()];
}

function stitcher(live: Record<string, AgentLiveness>, sameClock = true) {
  return createStitcher({ waitMs: 3000, maxHeld: 100, agentOf: (n) => live[n] ?? 'unknown', sameClock: () => sameClock });
}

beforeEach(() => resetSeq());

describe('halves made by two scoped agents', () => {
  it('each agent sees only its node: neither half is whole', () => {
    const syn = synPath();
    const [a] = agentHalf(syn, NODE1);
    const [b] = agentHalf(syn, NODE2);
    expect(a!.hops.map((h) => h.kind)).toEqual(['pod-egress', 'host-veth', 'dnat', 'encap', 'underlay']);
    expect(b!.hops[0]!.kind).toBe('underlay');
    expect(b!.hops.at(-1)!.kind).toBe('deliver');
    expect(a!.fingerprint).toBe(b!.fingerprint);
    expect(whole(a!)).toBe(false);
    expect(whole(b!)).toBe(false);
    expect([...nodesOf(a!)].sort()).toEqual(['node-1', 'node-2']);
  });

  it('joins the two halves into one journey with both lanes, in path order', () => {
    const syn = synPath();
    const [a] = agentHalf(syn, NODE1);
    const [b] = agentHalf(syn, NODE2);
    const s = stitcher({ 'node-1': 'up', 'node-2': 'up' });
    // The receiver's half usually arrives first (it ends at delivery; the sender's ends by idling).
    expect(s.push('node-2', b!, 0)).toEqual([]);
    const out = s.push('node-1', a!, 1200);
    expect(out).toHaveLength(1);
    const j = out[0]!;
    expect(j.id).toBe(`node-1/${a!.id}`);
    expect(j.hops.map((h) => `${h.agent}:${h.kind}`)).toEqual([
      'node-1:pod-egress', 'node-1:host-veth', 'node-1:dnat', 'node-1:encap', 'node-1:underlay',
      'node-2:underlay', 'node-2:decap', 'node-2:bridge', 'node-2:host-veth', 'node-2:deliver',
    ]);
    expect(j.verdict).toBe('delivered');
    expect(j.src.pod?.name).toBe('client');
    expect(j.dst.service?.name).toBe('web');
    expect(j.backend?.pod?.node).toBe('node-2');
    expect(j.missingAgents).toBeUndefined();
    // One clock (one kernel): the wire time between the halves is the real 30 µs (u1 → u2).
    expect(j.hops[5]!.deltaNs).toBe(30_000);
    expect(s.stats()).toMatchObject({ held: 0, stitched: 1 });
  });

  it('on separate clocks the gap between halves is unknown (0), and the duration is the sum of hops', () => {
    const syn = synPath();
    const [a] = agentHalf(syn, NODE1);
    const [b] = agentHalf(syn, NODE2);
    const far = { ...b!, startNs: b!.startNs + 7e12, endNs: b!.endNs + 7e12, hops: b!.hops.map((h) => ({ ...h, tsNs: h.tsNs + 7e12 })) };
    const j = mergeHalves(tagJourney('node-1', a!), tagJourney('node-2', far), false);
    expect(j.hops[0]!.kind).toBe('pod-egress');
    expect(j.hops[5]!.deltaNs).toBe(0);
    expect(j.endNs - j.startNs).toBe(j.hops.reduce((s, h) => s + h.deltaNs, 0));
  });

  it('links the reply to the stitched request', () => {
    const syn = synPath();
    const ack = synAckPath();
    const both = [...syn, ...ack];
    const a = agentHalf(both, NODE1);
    const b = agentHalf(both, NODE2);
    const s = stitcher({ 'node-1': 'up', 'node-2': 'up' });
    const out = [...b.flatMap((j) => s.push('node-2', j, 0)), ...a.flatMap((j) => s.push('node-1', j, 10))];
    expect(out).toHaveLength(2);
    const req = out.find((j) => j.src.pod?.name === 'client')!;
    const rep = out.find((j) => j.src.pod?.name?.startsWith('web'))!;
    expect(rep.replyTo).toBe(req.id);
    expect(new Set(rep.hops.map((h) => h.agent))).toEqual(new Set(['node-1', 'node-2']));
  });

  it('emits a half at once with the lane missing when the other agent is down', () => {
    const [a] = agentHalf(synPath(), NODE1);
    const s = stitcher({ 'node-1': 'up', 'node-2': 'down' });
    const out = s.push('node-1', a!, 0);
    expect(out).toHaveLength(1);
    expect(out[0]!.missingAgents).toEqual(['node-2']);
    expect(out[0]!.hops.every((h) => h.agent === 'node-1')).toBe(true);
    // It left node-1; whether it arrived is what the missing lane would have said.
    expect(out[0]!.verdict).toBe('in-flight');
  });

  it('releases a waiting half when its counterpart agent goes down, and after the wait', () => {
    const live: Record<string, AgentLiveness> = { 'node-1': 'up', 'node-2': 'up' };
    const s = stitcher(live);
    const [a] = agentHalf(synPath(), NODE1);
    expect(s.push('node-1', a!, 0)).toEqual([]);
    expect(s.tick(100)).toEqual([]);
    live['node-2'] = 'down';
    const out = s.tick(200);
    expect(out.map((j) => j.missingAgents)).toEqual([['node-2']]);

    resetSeq();
    live['node-2'] = 'up';
    const [a2] = agentHalf(synPath(2e9, '0xffff888009', { seq: 7777 }), NODE1);
    expect(s.push('node-1', a2!, 1000)).toEqual([]);
    expect(s.tick(3999)).toEqual([]);
    const late = s.tick(4000);
    expect(late).toHaveLength(1);
    expect(late[0]!.missingAgents).toEqual(['node-2']);
    expect(s.stats().timedOut).toBe(1);
  });

  it('does not join two journeys of the same agent, nor packets whose fingerprint is not specific', () => {
    const s = stitcher({ 'node-1': 'up', 'node-2': 'up' });
    const [a] = agentHalf(synPath(), NODE1);
    expect(s.push('node-1', a!, 0)).toEqual([]);
    expect(s.push('node-1', { ...a!, id: 'other' }, 1)).toEqual([]);
    expect(s.stats().held).toBe(2);
    expect(s.flush()).toHaveLength(2);

    // UDP with IP id 0 (common): joining on it would glue unrelated packets; emitted as is.
    resetSeq();
    const p = udp('10.244.1.2', 5353, '10.244.2.3', 53, { ipId: 0 });
    const [u] = agentHalf([hop(1e9, 'xmit', NS.client, 2, 'eth0', '0xffff8880aa', p), free(1e9 + 5e4, '0xffff8880aa')], NODE1);
    const out = s.push('node-1', u!, 5);
    expect(out).toHaveLength(1);
    expect(s.stats().held).toBe(0);
  });

  it('a journey whole on one node neither waits nor misses anything', () => {
    const s = stitcher({ 'node-1': 'up', 'node-2': 'down' });
    const [j] = agentHalf(synPath(), new Set([...NODE1, ...NODE2, NS.underlay]));
    expect(whole(j!)).toBe(true);
    const out = s.push('node-1', j!, 0);
    expect(out).toHaveLength(1);
    expect(out[0]!.missingAgents).toBeUndefined();
  });

  it('stays bounded: the oldest held half is emitted when the set is full', () => {
    const s = createStitcher({ waitMs: 3000, maxHeld: 2, agentOf: () => 'up', sameClock: () => true });
    const halves = [1, 2, 3].map((i) => {
      resetSeq();
      return agentHalf(synPath(i * 1e9, `0xffff88800${i}`, { seq: i * 1000 }), NODE1)[0]!;
    });
    expect(s.push('node-1', halves[0]!, 0)).toEqual([]);
    expect(s.push('node-1', halves[1]!, 0)).toEqual([]);
    const out = s.push('node-1', halves[2]!, 0);
    expect(out.map((j) => j.id)).toEqual([`node-1/${halves[0]!.id}`]);
    expect(s.stats()).toMatchObject({ held: 2, overflow: 1 });
  });
});
