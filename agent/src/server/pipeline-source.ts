// The real trace pipeline as a JourneySource: status mapped to the protocol's AgentStatus,
// client filter unions turned into the part the kernel filter can apply safely.
import { startTracePipeline, type PipelineStatus, type TracePipeline } from '../wiring/pipeline.ts';
import { detectCapabilities, type Capabilities } from '../tracer/capabilities.ts';
import type { FilterSpec } from '../tracer/filter.ts';
import type { KubeProxyMode } from '../kubeproxy/names.ts';
import type { FilterUnion } from './filter.ts';
import type { JourneySource, SourceSink, SourceStatus } from './source.ts';

/**
 * The kernel filter a union allows. Only the protocol, and only when every client wants the
 * same one: ports and pod/Service addresses change along a journey (DNAT turns :80 into
 * :8080, VXLAN wraps everything in UDP), so narrowing on them in the kernel would cut hops
 * out of the journeys the client asked for. The websocket fan-out filters the rest per client.
 */
export function kernelSpecFor(u: FilterUnion, base: FilterSpec): FilterSpec {
  const spec: FilterSpec = { ...base };
  delete spec.proto;
  if (u.protos && u.protos.length === 1 && u.protos[0] !== 'other') spec.proto = u.protos[0];
  return spec;
}

/** PipelineStatus → the source's part of AgentStatus. */
export function sourceStatusFrom(p: PipelineStatus | undefined, caps: Capabilities | undefined, state: SourceStatus['tracer'], message?: string): SourceStatus {
  return {
    // Between a bpftrace exit and its replacement attaching, the tracer is restarting.
    tracer: p ? (p.state !== 'running' || p.tracer === 'stopped' ? 'stopped' : p.tracer === 'running' ? 'running' : 'restarting') : state,
    probeSet: p?.probeSet ?? caps?.probeSet ?? null,
    bpftraceVersion: caps?.bpftrace.version ?? null,
    sampling: p ? { ...p.sampling } : { enabled: false, description: 'not tracing', suppressed: 0 },
    counters: {
      eventsIn: p?.counters.events ?? 0,
      lostEvents: p?.counters.lost ?? 0,
      bpftraceRestarts: p?.counters.gaps ?? 0,
      dropped: { 'pipeline-evicted': p?.counters.evicted ?? 0, 'decoder-rejected': p?.counters.rejections ?? 0 },
    },
    ...(message ? { message } : {}),
    ...(p?.lastGap ? { lastGap: p.lastGap } : {}),
  };
}

/** Options of the pipeline source. */
export interface PipelineSourceOptions {
  lab?: string;
  kubeconfigPath?: string;
  /** Without a lab: the host's /proc and this node's name (see TracePipelineOptions). */
  procRoot?: string;
  nodeName?: string;
  kubeProxyMode?: KubeProxyMode;
  /** Base filter (sampling settings); the union only narrows the protocol. */
  filter?: FilterSpec;
  /** Least time between two tracer restarts for filter changes (ms). */
  refilterMs?: number;
  log?: (line: string) => void;
}

/** Wrap startTracePipeline. */
export function pipelineSource(opts: PipelineSourceOptions): JourneySource {
  const base: FilterSpec = opts.filter ?? {};
  let pipeline: TracePipeline | undefined;
  let caps: Capabilities | undefined;
  let last: PipelineStatus | undefined;
  let state: SourceStatus['tracer'] = 'starting';
  let message: string | undefined;
  let applied = JSON.stringify(base);
  let wanted: FilterSpec = base;
  let timer: NodeJS.Timeout | undefined;
  let lastApply = 0;
  const log = opts.log ?? (() => {});

  const apply = async () => {
    timer = undefined;
    const key = JSON.stringify(wanted);
    if (!pipeline || key === applied) return;
    lastApply = Date.now();
    try {
      await pipeline.setFilter(wanted);
      applied = key;
      log(`kernel filter now ${key}`);
    } catch (e) {
      log(`kernel filter ${key} refused: ${(e as Error).message}; keeping the previous one`);
    }
  };

  return {
    async start(sink: SourceSink) {
      caps = await detectCapabilities();
      try {
        pipeline = await startTracePipeline({
          ...(opts.lab ? { lab: opts.lab } : {}),
          ...(opts.kubeconfigPath ? { kubeconfigPath: opts.kubeconfigPath } : {}),
          ...(opts.procRoot ? { procRoot: opts.procRoot } : {}),
          ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
          ...(opts.kubeProxyMode ? { kubeProxyMode: opts.kubeProxyMode } : {}),
          log,
          filter: base,
          onJourney: (j) => sink.onJourney(j),
          onStatus: (s) => {
            last = s;
            sink.onStatus(sourceStatusFrom(last, caps, state));
          },
        });
        state = 'running';
      } catch (e) {
        // The server still serves the topology and the lab buttons; the status bar says why.
        state = 'unavailable';
        message = (e as Error).message;
        log(`tracer unavailable: ${message}`);
      }
    },
    setFilter(u: FilterUnion) {
      wanted = kernelSpecFor(u, base);
      if (timer) return;
      // Each change restarts bpftrace (a gap): coalesce bursts of subscribe messages.
      const wait = Math.max(0, lastApply + (opts.refilterMs ?? 2000) - Date.now());
      timer = setTimeout(() => void apply(), wait);
    },
    status: () => sourceStatusFrom(last, caps, state, message),
    // The node's kube-proxy rules: read from the node, or why names come from the API alone.
    capabilities: () => ({ ...(caps ?? {}), ...(last ? { kubeProxy: last.kubeProxy } : {}) }),
    async stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await pipeline?.stop();
      state = 'stopped';
    },
  };
}
