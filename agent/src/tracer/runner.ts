// Runs bpftrace as a child: renders the program to a temp file, streams stdout lines through
// the decoder, restarts with backoff when bpftrace dies (GapEvent), and stops it on every
// exit path. Only the child started here is ever signalled, by its pid.
//
// Output buffering: `-B full`, flushed by the program's padding line every 100 ms. Measured
// here (bpftrace 0.17, bench/e2e.ts, ping flood with --every-packet): with `-B line` bpftrace
// makes a write per line and lost 85% of ~108k hop events/s; fully buffered alone, a single
// ping's dozen lines sat in the stdio buffer for seconds, which the padding line fixes.
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import type { ProbeSet, TraceEvent } from '../protocol/events.ts';
import { bpftraceVersion, detectCapabilities } from './capabilities.ts';
import { createDecoder, type Decoder, type DecodeResult, type Rejection } from './decoder.ts';
import { createLineSplitter } from './line-splitter.ts';
import { readDropReasons } from './drop-reasons.ts';
import type { KernelFilter } from './kernel-filter.ts';
import { DEFAULT_FLUSH_MS, DEFAULT_VXLAN_PORTS, renderProgram } from './program.ts';

/** Counters of a tracer's life. */
export interface TracerStats {
  lines: number;
  events: number;
  rejections: number;
  restarts: number;
  lost: number;
  /** Lines bpftrace wrote to stderr (errors and warnings). */
  stderrLines: number;
  /**
   * Events of packets seen while bpftrace was still attaching its probes, left out: with only
   * some hooks live a packet shows half its hops (the kernel printed them; nothing decoded them).
   */
  beforeAttach: number;
  running: boolean;
  pid: number | null;
}

/** Lifecycle changes, for logs and the UI. */
export type TracerStatus =
  | { state: 'starting'; probeSet: ProbeSet }
  | { state: 'running'; pid: number; probes: number }
  | { state: 'exited'; code: number | null; signal: string | null; stderr: string[] }
  | { state: 'restarting'; inMs: number }
  | { state: 'stopped' }
  | { state: 'rejected'; rejection: Rejection };

/** A running tracer. */
export interface Tracer {
  stop(): Promise<void>;
  stats(): TracerStats;
  probeSet: ProbeSet;
  /** Restarts bpftrace with a program for the new filter. */
  setFilter(f: KernelFilter): Promise<void>;
  /** pid of the current bpftrace, null between runs. */
  pid(): number | null;
}

/** Options of `startTracer`. */
export interface TracerOptions {
  filter: KernelFilter;
  probeSet?: ProbeSet;
  onEvent: (e: TraceEvent) => void;
  onStatus?: (s: TracerStatus) => void;
  /** Every raw stdout line before decoding (recording fixtures, debugging). */
  onLine?: (line: string) => void;
  /**
   * bpftrace flushed its output at this kernel time (ns, the events' clock): the events printed
   * before it on its CPU have all been handed to onEvent, and the other CPUs' within a poll.
   */
  onFlush?: (kernelNs: number) => void;
  signal?: AbortSignal;
  vxlanPorts?: number[];
  /** Bounds every map of the program (see bpftraceEnv). */
  mapKeysMax?: number;
  reportSeconds?: number;
  resetSeconds?: number;
  bpftrace?: string;
}

/**
 * Why bpftrace did not attach, in words a user can act on. LLVM's own message for a program
 * that outgrew the 512-byte BPF stack tells them to move variables into a per-CPU map, which
 * nobody outside this project can do: the filter's size is the one thing they control.
 */
export function explainAttachFailure(code: number | string | undefined, stderr: string[]): string {
  const said = stderr.filter((l) => !l.includes('RLIMIT_MEMLOCK')).join('\n').trim();
  const head = `bpftrace exited before attaching (code ${code ?? 'unknown'})`;
  if (said.includes('BPF stack limit')) {
    return `${head}: the filter is too big for one BPF program's 512-byte stack; trace with fewer addresses and ports (e.g. --to a single pod or Service, no --port list), or split it into two traces. bpftrace said: ${said}`;
  }
  return `${head}: ${said}`;
}

/**
 * The environment that bounds every map of the program. Pure. Measured: 0.17 reads only
 * BPFTRACE_MAP_KEYS_MAX; 0.23.2 reads BPFTRACE_MAX_MAP_KEYS and, given the old name, warns on
 * stderr that it is deprecated. Unknown versions get the new name (bounded by bpftrace's
 * default if they do not know it).
 */
export function bpftraceEnv(version: string | null, mapKeysMax: number): Record<string, string> {
  const m = version === null ? null : /^(\d+)\.(\d+)/.exec(version);
  const old = m !== null && Number(m[1]) === 0 && Number(m[2]) < 20;
  return { [old ? 'BPFTRACE_MAP_KEYS_MAX' : 'BPFTRACE_MAX_MAP_KEYS']: String(mapKeysMax) };
}

