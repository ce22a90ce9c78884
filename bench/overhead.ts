// Tracing overhead: iperf3 pod→pod across the VXLAN lab (client on node-1, server on node-2),
// alternating untraced / traced (the real agent pipeline: bpftrace with the default kernel
// filter on all lab flows, decoder, correlator, identity) / tcpdump on one interface, in the
// same run. Each traced figure is reported as a ratio of the untraced runs around it.
// Goal: traced >= 95% of untraced. Run as root: `npx tsx bench/overhead.ts [--quick] [--rounds N] [--seconds S]`.
import { execa, type ResultPromise } from 'execa';
import { createInterface } from 'node:readline';
import type { LabHandle } from '../agent/src/lab/lab.ts';
import { targetNetns } from '../agent/src/lab/lab.ts';
import { startTracePipeline } from '../agent/src/wiring/pipeline.ts';
import type { FilterSpec } from '../agent/src/tracer/filter.ts';
import { figure, median, numArg, QUICK, report, sleep, withLab } from './lib.ts';

const ROUNDS = Math.round(numArg('--rounds', QUICK ? 2 : 4, 20));
const SECONDS = Math.round(numArg('--seconds', QUICK ? 3 : 5, 30));
const PORT = 5201;

interface Mode {
  name: 'untraced' | 'traced' | 'tcpdump' | 'floor';
  /** Starts the observer; returns its stop function and a line/event counter. */
  start(lab: LabHandle): Promise<{ stop(): Promise<void>; seen(): number }>;
}

/** Gbit/s of one bounded iperf3 run from the client pod to the server pod. */
async function iperf(lab: LabHandle, serverIp: string): Promise<number> {
  const r = await lab.exec('default/client', ['iperf3', '-c', serverIp, '-p', String(PORT), '-t', String(SECONDS), '-J'], { timeoutMs: (SECONDS + 15) * 1000 });
  if (r.exitCode !== 0) throw new Error(`iperf3 client failed (${r.exitCode}): ${r.stderr || r.stdout.slice(0, 300)}`);
  const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
  const bps = j.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || bps <= 0) throw new Error('iperf3 reported no throughput');
  return bps / 1e9;
}

const untraced: Mode = {
  name: 'untraced',
  start: async () => ({ stop: async () => {}, seen: () => 0 }),
};

/** The agent as `hopscope start` runs it: default filter (first 8 per flow and hop, then 1 in 64). */
function traced(filter: FilterSpec): Mode {
  return {
    name: 'traced',
    async start(lab) {
      let events = 0;
      const ac = new AbortController();
      const p = await startTracePipeline({ lab: lab.name, filter, onJourney: () => {}, onEvent: () => events++, signal: ac.signal });
      return {
        seen: () => events,
        async stop() {
          await p.stop();
        },
      };
    },
  };
}

/**
 * The floor: bpftrace on the same two tracepoints doing nothing but a per-CPU count. What any
 * tracer attached at every device pays on this kernel before reading a single field.
 */
const floor: Mode = {
  name: 'floor',
  async start() {
    const prog = 'BEGIN { printf("ready\\n"); } tracepoint:net:netif_receive_skb { @c = count(); } tracepoint:net:net_dev_start_xmit { @c = count(); }';
    const child: ResultPromise = execa('bpftrace', ['-B', 'line', '-e', prog], { buffer: false, stdin: 'ignore', stdout: 'pipe', stderr: 'ignore', reject: false, forceKillAfterDelay: 2000 });
    let ready = false;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('count-only bpftrace did not start')), 30_000);
      createInterface({ input: child.stdout! }).on('line', (l) => {
        if (!ready && l === 'ready') {
          ready = true;
          clearTimeout(t);
          resolve();
        }
      });
    });
    return {
      seen: () => 0,
      async stop() {
        if (child.pid) process.kill(child.pid, 'SIGTERM');
        await child;
      },
    };
  },
};

