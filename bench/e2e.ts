// End to end under load: a bounded ICMP flood between two lab pods on different nodes, traced
// with --every-packet on a narrow filter (ICMP from the client pod), served by the real server
// to one websocket client. Prints hop events/s delivered to the client, loss by stage, packet→
// client latency p50/p99, and the agent's RSS during the flood: the agent (pipeline + server,
// bench/flood-agent.ts) runs in its own process, the client in this one, and RSS is the
// agent's VmRSS from /proc, with its heap breakdown at the sample nearest the peak. Also the CPU the agent, its bpftrace
// and this process (the client) used during the flood (/proc/<pid>/stat, process.cpuUsage), and
// the agent's CPU per hop event delivered. Goals:
// >= 150k hop events/s lossless or loss accounted, p99 < 250 ms, agent RSS < 150 MB.
// Run as root: `npx tsx bench/e2e.ts [--quick] [--seconds S] [--runs N]` (S = 60 by default,
// 10 with --quick). The 10-minute memory run: `npx tsx bench/e2e.ts --seconds 600 --runs 1`.
// Experiments: `--node-flags "--max-semi-space-size=4"` adds Node flags to the agent process;
// `--heap-snapshot FILE` writes the agent's heap snapshot right after the last flood;
// `--tsx` loads the agent's sources through tsx (the launcher's fallback) instead of bundled;
// `--no-heap-settings` leaves out the launcher's V8 heap settings (agent/bin/heap.mjs).
import { figure, median, numArg, percentile, QUICK, report, withLab } from './lib.ts';
import { startFloodRig, type MemoryReport, type StageCounters } from './flood.ts';

const SECONDS = Math.round(numArg('--seconds', QUICK ? 10 : 60, 600));
const RUNS = Math.round(numArg('--runs', QUICK ? 1 : 3, 10));
/** Pings per second the flood cannot exceed (ping -f sends as fast as replies come). */
const MAX_PINGS = 40_000;
const strArg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const NODE_FLAGS = strArg('--node-flags')?.split(/\s+/).filter(Boolean) ?? [];
const SNAPSHOT = strArg('--heap-snapshot');
const LOADER = process.argv.includes('--tsx') ? 'tsx' : 'bundle';
const LAUNCHER_HEAP = !process.argv.includes('--no-heap-settings');
const MB = 2 ** 20;
const mb = (b: number): number => Math.round((b / MB) * 10) / 10;

/** The breakdown as MB: rss, heap, external, array buffers, and each V8 space's size. */
function breakdown(m: MemoryReport): Record<string, number> {
  const out: Record<string, number> = { rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) };
  for (const [k, v] of Object.entries(m.spaces)) out[k.replace(/_space$/, '')] = mb(v.size);
  return out;
}

const diff = (a: StageCounters, b: StageCounters): StageCounters =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k as keyof StageCounters] ?? 0)])) as unknown as StageCounters;

