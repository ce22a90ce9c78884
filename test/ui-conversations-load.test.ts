// The conversations list under a load of 100 new connections a second: the real server, a source
// making each connection's packets (SYN, SYN-ACK, ACK, request, response; the requests as sent
// to the ClusterIP and DNAT'd, the replies before and after reverse NAT), the built UI in
// Chromium. The list must stay right: one row per connection, its packets adding up to every
// journey the page received.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { Hop, IpPacket, Journey, L4Header } from '../agent/src/protocol/events.ts';
import type { JourneySource, SourceSink, SourceStatus } from '../agent/src/server/source.ts';
import { startServer, type RunningServer } from '../agent/src/server/http.ts';
import { ensureUiBuilt, launchChromium, openUi } from './browser.ts';

const TOKEN = `conv-load-${process.pid}-0123456789`;
const CONNS_PER_S = 100;
const SECONDS = 8;
const CONNECTIONS = CONNS_PER_S * SECONDS;
const PACKETS = 5;

const CLIENT = { ip: '10.244.1.2', pod: { namespace: 'default', name: 'client', node: 'node-1' } };
const BACKEND = { ip: '10.244.2.3', pod: { namespace: 'default', name: 'web-5d4b8c7f9x-abcde', node: 'node-2' } };
const SVC = { ip: '10.96.0.20', service: { namespace: 'default', name: 'web', port: 80 } };

const pkt = (src: string, dst: string, l4: L4Header): IpPacket => ({ family: 4, src, dst, ipId: 1, ttl: 64, len: 60, l4 });
const tcp = (sport: number, dport: number, flags: string, seq: number): L4Header => ({ proto: 'tcp', sport, dport, flags, seq, ack: 0 });

/** The packets of connection `k`: three requests and two replies, each seen in its two forms. */
function connection(k: number, t0: number): Journey[] {
  const sport = 20000 + k;
  const hop = (p: IpPacket, i: number, t: number, kind: Hop['kind'], pod?: typeof CLIENT.pod): Hop => ({
    kind,
    tsNs: t + i * 20_000,
    deltaNs: i === 0 ? 0 : 20_000,
    hook: 'recv',
    netns: 4026532000 + i,
    where: pod ? { pod, label: pod.name } : { node: 'node-1', label: 'node-1' },
    dev: 'eth0',
    ifindex: 2,
    packet: p,
  });
  const out: Journey[] = [];
  /** A packet of the connection: a request (as sent, DNAT'd, delivered) or a reply (sent, un-NATed, delivered). */
  const packet = (flags: string, dt: number, replyTo?: Journey): Journey => {
    const t = t0 + dt;
    const [from, fromPod, sp, to, dp] = replyTo ? [BACKEND.ip, BACKEND.pod, 8080, CLIENT.ip, sport] : [CLIENT.ip, CLIENT.pod, sport, BACKEND.ip, 8080];
    const [sent, natted] = replyTo
      ? [pkt(from, to, tcp(sp, dp, flags, 9)), pkt(SVC.ip, to, tcp(80, dp, flags, 9))]
      : [pkt(from, SVC.ip, tcp(sp, 80, flags, k)), pkt(from, to, tcp(sp, dp, flags, k))];
    const j: Journey = {
      type: 'journey',
      id: `c${k}-${out.length}`,
      fingerprint: `f${k}-${out.length}`,
      verdict: 'delivered',
      startNs: t,
      endNs: t + 40_000,
      proto: 'tcp',
      src: { ip: from, port: sp, pod: fromPod },
      ...(replyTo ? { dst: { ip: CLIENT.ip, port: sport, pod: CLIENT.pod }, replyTo: replyTo.id } : { dst: { ...SVC, port: 80 }, backend: { ...BACKEND, port: 8080 } }),
      hops: [hop(sent, 0, t, 'pod-egress', fromPod), hop(natted, 1, t, replyTo ? 'reverse-nat' : 'dnat'), hop(natted, 2, t, 'deliver', replyTo ? CLIENT.pod : BACKEND.pod)],
    };
    out.push(j);
    return j;
  };
  const req = (flags: string, dt: number) => packet(flags, dt);
  const rep = (to: Journey, flags: string, dt: number) => packet(flags, dt, to);
  const syn = req('S', 0);
  rep(syn, 'S.', 100_000);
  req('.', 200_000);
  const get = req('P.', 300_000);
  rep(get, 'P.', 400_000);
  return out;
}