const BACKOFF_MIN_MS = 250;
// Events held while bpftrace attaches (a few hundred ms); past this many they are dropped, counted.
const MAX_HELD = 100_000;
const BACKOFF_MAX_MS = 5000;
/** A run this long resets the backoff. */
const STABLE_MS = 30_000;

/** Removes program dirs left by agents that were killed (their pid is in the name and gone). */
export async function removeStaleProgramDirs(root = tmpdir()): Promise<void> {
  const entries = await readdir(root).catch(() => [] as string[]);
  for (const name of entries) {
    const m = /^hopscope-bpf-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') await rm(join(root, name), { recursive: true, force: true });
    }
  }
}

/** Starts bpftrace and resolves once it has attached its probes (or rejects if it cannot). */
export async function startTracer(opts: TracerOptions): Promise<Tracer> {
  const probeSet = opts.probeSet ?? (await detectCapabilities()).probeSet;
  const render = (f: KernelFilter): string =>
    renderProgram(f, {
      probeSet,
      vxlanPorts: opts.vxlanPorts ?? DEFAULT_VXLAN_PORTS,
      reportSeconds: opts.reportSeconds,
      resetSeconds: opts.resetSeconds,
    });
  // An invalid filter is refused here, before there is a program dir, an exit hook or an abort
  // listener to undo.
  const firstProgram = render(opts.filter);
  const reasonNames = await readDropReasons();
  const env = bpftraceEnv((await bpftraceVersion(opts.bpftrace)).version, opts.mapKeysMax ?? 65536);
  const decoder: Decoder = createDecoder({ reasonNames });
  await removeStaleProgramDirs();
  const dir = await mkdtemp(join(tmpdir(), `hopscope-bpf-${process.pid}-`));
  const programFile = join(dir, 'program.bt');
  const status = opts.onStatus ?? (() => {});

  let child: ResultPromise | null = null;
  let childPid: number | null = null;
  let stopping = false;
  let restarts = 0;
  let stderrLines = 0;
  let beforeAttach = 0;
  let backoff = BACKOFF_MIN_MS;
  let restartTimer: NodeJS.Timeout | null = null;
  let gapFrom: number | null = null;
  let gapReason = '';
  let current: { cancel: AbortController; done: Promise<void> } | null = null;

  const killChild = (sig: NodeJS.Signals): void => {
    if (childPid !== null) {
      try {
        process.kill(childPid, sig);
      } catch {
        // already gone
      }
    }
  };
  // Exit paths: SIGKILL of the agent -> setpriv's pdeathsig kills bpftrace; SIGINT/SIGTERM ->
  // execa's `cleanup` (signal-exit) kills it and re-raises the signal unless the application
  // handles that signal itself (a handler of our own here would stop signal-exit from
  // re-raising and leave the agent running); normal exit -> this hook.
  const onExit = (): void => {
    killChild('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  const onAbort = (): void => void stop();
  const removeHooks = (): void => {
    process.off('exit', onExit);
    // The caller's signal may outlive this tracer (one per agent, tracers restarted under it).
    opts.signal?.removeEventListener('abort', onAbort);
  };

  /** Launches one bpftrace; resolves when it attached, rejects if it exited first. */
  function launch(): Promise<void> {
    const cancel = new AbortController();
    // Every run (a restart, a new filter) starts its device lines and sampler totals afresh.
    decoder.reset();
    status({ state: 'starting', probeSet });
    // setpriv --pdeathsig: if the agent is SIGKILLed, the kernel kills bpftrace too.
    const sub = execa('setpriv', ['--pdeathsig', 'SIGKILL', '--', opts.bpftrace ?? 'bpftrace', '-B', 'full', programFile], {
      buffer: false,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env,
      cancelSignal: cancel.signal,
      forceKillAfterDelay: 3000,
      reject: false,
      cleanup: true,
    });
    child = sub;
    childPid = sub.pid ?? null;
    const startedAt = Date.now();
    const stderr: string[] = [];
    // bpftrace runs BEGIN (the banner) first, then loads and attaches the probes one by one, in
    // the program's order; loading one hop program takes the verifier up to hundreds of ms, and
    // meanwhile the receive hook alone printed hundreds of half-seen packets (measured with a
    // 2 kHz ping at each start). The flush probe comes after every hop probe in the program and
    // first fires one period after it was attached: from its time less that period, every
    // probe is live. Events before that are held until then, and those older than it dropped.
    let attached = false;
    let readyNs = -Infinity;
    let held: TraceEvent[] = [];
    let probes = 0;
    let resolveAttach: () => void = () => {};
    let rejectAttach: (e: Error) => void = () => {};
    const attachedP = new Promise<void>((res, rej) => {
      resolveAttach = res;
      rejectAttach = rej;
    });

    const ready = (flushNs: number): void => {
      attached = true;
      readyNs = flushNs >= 0 ? flushNs - DEFAULT_FLUSH_MS * 1e6 : -Infinity;
      status({ state: 'running', pid: childPid ?? -1, probes });
      if (gapFrom !== null) {
        opts.onEvent(decoder.gap(gapFrom, Date.now(), gapReason));
        gapFrom = null;
      }
      const early = held;
      held = [];
      for (const e of early) pass(e);
      resolveAttach();
    };
    // The packets in flight at that time: their later events are left out too, or they would
    // show the half of their hops that came after it. Kept 2 s (a packet's whole path).
    const cut = new Set<string>();
    const pass = (e: TraceEvent): void => {
      if (!('tsNs' in e) || e.tsNs >= readyNs + 2e9) {
        if (cut.size > 0) cut.clear();
        opts.onEvent(e);
        return;
      }
      if (e.tsNs >= readyNs && !cut.has(e.skb)) {
        opts.onEvent(e);
        return;
      }
      beforeAttach++;
      if (e.type === 'free' || e.type === 'drop') cut.delete(e.skb);
      else if (cut.size < MAX_HELD) cut.add(e.skb);
    };
    const handle = (r: DecodeResult): void => {
      switch (r.type) {
        case 'notice':
          if (r.kind === 'attached') probes = r.value;
          else if (r.kind === 'flush') {
            if (!attached) ready(r.value);
            if (r.value >= 0) opts.onFlush?.(r.value);
          }
          return;
        case 'rejected':
          status({ state: 'rejected', rejection: r });
          return;
        default:
          if (attached) pass(r);
          else if (!('tsNs' in r)) opts.onEvent(r);
          else if (held.length < MAX_HELD) held.push(r);
          else beforeAttach++;
      }
    };
    // stdout is read as bytes and split here: the decoder reads hop lines in place.
    const lines = createLineSplitter((buf, start, end) => {
      if (opts.onLine) opts.onLine(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8'));
      // bpftrace prints blank lines around the maps it dumps at exit: layout, not lost data.
      if (end > start) handle(decoder.decodeBytes(buf, start, end));
    });
    sub.stdout!.on('data', (chunk: Buffer) => lines.push(chunk));
    sub.stdout!.on('end', () => lines.end());
    const err = createInterface({ input: sub.stderr!, crlfDelay: Infinity });
    err.on('line', (line) => {
      stderrLines++;
      if (stderr.length < 50) stderr.push(line);
      // 0.17 and 0.23.2 report lost events on stdout (measured, test/fixtures/bpftrace-versions);
      // other versions have been seen to use stderr.
      if (line.includes('Lost ') && line.includes(' events')) handle(decoder.decode(line));
    });

    const done = sub.then((res) => {
      const wasChild = child === sub;
      if (wasChild) {
        child = null;
        childPid = null;
      }
      status({ state: 'exited', code: res.exitCode ?? null, signal: res.signal ?? null, stderr });
      if (!attached) {
        rejectAttach(new Error(explainAttachFailure(res.exitCode ?? res.signal, stderr)));
        return;
      }
      if (stopping || cancel.signal.aborted || !wasChild) return;
      // Died on its own: restart with backoff and report the gap once it is back.
      gapFrom = Date.now();
      gapReason = res.signal ? `bpftrace killed by ${res.signal}` : `bpftrace exited with code ${res.exitCode}`;
      backoff = Date.now() - startedAt > STABLE_MS ? BACKOFF_MIN_MS : backoff;
      scheduleRestart();
    });
    current = { cancel, done };
    return attachedP;
  }

  function scheduleRestart(): void {
    const wait = backoff;
    backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
    status({ state: 'restarting', inMs: wait });
    restartTimer = setTimeout(() => {
      restartTimer = null;
      if (stopping) return;
      restarts++;
      launch().catch(() => {
        // launch's exit handler does not restart a run that never attached: retry here.
        if (!stopping) scheduleRestart();
      });
    }, wait);
  }

  async function stopChild(): Promise<void> {
    if (restartTimer) clearTimeout(restartTimer);
    restartTimer = null;
    const c = current;
    current = null;
    if (c) {
      c.cancel.abort();
      await c.done;
    }
  }

  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    await stopChild();
    removeHooks();
    await rm(dir, { recursive: true, force: true });
    status({ state: 'stopped' });
  }

  opts.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    await writeFile(programFile, firstProgram);
    await launch();
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    probeSet,
    stop,
    pid: () => childPid,
    stats(): TracerStats {
      const d = decoder.stats();
      return { ...d, restarts, stderrLines, beforeAttach, running: childPid !== null, pid: childPid };
    },
    async setFilter(f: KernelFilter): Promise<void> {
      const program = render(f); // throws before anything is stopped if the filter is invalid

      const from = Date.now();
      await stopChild();
      if (stopping) return;
      // Nothing is traced while the new program compiles: say so with a gap.
      gapFrom = from;
      gapReason = 'filter changed (bpftrace restarted)';
      await writeFile(programFile, program);
      // A stop() may have come while the program was written: launching now would race its
      // removal of the program file, and a bpftrace that won would run on with nobody to stop
      // it (`hopscope start` then never exited on Ctrl-C).
      if (stopping) return;
      await launch();
    },
  };
}
