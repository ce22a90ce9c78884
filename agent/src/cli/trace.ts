// `hopscope trace`: follow packets through the cluster (or the lab) and print each packet's
// journey as a story, or as JSON lines. Stops on Ctrl-C, after --count journeys or --duration,
// and prints its counters whichever way it stops.
import { existsSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import type { Command } from './command.ts';
import type { Journey } from '../protocol/events.ts';
import { FilterError, parseFilterSpec, type FilterSpec } from '../tracer/filter.ts';
import { DEFAULT_KERNEL_FILTER } from '../tracer/kernel-filter.ts';
import { readKubeProxyMode, type KubeProxyMode } from '../kubeproxy/names.ts';
import { defaultLab, startTracePipeline, type PipelineStatus, type TracePipeline } from '../wiring/pipeline.ts';
import { renderJson, renderOneLine, renderStory } from '../journeys/story.ts';
import { listLabNames, readLabState, watchLabGone } from '../lab/state.ts';
import { CLUSTER_FALLBACKS, describeCluster, findCluster } from '../identity/cluster-source.ts';
import { clip, int, many, optional, parseFlags, short, toggle, UsageError, value, type Values } from '../config/flags.ts';
import { RECORD_FLAGS, RECORD_FLAGS_HELP, recordOptionsOf, type RecordOptions } from '../config/record-flags.ts';
import { startRecorder, type Recorder, type RecorderInputs } from '../wiring/recording-file.ts';
import { identitiesFromTopology, topologyFromModel } from '../server/topology.ts';
import { k8sTopology } from '../server/k8s-topology.ts';
import { sourceStatusFrom } from '../server/pipeline-source.ts';
import { refusal } from '../tracer/preflight.ts';

/** The --kubeconfig fallbacks, as help and README say them. */
export const KUBECONFIG_HELP = `the lab's API when tracing a lab, else ${CLUSTER_FALLBACKS}; with none, addresses only`;

const USAGE = `usage: hopscope trace [options]

Where:
  --lab [name]             trace a lab (default when one is up and no --kubeconfig is given;
                           the name may be left out when one lab is up)
  --kubeconfig <file>      the cluster that names things (default: ${KUBECONFIG_HELP})
  --kube-proxy-mode <m>    iptables, nftables or ipvs: how to name DNAT chains when this node's
                           rules cannot be read (default: the lab's, else iptables)

What (filter, applied in the kernel):
  --from <endpoint>        sender: pod, ns/pod, svc/name, svc/ns/name, ip, ip:port or cidr
  --to <endpoint>          receiver (same forms); replies are shown too
  -n, --namespace <ns>     namespace of pod and Service names given without one (default "default")
  --port <n>               either side uses this port (repeatable)
  --proto tcp|udp|icmp
  --netns <inode>          only this network namespace (repeatable)
  --every-packet           print every matching packet (use with a narrow filter)
  --first-packets <n>      packets shown per flow and hop before sampling (default ${DEFAULT_KERNEL_FILTER.firstPackets})
  --sample-every <k>       then 1 packet in k (default ${DEFAULT_KERNEL_FILTER.sampleEvery}, 0 = none)
  --print-budget <n>       hop lines a second before sampling harder (k doubles; default ${DEFAULT_KERNEL_FILTER.printBudget})

Output:
  --json                   one journey per line, JSON (schema in README "Tracing")
  --oneline                one journey per line, hops joined by arrows
${RECORD_FLAGS_HELP}
  --count <n>              stop after n journeys
  --duration <s>           stop s seconds after the command started (startup included)
  -h, --help

Counters print on stderr when it stops (Ctrl-C, --count, --duration).`;

const LAB_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const TRACE_FLAGS = {
  lab: optional((t) => {
    if (!LAB_NAME.test(t)) throw new Error(`"${clip(t, 40)}" is not a lab name`);
    return t;
  }),
  kubeconfig: value(),
  'kube-proxy-mode': value(readKubeProxyMode),
  from: value(),
  to: value(),
  namespace: short('n', value()),
  port: many(int(1, 65535)),
  proto: value(),
  netns: many(int(1, 0xffffffff, 'an inode number')),
  'every-packet': toggle(),
  'first-packets': int(0, 1_000_000),
  'sample-every': int(0, 1_000_000),
  'print-budget': int(1, 10_000_000),
  json: toggle(),
  oneline: toggle(),
  count: int(1, 1_000_000, 'a whole number 1-1000000'),
  duration: value((t) => {
    if (!/^\d{1,6}(\.\d{1,3})?$/.test(t) || Number(t) <= 0 || Number(t) > 86_400) throw new Error(`expected seconds, more than 0 and at most 86400, got "${clip(t, 20)}"`);
    return Number(t);
  }),
  ...RECORD_FLAGS,
  help: short('h', toggle()),
};

/** Parsed `trace` options. */
export interface TraceArgs {
  /** undefined: not asked; '': asked without a name (the one that is up). */
  lab?: string;
  kubeconfig?: string;
  kubeProxyMode?: KubeProxyMode;
  output: 'story' | 'json' | 'oneline';
  count?: number;
  durationS?: number;
  help: boolean;
  filter: FilterSpec;
  /** --write: record the journeys too. */
  record?: RecordOptions;
}

function filterOf(v: Values<typeof TRACE_FLAGS>): FilterSpec {
  const raw = {
    from: v.from,
    to: v.to,
    namespace: v.namespace,
    port: v.port,
    proto: v.proto,
    netns: v.netns,
    everyPacket: v['every-packet'],
    firstPackets: v['first-packets'],
    sampleEvery: v['sample-every'],
    printBudget: v['print-budget'],
  };
  try {
    return parseFilterSpec(Object.fromEntries(Object.entries(raw).filter(([, x]) => x !== undefined)));
  } catch (e) {
    if (e instanceof FilterError) throw new UsageError(e.message);
    throw e;
  }
}

/** Parse argv of `hopscope trace`. Throws UsageError naming the flag. Pure. */
export function parseTraceArgs(argv: readonly string[]): TraceArgs {
  const { values: v } = parseFlags(argv, TRACE_FLAGS);
  if (v.json && v.oneline) throw new UsageError('--json and --oneline: choose one');
  const record = recordOptionsOf(v);
  return {
    ...(record ? { record } : {}),
    ...(v.lab !== undefined ? { lab: v.lab } : {}),
    ...(v.kubeconfig ? { kubeconfig: v.kubeconfig } : {}),
    ...(v['kube-proxy-mode'] ? { kubeProxyMode: v['kube-proxy-mode'] } : {}),
    output: v.json ? 'json' : v.oneline ? 'oneline' : 'story',
    ...(v.count !== undefined ? { count: v.count } : {}),
    ...(v.duration !== undefined ? { durationS: v.duration } : {}),
    help: v.help ?? false,
    filter: filterOf(v),
  };
}

function statusLine(s: PipelineStatus | undefined): string {
  if (!s) return '0 journeys: stopped before tracing started';
  const c = s.counters;
  return (
    `${c.journeys} journeys from ${c.events} events; lost ${c.lost}, rejected ${c.rejections}, gaps ${c.gaps}, ` +
    `evicted ${c.evicted}, suppressed by sampling ${s.sampling.suppressed}`
  );
}

export const command: Command = {
  summary: 'follow packets hop by hop (pod, veth, bridge, NAT, tunnel, underlay, delivery or drop)',
  async run(argv: string[]): Promise<number> {
    return runTrace(argv);
  },
};

/** What is traced and what names it, said before the (seconds-long) start. */
interface Target {
  lab?: string;
  kubeconfig?: string;
  noCluster: boolean;
  says: string;
}

function target(args: TraceArgs): Target {
  let lab: string | undefined;
  if (args.lab !== undefined) lab = args.lab || defaultLab();
  else if (!args.kubeconfig && listLabNames().length > 0) lab = defaultLab();
  if (lab) {
    const s = readLabState(lab);
    const names = args.kubeconfig ? `names from the cluster in ${args.kubeconfig} (--kubeconfig)` : `names from the lab's API (${s.api?.kubeconfig ?? 'none'})`;
    return { lab, ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}), noCluster: false, says: `tracing lab ${lab} (its ${s.netns.length} network namespaces); ${names}` };
  }
  const c = findCluster(args.kubeconfig, process.env, homedir(), existsSync);
  if (c.kind === 'kubeconfig' && !existsSync(c.path)) throw new Error(`${c.from}: no such file ${c.path}`);
  const all = `every network namespace on this node${listLabNames().length === 0 && !args.kubeconfig ? ' (no lab is up)' : ''}`;
  return {
    ...(c.kind === 'kubeconfig' ? { kubeconfig: c.path } : {}),
    noCluster: c.kind === 'none',
    says: `tracing ${all}; ${describeCluster(c)}${c.kind === 'none' ? ', pods named only where /proc tells' : ''}`,
  };
}