/** Emits CONNECTIONS connections at CONNS_PER_S, each one's packets together (as the tracer hands a finished flow on). */
class ConnectionSource implements JourneySource {
  private timer: NodeJS.Timeout | undefined;
  private sink: SourceSink | undefined;
  private n = 0;
  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
  }
  /** Starts emitting (the page is connected by then). */
  go(): void {
    const sink = this.sink!;
    const t0 = performance.now();
    this.timer = setInterval(() => {
      const due = Math.min(CONNECTIONS, Math.floor(((performance.now() - t0) * CONNS_PER_S) / 1000));
      for (; this.n < due; this.n++) for (const j of connection(this.n, 1e9 + this.n * 10e6)) sink.onJourney(j);
      sink.onStatus(this.status());
      if (this.n >= CONNECTIONS) clearInterval(this.timer);
    }, 10);
  }
  get emitted(): number {
    return this.n;
  }
  setFilter(): void {}
  status(): SourceStatus {
    return { tracer: 'running', probeSet: null, bpftraceVersion: null, sampling: { enabled: false, description: 'synthetic', suppressed: 0 }, counters: { eventsIn: this.n, lostEvents: 0, bpftraceRestarts: 0, dropped: {} } };
  }
  capabilities(): Record<string, unknown> {
    return { synthetic: true };
  }
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }
}

let server: RunningServer;
let browser: Browser;
let page: Page;
const source = new ConnectionSource();

beforeAll(async () => {
  mkdirSync('test-artifacts', { recursive: true });
  ensureUiBuilt();
  server = await startServer({ host: '127.0.0.1', port: 0, token: TOKEN, uiDir: 'ui/dist', source, topology: () => null, lab: null });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
}, 180_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await source.stop();
  await server?.close();
});

describe('conversations under 100 connections/s', () => {
  it('lists one row per connection, and their packets add up to every journey received', async () => {
    await openUi(page, server.url, TOKEN);
    const t0 = Date.now();
    source.go();
    const list = page.getByTestId('conn-list');
    const count = async () => Number(await list.getAttribute('data-count'));
    // While it streams, the list only grows and every listed connection is whole or filling.
    let prev = 0;
    while (Date.now() - t0 < (SECONDS + 1) * 1000) {
      const c = await count();
      expect(c).toBeGreaterThanOrEqual(prev);
      prev = c;
      await page.waitForTimeout(500);
    }
    await expect.poll(count, { timeout: 20_000 }).toBe(CONNECTIONS);
    const received = Number(await page.getByTestId('received').getAttribute('data-received'));
    expect(received).toBe(CONNECTIONS * PACKETS);
    expect(Number(await list.getAttribute('data-packets'))).toBe(received);
    expect(await list.getAttribute('data-packets-min')).toBe(String(PACKETS));
    expect(await list.getAttribute('data-packets-max')).toBe(String(PACKETS));
    expect(await page.getByTestId('list-mode-connections').textContent()).toContain(String(CONNECTIONS));
    expect(await page.getByTestId('list-mode-packets').textContent()).toContain(String(received));
    // The rows on screen say it too: the newest connection first, five packets, two directions.
    const top = page.getByTestId('conn-row').first();
    expect(await top.getAttribute('data-packets')).toBe(String(PACKETS));
    expect(await top.textContent()).toMatch(/client.*svc\/web:80.*web-5d4b8c7f9x-abcde.*5 packets \(3→ 2↩\).*handshake/);
    await page.screenshot({ path: 'test-artifacts/ui-conversations-load.png' });
    await top.getByTestId('conn-head').click();
    await expect.poll(() => top.getByTestId('conn-packet').count(), { timeout: 10_000 }).toBe(PACKETS);
  }, 120_000);
});
