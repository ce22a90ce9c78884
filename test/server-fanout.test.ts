// The agent server on loopback with real ws clients, fed by synthetic journeys at a bounded
// rate: tests the fan-out, auth and routes (not the tracer).
import { describe, expect, it, onTestFinished } from 'vitest';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import WebSocket from 'ws';
import { startServer } from '../agent/src/server/http.ts';
import { SyntheticSource } from '../agent/src/server/__tests__/synthetic.ts';
import { parseServerMessage, type ServerMessage } from '../agent/src/protocol/messages.ts';
import { DEFAULT_TOPOLOGY, refusedUpgrade, serverForFile, until } from './server-helpers.ts';
import { listenBelowEphemeral } from './ports.ts';

const TOKEN = 'test-token-0123456789abcdef';
// Half a second of the source's 2000/s: the slack a fast client in this same process has (200,
// 100 ms, was shorter than the stalls of a loaded machine: fast clients missed journeys). The
// slow client, reading nothing for 4 s, still overruns it many times over.
const MAX_QUEUE = 1000;
// 2000 journeys/s, bounded to 120000 in all: a minute, longer than the file runs even on a
// loaded machine (12000 lasted 6 s, which the tests using it could outlast).
const srv = serverForFile('hopscope test shell', () => new SyntheticSource(20, 10, 120_000), {
  host: '127.0.0.1',
  port: 0,
  token: TOKEN,
  lab: { name: 'synthetic', nodes: ['node-1', 'node-2'], cni: 'flannel-vxlan' },
  fanout: { maxQueue: MAX_QUEUE, maxBufferedBytes: 64 * 1024 },
  statusMs: 500,
});

function wsUrl(token?: string, port = srv.server.port): string {
  return `ws://127.0.0.1:${port}/ws${token ? `?token=${token}` : ''}`;
}

interface Client {
  ws: WebSocket;
  messages: ServerMessage[];
  journeys: number;
  closed: Promise<{ code: number; reason: string }>;
}

/**
 * A websocket client that counts the journeys it gets. `checkBatches: false` counts batches
 * without checking them against the schema (0.12 ms a journey): the rate test's clients would
 * otherwise need most of a core, which a loaded machine does not give this process.
 */
async function client(opts: { headers?: Record<string, string>; token?: string; port?: number; checkBatches?: boolean } = { token: TOKEN }): Promise<Client> {
  const ws = new WebSocket(wsUrl(opts.token, opts.port), { headers: opts.headers ?? {} });
  srv.open.push(ws);
  const c: Client = {
    ws,
    messages: [],
    journeys: 0,
    closed: new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
  };
  ws.on('message', (d) => {
    const text = d.toString();
    if (opts.checkBatches === false && text.startsWith('{"type":"batch"')) {
      c.journeys += (JSON.parse(text) as { journeys: unknown[] }).journeys.length;
      return;
    }
    const r = parseServerMessage(text);
    if (!r.ok) throw new Error(`server sent an invalid message: ${r.reason}`);
    if (r.message.type === 'batch') c.journeys += r.message.journeys.length;
    else c.messages.push(r.message);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'hello', version: 1 }));
  await until(() => c.messages.some((m) => m.type === 'welcome'));
  return c;
}

