// The agent side of the flood rig (bench/flood.ts), run as its own process so its memory is
// measured alone: the real trace pipeline (every packet, ICMP from the client pod) behind the
// real server, with a tap on the decoded events for the per-stage counters. The rig runs this
// file as agent/bin/hopscope.mjs runs the CLI: bundled (agent/bin/bundle.mjs) under plain Node.
//
// IPC, parent → child: {type:'memory'} (answered with a MemoryReport), {type:'snapshot', path}
// (heap snapshot written, answered with {type:'snapshotted'}), {type:'stop'}. Child → parent:
// {type:'ready', port}, {type:'counters', counters, open, tracer} every 100 ms, {type:'error'}.
import { writeHeapSnapshot } from 'node:v8';
import { memoryReport, type MemoryReport } from './memory.ts';
import { startTracePipeline, type PipelineStatus, type TracePipeline } from '../agent/src/wiring/pipeline.ts';
import type { Journey, TraceEvent } from '../agent/src/protocol/events.ts';
import type { JourneySource, SourceSink, SourceStatus } from '../agent/src/server/source.ts';
import { startServer, type RunningServer } from '../agent/src/server/http.ts';
import type { FilterSpec } from '../agent/src/tracer/filter.ts';

export type { MemoryReport } from './memory.ts';

/** What the child is started with (JSON in argv[2]). */
export interface FloodAgentConfig {
  lab: string;
  token: string;
  filter: FilterSpec;
  maxQueue?: number;
}

/** The agent's stage counters, cumulative since start. */
export interface AgentCounters {
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
  /** Events the tracer left out while bpftrace was still attaching. */
  beforeAttach: number;
  /** Journeys the correlator completed (handed to the fan-out). */
  journeysMade: number;
  /** Hops in those journeys. */
  hopsInJourneys: number;
  /** Open journeys dropped by the correlator's bounds. */
  correlatorEvicted: number;
  /** Fanout: journeys in, dropped before any client (pending bound), dropped for this slow client. */
  fanoutIn: number;
  fanoutDroppedPending: number;
  fanoutDroppedSlowClient: number;
}

export type AgentMessage =
  | { type: 'ready'; port: number }
  | { type: 'counters'; counters: AgentCounters; open: number; tracer: string }
  | { type: 'memory'; memory: MemoryReport }
  | { type: 'snapshotted'; path: string }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'memory' } | { type: 'snapshot'; path: string } | { type: 'stop' };

async function main(cfg: FloodAgentConfig): Promise<void> {
  const send = (m: AgentMessage): void => {
    if (process.connected) process.send!(m);
  };
  const c: AgentCounters = {
    kernelPrinted: 0, reports: 0, lastReportPrinted: -1, kernelLost: 0, decodedHops: 0, decodedEvents: 0, rejected: 0, beforeAttach: 0,
    journeysMade: 0, hopsInJourneys: 0, correlatorEvicted: 0, fanoutIn: 0, fanoutDroppedPending: 0, fanoutDroppedSlowClient: 0,
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
  const source: JourneySource = {
    async start(sink: SourceSink) {
      pipeline = await startTracePipeline({
        lab: cfg.lab,
        filter: cfg.filter,
        onEvent,
        onJourney: (j: Journey) => {
          c.journeysMade++;
          c.hopsInJourneys += j.hops.length;
          sink.onJourney(j);
        },
        onStatus: (s) => {
          last = s;
          c.rejected = s.counters.rejections;
          c.beforeAttach = s.counters.beforeAttach;
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
    token: cfg.token,
    source,
    topology: () => null,
    lab: null,
    ...(cfg.maxQueue ? { fanout: { maxQueue: cfg.maxQueue } } : {}),
  });
  const counters = (): AgentMessage => {
    c.fanoutIn = server.fanout.counters.journeysIn;
    c.fanoutDroppedPending = server.fanout.counters.droppedPending;
    c.fanoutDroppedSlowClient = server.fanout.counters.droppedSlowClient;
    return { type: 'counters', counters: { ...c }, open: last?.correlator.open ?? 0, tracer: last?.tracer ?? 'starting' };
  };
  const ticker = setInterval(() => send(counters()), 100);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      clearInterval(ticker);
      await server.close();
      // The last counters (what the pipeline flushed on stop) reach the parent before exiting.
      if (process.connected) process.send!(counters(), () => process.exit(0));
      else process.exit(0);
    })());
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'memory') send({ type: 'memory', memory: memoryReport() });
    else if (m.type === 'snapshot') send({ type: 'snapshotted', path: writeHeapSnapshot(m.path) });
    else if (m.type === 'stop') void stop();
  });
  // The parent gone (a crashed bench): stop bpftrace and the server rather than linger.
  process.on('disconnect', () => void stop());
  send({ type: 'ready', port: server.port });
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as FloodAgentConfig;
main(cfg).catch((e: unknown) => {
  if (process.connected) process.send!({ type: 'error', message: (e as Error).stack ?? String(e) } satisfies AgentMessage);
  process.exitCode = 1;
  process.disconnect?.();
});
