// The agent server's websocket against seeded garbage: several authenticated clients send
// generated frames (random JSON shapes, near-valid messages with one thing wrong, multi-byte,
// astral and lone-surrogate keys and values, deep nesting, numbers JSON cannot hold, very long
// strings, invalid UTF-8 text, binary, fragmented messages, raw bytes after the upgrade) while a
// well-behaved client streams journeys beside them. Every frame is followed by a probe action:
// its result says the client survived the frame, a close says it did not, with a code the
// protocol allows and a reason within 123 bytes. The server stays up, the well-behaved client
// never goes long without journeys, and memory comes back.
import { describe, expect, it } from 'vitest';
import { connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';
import { SyntheticSource } from '../agent/src/server/__tests__/synthetic.ts';
import { MAX_CLIENT_MESSAGE_BYTES, MATCH_ALL, parseServerMessage } from '../agent/src/protocol/messages.ts';
import { serverForFile, until } from './server-helpers.ts';
import { MAX_GAP_MS, fuzzJsonText, fuzzString, heapAfterGc, invalidUtf8, longestGap, mutateJson, randomBytes, rng, type Rng } from './fuzz-helpers.ts';

const TOKEN = 'fuzz-server-token-0123456789';
const SEED = Number(process.env.HOPSCOPE_FUZZ_SEED ?? 20261204);
const FRAMES = 10_000;
const WORKERS = 6;
// 500 journeys/s for the well-behaved client.
const srv = serverForFile('fuzz', () => new SyntheticSource(5, 10), {
  host: '127.0.0.1',
  port: 0,
  token: TOKEN,
  lab: null,
  maxClients: 50,
  // The rate limit is tested elsewhere: here every frame should reach the parser.
  fanout: { maxMessagesPerSecond: 1_000_000, messageBurst: 1_000_000 },
  onAction: async (a) => ({ ok: false, output: '', error: `fuzz: ${a.kind} not run` }),
  statusMs: 250,
});

const wsUrl = () => `ws://127.0.0.1:${srv.server.port}/ws`;
const auth = { Authorization: `Bearer ${TOKEN}` };

/** How a generated frame goes on the wire. */
type Frame =
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; data: Buffer; binary: boolean }
  | { kind: 'fragments'; parts: Buffer[] }
  | { kind: 'raw'; data: Buffer };

const FILTER_FIELDS = { namespace: 'default', pod: 'web-0', service: 'web', port: 80, proto: 'tcp', onlyDrops: false, onlyNat: true };
const VALID: Record<string, unknown>[] = [
  { type: 'hello', version: 1 },
  { type: 'subscribe', filter: { onlyDrops: false, onlyNat: false } },
  { type: 'subscribe', filter: FILTER_FIELDS },
  { type: 'pause' },
  { type: 'resume' },
  { type: 'action', id: 'a', action: { kind: 'curl', service: { namespace: 'default', name: 'web' } } },
  { type: 'action', id: 'b', action: { kind: 'scale', namespace: 'default', deployment: 'web', replicas: 3 } },
  { type: 'action', id: 'c', action: { kind: 'dig', name: 'web.default.svc.cluster.local' } },
  { type: 'replay', control: 'pause' },
  { type: 'replay', control: 'play', speed: 10 },
  { type: 'replay', control: 'end' },
];

