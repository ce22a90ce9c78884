// The agent server against hostile clients, on loopback with real sockets and a synthetic source
// (the tracer is not under test here): every route and the websocket behind the token, no CORS,
// loopback by default, and websocket abuse (stalled readers, garbage, oversized frames, floods of
// subscriptions, too many connections) closed with a reason while the other clients go on.
import { describe, expect, it, onTestFinished } from 'vitest';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { API_ROUTES, PUBLIC_ROUTES } from '../agent/src/server/http.ts';
import { SyntheticSource, syntheticJourney } from '../agent/src/server/__tests__/synthetic.ts';
import { parseServerArgs } from '../agent/src/server/config.ts';
import { tokenEquals } from '../agent/src/server/auth.ts';
import { refusedUpgrade, serverForFile, until } from './server-helpers.ts';

const TOKEN = 'security-test-token-0123456789';
const MAX_CLIENTS = 12;
const MAX_BUFFERED = 64 * 1024;
const STALL_MS = 2500;
/**
 * The largest batch frame the fan-out writes: 500 journeys (its maxBatch) of the synthetic source,
 * about 4 KB each. (Counted as 2 KB each, the bound held only while the flush timer ran on
 * time, with frames of ~200 journeys; on a loaded machine full 500-journey frames broke it.)
 */
const MAX_FRAME = 500 * Math.max(...Array.from({ length: 1024 }, (_, i) => JSON.stringify({ ...syntheticJourney(i), id: `syn-${1e9 + i}` }).length)) + 1024;
// Bound where `hopscope serve` would bind it: the defaults under test (loopback).
const cfg = parseServerArgs(['--port', '0'], { HOPSCOPE_TOKEN: TOKEN }, { uiDir: 'ui/dist', port: 7070 }, 'serve');
// 4000 journeys/s while it runs, bounded in total.
const srv = serverForFile('shell', () => new SyntheticSource(40, 10, 200_000), {
  host: cfg.host,
  port: cfg.port,
  token: cfg.token,
  lab: null,
  maxClients: MAX_CLIENTS,
  fanout: { maxQueue: 500, maxBufferedBytes: MAX_BUFFERED, maxStallMs: STALL_MS, helloTimeoutMs: 1500, maxMessagesPerSecond: 20, messageBurst: 100 },
  statusMs: 200,
});

const base = () => `http://127.0.0.1:${srv.server.port}`;

/** A raw request (fetch forbids some methods and headers, e.g. Origin). */
function raw(method: string, p: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base()}${p}`, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}


interface Client {
  ws: WebSocket;
  journeys: number;
  types: string[];
  closed: Promise<{ code: number; reason: string }>;
}

async function client(hello = true): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.server.port}/ws`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  srv.open.push(ws);
  const c: Client = { ws, journeys: 0, types: [], closed: new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() }))) };
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as { type: string; journeys?: unknown[] };
    c.types.push(m.type);
    if (m.type === 'batch') c.journeys += m.journeys!.length;
  });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  if (hello) {
    ws.send(JSON.stringify({ type: 'hello', version: 1 }));
    await until(() => c.types.includes('welcome'));
  }
  return c;
}

function upgradeStatus(headers: Record<string, string>, p = '/ws'): Promise<number> {
  return refusedUpgrade(`ws://127.0.0.1:${srv.server.port}${p}`, headers);
}

