// The kernel sampler under a flood (bpf/datapath.bt.tmpl): past its first packets a busy flow
// prints 1 packet in K, the same packets at every hop, and everything it does not print is
// counted. A reused skb address is not taken for a followed packet (before, skbs freed without
// consume_skb made their addresses' next packets print as "followed": far more than 1 in K).
// Real bpftrace, real lab namespaces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { startTracer, type Tracer } from '../agent/src/tracer/runner.ts';
import { DEFAULT_KERNEL_FILTER } from '../agent/src/tracer/kernel-filter.ts';
import type { HopEvent, SampledEvent, TraceEvent } from '../agent/src/protocol/events.ts';
import { waitFor } from './trace-helpers.ts';

let lab: LabHandle | undefined;
let tracer: Tracer | undefined;
const events: TraceEvent[] = [];

beforeAll(async () => {
  lab = await labUp(loadTopology(), { name: `smpl${process.pid % 100000}`, api: false });
  const st = lab.state();
  const client = st.model.pods.find((p) => p.name === 'client')!;
  tracer = await startTracer({
    filter: {
      ...DEFAULT_KERNEL_FILTER,
      proto: 'icmp',
      netns: st.netns.map((n) => n.inode),
      from: { cidrs: [{ family: 4, bytes: client.ip.split('.').map(Number), prefix: 32 }], ports: [] },
      // The fixed 1 in 64 is under test here: no budget that could make K adapt mid-flood
      // (test/sampler-budget.test.ts tests that).
      printBudget: 1_000_000,
    },
    onEvent: (e) => events.push(e),
  });
}, 90_000);

afterAll(async () => {
  await tracer?.stop().catch(() => {});
  await lab?.down();
}, 60_000);

describe('kernel sampler under a flood', () => {
  it('prints the first packets, then 1 in 64, the same packets at every hop, the rest counted', async () => {
    const st = lab!.state();
    const target = st.model.pods.find((p) => p.deployment?.name === 'web' && p.node === 'node-2')!;
    const clientNs = st.netns.find((n) => n.owner === 'default/client')!.inode;
    const targetNs = st.netns.find((n) => n.owner === `${target.namespace}/${target.name}`)!.inode;
    const r = await lab!.exec('default/client', ['ping', '-f', '-q', '-c', '5000', '-w', '4', target.ip], { timeoutMs: 20_000 });
    const sent = Number(/(\d+) packets transmitted/.exec(r.stdout)?.[1] ?? 0);
    expect(sent).toBeGreaterThan(1000);
    // Two sampler reports after the flood: the second counts all of it, and every hop line
    // printed before it has been read (one stdout). Waited for, not slept: a loaded machine
    // reads bpftrace's output late.
    const after = events.length;
    await waitFor('two sampler reports after the flood', () => events.slice(after).filter((e) => e.type === 'sampled').length >= 2, 20_000);
    const hops = events.filter((e): e is HopEvent => e.type === 'hop' && e.packet.l4.proto === 'icmp');
    const requestsAt = (ns: number, hook: 'xmit' | 'recv'): number[] =>
      hops.filter((h) => h.netns === ns && h.hook === hook && h.packet.l4.proto === 'icmp' && h.packet.l4.icmpType === 8).map((h) => h.packet.ipId);
    const out = requestsAt(clientNs, 'xmit');
    const arrived = requestsAt(targetNs, 'recv');
    // First 8 of the flow, then the packets whose IP id is a multiple of 64: nothing else, so
    // no reused skb address was "followed". NOTE: the ids are consecutive only while ping keeps
    // the CPU: the kernel adds a random jump to a destination's id counter when jiffies passed
    // since its last packet (ip_idents_reserve), so on a loaded machine about 1 in 64 of the
    // packets, not exactly, carry a multiple of 64 (one clean-clone run printed 67 for 78).
    // So the count is bounded loosely, and exactness comes from the ids: every packet printed
    // after the first 8 is a multiple of 64 (a reused skb taken for a followed one would not be).
    expect(out.length).toBeGreaterThanOrEqual(8 + Math.floor((sent / 64) * 0.6));
    expect(out.length).toBeLessThanOrEqual(8 + Math.ceil((sent / 64) * 1.5));
    expect(out.slice(8).every((id) => id % 64 === 0)).toBe(true);
    // The same packets at the first and the last hop: nothing chosen twice or differently.
    expect([...arrived].sort()).toEqual([...out].sort());
    // Everything else was counted, not printed: thousands of packets at each of ~12 hops.
    const suppressed = events.filter((e): e is SampledEvent => e.type === 'sampled').reduce((n, e) => n + e.suppressed, 0);
    expect(suppressed).toBeGreaterThan((sent - out.length) * 2 * 8);
  }, 60_000);
});