function frame(r: Rng): Frame {
  const k = r.int(100);
  if (k < 45) return { kind: 'text', text: mutateJson(r, r.pick(VALID)) };
  if (k < 70) return { kind: 'text', text: fuzzJsonText(r, 5) };
  if (k < 75) return { kind: 'text', text: fuzzString(r, 2000) };
  if (k < 80) return { kind: 'bytes', data: invalidUtf8(r), binary: false };
  if (k < 84) return { kind: 'bytes', data: randomBytes(r, 1 + r.int(200)), binary: true };
  if (k < 87) {
    // Over the protocol's limit (closed by the server with a reason) or over ws's (closed by ws).
    const big = r.chance(0.5) ? MAX_CLIENT_MESSAGE_BYTES + 1 + r.int(1000) : 4 * MAX_CLIENT_MESSAGE_BYTES + 1 + r.int(1000);
    return { kind: 'text', text: JSON.stringify({ type: 'subscribe', filter: { namespace: 'é'.repeat(big / 2) } }) };
  }
  if (k < 97) {
    const whole = Buffer.from(r.chance(0.7) ? mutateJson(r, r.pick(VALID)) : fuzzJsonText(r, 3));
    const cuts = [...new Set(Array.from({ length: 1 + r.int(4) }, () => r.int(whole.length + 1)))].sort((a, b) => a - b);
    const parts: Buffer[] = [];
    let at = 0;
    for (const c of cuts) {
      parts.push(whole.subarray(at, c));
      at = c;
    }
    parts.push(whole.subarray(at));
    return { kind: 'fragments', parts };
  }
  return { kind: 'raw', data: randomBytes(r, 1 + r.int(64)) };
}

/** Close codes a fuzzed client may see: malformed/abusive, binary, too big, bad UTF-8, protocol error. */
const ALLOWED_CLOSES = new Set([1008, 1003, 1009, 1007, 1002]);

interface Tally {
  frames: number;
  survived: number;
  closes: Map<number, number>;
  bad: string[];
}

/** One authenticated raw TCP connection that sends bytes after the upgrade; resolves when the server ends it. */
function rawAfterUpgrade(data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(srv.server.port, '127.0.0.1');
    let upgraded = false;
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`raw bytes after the upgrade: the server neither closed nor ignored them (${data.toString('hex')})`));
    }, 10_000);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
    s.on('data', (d) => {
      if (upgraded) return;
      if (!d.toString('latin1').startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${d.toString('latin1').split('\r\n')[0]}`));
      upgraded = true;
      s.write(data);
      // A partial frame may wait for more: the server pings and drops dead peers, we just leave.
      setTimeout(() => s.end(), 100);
    });
    s.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${srv.server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${Buffer.from(randomBytesFixed()).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    );
  });
}

function randomBytesFixed(): Uint8Array {
  return new Uint8Array(16).fill(7);
}

/** A connected, helloed fuzz client; `next` sends a frame and a probe and says what became of it. */
async function fuzzClient(t: Tally) {
  const ws = new WebSocket(wsUrl(), { headers: auth, perMessageDeflate: false });
  srv.open.push(ws);
  let closed: { code: number; reason: string } | undefined;
  const waiters = new Map<string, () => void>();
  const onClose = new Set<() => void>();
  ws.on('message', (d) => {
    const m = parseServerMessage(d.toString());
    if (!m.ok) t.bad.push(`server sent an invalid frame: ${m.reason}`);
    else if (m.message.type === 'actionResult') waiters.get(m.message.id)?.();
  });
  ws.on('close', (code, reason) => {
    // Thousands of these come and go: the test holds none past its close (the heap is measured).
    const at = srv.open.indexOf(ws);
    if (at >= 0) srv.open.splice(at, 1);
    closed = { code, reason: reason.toString() };
    for (const f of onClose) f();
  });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  ws.send(JSON.stringify({ type: 'hello', version: 1 }));
  let probes = 0;
  return {
    get open() {
      return closed === undefined;
    },
    async next(f: Exclude<Frame, { kind: 'raw' }>): Promise<void> {
      switch (f.kind) {
        case 'text':
          ws.send(f.text);
          break;
        case 'bytes':
          ws.send(f.data, { binary: f.binary });
          break;
        case 'fragments':
          f.parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === f.parts.length - 1 }));
          break;
        default: {
          const never: never = f;
          return never;
        }
      }
      const id = `probe-${probes++}`;
      if (closed === undefined) ws.send(JSON.stringify({ type: 'action', id, action: { kind: 'dig', name: 'probe.local' } }));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to probe ${id} after a ${f.kind} frame, and no close`)), 15_000);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(id);
          onClose.delete(done);
          resolve();
        };
        waiters.set(id, done);
        onClose.add(done);
        if (closed) done();
      });
      t.frames++;
      if (closed === undefined) {
        t.survived++;
        return;
      }
      t.closes.set(closed.code, (t.closes.get(closed.code) ?? 0) + 1);
      if (!ALLOWED_CLOSES.has(closed.code)) t.bad.push(`${f.kind} frame closed with ${closed.code} ${closed.reason}`);
      if (Buffer.byteLength(closed.reason) > 123) t.bad.push(`close reason over 123 bytes: ${closed.reason}`);
    },
    end() {
      ws.terminate();
    },
  };
}

