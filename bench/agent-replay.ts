// Where the agent's CPU goes per hop event, stage by stage, without bpftrace competing for the
// cores: records a few seconds of real tracer output under a ping flood (the real program,
// --every-packet, ICMP from the client pod), then replays those bytes through the agent's own
// stages in this process, with the lab's live identity index: decoding (split in 64 KiB chunks
// as the runner reads them), + correlation (the correlator and its journey building), + the fan-out
// (one client: filter, batch, JSON, frame) writing to a socket that only counts. Each stage is
// timed cumulatively; the difference between two is what the later one costs. bench/e2e.ts is
// the end-to-end figure; this one says which stage to work on.
// Run as root: `npx tsx bench/agent-replay.ts [--quick] [--seconds S] [--reps N]`.
import { readDropReasons } from '../agent/src/tracer/drop-reasons.ts';
import { createDecoder, type DecodeResult } from '../agent/src/tracer/decoder.ts';
import { createLineSplitter } from '../agent/src/tracer/line-splitter.ts';
import { createIdentityIndex, labNetnsSource, type IdentityIndex } from '../agent/src/identity/index.ts';
import { createCorrelator } from '../agent/src/journeys/correlate.ts';
import type { Journey, TraceEvent } from '../agent/src/protocol/events.ts';
import { Fanout, type FanoutSocket } from '../agent/src/server/fanout.ts';
import { figure, median, numArg, QUICK, recordFloodLines, report, withLab } from './lib.ts';

const SECONDS = Math.round(numArg('--seconds', QUICK ? 3 : 6, 60));
const REPS = Math.round(numArg('--reps', QUICK ? 5 : 9, 50));
const CHUNK = 65536;
/** Journeys per fan-out flush: a 50 ms batch at ~5k journeys/s, as under the e2e flood. */
const FLUSH_EVERY = 250;

type Stage = 'decode' | 'correlate' | 'fanout';
const STAGES: Stage[] = ['decode', 'correlate', 'fanout'];

interface Pass {
  ms: number;
  hops: number;
  journeys: number;
  bytesOut: number;
}

/** One pass over the recorded bytes through the agent's stages up to `upTo`, fresh state. */
function pass(bytes: Buffer, reasonNames: Map<number, string>, identity: IdentityIndex, upTo: Stage): Pass {
  const decoder = createDecoder({ reasonNames });
  let hops = 0;
  let journeys = 0;
  let bytesOut = 0;
  const sock: FanoutSocket = {
    bufferedAmount: 0,
    readyState: 1,
    send: (data: string) => {
      bytesOut += data.length;
    },
    close: () => {},
  };
  const fanout = new Fanout({ status: () => ({}) as never });
  const id = fanout.addClient(sock);
  fanout.handleMessage(id, JSON.stringify({ type: 'hello', version: 1 }));
  let sinceFlush = 0;
  const onJourney = (j: Journey): void => {
    journeys++;
    hops += j.hops.length;
    if (upTo !== 'fanout') return;
    fanout.publish(j);
    if (++sinceFlush >= FLUSH_EVERY) {
      sinceFlush = 0;
      fanout.flush();
    }
  };
  const correlator = createCorrelator({ identity, onJourney });
  let lastTs = 0;
  const onEvent = (e: TraceEvent): void => {
    if (upTo === 'decode') {
      if (e.type === 'hop') hops++;
      return;
    }
    // The pipeline's clock: the kernel's time of the newest event drives the 100 ms tick.
    if (e.type === 'hop' || e.type === 'drop' || e.type === 'free') {
      if (e.tsNs - lastTs >= 100_000_000) {
        for (const j of correlator.tick(e.tsNs)) onJourney(j);
        lastTs = e.tsNs;
      }
    }
    correlator.push(e);
  };
  const handle = (r: DecodeResult): void => {
    if (r.type !== 'notice' && r.type !== 'rejected') onEvent(r);
  };
  const t0 = process.hrtime.bigint();
  const sp = createLineSplitter((b, s, e) => {
    if (e > s) handle(decoder.decodeBytes(b, s, e));
  });
  for (let at = 0; at < bytes.length; at += CHUNK) sp.push(bytes.subarray(at, at + CHUNK));
  sp.end();
  if (upTo !== 'decode') for (const j of correlator.flush()) onJourney(j);
  if (upTo === 'fanout') fanout.flush();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, hops, journeys, bytesOut };
}

await withLab('replay', async (lab) => {
  const st = lab.state();
  const lines = await recordFloodLines(lab, { pings: 40_000 * SECONDS, seconds: SECONDS });
  const bytes = Buffer.from(lines.join('\n') + '\n');
  const identity = await createIdentityIndex({ kubeconfigPath: st.api!.kubeconfig, netns: labNetnsSource(lab.name) });
  try {
    const reasonNames = await readDropReasons();
    // Warm-up: the JIT settles on the shapes it will see.
    for (const s of STAGES) pass(bytes, reasonNames, identity, s);
    const runs: Record<Stage, Pass[]> = { decode: [], correlate: [], fanout: [] };
    for (let r = 0; r < REPS; r++) for (const s of STAGES) runs[s].push(pass(bytes, reasonNames, identity, s));
    const fanout = runs.fanout[0]!;
    const usPerHop = (s: Stage): number[] => runs[s].map((p) => (p.ms * 1000) / fanout.hops);
    const stageUs = (s: Stage, prev: Stage | undefined): number[] => runs[s].map((p, i) => ((p.ms - (prev ? runs[prev][i]!.ms : 0)) * 1000) / fanout.hops);
    console.log(`${lines.length} lines (${(bytes.length / 2 ** 20).toFixed(1)} MB) recorded in ${SECONDS} s; a pass makes ${fanout.journeys} journeys, ${fanout.hops} hops, ${(fanout.bytesOut / 2 ** 20).toFixed(1)} MB of frames`);
    report(
      'agent-replay',
      [
        figure('decode, µs per hop delivered', 'µs', stageUs('decode', undefined)),
        figure('correlate (incl. journey building), µs per hop', 'µs', stageUs('correlate', 'decode')),
        figure('hub (filter, batch, JSON, frame), µs per hop', 'µs', stageUs('fanout', 'correlate')),
        figure('all stages, µs per hop', 'µs', usPerHop('fanout')),
      ],
      { setup: `${SECONDS} s of ping -f traced (every packet, ICMP from the client pod), replayed ${REPS} times per stage`, lines: lines.length, hops: fanout.hops, journeys: fanout.journeys, medianPassMs: median(runs.fanout.map((p) => p.ms)) },
    );
  } finally {
    await identity.close();
  }
});
process.exit(0);
