// A bounded ICMP flood on the lab, traced with --every-packet on a narrow filter, served to
// one websocket client, with every stage's counters: what the kernel printed (the sampler's
// @prn), what bpftrace reported lost, what the decoder read or rejected, what the correlator
// made of it, what the hub delivered or dropped, and what the client received. Shared by
// bench/e2e.ts and test/loss-accounting.test.ts.
import WebSocket from 'ws';
import { execa } from 'execa';
import type { LabHandle } from '../agent/src/lab/lab.ts';
import { startTracePipeline, type PipelineStatus, type TracePipeline } from '../agent/src/journeys/pipeline.ts';
import type { Journey, TraceEvent } from '../agent/src/protocol/events.ts';
import type { JourneySource, SourceSink, SourceStatus } from '../agent/src/server/source.ts';
import { startServer, type RunningServer } from '../agent/src/server/http.ts';
import type { FilterSpec } from '../agent/src/tracer/filter.ts';
import { targetNetns } from '../agent/src/lab/lab.ts';

const TOKEN = 'flood-bench-token-0123456789abcdef';

/** Counters of every stage, cumulative since start. */
export interface StageCounters {
  /** Hop events the kernel printed (sum of the sampler's @prn reports). */
  kernelPrinted: number;
  /** Sampler reports seen, and the last one's printed count. */
  reports: number;
  lastReportPrinted: number;
  /** bpftrace's own "Lost N events" (any line kind). */
  kernelLost: number;
  /** Hop events decoded. */
  decodedHops: number;
  /** All TraceEvents decoded. */
  decodedEvents: number;
  /** Lines the decoder rejected. */
  rejected: number;
  /** Journeys the correlator completed (handed to the hub). */
  journeysMade: number;
  /** Hops in those journeys. */
  hopsInJourneys: number;
  /** Open journeys dropped by the correlator's bounds. */
  correlatorEvicted: number;
  /** Hub: journeys in, dropped before any client (pending bound), dropped for this slow client. */
  hubIn: number;
  hubDroppedPending: number;
  hubDroppedSlowClient: number;
  /** Client: journeys and hops received, "missed" counts announced to it. */
  clientJourneys: number;
  clientHops: number;
  clientMissed: number;
}

/** A traced, served lab ready to be flooded. */
export interface FloodRig {
  counters(): StageCounters;
  /** Packet (first hop, kernel clock) → client arrival latencies in ms, since the last call. */
  takeLatencies(): number[];
  /** Pings from the client pod to the web pod on node-2, at most `count` or `seconds`: `ping -f`, or one per `intervalS`. */
  flood(count: number, seconds: number, intervalS?: number): Promise<{ sent: number; received: number }>;
  /** Waits until the kernel printed nothing for two reports and every stage has drained. */
  settle(maxMs: number): Promise<void>;
  /** The target pod's IP. */
  target: string;
  stop(): Promise<void>;
}

