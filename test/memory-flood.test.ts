// The agent's memory under a flood (issue 6): the agent process alone (real pipeline with
// --every-packet, real server, one websocket client in this process; bench/flood.ts), loaded
// as the CLI loads it, stays under 150 MB resident through a ~25 s ping -f across VXLAN.
// A memory bound, not a timing goal: the 10-minute run is `npx tsx bench/e2e.ts --seconds 600 --runs 1`.
// Real bpftrace, real lab namespaces.
import { describe, expect, it } from 'vitest';
import { floodRigForFile } from './flood-helpers.ts';

const LIMIT_MB = 150;
const FLOOD_SECONDS = 25;

const rig = floodRigForFile('mem');

describe('agent memory under a flood', () => {
  it(`stays under ${LIMIT_MB} MB resident while it decodes, correlates and serves a ping -f`, async () => {
    const before = rig().counters();
    let maxRss = 0;
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, rig().agentRss().rss)), 200);
    let ping: { sent: number; received: number };
    try {
      ping = await rig().flood(1_000_000, FLOOD_SECONDS);
    } finally {
      clearInterval(sampler);
    }
    const c = rig().counters();
    const mem = await rig().agentMemory();
    const { hwm } = rig().agentRss();
    const mb = (b: number) => (b / 2 ** 20).toFixed(1);
    console.log(
      `memory flood: ${ping.sent} pings in ${FLOOD_SECONDS} s; decoded ${c.decodedHops - before.decodedHops} hops, ${c.journeysMade - before.journeysMade} journeys, ` +
        `client got ${c.clientJourneys - before.clientJourneys}; agent RSS max ${mb(maxRss)} MB, VmHWM ${mb(hwm)} MB; ` +
        `now heap ${mb(mem.heapUsed)}/${mb(mem.heapTotal)} MB, external ${mb(mem.external)} MB`,
    );
    // It was a flood: the agent had real work (tens of thousands of hop events at the least).
    expect(ping.sent).toBeGreaterThan(10_000);
    expect(c.decodedHops - before.decodedHops).toBeGreaterThan(50_000);
    expect(c.clientJourneys - before.clientJourneys).toBeGreaterThan(2_000);
    // Sampled every 200 ms, and the kernel's own high-water mark for whatever fell between.
    expect(maxRss).toBeGreaterThan(0);
    expect(maxRss / 2 ** 20).toBeLessThan(LIMIT_MB);
    expect(hwm / 2 ** 20).toBeLessThan(LIMIT_MB);
  }, 60_000);
});
