// A bounded ICMP flood on the lab, traced with --every-packet on a narrow filter, served to
// one websocket client, with every stage's counters: what the kernel printed (the sampler's
// @prn), what bpftrace reported lost, what the decoder read or rejected, what the correlator
// made of it, what the fan-out delivered or dropped, and what the client received. The agent (real
// pipeline + real server, bench/flood-agent.ts) runs in a child process so its memory is its
// own; the websocket client stays here. Shared by bench/e2e.ts, test/loss-accounting.test.ts
// and test/memory-flood.test.ts.
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { execa } from 'execa';
import type { LabHandle } from '../agent/src/lab/lab.ts';
import type { FilterSpec } from '../agent/src/tracer/filter.ts';
import { targetNetns } from '../agent/src/lab/lab.ts';
import { bundle } from '../agent/bin/bundle.mjs';
import { processCpuMs } from './bpf-stats.ts';
import { benchClient } from './lib.ts';
import type { AgentCounters, AgentMessage, FloodAgentConfig, MemoryReport, ParentMessage } from './flood-agent.ts';

export type { MemoryReport } from './flood-agent.ts';

const TOKEN = 'flood-bench-token-0123456789abcdef';

/** Counters of every stage, cumulative since start. */
/** The agent's stage counters (bench/flood-agent.ts), and what the bench's client saw. */
export interface StageCounters extends AgentCounters {
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
  /** pid of the agent process (pipeline + server), not this one. */
  agentPid: number;
  /** The agent process's resident set now and at its peak (VmRSS, VmHWM from /proc), bytes. */
  agentRss(): { rss: number; hwm: number };
  /** CPU time (user + system, ms) the agent process and its bpftrace have used since they started. */
  /** CPU used so far (ms) by the agent and its bpftrace processes, and how many bpftrace processes it has had. */
  agentCpuMs(): { agent: number; bpftrace: number; bpftraceRuns: number };
  /** The agent's own process.memoryUsage() and V8 heap spaces. */
  agentMemory(): Promise<MemoryReport>;
  /** Writes a heap snapshot of the agent to `path` (slow: seconds, and it pauses the agent). */
  heapSnapshot(path: string): Promise<string>;
  stop(): Promise<void>;
}

/** Options of startFloodRig. */
export interface FloodRigOptions {
  /** The fan-out's per-client backlog bound. */
  maxQueue?: number;
  /** Node flags for the agent process on top of the launcher's (experiments: heap sizes). */
  nodeFlags?: string[];
  /**
   * How the agent's sources are loaded: 'bundle' as agent/bin/hopscope.mjs runs the CLI (an
   * esbuild bundle under plain Node), or 'tsx' (its fallback, and how it ran before).
   */
  loader?: 'bundle' | 'tsx';
  /** false: without the launcher's V8 heap settings (agent/bin/heap.mjs), to measure them. */
  launcherHeap?: boolean;
}

const AGENT_ENTRY = fileURLToPath(new URL('./flood-agent.ts', import.meta.url));
// The TypeScript loader the CLI launcher falls back to (agent/bin/hopscope.mjs: tsx/esm/api).
const TSX_ESM = import.meta.resolve('tsx/esm');
// The V8 heap settings the launcher makes before any of the agent's code runs.
const HEAP_SETTINGS = import.meta.resolve('../agent/bin/heap.mjs');

