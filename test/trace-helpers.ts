// Shared by the trace-* integration tests: one lab and one real trace pipeline (identity index +
// bpftrace) per file, journeys collected as they come, and traffic made inside the lab.
import { afterAll, beforeAll } from 'vitest';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import type { Topology } from '../agent/src/lab/topology.ts';
import type { ModelPod } from '../agent/src/lab/model.ts';
import { startTracePipeline, type TracePipeline } from '../agent/src/wiring/pipeline.ts';
import type { Hop, IpPacket, Journey } from '../agent/src/protocol/events.ts';
import { journeySchema } from '../agent/src/protocol/messages.ts';

/** A lab with a pipeline tracing all of it. */
export interface TraceLab {
  lab: LabHandle;
  pipeline: TracePipeline;
  journeys: Journey[];
  pod(namespace: string, prefix: string, node?: string): ModelPod;
  close(): Promise<void>;
}

/** Bring a lab up and trace it; cleans up whatever got started if a step fails. */
export async function startTraceLab(name: string, over: { cni: Topology['cni']; kubeProxy: Topology['kubeProxy'] }): Promise<TraceLab> {
  const lab = await labUp(loadTopology(), { name, cni: over.cni, kubeProxy: over.kubeProxy });
  const journeys: Journey[] = [];
  let pipeline: TracePipeline;
  try {
    pipeline = await startTracePipeline({ lab: name, filter: {}, onJourney: (j) => journeys.push(j) });
  } catch (e) {
    await lab.down();
    throw e;
  }
  // NOTE: the tracer reports "attached" on bpftrace's "Attaching N probes..." line, which comes
  // before the probes are live: make traffic until a journey shows that tracing really runs.
  try {
    const client = lab.state().model.pods.find((p) => p.name === 'client')!;
    const web = lab.state().model.pods.find((p) => p.name.startsWith('web') && p.node === client.node)!;
    for (let i = 0; ; i++) {
      const a = await curl(lab, 'default/client', `http://${web.ip}:8080/`);
      if (await waitFor('a first journey', () => synOf(journeys, client.ip, a.peerPort), 1000).catch(() => undefined)) break;
      if (i === 20) throw new Error('the pipeline delivered no journey for 20 requests');
    }
  } catch (e) {
    await pipeline.stop().finally(() => lab.down());
    throw e;
  }
  return {
    lab,
    pipeline,
    journeys,
    pod(namespace, prefix, node) {
      const p = lab.state().model.pods.find((x) => x.namespace === namespace && x.name.startsWith(prefix) && (node === undefined || x.node === node));
      if (!p) throw new Error(`no pod ${namespace}/${prefix}* on ${node ?? 'any node'}`);
      return p;
    },
    async close() {
      try {
        await pipeline.stop();
      } finally {
        await lab.down();
      }
    },
  };
}

/**
 * The file's lab, up in beforeAll and down in afterAll: a test reads it as `t.journeys`, `t.pod()`
 * once beforeAll has run (before that, or when bringing it up failed, reading it throws).
 */
export function traceLabForFile(name: string, over: { cni: Topology['cni']; kubeProxy: Topology['kubeProxy'] }): TraceLab {
  let t: TraceLab | undefined;
  beforeAll(async () => {
    t = await startTraceLab(name, over);
  });
  afterAll(async () => {
    await t?.close();
  });
  const up = (): TraceLab => {
    if (!t) throw new Error(`lab ${name} is not up (its beforeAll failed or has not run)`);
    return t;
  };
  return {
    get lab() {
      return up().lab;
    },
    get pipeline() {
      return up().pipeline;
    },
    get journeys() {
      return up().journeys;
    },
    pod: (namespace, prefix, node) => up().pod(namespace, prefix, node),
    close: () => up().close(),
  };
}

/** The packet a hop is about (inner when tunnelled). */
export function inner(h: Hop): IpPacket {
  return h.encap ? h.encap.inner : h.packet;
}

/** The first packet of a journey as its sender wrote it. */
export function sent(j: Journey): IpPacket {
  return inner(j.hops[0]!);
}

