// The two processes of bench/hub-scale.ts, by role (argv[2]):
//
// `agents`: N synthetic agents, each a websocket server speaking protocol v1 as the agent does
// (token, hello → welcome, status every second, batches every 50 ms). Agents are paired as the
// two nodes of a cross-node packet: each pair's first agent sends the sender's half of a SYN
// (pod egress … underlay), the second the receiver's half (underlay … deliver), both made once
// by real correlators from the SYN path of the unit tests, with node names, journey id and TCP
// sequence (so the fingerprint) changed per journey. A half's hop times are the hrtime at which
// its batch is sent (CLOCK_MONOTONIC, shared by the processes), so the hub's client reads the
// latency the hub adds from the stitched journey's start. The receiver's half goes first.
//
// `hub`: the real hub source (agent/src/hubmode) behind the real server, connected to the agents
// by a static list, as `hopscope hub --agents` runs it.
//
// IPC, parent → child: {type:'start', ...} (agents: rate), {type:'memory'}, {type:'stop'}.
// Child → parent: {type:'ready', ports | port}, {type:'memory', memory, cpuUs, stitch},
// {type:'sent', halves}, {type:'error'}.
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { createCorrelator } from '../agent/src/journeys/correlate.ts';
import { fakeIdentity, flannelDevices, NS, synPath } from '../agent/src/journeys/__tests__/testdata.ts';
import type { Journey, TraceEvent } from '../agent/src/protocol/events.ts';
import { PROTOCOL_VERSION, type AgentStatus } from '../agent/src/protocol/messages.ts';
import { staticDiscovery } from '../agent/src/hubmode/discovery.ts';
import { hubSource } from '../agent/src/hubmode/hub-source.ts';
import { startServer } from '../agent/src/server/http.ts';
import { heapAfterGc } from '../test/fuzz-helpers.ts';
import { memoryReport, type MemoryReport } from './memory.ts';

export type HubScaleToChild = { type: 'start'; perPairPerS: number } | { type: 'memory' } | { type: 'stop' };
export type HubScaleFromChild =
  | { type: 'ready'; ports: number[] }
  | { type: 'sent'; halves: number; atNs: number }
  | { type: 'memory'; memory: MemoryReport; cpuUs: number; liveHeap?: number; stitch?: { stitched: number; timedOut: number; overflow: number; held: number } }
  | { type: 'error'; message: string };

/** What a child is started with (JSON in argv[3]). */
export interface HubScaleChildConfig {
  token: string;
  agents: number;
  /** hub: the agents' ports, in agent order. */
  ports?: number[];
}

export const BATCH_MS = 50;
/** The TCP sequence of the template SYN: replaced per journey (it is in the fingerprint). */
const SEQ = 424_242;
export const agentName = (i: number): string => `node-${i + 1}`;

const send = (m: HubScaleFromChild): void => {
  if (process.connected) process.send!(m);
};
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** The two halves of the template SYN, as the agents of node-1 and node-2 each make them. */
function templateHalves(): [Journey, Journey] {
  const syn = synPath(1_000_000_000, '0xffff888001', { flags: 'S', seq: SEQ, ack: 0, ipId: 4242 });
  const half = (scope: Set<number>): Journey => {
    const c = createCorrelator({ identity: fakeIdentity() });
    for (const d of flannelDevices()) if (scope.has(d.netns)) c.push(d);
    for (const e of syn as TraceEvent[]) if (!('netns' in e) || scope.has(e.netns)) c.push(e);
    const js = [...c.tick(10_000_000_000), ...c.flush()];
    if (js.length !== 1) throw new Error(`template: ${js.length} journeys from one half`);
    return js[0]!;
  };
  return [half(new Set([NS.client, NS.sidecar, NS.node1])), half(new Set([NS.web, NS.node2]))];
}

/** A half re-made for one pair of nodes, mutated in place per journey and serialised at once. */
interface HalfMaker {
  json(k: number, nowNs: number): string;
}
function halfMaker(t: Journey, a: string, b: string): HalfMaker {
  const j = JSON.parse(JSON.stringify(t).replace(/node-[12]/g, (n) => (n === 'node-1' ? a : b))) as Journey;
  const t0 = j.startNs;
  const offsets = j.hops.map((h) => h.tsNs - t0);
  const span = j.endNs - t0;
  const fp = j.fingerprint;
  if (!fp.includes(`seq=${SEQ}`)) throw new Error(`template fingerprint ${fp} lacks the sequence`);
  return {
    json(k, nowNs) {
      j.id = `j${k}`;
      j.fingerprint = fp.replace(`seq=${SEQ}`, `seq=${k}`);
      j.startNs = nowNs;
      j.endNs = nowNs + span;
      j.hops.forEach((h, i) => {
        h.tsNs = nowNs + offsets[i]!;
        for (const p of [h.packet, h.encap?.inner]) if (p?.l4.proto === 'tcp') p.l4.seq = k;
      });
      return JSON.stringify(j);
    },
  };
}