/** VmRSS and VmHWM of a process, bytes (0 once it is gone). */
export function procRss(pid: number): { rss: number; hwm: number } {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return { rss: 0, hwm: 0 };
  }
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** The pids of a process's direct children. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c) out.push(Number(c));
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Builds the rig: the agent process (every packet, ICMP from the client pod) and one client here. */
export async function startFloodRig(lab: LabHandle, opts: FloodRigOptions = {}): Promise<FloodRig> {
  /** The agent's bpftrace processes, by pid: the CPU each had used when last read. */
  const bpftraceCpu = new Map<number, number>();
  const state = lab.state();
  const client = state.model.pods.find((p) => p.namespace === 'default' && p.name === 'client');
  const target = state.model.pods.find((p) => p.deployment?.name === 'web' && p.node === 'node-2');
  if (!client || !target) throw new Error('default topology expected (client pod, web pod on node-2)');
  const filter: FilterSpec = { from: client.ip, proto: 'icmp', everyPacket: true };
  const config: FloodAgentConfig = { lab: lab.name, token: TOKEN, filter, ...(opts.maxQueue ? { maxQueue: opts.maxQueue } : {}) };
  // Counters of the agent as last reported (every 100 ms), and the client's own.
  let agent: AgentCounters = {
    kernelPrinted: 0, reports: 0, lastReportPrinted: -1, kernelLost: 0, decodedHops: 0, decodedEvents: 0, rejected: 0, beforeAttach: 0,
    journeysMade: 0, hopsInJourneys: 0, correlatorEvicted: 0, fanoutIn: 0, fanoutDroppedPending: 0, fanoutDroppedSlowClient: 0,
  };
  let agentOpen = 0;
  let agentTracer = 'starting';
  let reportsSeen = 0;
  const cl = { clientJourneys: 0, clientHops: 0, clientMissed: 0 };

  const tsx = opts.loader === 'tsx';
  const child: ChildProcess = fork(tsx ? AGENT_ENTRY : await bundle(AGENT_ENTRY), [JSON.stringify(config)], {
    execArgv: [...(opts.nodeFlags ?? []), ...(opts.launcherHeap === false ? [] : ['--import', HEAP_SETTINGS]), ...(tsx ? ['--import', TSX_ESM] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waiting = new Map<string, (m: AgentMessage) => void>();
  child.on('message', (m: AgentMessage) => {
    if (m.type === 'counters') {
      agent = m.counters;
      agentOpen = m.open;
      agentTracer = m.tracer;
      reportsSeen++;
      return;
    }
    // An error fails whatever is being waited for.
    for (const [type, w] of [...waiting]) {
      if (type !== m.type && m.type !== 'error') continue;
      waiting.delete(type);
      w(m);
    }
  });
  const ask = <T extends AgentMessage['type']>(req: ParentMessage | undefined, answer: T, timeoutMs: number): Promise<Extract<AgentMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(answer);
        reject(new Error(`agent did not answer ${answer} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (m: AgentMessage): void => {
        clearTimeout(timer);
        if (m.type === 'error') reject(new Error(`agent failed: ${m.message}`));
        else resolve(m as Extract<AgentMessage, { type: T }>);
      };
      waiting.set(answer, done);
      void exited.then(() => done({ type: 'error', message: `agent process exited (code ${child.exitCode}, signal ${child.signalCode})` }));
      if (req) child.send(req);
    });
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };

  let ws: WebSocket | undefined;
  let lat: number[] = [];
  try {
    const { port } = await ask(undefined, 'ready', 60_000);
    ws = await benchClient(port, TOKEN, (m, now) => {
      if (m.type === 'batch') {
        for (const j of m.journeys ?? []) {
          cl.clientJourneys++;
          cl.clientHops += j.hops.length;
          lat.push((now - j.startNs) / 1e6);
        }
      } else if (m.type === 'missed') cl.clientMissed += m.count ?? 0;
    });
    // The tracer starts with the server; wait for it to run before flooding.
    for (let i = 0; i < 300 && agentTracer !== 'running'; i++) await new Promise((r) => setTimeout(r, 100));
    if (agentTracer !== 'running') throw new Error('tracer did not start');
  } catch (e) {
    ws?.terminate();
    await kill();
    throw e;
  }
  const clientNs = targetNetns(state, 'default/client').name;

  return {
    target: target.ip,
    agentPid: child.pid!,
    counters() {
      return { ...agent, ...cl };
    },
    takeLatencies() {
      const out = lat;
      lat = [];
      return out;
    },
    agentRss: () => procRss(child.pid!),
    agentCpuMs() {
      // /proc/<pid>/task/<tid>/children may miss a child while the parent runs (the kernel
      // says so), and a bpftrace that restarted is gone: every bpftrace ever seen keeps its
      // last reading, so the sum never goes down (a run once read -28% without this).
      for (const p of childPids(child.pid!)) {
        if (bpftraceCpu.has(p)) continue;
        try {
          if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'bpftrace') bpftraceCpu.set(p, 0);
        } catch {
          // gone meanwhile
        }
      }
      let bpftrace = 0;
      for (const [p, last] of bpftraceCpu) {
        const now = processCpuMs(p);
        if (now > last) bpftraceCpu.set(p, now);
        bpftrace += Math.max(now, last);
      }
      return { agent: processCpuMs(child.pid!), bpftrace, bpftraceRuns: bpftraceCpu.size };
    },
    async agentMemory() {
      return (await ask({ type: 'memory' }, 'memory', 10_000)).memory;
    },
    async heapSnapshot(path) {
      return (await ask({ type: 'snapshot', path }, 'snapshotted', 300_000)).path;
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
      let reports = agent.reports;
      while (Date.now() < end) {
        const seen = reportsSeen;
        await new Promise((r) => setTimeout(r, 200));
        if (agent.reports !== reports) {
          reports = agent.reports;
          quiet = agent.lastReportPrinted === 0 ? quiet + 1 : 0;
        }
        // Only a report of the agent's counters taken since the last look is evidence.
        if (reportsSeen === seen) continue;
        const fanoutDone = agent.fanoutIn === cl.clientJourneys + cl.clientMissed + agent.fanoutDroppedPending;
        if (quiet >= 2 && agentOpen === 0 && fanoutDone) return;
      }
    },
    async stop() {
      ws?.close();
      if (child.connected) {
        child.send({ type: 'stop' } satisfies ParentMessage);
        const t = setTimeout(() => void kill(), 20_000);
        await exited;
        clearTimeout(t);
      } else await kill();
    },
  };
}