describe('auth', () => {
  // From the router itself: a route added without going through the token check fails here.
  const paths = [...API_ROUTES, '/', '/index.html', '/assets/app.js', '/no/such/page', '/api/no-such-route'];
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];

  it('the router has routes, and only the probes are public', () => {
    expect(API_ROUTES.length).toBeGreaterThanOrEqual(4);
    expect(PUBLIC_ROUTES).toEqual(['/healthz', '/readyz']);
  });

  it.each(paths)('%s refuses every method without a token or with a wrong one', async (p) => {
    for (const method of methods) {
      for (const h of [{}, { Authorization: 'Bearer wrong-token-0123456789abcd' }, { Authorization: `Bearer ${TOKEN}x` }, { Cookie: 'hopscope_token=nope' }] as Record<string, string>[]) {
        const r = await raw(method, p, h);
        expect(r.status, `${method} ${p} ${JSON.stringify(h)}`).toBe(401);
        expect(r.headers['access-control-allow-origin']).toBeUndefined();
      }
      expect((await raw(method, `${p}?token=${TOKEN.slice(0, -1)}`)).status).toBe(401);
    }
    // With the token: served to GET, other methods refused.
    const ok = await raw('GET', p, { Authorization: `Bearer ${TOKEN}` });
    expect(ok.status, p).toBe(p.startsWith('/api/no-such') ? 404 : 200);
    expect((await raw('POST', p, { Authorization: `Bearer ${TOKEN}` })).status).toBe(405);
  });

  it('the websocket refuses a missing or wrong token before upgrading', async () => {
    expect(await upgradeStatus({})).toBe(401);
    expect(await upgradeStatus({ Authorization: 'Bearer wrong-token-0123456789abcd' })).toBe(401);
    expect(await upgradeStatus({ Cookie: 'hopscope_token=wrong' })).toBe(401);
    expect(await upgradeStatus({}, `/ws?token=${TOKEN}x`)).toBe(401);
    // A right token in hello does not rescue a wrong upgrade, and a wrong one in hello closes.
    const c = await client(false);
    c.ws.send(JSON.stringify({ type: 'hello', version: 1, token: 'wrong-token-0123456789' }));
    expect(await c.closed).toEqual({ code: 1008, reason: 'wrong token' });
  });

  it('refuses cross-origin requests and upgrades, and never sends CORS headers', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    for (const origin of ['http://evil.example', `http://127.0.0.1:${srv.server.port + 1}`, 'null', `https://localhost:${srv.server.port}`]) {
      for (const method of ['GET', 'OPTIONS', 'POST']) {
        const r = await raw(method, '/api/status', { ...auth, Origin: origin, 'Access-Control-Request-Method': 'GET' });
        expect(r.status, `${method} from ${origin}`).toBe(403);
        expect(r.headers['access-control-allow-origin']).toBeUndefined();
        expect(r.headers['access-control-allow-credentials']).toBeUndefined();
      }
      expect(await upgradeStatus({ ...auth, Origin: origin })).toBe(403);
    }
    const same = await raw('GET', '/api/status', { ...auth, Origin: base() });
    expect(same.status).toBe(200);
    expect(same.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('bound to loopback, refuses requests addressed to another name (DNS rebinding), even with the token', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    for (const host of [`evil.example:${srv.server.port}`, 'evil.example', `127.0.0.1.evil.example:${srv.server.port}`]) {
      expect((await raw('GET', '/api/status', { ...auth, Host: host })).status, host).toBe(403);
      expect((await raw('GET', '/api/status', { ...auth, Host: host, Origin: `http://${host}` })).status, host).toBe(403);
      expect(await upgradeStatus({ ...auth, Host: host })).toBe(403);
    }
    for (const host of [`127.0.0.1:${srv.server.port}`, `localhost:${srv.server.port}`, `LOCALHOST:${srv.server.port}`]) {
      expect((await raw('GET', '/api/status', { ...auth, Host: host })).status, host).toBe(200);
    }
  });

  it('binds loopback by default', () => {
    expect(srv.server.url).toBe(`http://127.0.0.1:${srv.server.port}/`);
    const listening = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f[3] === '0A');
    const ours = listening.filter((f) => parseInt(f[1]!.split(':')[1]!, 16) === srv.server.port).map((f) => f[1]!.split(':')[0]);
    expect(ours).toEqual(['0100007F']); // 127.0.0.1, little-endian hex; not 00000000 (all addresses)
    expect(readFileSync('/proc/net/tcp6', 'utf8')).not.toMatch(new RegExp(`:${srv.server.port.toString(16).toUpperCase().padStart(4, '0')} [0-9A-F:]+ 0A `));
  });

  it('compares tokens in constant time over any length (hashed first: timingSafeEqual never sees unequal lengths)', () => {
    for (const given of ['', 'a', TOKEN.slice(0, -1), `${TOKEN}x`, 'x'.repeat(10_000), 'ü'.repeat(30)]) expect(tokenEquals(given, TOKEN)).toBe(false);
    expect(tokenEquals(TOKEN, TOKEN)).toBe(true);
  });
});

