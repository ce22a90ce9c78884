// The lab `hopscope start` owns, as the server sees it: actions run against whichever build is
// up, a rebuild in another CNI / kube-proxy mode swaps the lab under the tracer, and lesson
// inspections run their fixed commands in the right namespace.
import { execBounded, type ExecResult } from '../exec/bounded.ts';
import { labUp, type ExecTarget, type LabHandle, type LabUpOptions } from '../lab/lab.ts';
import type { Topology } from '../lab/topology.ts';
import type { AgentStatus, LabAction } from '../protocol/messages.ts';
import { transcript, type InspectCommand } from '../protocol/inspect.ts';
import { modeText, type LabMode } from '../protocol/lab-modes.ts';
import { planAction } from './actions.ts';
import type { ActionOutcome } from './fanout.ts';
import type { JourneySource, SourceSink, SourceStatus } from './source.ts';
import type { FilterUnion } from './filter.ts';
import { topologyFromModel } from './topology.ts';

/** How long one inspection command may run. */
const INSPECT_TIMEOUT_MS = 8000;
/** Most bytes of output read from one inspection command. */
const INSPECT_MAX_BUFFER = 1 << 20;

/**
 * A source that can be stopped and started again on a new lab while the server keeps serving:
 * the filter union and the sink carry over; between the two it reports `restarting`.
 */
export interface SwappableSource extends JourneySource {
  /** Stop the current source, run `between` (the lab rebuild), start a fresh one. */
  swap(between: () => Promise<void>): Promise<void>;
}

/** Wrap a source factory so the source can be swapped (the factory reads the lab afresh). */
export function swappableSource(make: () => JourneySource): SwappableSource {
  let inner = make();
  let sink: SourceSink | undefined;
  // NOTE: a new pipeline numbers its journeys from j1 again; the page keys rows, selections and
  // replies by id, so each build after the first gets its own prefix ("b2-j1").
  let build = 1;
  const forward = (s: SourceSink, b: number): SourceSink =>
    b === 1
      ? s
      : {
          onStatus: (x) => s.onStatus(x),
          onJourney: (j) => s.onJourney({ ...j, id: `b${b}-${j.id}`, ...(j.replyTo !== undefined ? { replyTo: `b${b}-${j.replyTo}` } : {}) }),
        };
  let union: FilterUnion | undefined;
  let swapping = false;
  // A stop during a swap (Ctrl-C while the lab is rebuilt) must not start a tracer afterwards.
  let stopped = false;
  const restarting = (s: SourceStatus): SourceStatus => ({ ...s, tracer: 'restarting', message: 'the lab is being rebuilt; the tracer follows it' });
  return {
    async start(s) {
      sink = s;
      await inner.start(s);
    },
    setFilter(u) {
      union = u;
      inner.setFilter(u);
    },
    status: () => (swapping ? restarting(inner.status()) : inner.status()),
    capabilities: () => inner.capabilities(),
    stop: () => {
      stopped = true;
      return inner.stop();
    },
    async swap(between) {
      swapping = true;
      try {
        await inner.stop();
        sink?.onStatus(restarting(inner.status()));
        await between();
        if (stopped) return;
        inner = make();
        build++;
        if (sink) await inner.start(forward(sink, build));
        if (union) inner.setFilter(union);
      } finally {
        swapping = false;
      }
    },
  };
}

/** The lab `start` owns, rebuildable. */
export interface LabSession {
  lab(): LabHandle;
  mode(): LabMode;
  /** The status line's lab part (mode, and what it becomes while rebuilding). */
  status(): AgentStatus['lab'];
  run(a: LabAction): Promise<ActionOutcome>;
  down(): Promise<void>;
}

/** Options of a lab session; `up` brings a lab up (labUp, or a test's own). */
export interface LabSessionOptions {
  topology: Topology;
  upOptions: Omit<LabUpOptions, 'cni' | 'kubeProxy'>;
  first: LabHandle;
  source: SwappableSource;
  log(line: string): void;
  up?(t: Topology, o: LabUpOptions): Promise<LabHandle>;
}

function execTarget(c: InspectCommand): ExecTarget | undefined {
  switch (c.place.kind) {
    case 'node':
      return { node: c.place.node };
    case 'pod':
      return `${c.place.namespace}/${c.place.name}`;
    case 'api':
      return undefined;
    default: {
      const never: never = c.place;
      throw new Error(`unknown place ${JSON.stringify(never)}`);
    }
  }
}

/** Bounds of one inspection's commands (each stage of the pipeline has its own). */
export interface InspectLimits {
  timeoutMs: number;
  maxBytes: number;
}