describe('auth on every route', () => {
  const routes = ['/', '/index.html', '/assets/app.js', '/api/topology', '/api/identities', '/api/status', '/metrics'];
  it.each(routes)('%s refuses a missing or wrong token and serves with the right one', async (route) => {
    const base = `http://127.0.0.1:${srv.server.port}${route}`;
    expect((await fetch(base)).status).toBe(401);
    expect((await fetch(base, { headers: { Authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await fetch(`${base}?token=nope`)).status).toBe(401);
    expect((await fetch(base, { headers: { Cookie: 'hopscope_token=nope' } })).status).toBe(401);
    const ok = await fetch(base, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
  });

  it('health needs no token', async () => {
    expect((await fetch(`http://127.0.0.1:${srv.server.port}/healthz`)).status).toBe(200);
  });

  it('is ready only while its tracer runs; alive either way', async () => {
    expect((await fetch(`http://127.0.0.1:${srv.server.port}/readyz`)).status).toBe(200);
    // A tracer that cannot run (bpftrace cannot compile or attach): alive, not ready.
    let tracer: 'unavailable' | 'running' = 'unavailable';
    class Tracerless extends SyntheticSource {
      override status() {
        return { ...super.status(), tracer };
      }
    }
    const own = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, source: new Tracerless(1, 50, 100), topology: () => null, lab: null });
    onTestFinished(() => own.close());
    const base = `http://127.0.0.1:${own.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toBe('not ready: tracer unavailable\n');
    // Ready once it traces (the source's next status report).
    tracer = 'running';
    let status = 0;
    for (const end = Date.now() + 5000; status !== 200 && Date.now() < end; await new Promise((res) => setTimeout(res, 50))) status = (await fetch(`${base}/readyz`)).status;
    expect(status, 'ready once the tracer runs').toBe(200);
  });

  it('trades ?token= for an HttpOnly SameSite=Strict cookie and a clean URL', async () => {
    const r = await fetch(`http://127.0.0.1:${srv.server.port}/?token=${TOKEN}`, { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/');
    const cookie = r.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const page = await fetch(`http://127.0.0.1:${srv.server.port}/`, { headers: { Cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('hopscope test shell');
  });

  it('refuses cross-origin requests even with the token', async () => {
    const r = await fetch(`http://127.0.0.1:${srv.server.port}/api/status`, { headers: { Authorization: `Bearer ${TOKEN}`, Origin: 'http://evil.example' } });
    expect(r.status).toBe(403);
  });

  it('refuses the websocket before upgrading without the token, with a wrong one, or from another origin', async () => {
    expect(await refusedUpgrade(wsUrl())).toBe(401);
    expect(await refusedUpgrade(wsUrl('wrong-token-0123456789'))).toBe(401);
    expect(await refusedUpgrade(wsUrl(), { Authorization: 'Bearer wrong' })).toBe(401);
    expect(await refusedUpgrade(wsUrl(TOKEN), { Origin: 'http://evil.example' })).toBe(403);
    expect(await refusedUpgrade(`ws://127.0.0.1:${srv.server.port}/other?token=${TOKEN}`)).toBe(404);
    const c = await client({ headers: { Authorization: `Bearer ${TOKEN}`, Origin: `http://127.0.0.1:${srv.server.port}` } });
    expect(c.messages[0]).toMatchObject({ type: 'welcome', version: 1 });
    c.ws.close();
  });

  it('serves topology, identities, status and Prometheus metrics', async () => {
    const h = { Authorization: `Bearer ${TOKEN}` };
    const t = (await (await fetch(`http://127.0.0.1:${srv.server.port}/api/topology`, { headers: h })).json()) as typeof DEFAULT_TOPOLOGY;
    expect(t.services.map((s) => s.name)).toContain('web');
    const st = (await (await fetch(`http://127.0.0.1:${srv.server.port}/api/status`, { headers: h })).json()) as { status: { lab: unknown } };
    expect(st.status.lab).toEqual({ name: 'synthetic', nodes: ['node-1', 'node-2'], cni: 'flannel-vxlan' });
    const m = await (await fetch(`http://127.0.0.1:${srv.server.port}/metrics`, { headers: h })).text();
    expect(m).toMatch(/^hopscope_journeys_in_total \d+$/m);
    expect(m).toMatch(/^hopscope_clients \d+$/m);
    expect(m).toMatch(/^hopscope_dropped_total\{stage="hub-slow-client"\} \d+$/m);
  });
});

describe('fan-out over real sockets', () => {
  it('closes only the client that sends malformed messages, with 1008 and a reason', async () => {
    const good = await client();
    const bad1 = await client();
    const bad2 = await client();
    const bad3 = await client();
    bad1.ws.send('{"type":"subscribe","filter":{"port":"eighty"}}');
    bad2.ws.send('this is not json');
    bad3.ws.send('x'.repeat(64 * 1024)); // over maxPayload
    const [c1, c2, c3] = await Promise.all([bad1.closed, bad2.closed, bad3.closed]);
    expect(c1).toEqual({ code: 1008, reason: 'invalid message: filter.port: Invalid input: expected number, received string' });
    expect(c2).toEqual({ code: 1008, reason: 'not JSON' });
    expect(c3.code).toBe(1009);
    const before = good.journeys;
    await until(() => good.journeys > before + 100);
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
    good.ws.close();
  });

  it("keeps a slow client's queue bounded, tells it what it missed, and keeps the others' rate", async () => {
    // A server and source of its own, so what this test sees does not depend on how long the
    // tests before it took (with the file's source, bounded in total, a loaded machine had used
    // most of it up: 1631 journeys produced here where 4000 were expected).
    const source = new SyntheticSource(20, 10, 40_000);
    const own = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, source, topology: () => null, lab: null, fanout: { maxQueue: MAX_QUEUE, maxBufferedBytes: 64 * 1024 } });
    onTestFinished(() => own.close());
    const opts = { token: TOKEN, port: own.port, checkBatches: false };
    const fast = await client(opts);
    const filtered = await client(opts);
    filtered.ws.send(JSON.stringify({ type: 'subscribe', filter: { port: 80, onlyDrops: false, onlyNat: false } }));
    const slow = await client(opts);
    // Stop reading: the kernel buffers fill, then ws's bufferedAmount grows.
    (slow.ws as unknown as { _socket: Socket })._socket.pause();
    const start = source.emitted;
    const fastStart = fast.journeys;
    let maxBacklog = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 4000) {
      const s = own.fanout.clientStats();
      maxBacklog = Math.max(maxBacklog, ...s.map((x) => x.backlog));
      await new Promise((r) => setTimeout(r, 50));
    }
    const produced = source.emitted - start;
    const stats = own.fanout.clientStats();
    const slowStats = stats.reduce((a, b) => (b.missedTotal > a.missedTotal ? b : a));
    expect(produced).toBeGreaterThan(4000);
    expect(maxBacklog).toBeLessThanOrEqual(MAX_QUEUE);
    expect(slowStats.missedTotal).toBeGreaterThan(0);
    // The fast clients get everything produced meanwhile. (Not after a fixed wait: on a loaded
    // machine the last batches can take longer, this process also runs the source and server.)
    await until(() => fast.journeys - fastStart >= produced && filtered.journeys >= produced, 10_000, 'the fast clients got every journey produced');
    expect(fast.journeys - fastStart).toBeGreaterThanOrEqual(produced);
    expect(filtered.journeys).toBeGreaterThanOrEqual(produced);
    const fastStats = stats.filter((s) => s !== slowStats);
    expect(fastStats.every((s) => s.missedTotal === 0)).toBe(true);
    // Reading again: the slow client is told how many it missed.
    (slow.ws as unknown as { _socket: Socket })._socket.resume();
    await until(() => slow.messages.some((m) => m.type === 'missed'), 10_000);
    const missed = slow.messages.find((m) => m.type === 'missed');
    expect(missed && missed.type === 'missed' && missed.count).toBeGreaterThan(0);
    const m = await (await fetch(`http://127.0.0.1:${own.port}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    const dropped = Number(/^hopscope_dropped_total\{stage="hub-slow-client"\} (\d+)$/m.exec(m)?.[1]);
    expect(dropped).toBeGreaterThan(0);
  });
});

describe('closing', () => {
  it('ends with a client that reconnects the moment it is closed, while the source is still stopping', async () => {
    // As the UI does: its socket reconnects as soon as it closes. The source takes its time to
    // stop (bpftrace, the identity index), the window in which such a reconnect got upgraded.
    class SlowStop extends SyntheticSource {
      override async stop() {
        await new Promise((r) => setTimeout(r, 800));
        await super.stop();
      }
    }
    const s = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, source: new SlowStop(1, 50, 100), topology: () => null, lab: null });
    let upgradedAfterClose = 0;
    let refused = 0;
    let closing = false;
    let opened = 0;
    const connect = (): void => {
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      srv.open.push(ws);
      ws.on('open', () => {
        if (closing) upgradedAfterClose++;
        opened++;
        ws.send(JSON.stringify({ type: 'hello', version: 1 }));
      });
      ws.on('unexpected-response', () => refused++);
      ws.on('error', () => undefined);
      ws.on('close', () => {
        if (closing && refused + upgradedAfterClose < 50) connect();
      });
    };
    connect();
    await until(() => opened === 1 && s.fanout.clientCount === 1);
    closing = true;
    const ended = await Promise.race([s.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still closing after 10 s'), 10_000).unref())]);
    expect(ended).toBe('closed');
    expect(upgradedAfterClose).toBe(0);
    expect(refused).toBeGreaterThan(0);
  });
});

describe('a server that cannot start', () => {
  // Timers and sockets left behind keep the process alive: `hopscope start --port <in use>`
  // printed its error and then hung instead of exiting 1.
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('a port in use: startServer rejects and leaves no timer running', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as AddressInfo).port;
    const before = timers();
    await expect(startServer({ host: '127.0.0.1', port, token: TOKEN, source: new SyntheticSource(1, 50, 100), topology: () => null, lab: null })).rejects.toThrow(/EADDRINUSE/);
    expect(timers()).toBe(before);
  });

  it('a source that fails to start: startServer rejects, stops it, frees the port and leaves no timer', async () => {
    let stopped = 0;
    class Failing extends SyntheticSource {
      override async start(): Promise<void> {
        throw new Error('bpftrace would not attach');
      }
      override async stop(): Promise<void> {
        stopped++;
        await super.stop();
      }
    }
    // A port below the ephemeral range: no outgoing connection takes it once it is free again.
    const { port } = await listenBelowEphemeral(async (p) => {
      const probe = createServer();
      await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(p, '127.0.0.1', resolve));
      await new Promise<void>((r) => probe.close(() => r()));
    });
    const before = timers();
    const started = startServer({ host: '127.0.0.1', port, token: TOKEN, source: new Failing(1, 50, 100), topology: () => null, lab: null });
    await expect(started).rejects.toThrow('bpftrace would not attach');
    expect(stopped).toBe(1);
    expect(timers()).toBe(before);
    const refused = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => 'answered', (e: unknown) => String((e as { cause?: { code?: string } }).cause?.code));
    expect(refused).toBe('ECONNREFUSED');
  });
});

describe('closing a client that never answers', () => {
  it('cuts a client that does not answer the close frame instead of waiting ws\'s 30 s for it', async () => {
    const s = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, source: new SyntheticSource(1, 50, 100), topology: () => null, lab: null });
    const c = await client({ token: TOKEN, port: s.port });
    // It reads nothing more: the close frame sits in its socket and is never answered.
    (c.ws as unknown as { _socket: Socket })._socket.pause();
    const t0 = Date.now();
    const ended = await Promise.race([s.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still closing after 15 s'), 15_000).unref())]);
    expect(ended).toBe('closed');
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(s.fanout.clientCount).toBe(0);
  }, 20_000);
});

describe('dead peers', () => {
  it('terminates a client that stops answering pings and keeps the one that answers', async () => {
    const src = new SyntheticSource(1, 50, 100);
    const s = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, source: src, topology: () => null, lab: null, pingMs: 200 });
    try {
      const connect = (autoPong: boolean) =>
        new Promise<{ ws: WebSocket; closed: Promise<number> }>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`, { headers: { Authorization: `Bearer ${TOKEN}` }, autoPong });
          srv.open.push(ws);
          const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
          ws.once('open', () => {
            ws.send(JSON.stringify({ type: 'hello', version: 1 }));
            resolve({ ws, closed });
          });
          ws.once('error', reject);
        });
      const deaf = await connect(false);
      const alive = await connect(true);
      await until(() => s.fanout.clientCount === 2);
      // terminated without a close frame: 1006 on the client side
      expect(await deaf.closed).toBe(1006);
      await new Promise((r) => setTimeout(r, 600));
      expect(alive.ws.readyState).toBe(WebSocket.OPEN);
      expect(s.fanout.clientCount).toBe(1);
      alive.ws.close();
    } finally {
      await s.close();
    }
  });
});