describe('websocket abuse', () => {
  it('a client that never reads: bounded server memory, dropped with a reason, the others keep their rate', async () => {
    const fast = await client();
    const stuck = await client();
    // Closed whatever happens, so a failure here does not leave clients for the next test.
    onTestFinished(() => {
      fast.ws.close();
      stuck.ws.terminate();
    });
    (stuck.ws as unknown as { _socket: Socket })._socket.pause();
    const closedBefore = srv.server.fanout.counters.clientsClosedStalled;
    const start = srv.source.emitted;
    const fastStart = fast.journeys;
    const rss0 = process.memoryUsage().rss;
    let maxBacklog = 0;
    let maxBuffered = 0;
    const t0 = Date.now();
    while (srv.server.fanout.counters.clientsClosedStalled === closedBefore && Date.now() - t0 < STALL_MS + 5000) {
      for (const s of srv.server.fanout.clientStats()) {
        maxBacklog = Math.max(maxBacklog, s.backlog);
        maxBuffered = Math.max(maxBuffered, s.buffered);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    const produced = srv.source.emitted - start;
    // The stuck client was offered ten times what its backlog may hold (4000/s nominal over the
    // 2.5 s stall; a loaded CI machine runs the source's timer late, hence not 10000).
    expect(produced).toBeGreaterThan(10 * 500);
    expect(srv.server.fanout.counters.clientsClosedStalled).toBe(closedBefore + 1);
    expect(maxBacklog).toBeLessThanOrEqual(500);
    // Nothing new is written past the bound: at most one batch frame (500 journeys) over it.
    expect(maxBuffered).toBeLessThan(MAX_BUFFERED + MAX_FRAME);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 1024 * 1024);
    // The fast client catches up (not within a fixed wait: on a loaded machine that races it).
    await until(() => fast.journeys - fastStart >= produced - 500, 10_000, 'the fast client got what was produced');
    expect(fast.journeys - fastStart).toBeGreaterThanOrEqual(produced - 500);
    expect(fast.ws.readyState).toBe(WebSocket.OPEN);
    (stuck.ws as unknown as { _socket: Socket })._socket.resume();
    expect((await stuck.closed).code).toBeGreaterThan(1000);
    const m = await (await fetch(`${base()}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    expect(m).toMatch(/^hopscope_clients_closed_stalled_total [1-9]\d*$/m);
    fast.ws.close();
  });

  it('garbage, binary and oversized frames and a flood of subscriptions close only the abuser, each with its reason', async () => {
    const good = await client();
    const [notJson, wrongShape, binary, big, huge, flood, noHello] = await Promise.all([client(), client(), client(), client(), client(), client(), client(false)]);
    notJson.ws.send('\u0000\u00ff{{{garbage');
    wrongShape.ws.send(JSON.stringify({ type: 'subscribe', filter: { port: -1, extra: '$(rm -rf /)' } }));
    binary.ws.send(Buffer.from([1, 2, 3]));
    big.ws.send(JSON.stringify({ type: 'subscribe', filter: { namespace: 'x'.repeat(20_000) } }));
    huge.ws.send(JSON.stringify({ type: 'subscribe', filter: { namespace: 'x'.repeat(1 << 20) } }));
    for (let i = 0; i < 5000; i++) flood.ws.send(JSON.stringify({ type: 'subscribe', filter: { port: 1 + i, onlyDrops: false, onlyNat: false } }));
    expect(await notJson.closed).toEqual({ code: 1008, reason: 'not JSON' });
    expect((await wrongShape.closed).code).toBe(1008);
    expect((await wrongShape.closed).reason).toMatch(/^invalid message: /);
    expect(await binary.closed).toEqual({ code: 1003, reason: 'binary frames are not accepted' });
    expect(await big.closed).toEqual({ code: 1009, reason: 'message over 16384 bytes' });
    // Far over: ws stops reading it at 64 KiB and closes with the code alone (1009 = too big).
    expect((await huge.closed).code).toBe(1009);
    expect(await flood.closed).toEqual({ code: 1008, reason: 'too many messages (limit 20/s, burst 100)' });
    expect(await noHello.closed).toEqual({ code: 1008, reason: 'no hello within 1500 ms' });
    const before = good.journeys;
    await until(() => good.journeys > before + 500, 5000, 'the good client keeps receiving');
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
    good.ws.close();
  });

  it('too many connections: the extra ones are refused before upgrading, the connected ones go on', async () => {
    await until(() => srv.server.fanout.clientCount === 0, 5000, 'earlier clients gone');
    // The limit is under test, not the rate: at 4000/s, 12 clients in this one process had
    // 190 MB/s to read and parse: the test took 40 s on a loaded machine, and failed once.
    srv.source.setRate(400);
    onTestFinished(() => srv.source.setRate(4000));
    const cs = await Promise.all(Array.from({ length: MAX_CLIENTS }, () => client()));
    const refused = await Promise.all(Array.from({ length: 20 }, () => upgradeStatus({ Authorization: `Bearer ${TOKEN}` })));
    expect(new Set(refused)).toEqual(new Set([503]));
    const before = cs.map((c) => c.journeys);
    await until(() => cs.every((c, i) => c.journeys > before[i]! + 200), 5000, 'every connected client receiving');
    cs[0]!.ws.close();
    await until(() => srv.server.fanout.clientCount === MAX_CLIENTS - 1);
    const again = await client();
    expect(again.types).toContain('welcome');
    for (const c of [...cs, again]) c.ws.close();
  });
});
