// `hopscope trace`: follow packets through the cluster (or the lab) and print each packet's
// journey as a story, or as JSON lines. Stops on Ctrl-C, after --count journeys or --duration.
import type { Command } from './command.ts';
import type { Journey } from '../protocol/events.ts';
import { FILTER_FLAGS_HELP, FilterError, parseFilterArgs, type FilterSpec } from '../tracer/filter.ts';
import { defaultLab, startTracePipeline, type PipelineStatus } from '../wiring/pipeline.ts';
import { renderJson, renderOneLine, renderStory } from '../journeys/story.ts';
import { listLabNames } from '../lab/state.ts';

const USAGE = `usage: hopscope trace [options]

Where:
  --lab [name]           trace a lab (default when one is up and no --kubeconfig is given)
  --kubeconfig <file>    the cluster to name things from (default: the lab's, else $KUBECONFIG)

What (filter, applied in the kernel):
${FILTER_FLAGS_HELP}

Output:
  --json                 one journey per line, JSON (schema in README "Tracing")
  --oneline              one journey per line, hops joined by arrows
  --count <n>            stop after n journeys
  --duration <s>         stop after s seconds
  -h, --help`;

/** Parsed `trace` options (the filter is parsed by the tracer's own flag parser). */
export interface TraceArgs {
  /** undefined: not asked; '': asked without a name (the one that is up). */
  lab?: string;
  kubeconfig?: string;
  output: 'story' | 'json' | 'oneline';
  count?: number;
  durationS?: number;
  help: boolean;
  filter: FilterSpec;
}

const LAB_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Parse argv of `hopscope trace`. Throws Error/FilterError with a clear message. Pure. */
export function parseTraceArgs(argv: string[]): TraceArgs {
  const { spec, rest } = parseFilterArgs(argv);
  const out: TraceArgs = { output: 'story', help: false, filter: spec };
  const positive = (flag: string, v: string | undefined, max: number): number => {
    if (v === undefined) throw new Error(`${flag} needs a value`);
    if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0 || Number(v) > max) throw new Error(`${flag}: expected a number in (0, ${max}], got "${v.slice(0, 40)}"`);
    return Number(v);
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const value = () => inline ?? rest[++i];
    switch (flag) {
      case '--lab': {
        // The name is optional: take the next word only if it is not another flag.
        const next = inline ?? (rest[i + 1] !== undefined && !rest[i + 1]!.startsWith('-') ? rest[++i] : undefined);
        if (next !== undefined && !LAB_NAME.test(next)) throw new Error(`--lab: "${next.slice(0, 40)}" is not a lab name`);
        out.lab = next ?? '';
        break;
      }
      case '--kubeconfig': {
        const v = value();
        if (!v) throw new Error('--kubeconfig needs a file');
        out.kubeconfig = v;
        break;
      }
      case '--json':
        out.output = 'json';
        break;
      case '--oneline':
        out.output = 'oneline';
        break;
      case '--count': {
        const n = positive(flag, value(), 1_000_000);
        if (!Number.isInteger(n)) throw new Error(`--count: expected a whole number, got ${n}`);
        out.count = n;
        break;
      }
      case '--duration':
        out.durationS = positive(flag, value(), 86_400);
        break;
      case '-h':
      case '--help':
        out.help = true;
        break;
      default:
        throw new Error(`unknown option "${a.slice(0, 60)}"`);
    }
  }
  return out;
}

function statusLine(s: PipelineStatus): string {
  const c = s.counters;
  return (
    `${c.journeys} journeys from ${c.events} events; lost ${c.lost}, rejected ${c.rejections}, gaps ${c.gaps}, ` +
    `evicted ${c.evicted}, suppressed by sampling ${s.sampling.suppressed}`
  );
}

/**
 * NOTE: @kubernetes/client-node's informer can leave a watch connection open when it is stopped
 * while that watch is still being established (its `stop()` aborts only an established request),
 * which would keep this process alive after tracing ended. The trace command owns its process:
 * once it is done and output has had time to drain, a leftover socket must not hang it.
 */
function exitSoonIfStuck(code: number): void {
  setTimeout(() => process.exit(code), 2000).unref();
}

export const command: Command = {
  summary: 'follow packets hop by hop (pod, veth, bridge, NAT, tunnel, underlay, delivery or drop)',
  async run(argv: string[]): Promise<number> {
    const code = await runTrace(argv);
    exitSoonIfStuck(code);
    return code;
  },
};

async function runTrace(argv: string[]): Promise<number> {
  let args: TraceArgs;
  try {
    args = parseTraceArgs(argv);
  } catch (e) {
    console.error(`hopscope trace: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  let lab: string | undefined;
  if (args.lab !== undefined) lab = args.lab || defaultLab();
  else if (!args.kubeconfig && listLabNames().length > 0) lab = defaultLab();

  const abort = new AbortController();
  let printed = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const print = (j: Journey) => {
    if (args.count !== undefined && printed >= args.count) return;
    printed++;
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
    if (args.count !== undefined && printed >= args.count) done();
  };
  const onSignal = () => done();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timer = args.durationS !== undefined ? setTimeout(done, args.durationS * 1000) : undefined;
  try {
    let pipeline;
    try {
      pipeline = await startTracePipeline({
        ...(lab ? { lab } : {}),
        ...(args.kubeconfig ? { kubeconfigPath: args.kubeconfig } : {}),
        filter: args.filter,
        onJourney: print,
        signal: abort.signal,
      });
    } catch (e) {
      if (e instanceof FilterError) {
        console.error(`hopscope trace: ${e.message}`);
        return 2;
      }
      throw e;
    }
    const s = pipeline.status();
    console.error(
      `tracing ${lab ? `lab ${lab}` : 'this node'} with ${s.probeSet} (${s.sampling.description})` +
        `${s.identitySynced ? '' : '; identity index not synced yet, names may be missing'}; Ctrl-C to stop`,
    );
    await finished;
    await pipeline.stop();
    console.error(statusLine(pipeline.status()));
    return 0;
  } finally {
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    abort.abort();
  }
}