export function tcpFlags(j: Journey): string {
  const p = sent(j);
  return p.l4.proto === 'tcp' ? p.l4.flags : '';
}

export const kinds = (j: Journey) => j.hops.map((h) => h.kind);

/** Wait until `pick` finds something in the journeys (polls; the pipeline ticks every 100 ms). */
export async function waitFor<T>(what: string, pick: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = pick();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The web workload's answer: which pod answered and the peer address it saw. */
export interface WebAnswer {
  pod: string;
  node: string;
  peer: string;
  peerPort: number;
}

/** curl from a pod or an external host; returns the web server's JSON answer. */
export async function curl(lab: LabHandle, from: Parameters<LabHandle['exec']>[0], url: string): Promise<WebAnswer> {
  const r = await lab.exec(from, ['curl', '-s', '-m', '3', url], { timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new Error(`curl ${url} from ${JSON.stringify(from)} failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout) as WebAnswer;
}

/** curl a Service until a backend on `node` answers (kube-proxy picks one at random); 13 tries. */
export async function curlUntilNode(lab: LabHandle, from: Parameters<LabHandle['exec']>[0], url: string, node: string): Promise<WebAnswer> {
  let a = await curl(lab, from, url);
  for (let i = 0; i < 12 && a.node !== node; i++) a = await curl(lab, from, url);
  return a;
}

/** The SYN journey of a TCP connection, found by its client address and port. */
export function synOf(journeys: Journey[], src: string, sport: number): Journey | undefined {
  return journeys.find((j) => {
    const p = sent(j);
    return p.src === src && p.l4.proto === 'tcp' && p.l4.sport === sport && p.l4.flags === 'S';
  });
}

/** The first reply linked to a request. */
export function replyOf(journeys: Journey[], req: Journey): Journey | undefined {
  return journeys.find((j) => j.replyTo === req.id);
}

/**
 * The first reply linked to `req`; when none comes, the error shows what did come for that
 * connection (either direction, linked or not) and the pipeline's counters, so a failure says
 * whether the reply was never printed (sampled, lost), or printed but not linked.
 */
export async function waitForReply(t: Pick<TraceLab, 'journeys' | 'pipeline'>, req: Journey, what = 'its reply', timeoutMs = 15_000): Promise<Journey> {
  try {
    return await waitFor(what, () => replyOf(t.journeys, req), timeoutMs);
  } catch (e) {
    // The request's sender end (address and port) is in every packet of the connection, both ways.
    const p = sent(req);
    const port = (q: IpPacket, side: 'sport' | 'dport') => ('sport' in q.l4 ? q.l4[side] : undefined);
    const senderEnd = (q: IpPacket) => (q.src === p.src && port(q, 'sport') === port(p, 'sport')) || (q.dst === p.src && port(q, 'dport') === port(p, 'sport'));
    const related = t.journeys.filter((j) => j.hops.some((h) => senderEnd(inner(h))));
    const line = (j: Journey) => `${j.id}${j.replyTo ? ` (reply to ${j.replyTo})` : ''} ${j.verdict}: ${j.hops.map((h) => `${h.kind}@${h.dev} ${inner(h).src}>${inner(h).dst}`).join(' | ')}`;
    throw new Error(
      `${(e as Error).message} (request ${req.id})\njourneys of this connection:\n${related.map(line).join('\n') || '(none)'}\ncounters: ${JSON.stringify(t.pipeline.status().counters)}; sampling: ${JSON.stringify(t.pipeline.status().sampling)}`,
      { cause: e },
    );
  }
}

/** Throws unless the journey is valid by the wire schema the UI uses. */
export function assertWireValid(j: unknown): Journey {
  return journeySchema.parse(j) as Journey;
}

/** curl `url` from the client pod every half second until `child` (a trace that stops by itself) has exited; 60 tries. */
export async function curlUntilExited(lab: LabHandle, child: Promise<unknown>, url: string): Promise<void> {
  let done = false;
  void child.finally(() => (done = true)).catch(() => undefined);
  for (let i = 0; i < 60 && !done; i++) {
    await lab.exec('default/client', ['curl', '-s', '-m', '2', url], { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
  }
}