/** The recording of a trace: what names things (lab model or the cluster) and the pipeline's status. */
function openRecording(opts: RecordOptions, t: Target, pipeline: () => TracePipeline | undefined): { recorder: Recorder; close(reason: string): void } {
  // The cluster's topology watch is started after the file opened (a refused path starts nothing).
  let cluster: ReturnType<typeof k8sTopology> | undefined;
  const topology: RecorderInputs['topology'] = () => {
    const view = t.lab ? topologyFromModel(readLabState(t.lab).model) : (cluster?.get() ?? null);
    return view ? { topology: view, identities: identitiesFromTopology(view) } : null;
  };
  const lab = t.lab ? readLabState(t.lab).model : undefined;
  const status: RecorderInputs['status'] = () => {
    const p = pipeline()?.status();
    const s = sourceStatusFrom(p, undefined, p ? 'running' : 'starting');
    return {
      ...s,
      bpftraceVersion: null,
      counters: { ...s.counters, journeysOut: p?.counters.journeys ?? 0, clients: 0 },
      lab: lab ? { name: lab.name, nodes: lab.nodes.map((n) => n.name), cni: lab.cni } : null,
    };
  };
  const source = t.lab ? `lab ${t.lab} (${lab?.cni ?? 'unknown CNI'}), hopscope trace` : `${hostname()}, hopscope trace${t.kubeconfig ? ` (${t.kubeconfig})` : ''}`;
  const recorder = startRecorder({ path: opts.path, source, maxBytes: opts.maxBytes, keep: opts.keep, ...(opts.maxSeconds ? { maxSeconds: opts.maxSeconds } : {}) }, { topology, status });
  if (!t.lab && !t.noCluster) cluster = k8sTopology(t.kubeconfig);
  return {
    recorder,
    close(reason) {
      recorder.close(reason);
      cluster?.stop();
    },
  };
}

