// The sampler's print budget on the real kernel: under a ping -f flood that would print far
// more hop lines than the budget, the kernel program doubles its 1 in K each report (so the
// chosen packets stay a subset: multiples of the new K are multiples of the old), keeps the
// output near the budget, counts the rest, and halves K again once the flood is over. Real
// bpftrace, two namespaces joined by a veth (unique names, removed in afterAll).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HopEvent, SampledEvent, TraceEvent } from '../agent/src/protocol/events.ts';
import { DEFAULT_KERNEL_FILTER } from '../agent/src/tracer/kernel-filter.ts';
import { startTracer, type Tracer } from '../agent/src/tracer/runner.ts';
import { addNetns, deleteNetns, vethPair } from './netns-helpers.ts';
import { waitFor } from './trace-helpers.ts';

const P = `hsbg${process.pid.toString(36)}${Math.random().toString(36).slice(2, 5)}`;
const NS = { a: `${P}a`, b: `${P}b` };
const BUDGET = 100; // hop lines a second
const MIN_K = 2;

const events: TraceEvent[] = [];
let tracer: Tracer | undefined;

beforeAll(async () => {
  deleteNetns(Object.values(NS));
  const inode = addNetns(Object.values(NS));
  vethPair({ ns: NS.a, dev: 'bgA', addr: '10.215.0.1/24' }, { ns: NS.b, dev: 'bgB', addr: '10.215.0.2/24' });
  tracer = await startTracer({
    // The two namespaces link only to each other: a closed set, all flows, sampled.
    filter: { ...DEFAULT_KERNEL_FILTER, netns: inode, netnsClosed: true, firstPackets: 3, sampleEvery: MIN_K, printBudget: BUDGET },
    onEvent: (e) => events.push(e),
  });
}, 90_000);

afterAll(async () => {
  await tracer?.stop();
  deleteNetns(Object.values(NS));
});

describe('sampler print budget', () => {
  it('samples harder while the output is over budget, counts the rest, and eases off after', async () => {
    // Bounded in count and in time: 4 s of flood, so several of the sampler's 1 s reports.
    // (ping exits 1 when the deadline comes before the count: its summary is what matters.)
    const r = spawnSync('ip', ['netns', 'exec', NS.a, 'ping', '-f', '-q', '-c', '400000', '-w', '4', '10.215.0.2'], { encoding: 'utf8' });
    const sent = Number(/(\d+) packets transmitted/.exec(r.stdout)?.[1] ?? 0);
    expect(sent).toBeGreaterThan(2000);
    const reports = (): SampledEvent[] => events.filter((e): e is SampledEvent => e.type === 'sampled');
    // Over budget K doubles each second from 2; with the flood over it halves back.
    await waitFor('a report after the flood', () => reports().length >= 4, 5000);
    const peak = Math.max(...reports().map((e) => e.every));
    expect(peak).toBeGreaterThanOrEqual(8 * MIN_K);
    await waitFor('K halving once the flood is over', () => reports().at(-1)!.every < peak, 8000);
    expect(reports().every((e) => e.every >= MIN_K && e.every <= 16384 && (e.every & (e.every - 1)) === 0)).toBe(true);

    const requests = events.filter((e): e is HopEvent => e.type === 'hop' && e.hook === 'xmit' && e.dev === 'bgA' && e.packet.l4.proto === 'icmp' && e.packet.l4.icmpType === 8);
    // Past the flow's first 3, only sampled packets: their IP id a multiple of the K of the moment.
    expect(requests.slice(3).every((h) => h.packet.ipId % MIN_K === 0)).toBe(true);
    // 1 in 2 would have printed ~sent/2 requests at this hop alone; the budget holds the whole
    // output (4 hops a ping) to a few seconds' worth while K climbs.
    expect(requests.length).toBeLessThan(sent / 8);
    const printed = reports().reduce((n, e) => n + e.printed, 0);
    const suppressed = reports().reduce((n, e) => n + e.suppressed, 0);
    // Every packet-hop not printed is counted: 2 hops for each request and each reply.
    expect(printed + suppressed).toBeGreaterThanOrEqual(sent * 4 * 0.95);
  });
});
