// The trace pipeline: identity index + filter compile + tracer + correlator + a periodic tick.
// What `hopscope trace` and the server run. The thin I/O glue around the pure correlator.
import { readLabState, listLabNames } from '../lab/state.ts';
import { createIdentityIndex, labNetnsSource, procNetnsSource, type IdentityIndex } from '../identity/index.ts';
import type { Journey, ProbeSet, TraceEvent } from '../protocol/events.ts';
import { compileFilter, type FilterSpec } from '../tracer/filter.ts';
import type { KernelFilter } from '../tracer/kernel-filter.ts';
import { startTracer, type Tracer, type TracerStatus } from '../tracer/runner.ts';
import { DEFAULT_FLUSH_MS } from '../tracer/program.ts';
import { createCorrelator, type CorrelatorStats } from '../journeys/correlate.ts';
import { kubeProxyNamer, type KubeProxyContext } from '../journeys/kube-proxy.ts';
import type { KubeProxyMode } from '../kubeproxy/names.ts';
import { startKubeProxyRules, type KubeProxyRules, type KubeProxyRulesStatus } from './kube-proxy-rules.ts';

/** What the pipeline reports about itself. */
export interface PipelineStatus {
  state: 'running' | 'stopped';
  /** The tracer's last lifecycle state (bpftrace restarts after a crash). */
  tracer: TracerStatus['state'];
  probeSet: ProbeSet;
  /** The lab traced, if any. */
  lab?: string;
  sampling: {
    /** False when every matching packet is printed (`everyPacket`). */
    enabled: boolean;
    /** e.g. "first 8 packets per flow and hop, then 1 in 64". */
    description: string;
    /** Packets the kernel counted but did not print (cumulative, from the sampler reports). */
    suppressed: number;
  };
  counters: {
    /** TraceEvents received from the tracer. */
    events: number;
    /** Lines the decoder could not read. */
    rejections: number;
    /** bpftrace's own "Lost N events". */
    lost: number;
    /** Events left out because bpftrace was still attaching its probes (see TracerStats). */
    beforeAttach: number;
    /** Times the tracer was down (bpftrace restarted). */
    gaps: number;
    restarts: number;
    /** Open journeys dropped unfinished to stay within bounds. */
    evicted: number;
    journeys: number;
  };
  correlator: CorrelatorStats;
  identitySynced: boolean;
  /** The last tracer gap (wall-clock ms), reported to clients. */
  lastGap?: { fromMs: number; toMs: number; reason: string };
  /** The kernel filter in effect (numbers only). */
  filter: KernelFilter;
  /** How DNAT hops get their kube-proxy rule: the node's rules, or the API alone and why. */
  kubeProxy: KubeProxyRulesStatus;
}

/** A running pipeline. */
export interface TracePipeline {
  stop(): Promise<void>;
  status(): PipelineStatus;
  /** Recompile and restart the tracer with a new filter. Throws FilterError and keeps the old one. */
  setFilter(spec: FilterSpec): Promise<void>;
  /** The identity index (for naming things the caller prints). */
  readonly identity: IdentityIndex;
  /** The node's kube-proxy rules reader, when the pipeline reads them. */
  readonly kubeProxyRules: KubeProxyRules | undefined;
}

/** Options of startTracePipeline. */
export interface TracePipelineOptions {
  /** Trace this lab: its netns only, named from its state file, its API's kubeconfig. */
  lab?: string;
  /** Kubeconfig of the cluster; default the lab's, else $KUBECONFIG / ~/.kube/config / in-cluster. */
  kubeconfigPath?: string;
  /** There is no cluster: do not ask one (names only from what the netns source knows). */
  noCluster?: boolean;
  filter: FilterSpec;
  /** Without a lab: the host's /proc (an agent in a container mounts it elsewhere) and this node's name. */
  procRoot?: string;
  nodeName?: string;
  onJourney: (j: Journey) => void;
  /** Lines for the operator (e.g. which namespaces are traced and why). */
  log?: (line: string) => void;
  onEvent?: (e: TraceEvent) => void;
  onStatus?: (s: PipelineStatus) => void;
  signal?: AbortSignal;
  /** Correlator bounds. */
  idleMs?: number;
  maxOpen?: number;
  /** How often idle journeys are flushed and status is reported (default 100 ms). */
  tickMs?: number;
  /** kube-proxy's mode, for naming chains when the node's rules cannot be read (default: the lab's, else iptables). */
  kubeProxyMode?: KubeProxyMode;
  /**
   * Read the node's kube-proxy rules (default true): this process's network namespace, or for a
   * lab its first node's (every lab node holds the same kube-proxy rules, as on a cluster).
   */
  readKubeProxyRules?: boolean;
  /** How often the node's rules are re-read (default 10 s). */
  kubeProxyRulesMs?: number;
}

// Two of the program's flush intervals: see streamNs.
const STREAM_MARGIN_NS = 2 * DEFAULT_FLUSH_MS * 1e6;

