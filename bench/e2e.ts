// End to end under load: a bounded ICMP flood between two lab pods on different nodes, traced
// with --every-packet on a narrow filter (ICMP from the client pod), served by the real server
// to one websocket client. Prints hop events/s delivered to the client, loss by stage, packet→
// client latency p50/p99, and the process's RSS during the flood (agent and client share this
// process; the client holds nothing). Goals: >= 150k hop events/s lossless or loss accounted,
// p99 < 250 ms, RSS < 150 MB.
// Run as root: `npx tsx bench/e2e.ts [--quick] [--seconds S] [--runs N]` (S = 60 by default,
// 600 for the long memory run).
import { figure, median, numArg, percentile, QUICK, report, withLab } from './lib.ts';
import { startFloodRig, type StageCounters } from './flood.ts';

const SECONDS = Math.round(numArg('--seconds', QUICK ? 10 : 60, 600));
const RUNS = Math.round(numArg('--runs', QUICK ? 1 : 3, 10));
/** Pings per second the flood cannot exceed (ping -f sends as fast as replies come). */
const MAX_PINGS = 40_000;

const diff = (a: StageCounters, b: StageCounters): StageCounters =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k as keyof StageCounters] ?? 0)])) as unknown as StageCounters;

export async function runE2e(): Promise<void> {
  await withLab('e2e', async (lab) => {
    const rig = await startFloodRig(lab);
    try {
      const rates: number[] = [];
      const p50s: number[] = [];
      const p99s: number[] = [];
      const rssMax: number[] = [];
      const stages: Record<string, number>[] = [];
      for (let run = 0; run < RUNS; run++) {
        await rig.settle(5000);
        rig.takeLatencies();
        const before = rig.counters();
        let rss = 0;
        const sampler = setInterval(() => (rss = Math.max(rss, process.memoryUsage().rss)), 500);
        const t0 = Date.now();
        const ping = await rig.flood(MAX_PINGS * SECONDS, SECONDS);
        const floodSecs = (Date.now() - t0) / 1000;
        const atEnd = rig.counters();
        await rig.settle(15_000);
        clearInterval(sampler);
        const d = diff(before, rig.counters());
        const during = diff(before, atEnd);
        const lat = rig.takeLatencies().filter((x) => x >= 0 && x < 600_000);
        rates.push(during.clientHops / floodSecs);
        p50s.push(percentile(lat, 50));
        p99s.push(percentile(lat, 99));
        rssMax.push(rss / 2 ** 20);
        const lostHops = d.kernelPrinted - d.decodedHops;
        stages.push({ pingsSent: ping.sent, pingsAnswered: ping.received, ...d, kernelPrintedNotDecoded: lostHops });
        console.log(
          `run ${run + 1}/${RUNS}: ${ping.sent} pings in ${floodSecs.toFixed(1)} s; kernel printed ${d.kernelPrinted} hops, bpftrace lost ${d.kernelLost}, decoded ${d.decodedHops}; ` +
            `journeys ${d.journeysMade} (${d.hopsInJourneys} hops), evicted ${d.correlatorEvicted}; hub dropped ${d.hubDroppedPending}+${d.hubDroppedSlowClient}; ` +
            `client got ${d.clientJourneys} journeys / ${d.clientHops} hops, told of ${d.clientMissed} missed; ${Math.round(during.clientHops / floodSecs)} hops/s during the flood; p99 ${percentile(lat, 99).toFixed(0)} ms; RSS max ${(rss / 2 ** 20).toFixed(0)} MB`,
        );
      }
      report(
        'e2e',
        [
          figure('hop events/s to one websocket client', 'hops/s', rates, { op: '>=', value: 150_000 }),
          figure('packet -> client latency p50', 'ms', p50s),
          figure('packet -> client latency p99', 'ms', p99s, { op: '<', value: 250 }),
          figure('process RSS max during flood', 'MB', rssMax, { op: '<', value: 150 }),
        ],
        {
          setup: `ping -f (<= ${SECONDS} s) client pod (node-1) -> web pod (node-2) across VXLAN, filter from=<client> proto=icmp everyPacket, ${RUNS} runs`,
          stages,
          lossFreeRuns: stages.filter((s) => s.kernelLost === 0 && s.kernelPrintedNotDecoded === 0 && s.hubDroppedPending === 0 && s.hubDroppedSlowClient === 0 && s.correlatorEvicted === 0).length,
          medianPingsPerRun: median(stages.map((s) => s.pingsSent ?? 0)),
        },
      );
    } finally {
      await rig.stop();
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await runE2e();