async function worker(r: Rng, t: Tally, share: number): Promise<void> {
  let c = await fuzzClient(t);
  for (let i = 0; i < share; i++) {
    const f = frame(r);
    if (f.kind === 'raw') {
      await rawAfterUpgrade(f.data);
      t.frames++;
      continue;
    }
    await c.next(f);
    if (!c.open) c = await fuzzClient(t);
  }
  c.end();
}

describe('websocket fuzz', () => {
  it(`survives ${FRAMES} generated frames from ${WORKERS} clients at once (seed ${SEED}); a well-behaved client keeps streaming`, async () => {
    // The well-behaved client: all journeys, every second of the run.
    const good = new WebSocket(wsUrl(), { headers: auth });
    srv.open.push(good);
    const batches: number[] = [];
    let goodClosed: number | undefined;
    good.on('message', (d) => {
      const m = parseServerMessage(d.toString());
      if (m.ok && m.message.type === 'batch') {
        if (m.message.journeys.length > 0) batches.push(Date.now());
      }
    });
    good.on('close', (code) => (goodClosed = code));
    await new Promise((r) => good.once('open', r));
    good.send(JSON.stringify({ type: 'hello', version: 1 }));
    good.send(JSON.stringify({ type: 'subscribe', filter: MATCH_ALL }));
    await until(() => batches.length > 0, 5000, 'first journeys to the well-behaved client');

    // Warm up the paths (and the JIT) before taking the heap baseline.
    const warm: Tally = { frames: 0, survived: 0, closes: new Map(), bad: [] };
    await worker(rng(SEED - 1), warm, 200);
    const heapBefore = heapAfterGc();

    const t: Tally = { frames: 0, survived: 0, closes: new Map(), bad: [] };
    const started = Date.now();
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(rng(SEED + w), t, Math.ceil(FRAMES / WORKERS))));
    const ended = Date.now();
    const seconds = (ended - started) / 1000;
    console.log(`fuzz: ${t.frames} frames in ${seconds.toFixed(1)} s, ${t.survived} survived, closes ${JSON.stringify(Object.fromEntries(t.closes))}`);

    expect(t.bad).toEqual([]);
    expect(t.frames).toBeGreaterThanOrEqual(FRAMES);
    // Both outcomes were exercised: near-valid frames pass, broken ones close.
    expect(t.survived).toBeGreaterThan(FRAMES / 10);
    expect(t.closes.get(1008) ?? 0).toBeGreaterThan(FRAMES / 10);
    expect(srv.server.fanout.counters.clientsClosedError).toBe(0);

    // Up: health, metrics, the well-behaved client open and fed in every whole second of the run.
    expect((await fetch(`http://127.0.0.1:${srv.server.port}/healthz`)).status).toBe(200);
    expect(goodClosed).toBeUndefined();
    expect(longestGap(batches, started, ended)).toBeLessThan(MAX_GAP_MS);

    // Bounded: every fuzz client is gone from the fan-out and the heap comes back near its baseline.
    await until(() => srv.server.fanout.clientCount === 1, 10_000, 'fuzz clients gone from the fan-out');
    const grown = heapAfterGc() - heapBefore;
    console.log(`fuzz: heap grew ${(grown / 1e6).toFixed(1)} MB`);
    expect(grown).toBeLessThan(32e6);
    good.close();
  }, 120_000);
});