async function runTrace(argv: string[]): Promise<number> {
  const args = parseTraceArgs(argv);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const refused = await refusal('trace');
  if (refused) {
    console.error(refused);
    return 1;
  }
  const t = target(args);
  console.error(`hopscope trace: ${t.says}`);

  const abort = new AbortController();
  let printed = 0;
  let code = 0;
  let stopWhy: string | undefined;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const stopFor = (why: string, exitCode = 0) => {
    stopWhy ??= why;
    if (code === 0) code = exitCode;
    done();
  };
  let pipeline: TracePipeline | undefined;
  const recording = args.record ? openRecording(args.record, t, () => pipeline) : undefined;
  const print = (j: Journey) => {
    if (args.count !== undefined && printed >= args.count) return;
    printed++;
    recording?.recorder.journey(j);
    switch (args.output) {
      case 'json':
        process.stdout.write(renderJson(j) + '\n');
        break;
      case 'oneline':
        process.stdout.write(`${j.id} ${renderOneLine(j)}\n`);
        break;
      case 'story':
        process.stdout.write(renderStory(j) + '\n\n');
        break;
      default: {
        const never: never = args.output;
        return never;
      }
    }
    if (args.count !== undefined && printed >= args.count) stopFor(`${args.count} journeys`);
  };
  // NOTE: process.on, not once: execa's signal-exit (it stops bpftrace on a signal) re-raises a
  // signal that no other listener is registered for, and a `once` listener is already removed
  // when it looks, so the process died with 130 before printing its counters or removing its
  // program dir. The second Ctrl-C gives up waiting; the exit hooks still stop bpftrace.
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (++signals > 1) process.exit(130);
    stopFor(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timer = args.durationS !== undefined ? setTimeout(() => stopFor(`--duration ${args.durationS}`), args.durationS * 1000) : undefined;
  const unwatch = t.lab ? watchLabGone(t.lab, () => stopFor(`lab ${t.lab} went down`, 1)) : undefined;
  try {
    const starting = startTracePipeline({
      ...(t.lab ? { lab: t.lab } : {}),
      ...(t.kubeconfig ? { kubeconfigPath: t.kubeconfig } : {}),
      ...(t.noCluster ? { noCluster: true } : {}),
      ...(args.kubeProxyMode ? { kubeProxyMode: args.kubeProxyMode } : {}),
      log: (l) => console.error(`hopscope trace: ${l}`),
      filter: args.filter,
      onJourney: print,
      signal: abort.signal,
    });
    const attached = (p: TracePipeline, more: string) => {
      const s = p.status();
      console.error(
        `hopscope trace: attached with ${s.probeSet} (${s.sampling.description})` +
          `${s.identitySynced ? '' : '; the cluster has not answered yet, names may be missing'}${more}`,
      );
    };
    const first = await Promise.race([starting.then((p) => ({ p })), finished.then(() => undefined)]);
    if (first) {
      pipeline = first.p;
      attached(pipeline, '; Ctrl-C to stop');
      await finished;
    } else {
      // Stopped while starting (--count can be reached by the first journeys, before the start
      // returns): let the start finish (or fail) and stop what it started.
      abort.abort();
      pipeline = await starting.catch(() => undefined);
      if (pipeline) attached(pipeline, '');
    }
    await pipeline?.stop();
    if (stopWhy && !stopWhy.startsWith('SIG') && !stopWhy.endsWith('journeys')) console.error(`hopscope trace: ${stopWhy}: stopping`);
    console.error(statusLine(pipeline?.status()));
    if (recording) {
      recording.close(stopWhy ?? 'stopped');
      const st = recording.recorder.stats();
      console.error(`hopscope trace: recorded ${st.journeys} journeys in ${st.bytes} bytes (${st.parts} file${st.parts === 1 ? '' : 's'}) to ${args.record!.path}`);
    }
    return code;
  } catch (e) {
    if (e instanceof FilterError) throw new UsageError(e.message);
    throw e;
  } finally {
    recording?.close('trace failed');
    if (timer) clearTimeout(timer);
    unwatch?.();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    abort.abort();
  }
}