/** Run an inspection: the first command in its namespace (or kubectl against the lab's API), each later one on the output before it. */
export async function runInspection(lab: LabHandle, c: InspectCommand, lim: InspectLimits = { timeoutMs: INSPECT_TIMEOUT_MS, maxBytes: INSPECT_MAX_BUFFER }): Promise<ActionOutcome> {
  const [first, ...rest] = c.pipeline;
  if (!first) throw new Error('empty inspection');
  const target = execTarget(c);
  const run = (argv: string[], o: { input?: string; env?: Record<string, string> }): Promise<ExecResult> => execBounded(argv, { ...lim, ...o });
  let r: ExecResult;
  if (target) r = await lab.exec(target, first, lim);
  else {
    const kubeconfig = lab.state().api?.kubeconfig;
    if (!kubeconfig) throw new Error('this lab has no API (started without it): kubectl has nothing to talk to');
    r = await run(first, { env: { KUBECONFIG: kubeconfig } }).catch((e: unknown) => {
      throw (e as { code?: string }).code === 'ENOENT' ? new Error('kubectl is not installed (Debian: apt-get install kubernetes-client)') : e;
    });
  }
  // What a terminal shows: the first command's errors and the pipeline's output.
  let out = r.stdout;
  let err = r.stderr;
  // A stage stopped for time fails the inspection, and says which; one stopped for size
  // answers with what it printed, marked as cut.
  let stopped = r.timedOut ? `${first[0]} timed out after ${lim.timeoutMs / 1000} s` : undefined;
  let cut = r.truncated;
  for (const argv of rest) {
    if (stopped) break;
    const s = await run(argv, { input: out });
    out = s.stdout + (s.stdout && !s.stdout.endsWith('\n') ? '\n' : '');
    err += s.stderr;
    if (s.timedOut) stopped = `${argv[0]} timed out after ${lim.timeoutMs / 1000} s`;
    cut ||= s.truncated;
  }
  if (out && !out.endsWith('\n')) out += '\n';
  if (cut) out += `… (output cut at ${lim.maxBytes} bytes)\n`;
  const text = err ? `${out}${err}${err.endsWith('\n') ? '' : '\n'}` : out;
  if (stopped) return { ok: false, output: transcript(c, text), error: stopped };
  // The first command decides: grep finding nothing (its exit 1) is an answer, not a failure,
  // but a first command that failed (nft with no kube-proxy table) is one, piped or not. One
  // stopped for its output's size has printed its answer.
  return r.exitCode === 0 || r.truncated ? { ok: true, output: transcript(c, text) } : { ok: false, output: transcript(c, text), error: `exit ${r.exitCode}` };
}

/** Start a session around a lab that is already up. */
export function labSession(o: LabSessionOptions): LabSession {
  let lab = o.first;
  let mode: LabMode = { cni: lab.state().model.cni, kubeProxy: lab.state().model.kubeProxy };
  let rebuilding: LabMode | undefined;
  let rebuilt: Promise<unknown> = Promise.resolve();
  const up = o.up ?? labUp;

  const rebuild = async (to: LabMode): Promise<ActionOutcome> => {
    if (to.cni === mode.cni && to.kubeProxy === mode.kubeProxy) return { ok: true, output: `the lab already is ${modeText(to)}` };
    rebuilding = to;
    const from = mode;
    const t0 = Date.now();
    o.log(`rebuilding lab "${lab.name}" as ${modeText(to)} ...`);
    try {
      await o.source.swap(async () => {
        await lab.down();
        try {
          lab = await up(o.topology, { ...o.upOptions, name: lab.name, ...to });
          mode = to;
        } catch (e) {
          // Back to the mode that worked, so the page still has a lab to show.
          o.log(`rebuild as ${modeText(to)} failed (${(e as Error).message}); bringing ${modeText(from)} back`);
          lab = await up(o.topology, { ...o.upOptions, name: lab.name, ...from });
          throw e;
        }
      });
    } finally {
      rebuilding = undefined;
    }
    const s = ((Date.now() - t0) / 1000).toFixed(1);
    o.log(`lab "${lab.name}" is ${modeText(mode)} (rebuilt in ${s} s)`);
    return { ok: true, output: `the lab is now ${modeText(mode)} (rebuilt in ${s} s)`, topologyChanged: true };
  };

  return {
    lab: () => lab,
    mode: () => mode,
    status: () => ({
      name: lab.name,
      nodes: lab.state().model.nodes.map((n) => n.name),
      cni: mode.cni,
      kubeProxy: mode.kubeProxy,
      ...(rebuilding ? { rebuilding: { ...rebuilding } } : {}),
    }),
    async run(a) {
      if (rebuilding) throw new Error(`the lab is being rebuilt as ${modeText(rebuilding)}; try again when it is up`);
      const plan = planAction(topologyFromModel(lab.state().model), a, mode);
      switch (plan.kind) {
        case 'scale':
          await lab.scale(plan.namespace, plan.deployment, plan.replicas);
          return { ok: true, output: plan.describe, topologyChanged: true };
        case 'rebuild': {
          const r = rebuild(plan.mode);
          rebuilt = r.catch(() => undefined);
          return r;
        }
        case 'inspect':
          return runInspection(lab, plan.command);
        case 'exec': {
          const target = plan.target.type === 'pod' ? `${plan.target.namespace}/${plan.target.name}` : { external: plan.target.name };
          const r = await lab.exec(target, plan.argv, { timeoutMs: 8000 });
          const out = (r.stdout.trim() || r.stderr.trim()).slice(0, 500);
          return r.exitCode === 0 ? { ok: true, output: out } : { ok: false, output: out, error: `exit ${r.exitCode}` };
        }
        default: {
          const never: never = plan;
          throw new Error(`unknown plan ${JSON.stringify(never)}`);
        }
      }
    },
    // A rebuild under way finishes first: the lab it brings up is the one to tear down.
    down: async () => {
      await rebuilt;
      await lab.down();
    },
  };
}
