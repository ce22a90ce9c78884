// No silent loss: under a bounded flood on the lab (ping -f between pods on two nodes, traced
// with --every-packet), every hop event the kernel printed is either decoded or counted as
// lost by bpftrace, and every journey the pipeline made is either received by the websocket
// client or counted by the fan-out (pending bound, slow client) and announced to the client.
// Real bpftrace, real netns, real server and websocket.
import { describe, expect, it } from 'vitest';
import type { StageCounters } from '../bench/flood.ts';
import { floodRigForFile } from './flood-helpers.ts';

const rig = floodRigForFile('loss');

/**
 * Kernel → agent: printed = decoded + lost + left out while bpftrace attached, where the lost
 * and left-out counts may also cover non-hop lines.
 */
function kernelStageAddsUp(c: StageCounters): void {
  expect(c.decodedHops).toBeLessThanOrEqual(c.kernelPrinted);
  expect(c.kernelPrinted - c.decodedHops).toBeLessThanOrEqual(c.kernelLost + c.rejected + c.beforeAttach);
  if (c.kernelLost === 0 && c.rejected === 0 && c.beforeAttach === 0) expect(c.decodedHops).toBe(c.kernelPrinted);
}

/** Agent → client: every journey made was received, or dropped and counted by the fan-out. */
function fanoutStageAddsUp(c: StageCounters): void {
  expect(c.fanoutIn).toBe(c.journeysMade);
  expect(c.clientJourneys + c.fanoutDroppedSlowClient + c.fanoutDroppedPending).toBe(c.fanoutIn);
  // What the fan-out dropped for this client, it told the client about.
  expect(c.clientMissed).toBe(c.fanoutDroppedSlowClient);
}

describe('loss accounting under a bounded flood', () => {
  it('a moderate flood arrives whole: every printed hop decoded, every journey delivered', async () => {
    const before = rig().counters();
    // ~200 pings/s: well inside what bpftrace and the agent keep up with.
    const ping = await rig().flood(400, 4, 0.005);
    expect(ping.received).toBeGreaterThan(300);
    await rig().settle(15_000);
    const c = rig().counters();
    expect(c.kernelPrinted - before.kernelPrinted).toBeGreaterThanOrEqual(ping.received * 2 * 8);
    // At this rate nothing is lost anywhere: every printed hop was decoded.
    expect(c.kernelLost).toBe(before.kernelLost);
    expect(c.decodedHops - before.decodedHops).toBe(c.kernelPrinted - before.kernelPrinted);
    kernelStageAddsUp(c);
    fanoutStageAddsUp(c);
  }, 60_000);

  it('a ping -f flood: the counts still add up, whatever was lost is counted at its stage', async () => {
    const ping = await rig().flood(20_000, 8);
    expect(ping.received).toBeGreaterThan(1000);
    await rig().settle(20_000);
    const c = rig().counters();
    // Printed first, so that a failure below comes with every stage's figures.
    console.log(`loss accounting: ${ping.sent} pings; kernel printed ${c.kernelPrinted} hops, bpftrace lost ${c.kernelLost}, decoded ${c.decodedHops}, rejected ${c.rejected}; ` +
      `journeys ${c.journeysMade} (evicted ${c.correlatorEvicted}); client received ${c.clientJourneys}, fan-out dropped ${c.fanoutDroppedPending} pending + ${c.fanoutDroppedSlowClient} slow (announced ${c.clientMissed})`);
    // Every request and reply crosses at least 8 traced devices (pod eth0, host veth, bridge,
    // VXLAN, underlay, and back in on the other node), each printed by the kernel.
    expect(c.kernelPrinted).toBeGreaterThanOrEqual(ping.received * 2 * 8);
    kernelStageAddsUp(c);
    fanoutStageAddsUp(c);
  }, 60_000);
});