/** tcpdump decoding every packet of the client pod's eth0 to text (drained here, like our lines). */
const tcpdump: Mode = {
  name: 'tcpdump',
  async start(lab) {
    const ns = targetNetns(lab.state(), 'default/client').name;
    const child: ResultPromise = execa('ip', ['netns', 'exec', ns, 'tcpdump', '-n', '-l', '-i', 'eth0'], { buffer: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', reject: false, forceKillAfterDelay: 2000 });
    let lines = 0;
    createInterface({ input: child.stdout! }).on('line', () => lines++);
    // Wait for "listening on eth0" so the capture is live before the iperf3 run starts.
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 3000);
      createInterface({ input: child.stderr! }).on('line', (l) => {
        if (l.includes('listening on')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    return {
      seen: () => lines,
      async stop() {
        if (child.pid) process.kill(child.pid, 'SIGTERM');
        await child;
      },
    };
  },
};

export async function runOverhead(): Promise<void> {
  await withLab('ovh', async (lab) => {
    const state = lab.state();
    const server = state.model.pods.find((p) => p.deployment?.name === 'web' && p.node === 'node-2');
    if (!server) throw new Error('no web pod on node-2 in the default topology');
    const serverNs = targetNetns(state, `${server.namespace}/${server.name}`).name;
    const srv = execa('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-p', String(PORT)], { buffer: false, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false, forceKillAfterDelay: 2000 });
    try {
      await sleep(500);
      await iperf(lab, server.ip); // warm-up (ARP, conntrack, caches), not counted
      const modes = [untraced, traced({}), tcpdump, floor];
      const gbps: Record<Mode['name'], number[]> = { untraced: [], traced: [], tcpdump: [], floor: [] };
      const ratios: Record<'traced' | 'tcpdump' | 'floor', number[]> = { traced: [], tcpdump: [], floor: [] };
      const seen: Record<Mode['name'], number[]> = { untraced: [], traced: [], tcpdump: [], floor: [] };
      for (let round = 0; round < ROUNDS; round++) {
        let base = NaN;
        for (const m of modes) {
          const obs = await m.start(lab);
          let g: number;
          try {
            await sleep(300);
            g = await iperf(lab, server.ip);
          } finally {
            await obs.stop();
          }
          gbps[m.name].push(g);
          seen[m.name].push(obs.seen());
          if (m.name === 'untraced') base = g;
          else ratios[m.name].push(g / base);
          console.log(`round ${round + 1}/${ROUNDS} ${m.name.padEnd(8)} ${g.toFixed(2)} Gbit/s${m.name === 'untraced' ? '' : ` (${((g / base) * 100).toFixed(1)}% of untraced; ${obs.seen()} ${m.name === 'traced' ? 'events' : 'lines'})`}`);
        }
      }
      report(
        'overhead',
        [
          figure('iperf3 untraced', 'Gbit/s', gbps.untraced),
          figure('iperf3 traced (default filter, all flows)', 'Gbit/s', gbps.traced),
          figure('iperf3 tcpdump (one interface)', 'Gbit/s', gbps.tcpdump),
          figure('traced / untraced', 'ratio', ratios.traced, { op: '>=', value: 0.95 }),
          figure('tcpdump / untraced', 'ratio', ratios.tcpdump),
          figure('floor: count-only bpftrace / untraced', 'ratio', ratios.floor),
        ],
        { setup: `iperf3 -t ${SECONDS} pod->pod across VXLAN (client on node-1, server on node-2), ${ROUNDS} rounds alternating untraced/traced/tcpdump/floor (count-only bpftrace on the same tracepoints)`, tracedEventsPerRun: median(seen.traced), tcpdumpLinesPerRun: median(seen.tcpdump) },
      );
    } finally {
      if (srv.pid) process.kill(srv.pid, 'SIGTERM');
      await srv;
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await runOverhead();
