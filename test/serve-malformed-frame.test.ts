// The frame that took the agent down, sent as a new user did: `hopscope serve --lab` as a child
// process, an authenticated websocket client says hello, then subscribes with one extra key made
// of 60 × "é". The zod reason quotes the key; cut by bytes it split a character, decoded back to
// 125 bytes, ws threw from close() and the agent exited 1. Now: that client is closed (1008, a
// reason within 123 bytes), /healthz still answers, and a client beside it keeps its journeys.
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { serveOnLabForFile, webTrafficUntil } from './server-helpers.ts';
import { parseServerMessage, type ServerMessage } from '../agent/src/protocol/messages.ts';

const LAB = `hsmf${process.pid % 100000}`;
const TOKEN = `malformed-frame-${process.pid}-0123456789`;
const served = serveOnLabForFile(LAB, TOKEN, () => ['--lab', LAB, '--port', '0']);

const auth = { Authorization: `Bearer ${TOKEN}` };

interface Client {
  ws: WebSocket;
  msgs: ServerMessage[];
  closed: Promise<{ code: number; reason: string }>;
}

async function client(): Promise<Client> {
  const ws = new WebSocket(`${served.base.replace('http', 'ws')}ws`, { headers: auth });
  const c: Client = { ws, msgs: [], closed: new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() }))) };
  ws.on('message', (d) => {
    const m = parseServerMessage(d.toString());
    if (m.ok) c.msgs.push(m.message);
  });
  ws.on('error', () => undefined);
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'hello', version: 1 }));
  return c;
}

const journeys = (c: Client) => c.msgs.reduce((n, m) => n + (m.type === 'batch' ? m.journeys.length : 0), 0);

const trafficUntil = (cond: () => boolean) => webTrafficUntil(served.lab, cond);

describe('hopscope serve --lab, one malformed frame', () => {
  it('closes only the client that sent a subscribe with a 60 × "é" key; the agent stays up', async () => {
    const good = await client();
    good.ws.send(JSON.stringify({ type: 'subscribe', filter: { onlyDrops: false, onlyNat: false } }));
    await trafficUntil(() => journeys(good) > 0);
    expect(journeys(good)).toBeGreaterThan(0);

    const bad = await client();
    bad.ws.send(JSON.stringify({ type: 'subscribe', filter: { onlyDrops: false, onlyNat: false }, ['é'.repeat(60)]: true }));
    const closed = await bad.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/^invalid message: .*é…$/);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);

    expect(served.proc.exitCode).toBeNull();
    const health = await fetch(`${served.base}healthz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${served.base}metrics`, { headers: auth })).text();
    expect(metrics).toMatch(/^hopscope_clients_closed_malformed_total 1$/m);
    expect(metrics).toMatch(/^hopscope_clients_closed_error_total 0$/m);

    const before = journeys(good);
    await trafficUntil(() => journeys(good) > before);
    expect(journeys(good)).toBeGreaterThan(before);
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
    good.ws.close();
  });
});