/** The one lab that is up, for `--lab` without a name. */
export function defaultLab(): string {
  const labs = listLabNames();
  if (labs.length === 1) return labs[0]!;
  if (labs.length === 0) throw new Error('no lab is up (start one with "hopscope lab up"), and no --kubeconfig was given');
  throw new Error(`several labs are up (${labs.join(', ')}): choose one with --lab <name>`);
}

function labInodes(lab: string): number[] {
  return readLabState(lab)
    .netns.map((n) => n.inode)
    .filter((i) => Number.isSafeInteger(i) && i > 0)
    .sort((a, b) => a - b);
}

function describeSampling(f: KernelFilter, every: number): string {
  if (f.everyPacket) return 'every matching packet';
  const rest = f.sampleEvery > 0 ? `then 1 in ${f.sampleEvery}` : 'then none';
  // The kernel samples harder while it would print more than its budget.
  const now = f.sampleEvery > 0 && every > f.sampleEvery ? ` (now 1 in ${every}: busy)` : '';
  return `first ${f.firstPackets} packets per flow and hop, ${rest}${now}`;
}

/** Start tracing: resolves once bpftrace is attached. */
export async function startTracePipeline(opts: TracePipelineOptions): Promise<TracePipeline> {
  const lab = opts.lab;
  let kubeconfigPath = opts.kubeconfigPath;
  if (lab && !kubeconfigPath) {
    const api = readLabState(lab).api;
    if (!api) throw new Error(`lab ${lab} runs without its API (no kubeconfig): names cannot be resolved`);
    kubeconfigPath = api.kubeconfig;
  }
  const netnsSource = lab
    ? labNetnsSource(lab)
    : procNetnsSource({ ...(opts.procRoot ? { procRoot: opts.procRoot } : {}), ...(opts.nodeName ? { nodeName: opts.nodeName } : {}) });
  const identity = await createIdentityIndex({
    ...(kubeconfigPath ? { kubeconfigPath } : opts.noCluster ? { kubeConfig: null } : {}),
    netns: netnsSource,
  });
  // The namespaces this agent traces when the filter names none: a lab's own, or, on a node
  // whose kernel other nodes share (kind, a lab), this node's (its own and its pods').
  const sharedNode = !lab && netnsSource.node?.sharedKernel() ? netnsSource.node.name : undefined;
  const scope: (() => number[]) | undefined = lab ? () => labInodes(lab) : sharedNode ? () => identity.nodeNetns(sharedNode) : undefined;
  if (sharedNode)
    opts.log?.(`this node's kernel is shared with other nodes (its netns is not the kernel's first one): tracing only ${sharedNode}'s network namespaces (${identity.nodeNetns(sharedNode).length} now: its own and its pods')`);
  const assumedMode: KubeProxyMode = opts.kubeProxyMode ?? (lab ? readLabState(lab).model.kubeProxy : 'iptables');
  const rulesNetns = lab ? readLabState(lab).netns.find((n) => n.kind === 'node')?.name : undefined;
  const rulesReader: KubeProxyRules | undefined =
    (opts.readKubeProxyRules ?? true)
      ? startKubeProxyRules({
          assumedMode,
          ...(rulesNetns ? { netns: rulesNetns } : {}),
          ...(opts.procRoot ? { procRoot: opts.procRoot } : {}),
          ...(opts.kubeProxyRulesMs !== undefined ? { intervalMs: opts.kubeProxyRulesMs } : {}),
          ...(opts.log ? { log: opts.log } : {}),
        })
      : undefined;
  const kubeProxyStatus = (): KubeProxyRulesStatus => rulesReader?.status() ?? { mode: assumedMode, source: 'api', reads: 0, failures: 0, reason: 'not read (turned off)' };
  const kubeProxy: KubeProxyContext = {
    get mode() {
      return rulesReader?.mode() ?? assumedMode;
    },
    get rules() {
      return rulesReader?.current();
    },
    endpoints: (namespace, name, portName, proto) =>
      identity.synced
        ? identity
            .serviceEndpoints(namespace, name)
            .filter((e) => e.portName === portName && e.proto === proto)
            .map((e) => ({ ip: e.ip, port: e.port }))
        : undefined,
  };
  const namer = kubeProxyNamer(kubeProxy);
  // kube-proxy rewrites its rules when Services or endpoints change: read them again soon after;
  // the rules named until now may no longer hold.
  const unpoke = identity.onChange(() => {
    namer.invalidate();
    rulesReader?.poke();
  });
  let tracer: Tracer | undefined;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let stopped = false;
  try {
    // Stopped while the index synced: no bpftrace may start with no one left to stop it.
    if (opts.signal?.aborted) throw new Error('stopped before tracing started');
    // A lab shares the kernel with everything else on the machine (other labs use the same
    // addresses): without a netns list of its own, the filter is narrowed to the lab's netns
    // (closed: nothing links them to the rest), or to this node's on a shared kernel.
    const compile = (spec: FilterSpec): KernelFilter => {
      const kf = compileFilter(spec, identity);
      if (scope && kf.netns.length === 0) {
        kf.netns = scope();
        kf.netnsClosed = !!lab;
      }
      return kf;
    };
    let spec = opts.filter;
    let kf = compile(spec);

    let tracerState: TracerStatus['state'] = 'starting';
    const counters = { events: 0, rejections: 0, lost: 0, gaps: 0, evicted: 0, journeys: 0, suppressed: 0 };
    let lastGap: PipelineStatus['lastGap'];
    const deliver = (j: Journey) => {
      counters.journeys++;
      opts.onJourney(namer.name(j));
    };
    const correlator = createCorrelator({
      identity,
      onJourney: deliver,
      ...(opts.idleMs !== undefined ? { idleNs: opts.idleMs * 1e6 } : {}),
      ...(opts.maxOpen !== undefined ? { maxOpen: opts.maxOpen } : {}),
    });
    // Kernel time (bpftrace nsecs) against ours: the offset is re-learnt from every event, so
    // ticks work whatever clock the kernel's timestamps count from.
    let clockOffsetNs: number | undefined;
    // How far the stream has been read, in kernel time: the last flush line's time, less two
    // flush intervals for the other CPUs' lines printed before it but read in the next poll.
    let streamNs: number | undefined;
    let sampleEvery = 0;
    const hrNs = () => Number(process.hrtime.bigint());
    const onEvent = (e: TraceEvent) => {
      counters.events++;
      switch (e.type) {
        case 'hop':
        case 'drop':
        case 'free':
          clockOffsetNs = e.tsNs - hrNs();
          break;
        case 'lost':
          counters.lost += e.count;
          break;
        case 'gap':
          counters.gaps++;
          lastGap = { fromMs: e.fromMs, toMs: e.toMs, reason: e.reason };
          break;
        case 'sampled':
          counters.suppressed += e.suppressed;
          sampleEvery = e.every;
          break;
        case 'device':
        case 'nat':
          break;
        default: {
          const never: never = e;
          return never;
        }
      }
      opts.onEvent?.(e);
      correlator.push(e);
    };

    const status = (): PipelineStatus => {
      const cs = correlator.stats();
      const ts = tracer?.stats();
      return {
        state: stopped ? 'stopped' : 'running',
        tracer: tracerState,
        probeSet: tracer?.probeSet ?? 'tracepoints',
        ...(lab ? { lab } : {}),
        sampling: { enabled: !kf.everyPacket, description: describeSampling(kf, sampleEvery), suppressed: counters.suppressed },
        counters: {
          events: counters.events,
          rejections: ts?.rejections ?? 0,
          lost: Math.max(counters.lost, ts?.lost ?? 0),
          beforeAttach: ts?.beforeAttach ?? 0,
          gaps: counters.gaps,
          restarts: ts?.restarts ?? 0,
          evicted: cs.evicted,
          journeys: counters.journeys,
        },
        correlator: cs,
        identitySynced: identity.synced,
        ...(lastGap ? { lastGap } : {}),
        filter: kf,
        kubeProxy: kubeProxyStatus(),
      };
    };

    tracer = await startTracer({
      filter: kf,
      onEvent,
      onFlush: (ns) => {
        streamNs = Math.max(streamNs ?? 0, ns - STREAM_MARGIN_NS);
      },
      onStatus: (t) => {
        if (t.state !== 'rejected') tracerState = t.state;
      },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });

    timer = setInterval(() => {
      if (clockOffsetNs !== undefined) for (const j of correlator.tick(hrNs() + clockOffsetNs, streamNs)) deliver(j);
      opts.onStatus?.(status());
    }, opts.tickMs ?? 100);
    timer.unref();

    // New pods get new namespaces: follow them when the netns list is the scope's.
    let restarting: Promise<void> = Promise.resolve();
    if (scope) {
      unsubscribe = identity.onChange(() => {
        if (stopped || spec.netns?.length) return;
        restarting = restarting.then(async () => {
          let inodes: number[];
          try {
            inodes = scope();
          } catch {
            return; // the lab is going down; stop() will follow
          }
          if (stopped || spec.netns?.length || inodes.join() === kf.netns.join()) return;
          const next = { ...kf, netns: inodes };
          await tracer?.setFilter(next);
          kf = next; // in effect only once bpftrace runs with it
        });
      });
    }

    const stop = async () => {
      if (stopped) return;
      stopped = true;
      unsubscribe?.();
      if (timer) clearInterval(timer);
      await restarting.catch(() => {});
      await tracer?.stop();
      for (const j of correlator.flush()) deliver(j);
      opts.onStatus?.(status());
      unpoke();
      rulesReader?.stop();
      await identity.close();
    };
    opts.signal?.addEventListener('abort', () => void stop(), { once: true });

    return {
      identity,
      kubeProxyRules: rulesReader,
      stop,
      status,
      async setFilter(next: FilterSpec): Promise<void> {
        const nextKf = compile(next);
        await restarting.catch(() => {});
        await tracer!.setFilter(nextKf);
        spec = next;
        kf = nextKf;
      },
    };
  } catch (e) {
    stopped = true;
    unsubscribe?.();
    unpoke();
    rulesReader?.stop();
    if (timer) clearInterval(timer);
    await tracer?.stop().catch(() => {});
    await identity.close();
    throw e;
  }
}