export async function runE2e(): Promise<void> {
  await withLab('e2e', async (lab) => {
    const rig = await startFloodRig(lab, { nodeFlags: NODE_FLAGS, loader: LOADER, launcherHeap: LAUNCHER_HEAP });
    console.log(`agent process ${rig.agentPid}${LOADER === 'bundle' ? ' (bundled, as the CLI runs)' : ' (through tsx)'}${LAUNCHER_HEAP ? '' : ' without the launcher heap settings'}${NODE_FLAGS.length ? ` with ${NODE_FLAGS.join(' ')}` : ''}; RSS at rest ${mb(rig.agentRss().rss)} MB`);
    try {
      const rates: number[] = [];
      const p50s: number[] = [];
      const p99s: number[] = [];
      const rssMax: number[] = [];
      const hwms: number[] = [];
      const agentCpu: number[] = [];
      const agentUsPerHop: number[] = [];
      const bpftraceCpu: number[] = [];
      const clientCpu: number[] = [];
      const peaks: Record<string, number>[] = [];
      const stages: Record<string, number>[] = [];
      for (let run = 0; run < RUNS; run++) {
        await rig.settle(5000);
        rig.takeLatencies();
        const before = rig.counters();
        let rss = 0;
        let peak: MemoryReport | undefined;
        // Also reads bpftrace's CPU: a bpftrace that restarts mid-run keeps its last reading.
        const sampler = setInterval(() => {
          rss = Math.max(rss, rig.agentRss().rss);
          rig.agentCpuMs();
        }, 250);
        // The agent's own view, once a second; kept where RSS was highest.
        const asker = setInterval(() => {
          void rig.agentMemory().then((m) => {
            if (!peak || m.rss > peak.rss) peak = m;
          }, () => undefined);
        }, 1000);
        const cpu0 = rig.agentCpuMs();
        const client0 = process.cpuUsage();
        const t0 = Date.now();
        const ping = await rig.flood(MAX_PINGS * SECONDS, SECONDS);
        const floodSecs = (Date.now() - t0) / 1000;
        const atEnd = rig.counters();
        const cpu1 = rig.agentCpuMs();
        const client1 = process.cpuUsage(client0);
        clearInterval(asker);
        await rig.settle(15_000);
        clearInterval(sampler);
        // CPU share of one core during the flood; per hop over the flood and its drain, as the
        // agent still works through what it read after ping stops.
        const cpu2 = rig.agentCpuMs();
        agentCpu.push((cpu1.agent - cpu0.agent) / floodSecs / 10);
        bpftraceCpu.push((cpu1.bpftrace - cpu0.bpftrace) / floodSecs / 10);
        // This process: the websocket client, plus the bench's own little work (ping's output, timers).
        clientCpu.push((client1.user + client1.system) / 1000 / floodSecs / 10);
        hwms.push(rig.agentRss().hwm / MB);
        if (peak) peaks.push(breakdown(peak));
        const d = diff(before, rig.counters());
        const during = diff(before, atEnd);
        const lat = rig.takeLatencies().filter((x) => x >= 0 && x < 600_000);
        rates.push(during.clientHops / floodSecs);
        agentUsPerHop.push(((cpu2.agent - cpu0.agent) * 1000) / Math.max(1, d.clientHops));
        p50s.push(percentile(lat, 50));
        p99s.push(percentile(lat, 99));
        rssMax.push(rss / MB);
        const lostHops = d.kernelPrinted - d.decodedHops;
        stages.push({ pingsSent: ping.sent, pingsAnswered: ping.received, ...d, kernelPrintedNotDecoded: lostHops });
        console.log(
          `run ${run + 1}/${RUNS}: ${ping.sent} pings in ${floodSecs.toFixed(1)} s; kernel printed ${d.kernelPrinted} hops, bpftrace lost ${d.kernelLost}, decoded ${d.decodedHops}; ` +
            `journeys ${d.journeysMade} (${d.hopsInJourneys} hops), evicted ${d.correlatorEvicted}; fan-out dropped ${d.fanoutDroppedPending}+${d.fanoutDroppedSlowClient}; ` +
            `client got ${d.clientJourneys} journeys / ${d.clientHops} hops, told of ${d.clientMissed} missed; ${Math.round(during.clientHops / floodSecs)} hops/s during the flood; p99 ${percentile(lat, 99).toFixed(0)} ms; CPU % of a core: agent ${agentCpu.at(-1)!.toFixed(0)} (${agentUsPerHop.at(-1)!.toFixed(1)} µs/hop delivered), bpftrace ${bpftraceCpu.at(-1)!.toFixed(0)}${cpu1.bpftraceRuns > cpu0.bpftraceRuns ? ` (it restarted ${cpu1.bpftraceRuns - cpu0.bpftraceRuns}x)` : ''}, client ${clientCpu.at(-1)!.toFixed(0)}; agent RSS max ${(rss / MB).toFixed(0)} MB; at its peak sample ${JSON.stringify(peak ? breakdown(peak) : {})}`,
        );
      }
      report(
        'e2e',
        [
          figure('hop events/s to one websocket client', 'hops/s', rates, { op: '>=', value: 150_000 }),
          figure('packet -> client latency p50', 'ms', p50s),
          figure('packet -> client latency p99', 'ms', p99s, { op: '<', value: 250 }),
          figure('agent RSS max during flood', 'MB', rssMax, { op: '<', value: 150 }),
          figure('agent CPU during flood (% of a core)', '%', agentCpu),
          figure('agent CPU per hop event delivered', 'µs', agentUsPerHop),
          figure('bpftrace CPU during flood (% of a core)', '%', bpftraceCpu),
          figure('bench client CPU during flood (% of a core)', '%', clientCpu),
          figure('agent VmHWM (peak RSS since start)', 'MB', hwms),
        ],
        {
          setup: `ping -f (<= ${SECONDS} s) client pod (node-1) -> web pod (node-2) across VXLAN, filter from=<client> proto=icmp everyPacket, ${RUNS} runs`,
          stages,
          lossFreeRuns: stages.filter((s) => s.kernelLost === 0 && s.kernelPrintedNotDecoded === 0 && s.fanoutDroppedPending === 0 && s.fanoutDroppedSlowClient === 0 && s.correlatorEvicted === 0).length,
          medianPingsPerRun: median(stages.map((s) => s.pingsSent ?? 0)),
          agentNodeFlags: NODE_FLAGS,
          agentLoader: LOADER,
          agentLauncherHeapSettings: LAUNCHER_HEAP,
          agentMemoryAtPeakMB: peaks,
        },
      );
      if (SNAPSHOT) console.log(`heap snapshot: ${await rig.heapSnapshot(SNAPSHOT)}`);
    } finally {
      await rig.stop();
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await runE2e();
