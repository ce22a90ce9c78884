// The hub against seeded garbage from an agent: `hopscope hub`'s source (hubSource, the real
// agent links and stitcher) and server in-process, connected to two agents that are real
// websocket servers on loopback. One is well-behaved and streams journeys; the other sends
// generated frames: batches and statuses with one thing wrong at any depth, random JSON,
// multi-byte, astral and lone-surrogate strings, deep nesting, numbers JSON cannot hold,
// invalid UTF-8 text, binary, fragmented messages and a frame over the hub's size bound. The
// hub stays up, counts what it drops, reconnects to the garbage agent whenever the link breaks,
// and a browser-side client of the hub keeps getting the good agent's journeys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { hubSource, type HubSource } from '../agent/src/hubmode/hub-source.ts';
import { staticDiscovery } from '../agent/src/hubmode/discovery.ts';
import { MAX_AGENT_FRAME_BYTES } from '../agent/src/hubmode/agent-client.ts';
import { startServer, type RunningServer } from '../agent/src/server/http.ts';
import { syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';
import { runningStatus } from '../agent/src/server/__tests__/fanout-kit.ts';
import { MATCH_ALL, parseServerMessage } from '../agent/src/protocol/messages.ts';
import { until } from './server-helpers.ts';
import { MAX_GAP_MS, fuzzJsonText, fuzzString, heapAfterGc, invalidUtf8, longestGap, mutateJson, randomBytes, rng, type Rng } from './fuzz-helpers.ts';

const TOKEN = 'fuzz-hub-token-0123456789';
const SEED = Number(process.env.HOPSCOPE_FUZZ_SEED ?? 20261205);
const FRAMES = 10_000;

interface FakeAgent {
  http: Server;
  wss: WebSocketServer;
  url: string;
  /** Connections from the hub, newest last. */
  conns: WebSocket[];
  close(): Promise<void>;
}

/** A websocket server on loopback that accepts the hub's link (token checked) and says welcome. */
async function fakeAgent(): Promise<FakeAgent> {
  const http = createServer((_q, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const conns: WebSocket[] = [];
  http.on('upgrade', (req, socket, head) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      conns.push(ws);
      ws.on('error', () => undefined);
      ws.on('close', () => conns.splice(conns.indexOf(ws), 1));
      ws.send(JSON.stringify({ type: 'welcome', version: 1, clientId: 'c1', status: runningStatus() }));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    http,
    wss,
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/`,
    conns,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

let good: FakeAgent;
let bad: FakeAgent;
let source: HubSource;
let server: RunningServer;
let goodTimer: NodeJS.Timeout | undefined;
let goodSeq = 0;

beforeAll(async () => {
  good = await fakeAgent();
  bad = await fakeAgent();
  // The well-behaved agent: 20 journeys every 50 ms, to whichever hub link is open.
  goodTimer = setInterval(() => {
    const journeys = Array.from({ length: 20 }, () => {
      const n = goodSeq++;
      return { ...syntheticJourney(n), id: `good-${n}` };
    });
    for (const ws of good.conns) ws.send(JSON.stringify({ type: 'batch', seq: n(), dropped: 0, journeys }));
  }, 50);
  let seq = 0;
  const n = () => ++seq;
  source = hubSource({
    discovery: staticDiscovery([
      { name: 'node-1', url: good.url },
      { name: 'node-2', url: bad.url },
    ]),
    token: TOKEN,
    stitchWaitMs: 300,
    link: { minBackoffMs: 5, maxBackoffMs: 50, staleMs: 10_000 },
  });
  server = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, source, topology: () => null, lab: null, statusMs: 250 });
});

afterAll(async () => {
  clearInterval(goodTimer);
  await server?.close();
  await good?.close();
  await bad?.close();
});

const STATUS = { type: 'status', status: runningStatus() };
const OTHER: Record<string, unknown>[] = [
  { type: 'missed', count: 3, total: 10 },
  { type: 'error', reason: 'x' },
  { type: 'actionResult', id: 'a', ok: true, output: '' },
  { type: 'topologyChanged' },
  { type: 'welcome', version: 1, clientId: 'c2', status: runningStatus() },
];

/** One generated frame from the garbage agent, as sent. */
type Frame = { data: string | Buffer; binary: boolean } | { parts: Buffer[] };

function frame(r: Rng, i: number): Frame {
  const k = r.int(100);
  const batch = () => ({ type: 'batch', seq: i, dropped: 0, journeys: Array.from({ length: 1 + r.int(4) }, () => syntheticJourney(r.int(2000))) });
  if (k < 45) return { data: mutateJson(r, batch()), binary: false };
  if (k < 55) return { data: mutateJson(r, STATUS), binary: false };
  if (k < 62) return { data: mutateJson(r, r.pick(OTHER)), binary: false };
  if (k < 80) return { data: fuzzJsonText(r, 5), binary: false };
  if (k < 84) return { data: fuzzString(r, 2000), binary: false };
  if (k < 86) return { data: invalidUtf8(r), binary: false };
  if (k < 90) return { data: randomBytes(r, 1 + r.int(200)), binary: true };
  const whole = Buffer.from(mutateJson(r, batch()));
  const cut = r.int(whole.length + 1);
  return { parts: [whole.subarray(0, cut), whole.subarray(cut)] };
}

/** The newest open link from the hub, waiting for the hub to reconnect if there is none. */
async function link(): Promise<WebSocket> {
  await until(() => bad.conns.some((c) => c.readyState === WebSocket.OPEN), 10_000, 'the hub to (re)connect to the garbage agent');
  return bad.conns.filter((c) => c.readyState === WebSocket.OPEN).at(-1)!;
}

/** Wait for `cond`, checking after every turn of the event loop (a frame takes well under a ms). */
async function soon(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within 10 s`);
    await new Promise((r) => setImmediate(r));
  }
}

function send(ws: WebSocket, data: string | Buffer, opts: { binary: boolean; fin?: boolean }): Promise<boolean> {
  return new Promise((resolve) => ws.send(data, opts, (e) => resolve(!e)));
}

describe('hub fuzz: frames from an agent', () => {
  it(`survives ${FRAMES} generated frames from one agent (seed ${SEED}); the other agent's journeys keep flowing to the hub's clients`, async () => {
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const goodBatches: number[] = [];
    let clientClosed: number | undefined;
    client.on('message', (d) => {
      const m = parseServerMessage(d.toString());
      if (!m.ok || m.message.type !== 'batch') return;
      if (m.message.journeys.some((j) => j.id.startsWith('node-1/good-'))) goodBatches.push(Date.now());
    });
    client.on('close', (code) => (clientClosed = code));
    await new Promise((r) => client.once('open', r));
    client.send(JSON.stringify({ type: 'hello', version: 1 }));
    client.send(JSON.stringify({ type: 'subscribe', filter: MATCH_ALL }));
    await until(() => goodBatches.length > 0, 10_000, "the good agent's journeys through the hub");

    // One frame over the hub's bound: the link is closed (1009) and comes back.
    const first = await link();
    const cut = new Promise<number>((r) => first.once('close', (code) => r(code)));
    first.send(Buffer.alloc(MAX_AGENT_FRAME_BYTES + 1, 0x20));
    expect(await cut).toBe(1009);

    const heapBefore = heapAfterGc();
    const r = rng(SEED);
    const started = Date.now();
    let delivered = 0;
    const garbageFrames = () => source.agents().find((a) => a.name === 'node-2')?.frames ?? 0;
    while (delivered < FRAMES) {
      const ws = await link();
      const f = frame(r, delivered);
      const before = garbageFrames();
      if ('parts' in f) {
        void send(ws, f.parts[0]!, { binary: false, fin: false });
        void send(ws, f.parts[1]!, { binary: false, fin: true });
      } else void send(ws, f.data, { binary: f.binary });
      // Handled: the hub took the frame, or ws refused it (invalid UTF-8) and the link closed.
      await soon(() => garbageFrames() > before || ws.readyState !== WebSocket.OPEN, `the hub to take frame ${delivered}`);
      delivered++;
    }
    const ended = Date.now();
    const info = source.agents();
    const garbage = info.find((a) => a.name === 'node-2')!;
    console.log(`hub fuzz: ${delivered} frames in ${((ended - started) / 1000).toFixed(1)} s; garbage link: ${garbage.connects} connects, ${garbage.invalidFrames} invalid, ${garbage.frameErrors} errors, ${garbage.journeys} journeys taken`);

    expect(garbage.frameErrors).toBe(0);
    expect(garbage.invalidFrames).toBeGreaterThan(FRAMES / 4);
    // Near-valid batches get through (and into the stitcher) between the broken frames.
    expect(garbage.journeys).toBeGreaterThan(100);
    expect(garbage.connects).toBeGreaterThan(2);
    expect(info.find((a) => a.name === 'node-1')).toMatchObject({ state: 'up', connects: 1, invalidFrames: 0 });

    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
    expect(clientClosed).toBeUndefined();
    expect(longestGap(goodBatches, started, ended)).toBeLessThan(MAX_GAP_MS);

    // Bounded: the stitcher holds at most its bound, and the heap comes back near its baseline.
    expect(source.stitchStats().held).toBeLessThanOrEqual(4096);
    await new Promise((res) => setTimeout(res, 500));
    const grown = heapAfterGc() - heapBefore;
    console.log(`hub fuzz: heap grew ${(grown / 1e6).toFixed(1)} MB`);
    expect(grown).toBeLessThan(32e6);
    client.close();
  }, 120_000);
});