function status(): AgentStatus {
  return {
    tracer: 'running', probeSet: 'tracepoints', bpftraceVersion: 'synthetic', sampling: { enabled: false, description: 'synthetic agent', suppressed: 0 },
    counters: { eventsIn: 0, journeysOut: 0, lostEvents: 0, bpftraceRestarts: 0, dropped: {}, clients: 1 }, lab: null,
  };
}

async function agents(cfg: HubScaleChildConfig): Promise<void> {
  const [sender, receiver] = templateHalves();
  const socks: (WebSocket | undefined)[] = [];
  const ports: number[] = [];
  const closers: (() => void)[] = [];
  for (let i = 0; i < cfg.agents; i++) {
    const http = createServer((_q, r) => r.writeHead(404).end());
    const wss = new WebSocketServer({ server: http, path: '/ws', perMessageDeflate: false });
    wss.on('connection', (ws, req) => {
      if (req.headers.authorization !== `Bearer ${cfg.token}`) return ws.close(1008, 'token');
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as { type: string };
        if (m.type === 'hello') {
          ws.send(JSON.stringify({ type: 'welcome', version: PROTOCOL_VERSION, clientId: `c${i}`, status: status() }));
          socks[i] = ws;
        }
      });
      ws.on('close', () => {
        if (socks[i] === ws) socks[i] = undefined;
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    ports.push((http.address() as { port: number }).port);
    closers.push(() => {
      wss.close();
      http.close();
    });
  }
  // Pair p: agents 2p (sender's node) and 2p+1 (receiver's node).
  const pairs = Array.from({ length: cfg.agents >> 1 }, (_, p) => ({
    s: halfMaker(sender, agentName(2 * p), agentName(2 * p + 1)),
    r: halfMaker(receiver, agentName(2 * p), agentName(2 * p + 1)),
  }));
  const statusTimer = setInterval(() => {
    const m = JSON.stringify({ type: 'status', status: status() });
    for (const ws of socks) ws?.send(m);
  }, 1000);
  let ticker: NodeJS.Timeout | undefined;
  let seq = 0;
  let halves = 0;
  const batch = (parts: string[]): string => `{"type":"batch","seq":${seq++},"journeys":[${parts.join(',')}],"dropped":0}`;
  process.on('message', (m: HubScaleToChild) => {
    if (m.type === 'start') {
      // Fractions carried over, so the rate holds at any batch size.
      let owed = 0;
      let next = 0;
      const perTick = (m.perPairPerS * BATCH_MS) / 1000;
      ticker = setInterval(() => {
        owed += perTick;
        const n = Math.floor(owed);
        owed -= n;
        if (n === 0) return;
        pairs.forEach((p, i) => {
          const base = i * 10_000_000 + next;
          const rs: string[] = [];
          const ss: string[] = [];
          const rws = socks[2 * i + 1];
          const sws = socks[2 * i];
          const now1 = Number(process.hrtime.bigint());
          for (let k = 0; k < n; k++) rs.push(p.r.json(base + k, now1));
          rws?.send(batch(rs));
          const now2 = Number(process.hrtime.bigint());
          for (let k = 0; k < n; k++) ss.push(p.s.json(base + k, now2));
          sws?.send(batch(ss));
          halves += (rws ? n : 0) + (sws ? n : 0);
        });
        next += n;
      }, BATCH_MS);
    } else if (m.type === 'memory') {
      send({ type: 'sent', halves, atNs: Number(process.hrtime.bigint()) });
      send({ type: 'memory', memory: memoryReport(), cpuUs: cpuUs() });
    } else if (m.type === 'stop') {
      clearInterval(ticker);
      clearInterval(statusTimer);
      for (const c of closers) c();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', ports });
}

async function hub(cfg: HubScaleChildConfig): Promise<void> {
  const eps = (cfg.ports ?? []).map((port, i) => ({ name: agentName(i), url: `http://127.0.0.1:${port}/` }));
  const source = hubSource({ discovery: staticDiscovery(eps), token: cfg.token });
  const server = await startServer({ host: '127.0.0.1', port: 0, token: cfg.token, source, topology: () => null, lab: null });
  process.on('message', (m: HubScaleToChild) => {
    if (m.type === 'memory') {
      const s = source.stitchStats();
      // CPU read before the collection this asks for, so it is not charged to the journeys.
      const cpu = cpuUs();
      const memory = memoryReport();
      send({ type: 'memory', memory, cpuUs: cpu, liveHeap: heapAfterGc(), stitch: { stitched: s.stitched, timedOut: s.timedOut, overflow: s.overflow, held: s.held } });
    } else if (m.type === 'stop') void server.close().finally(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', ports: [server.port] });
}

const role = process.argv[2];
const cfg = JSON.parse(process.argv[3] ?? '{}') as HubScaleChildConfig;
(role === 'agents' ? agents(cfg) : role === 'hub' ? hub(cfg) : Promise.reject(new Error(`role: agents or hub, not ${role}`))).catch((e: unknown) => {
  send({ type: 'error', message: (e as Error).stack ?? String(e) });
  process.exitCode = 1;
  process.disconnect?.();
});