/** Builds the rig: pipeline (every packet, ICMP from the client pod), server, one client. */
export async function startFloodRig(lab: LabHandle, opts: { maxQueue?: number } = {}): Promise<FloodRig> {
  const state = lab.state();
  const client = state.model.pods.find((p) => p.namespace === 'default' && p.name === 'client');
  const target = state.model.pods.find((p) => p.deployment?.name === 'web' && p.node === 'node-2');
  if (!client || !target) throw new Error('default topology expected (client pod, web pod on node-2)');
  const filter: FilterSpec = { from: client.ip, proto: 'icmp', everyPacket: true };
  const c: StageCounters = {
    kernelPrinted: 0, reports: 0, lastReportPrinted: -1, kernelLost: 0, decodedHops: 0, decodedEvents: 0, rejected: 0,
    journeysMade: 0, hopsInJourneys: 0, correlatorEvicted: 0, hubIn: 0, hubDroppedPending: 0, hubDroppedSlowClient: 0,
    clientJourneys: 0, clientHops: 0, clientMissed: 0,
  };
  let pipeline: TracePipeline | undefined;
  let last: PipelineStatus | undefined;
  const onEvent = (e: TraceEvent): void => {
    c.decodedEvents++;
    if (e.type === 'hop') c.decodedHops++;
    else if (e.type === 'sampled') {
      c.kernelPrinted += e.printed;
      c.reports++;
      c.lastReportPrinted = e.printed;
    } else if (e.type === 'lost') c.kernelLost += e.count;
  };
  const statusOf = (): SourceStatus => ({
    tracer: last?.tracer === 'running' ? 'running' : 'starting',
    probeSet: last?.probeSet ?? null,
    bpftraceVersion: null,
    sampling: { enabled: false, description: 'every matching packet', suppressed: last?.sampling.suppressed ?? 0 },
    counters: { eventsIn: last?.counters.events ?? 0, lostEvents: last?.counters.lost ?? 0, bpftraceRestarts: last?.counters.restarts ?? 0, dropped: { pipeline: last?.counters.evicted ?? 0 } },
  });
  // The real pipeline behind the real server, with a tap on the decoded events.
  const source: JourneySource = {
    async start(sink: SourceSink) {
      pipeline = await startTracePipeline({
        lab: lab.name,
        filter,
        onEvent,
        onJourney: (j: Journey) => {
          c.journeysMade++;
          c.hopsInJourneys += j.hops.length;
          sink.onJourney(j);
        },
        onStatus: (s) => {
          last = s;
          c.rejected = s.counters.rejections;
          c.correlatorEvicted = s.counters.evicted;
          sink.onStatus(statusOf());
        },
      });
    },
    setFilter() {},
    status: statusOf,
    async stop() {
      await pipeline?.stop();
    },
    capabilities: () => ({}),
  };
  const server: RunningServer = await startServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    source,
    topology: () => null,
    lab: null,
    ...(opts.maxQueue ? { hub: { maxQueue: opts.maxQueue } } : {}),
  });
  let lat: number[] = [];
  const ws = await new Promise<WebSocket>((resolve, reject) => {
    const s = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    s.on('open', () => {
      s.send(JSON.stringify({ type: 'hello', version: 1 }));
      resolve(s);
    });
    s.on('error', reject);
    s.on('message', (d) => {
      const now = Number(process.hrtime.bigint());
      // Plain JSON: the client shares the process with the agent; the UI's validation cost is
      // measured by ws-bench.
      const m = JSON.parse(d.toString()) as { type: string; journeys?: Journey[]; count?: number };
      if (m.type === 'batch') {
        for (const j of m.journeys ?? []) {
          c.clientJourneys++;
          c.clientHops += j.hops.length;
          lat.push((now - j.startNs) / 1e6);
        }
      } else if (m.type === 'missed') c.clientMissed += m.count ?? 0;
    });
  });
  // The tracer starts with the server; wait for it to run before flooding.
  for (let i = 0; i < 300 && last?.tracer !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
  if (last?.tracer !== 'running') throw new Error('tracer did not start');

  const hubCounters = (): void => {
    c.hubIn = server.hub.counters.journeysIn;
    c.hubDroppedPending = server.hub.counters.droppedPending;
    c.hubDroppedSlowClient = server.hub.counters.droppedSlowClient;
  };
  const clientNs = targetNetns(state, 'default/client').name;

  return {
    target: target.ip,
    counters() {
      hubCounters();
      return { ...c };
    },
    takeLatencies() {
      const out = lat;
      lat = [];
      return out;
    },
    async flood(count, seconds, intervalS) {
      const pace = intervalS === undefined ? ['-f'] : ['-i', String(intervalS)];
      const r = await execa('ip', ['netns', 'exec', clientNs, 'ping', ...pace, '-q', '-c', String(count), '-w', String(seconds), target.ip], {
        reject: false,
        timeout: (seconds + 10) * 1000,
        stdin: 'ignore',
      });
      const m = /(\d+) packets transmitted, (\d+) received/.exec(String(r.stdout));
      if (!m) throw new Error(`ping -f gave no summary: ${String(r.stderr) || String(r.stdout)}`);
      return { sent: Number(m[1]), received: Number(m[2]) };
    },
    async settle(maxMs) {
      const end = Date.now() + maxMs;
      let quiet = 0;
      let reports = c.reports;
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 200));
        if (c.reports !== reports) {
          reports = c.reports;
          quiet = c.lastReportPrinted === 0 ? quiet + 1 : 0;
        }
        hubCounters();
        const hubDone = c.hubIn === c.clientJourneys + c.clientMissed + c.hubDroppedPending;
        if (quiet >= 2 && (last?.correlator.open ?? 0) === 0 && hubDone) return;
      }
    },
    async stop() {
      ws.close();
      await server.close();
    },
  };
}
