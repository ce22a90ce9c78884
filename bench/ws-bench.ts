// Websocket delivery benchmark. Prints:
//  1. journeys/s delivered to one websocket client by the fan-out (synthetic source on loopback);
//  2. packet→UI latency p50/p99 on the real lab: the kernel timestamp of a journey's first hop
//     (bpftrace nsecs, CLOCK_MONOTONIC) against the client's monotonic clock on arrival.
// Run as root: `npx tsx bench/ws-bench.ts [--rate N] [--seconds S] [--no-lab]`.
import WebSocket from 'ws';
import { startServer } from '../agent/src/server/http.ts';
import { SyntheticSource, syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';
import { pipelineSource } from '../agent/src/server/pipeline-source.ts';
import { topologyFromModel } from '../agent/src/server/topology.ts';
import { labUp, loadTopology } from '../agent/src/lab/lab.ts';
import { parseServerMessage } from '../agent/src/protocol/messages.ts';
import { benchClient } from './lib.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name}: expected a positive number`);
  return v;
};
const RATE = Math.min(arg('--rate', 20_000), 200_000);
const SECONDS = Math.min(arg('--seconds', 5), 60);
const TOKEN = 'bench-token-0123456789abcdef';

function client(port: number, onJourney: (startNs: number, nowNs: number) => void): Promise<WebSocket> {
  // The client shares this process with the server; schema validation is measured below.
  return benchClient(port, TOKEN, (m, now) => {
    if (m.type === 'batch') for (const j of m.journeys ?? []) onJourney(j.startNs, now);
  });
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function throughput(): Promise<void> {
  const tickMs = 10;
  const source = new SyntheticSource(Math.ceil((RATE * tickMs) / 1000), tickMs, RATE * SECONDS);
  const server = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, source, topology: () => null, lab: null });
  let got = 0;
  const ws = await client(server.port, () => got++);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000 + 500));
  const secs = (Date.now() - t0) / 1000;
  const missed = server.fanout.clientStats()[0]?.missedTotal ?? 0;
  console.log(`synthetic: offered ${RATE}/s for ${SECONDS}s, generated ${source.emitted}; delivered ${got} journeys = ${Math.round(got / secs)}/s to one client (${Math.round(JSON.stringify(syntheticJourney(1)).length / 100) / 10} kB each); dropped for it ${missed}`);
  ws.close();
  await server.close();
  const batch = JSON.stringify({ type: 'batch', seq: 1, dropped: 0, journeys: Array.from({ length: 500 }, (_, i) => syntheticJourney(i)) });
  const t1 = performance.now();
  for (let k = 0; k < 10; k++) if (!parseServerMessage(batch).ok) throw new Error('invalid batch');
  console.log(`UI-side validation (zod, the browser does the same): ${Math.round(5000 / ((performance.now() - t1) / 1000))} journeys/s on one core`);
}

async function latency(): Promise<void> {
  const lab = await labUp(loadTopology(), { name: `wsb${process.pid % 10000}`, cleanupOnCrash: true });
  try {
    const state = lab.state();
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      source: pipelineSource({ lab: lab.name }),
      topology: () => topologyFromModel(lab.state().model),
      lab: { name: lab.name, nodes: state.model.nodes.map((n) => n.name), cni: state.model.cni },
    });
    const lat: number[] = [];
    const ws = await client(server.port, (startNs, now) => lat.push((now - startNs) / 1e6));
    const svc = state.model.services.find((s) => s.name === 'web')!;
    const end = Date.now() + SECONDS * 1000;
    let calls = 0;
    while (Date.now() < end) {
      await lab.exec('default/client', ['curl', '-s', '-o', '/dev/null', '-m', '2', `http://${svc.clusterIP}/`]);
      calls++;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const ok = lat.filter((x) => x >= 0 && x < 60_000);
    console.log(`lab: ${calls} curl calls, ${ok.length} journeys; packet→UI latency p50 ${pct(ok, 50).toFixed(1)} ms, p99 ${pct(ok, 99).toFixed(1)} ms (includes the correlator's wait for the end of each journey)`);
    ws.close();
    await server.close();
  } finally {
    await lab.down();
  }
}

await throughput();
if (!args.includes('--no-lab')) await latency();
process.exit(0);
