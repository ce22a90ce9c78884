// The agent's HTTP server: static UI, REST API, /metrics and the /ws websocket, all behind the
// token. Authentication happens on the 'upgrade' event, before a websocket exists.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsHttpServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { MAX_CLIENT_MESSAGE_BYTES, PROTOCOL_VERSION, type AgentStatus, type Transport, type LabAction, type ReplayControl, type StatusResponse, type TopologyView } from '../protocol/messages.ts';
import type { Journey } from '../protocol/events.ts';
import type { LessonsResponse } from '../protocol/lessons.ts';
import { closeWith } from '../protocol/close-reason.ts';
import { hostAllowed, originAllowed, presentedToken, tokenCookie, tokenEquals } from './auth.ts';
import { Fanout, type ActionOutcome, type FanoutOptions } from './fanout.ts';
import { renderMetrics, type Metric } from './metrics.ts';
import type { JourneySource, SourceStatus } from './source.ts';
import { identitiesFromTopology } from './topology.ts';
import { startRecorder, type Recorder, type RecordingWriterOptions } from '../wiring/recording-file.ts';
import { describeTlsFailure, HUB_IDENTITY, identityMismatch, tlsSummary, type TlsMaterial } from '../tls/material.ts';

/** Everything the server needs; the caller owns the lab, the server owns the source's lifecycle. */
export interface ServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  token: string;
  /** Built UI (ui/dist); without it the page explains how to build it. */
  uiDir?: string;
  source: JourneySource;
  topology(): TopologyView | null;
  /** The lab traced, if any; a function when it can change (a rebuild in another mode). */
  lab: AgentStatus['lab'] | (() => AgentStatus['lab']);
  /** Lessons for the page (hopscope start); none otherwise. */
  lessons?: LessonsResponse;
  onAction?(a: LabAction): Promise<ActionOutcome>;
  fanout?: Partial<Omit<FanoutOptions, 'status' | 'onAction' | 'onFilterUnion' | 'checkToken'>>;
  /** Ping period for finding dead peers (ms). */
  pingMs?: number;
  /** Status broadcast period (ms). */
  statusMs?: number;
  /** Most websocket clients at once; more are refused (503) before the upgrade. Default 100. */
  maxClients?: number;
  /** Record the journeys served, the status and the topology to a file (--write). */
  record?: RecordingWriterOptions;
  /**
   * Mutual TLS (an agent bound beyond loopback): HTTPS and wss only, and every route but the
   * probes needs a client certificate the CA signed for the hub, as well as the token. A
   * plain-HTTP request is answered 400 in plain text, saying so.
   */
  tls?: TlsMaterial;
  /** How the server is reached, for /api/status when it is not TLS (loopback or --insecure). */
  transport?: () => Transport;
  /** Refused clients, at most one line per 10 s (with how many more were refused meanwhile). */
  log?: (line: string) => void;
}

/** A listening server. */
export interface RunningServer {
  url: string;
  port: number;
  fanout: Fanout;
  status(): AgentStatus;
  /** Take rotated TLS material: new connections use it, established ones carry on. */
  setTls(m: TlsMaterial): void;
  close(): Promise<void>;
}

/** How long close() waits for websocket peers to answer the close frame before cutting them. */
const CLOSE_GRACE_MS = 2000;

/** Every API path the server routes (besides the UI's static files, /healthz and /ws). */
export const API_ROUTES = ['/api/topology', '/api/identities', '/api/status', '/api/lessons', '/metrics'] as const;
type ApiRoute = (typeof API_ROUTES)[number];
/**
 * Paths served without the token: the probes. /healthz: the process answers (liveness).
 * /readyz: it also traces (readiness). NOTE: an agent whose bpftrace cannot compile or attach
 * still answers /healthz; were readiness the same, a DaemonSet pod that cannot trace would look
 * healthy on the cluster (seen with the first image). /readyz says only the tracer's state.
 */
export const PUBLIC_ROUTES = ['/healthz', '/readyz'] as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  // React Flow positions nodes with inline styles; scripts only from the agent itself.
  'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'",
};

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

function sendText(res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}

const EMPTY_SOURCE_STATUS: SourceStatus = {
  tracer: 'starting',
  probeSet: null,
  bpftraceVersion: null,
  sampling: { enabled: false, description: 'none', suppressed: 0 },
  counters: { eventsIn: 0, lostEvents: 0, bpftraceRestarts: 0, dropped: {} },
};

/** Start listening; resolves once the port is bound and the source started. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  let sourceStatus: SourceStatus = EMPTY_SOURCE_STATUS;
  const status = (): AgentStatus => withTransport({
    ...sourceStatus,
    counters: {
      ...sourceStatus.counters,
      dropped: {
        ...sourceStatus.counters.dropped,
        // NOTE: these stage labels predate the fan-out's name and stay as they are: they reach
        // users in /metrics (hopscope_dropped_total{stage=…}) and in every client's status.
        'hub-slow-client': fanout.counters.droppedSlowClient,
        'hub-pending': fanout.counters.droppedPending,
      },
      journeysOut: fanout.counters.journeysOut,
      clients: fanout.clientCount,
    },
    lab: typeof opts.lab === 'function' ? opts.lab() : opts.lab,
  });
  const withTransport = (st: AgentStatus): AgentStatus => {
    const t = transport();
    return t ? { ...st, transport: t } : st;
  };
  // Connections refused for their certificate or for speaking plain HTTP to the TLS port.
  let refusedCert = 0;
  let refusedPlain = 0;
  let reloads = 0;
  let tls = opts.tls;
  const transport = (): Transport | undefined => {
    if (!tls) return opts.transport?.();
    const sum = tlsSummary(tls, Date.now());
    return {
      mode: 'mtls',
      detail: `mutual TLS as ${sum.identity}, certificate expires ${sum.certExpires}${sum.expired ? ' (EXPIRED)' : ''}`,
      certExpires: sum.certExpires,
      caExpires: sum.caExpires,
      expired: sum.expired,
      refusedCert,
      refusedPlain,
      reloads,
    };
  };
  /** Why this request's client certificate is not the hub's, or undefined when it is (or no TLS). */
  const clientCertProblem = (req: IncomingMessage): string | undefined => {
    if (!tls) return undefined;
    const s = req.socket as TLSSocket;
    const peer = s.getPeerCertificate();
    if (!peer || !peer.raw) return 'a client certificate is required (mutual TLS): connect with the hub\'s certificate';
    if (!s.authorized) return `client certificate refused: ${describeTlsFailure(String(s.authorizationError))}`;
    const wrong = identityMismatch(HUB_IDENTITY, peer.subjectaltname, 'client');
    return wrong ? `client certificate refused: ${wrong}` : undefined;
  };
  // A scanner or a misconfigured hub retrying would fill the log: one line per 10 s.
  let lastRefusalLogMs = 0;
  let unlogged = 0;
  const logRefusal = (line: string): void => {
    const now = Date.now();
    if (now - lastRefusalLogMs < 10_000) {
      unlogged++;
      return;
    }
    opts.log?.(`${line}${unlogged ? ` (and ${unlogged} more refusals since the last line)` : ''}`);
    lastRefusalLogMs = now;
    unlogged = 0;
  };
  const noteRefusal = (why: string, peer: string | undefined): void => {
    refusedCert++;
    logRefusal(`refused ${peer ?? 'a client'}: ${why}`);
  };
  const fanout: Fanout = new Fanout({
    ...opts.fanout,
    status,
    onFilterUnion: (u) => opts.source.setFilter(u),
    checkToken: (t) => tokenEquals(t, opts.token),
    ...(opts.onAction ? { onAction: opts.onAction } : {}),
    ...(opts.source.replay ? { onReplay: (c: ReplayControl) => opts.source.replay?.(c) } : {}),
  });

  const authorised = (req: IncomingMessage, url: URL): { ok: boolean; via?: string } => {
    const p = presentedToken({ authorization: req.headers.authorization, cookie: req.headers.cookie }, url);
    if (!p) return { ok: false };
    return tokenEquals(p.token, opts.token) ? { ok: true, via: p.via } : { ok: false };
  };

  let refusedFull = 0;
  const metrics = (): string => {
    const s = status();
    const c = (name: string, help: string, value: number): Metric => ({ name, help, type: 'counter', samples: [{ value }] });
    return renderMetrics([
      c('hopscope_events_in_total', 'Trace events decoded from bpftrace.', s.counters.eventsIn),
      c('hopscope_journeys_in_total', 'Journeys produced by the pipeline.', fanout.counters.journeysIn),
      c('hopscope_journeys_out_total', 'Journeys sent to websocket clients (summed over clients).', fanout.counters.journeysOut),
      c('hopscope_frames_out_total', 'Websocket batch frames sent.', fanout.counters.framesOut),
      {
        name: 'hopscope_dropped_total',
        help: 'Journeys or events dropped, by stage.',
        type: 'counter',
        samples: Object.entries(s.counters.dropped).map(([stage, value]) => ({ labels: { stage }, value })),
      },
      { name: 'hopscope_clients', help: 'Connected websocket clients.', type: 'gauge', samples: [{ value: fanout.clientCount }] },
      c('hopscope_bpftrace_restarts_total', 'Times bpftrace was restarted after exiting.', s.counters.bpftraceRestarts),
      c('hopscope_lost_events_total', 'Events bpftrace reported lost (perf ring overflow).', s.counters.lostEvents),
      c('hopscope_clients_closed_malformed_total', 'Clients closed for malformed messages.', fanout.counters.clientsClosedMalformed),
      c('hopscope_clients_closed_abusive_total', 'Clients closed for flooding messages or not saying hello.', fanout.counters.clientsClosedAbusive),
      c('hopscope_clients_closed_stalled_total', 'Clients dropped for not reading.', fanout.counters.clientsClosedStalled),
      c('hopscope_clients_closed_error_total', 'Clients closed (1011) because handling their message threw.', fanout.counters.clientsClosedError),
      c('hopscope_clients_refused_total', 'Websocket upgrades refused because the client limit was reached.', refusedFull),
    ]);
  };

  const serveStatic = async (res: ServerResponse, pathname: string): Promise<void> => {
    if (!opts.uiDir) return sendText(res, 503, 'The UI is not built: run `npm run build -w ui`.');
    const root = path.resolve(opts.uiDir);
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return sendText(res, 400, 'bad path');
    }
    let file = path.resolve(root, '.' + path.posix.normalize(rel));
    if (file !== root && !file.startsWith(root + path.sep)) return sendText(res, 403, 'forbidden');
    const st = await stat(file).catch(() => undefined);
    // Client-side routes fall back to the app shell; missing assets are real 404s.
    if (!st || st.isDirectory()) {
      if (rel.startsWith('/assets/')) return sendText(res, 404, 'not found');
      file = path.join(root, 'index.html');
    }
    const body = await readFile(file).catch(() => undefined);
    if (!body) return sendText(res, 503, 'The UI is not built: run `npm run build -w ui`.');
    const ext = path.extname(file);
    res.writeHead(200, {
      'Content-Type': TYPES[ext] ?? 'application/octet-stream',
      // Vite fingerprints asset names; the shell must be revalidated.
      'Cache-Control': file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-store',
      ...SECURITY_HEADERS,
    });
    res.end(body);
  };

  // The router: every path here is behind the token check in `handle` (tests enumerate API_ROUTES).
  const routes: Record<ApiRoute, (res: ServerResponse) => void | Promise<void>> = {
    '/api/topology': (res) => {
      const t = opts.topology();
      return t ? sendJson(res, 200, t) : sendJson(res, 404, { error: 'no topology yet' });
    },
    '/api/identities': (res) => {
      const t = opts.topology();
      return sendJson(res, 200, t ? identitiesFromTopology(t) : []);
    },
    '/api/status': (res) => sendJson(res, 200, { version: PROTOCOL_VERSION, status: status(), capabilities: opts.source.capabilities() } satisfies StatusResponse),
    '/api/lessons': (res) => sendJson(res, 200, opts.lessons ?? ({ lessons: [], problems: [] } satisfies LessonsResponse)),
    '/metrics': (res) => sendText(res, 200, metrics(), 'text/plain; version=0.0.4; charset=utf-8'),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz') return sendText(res, 200, 'ok\n');
    if (url.pathname === '/readyz') {
      const tracer = sourceStatus.tracer;
      return tracer === 'running' ? sendText(res, 200, 'ready\n') : sendText(res, 503, `not ready: tracer ${tracer}\n`);
    }
    const certProblem = clientCertProblem(req);
    if (certProblem) {
      noteRefusal(certProblem, req.socket.remoteAddress);
      return sendText(res, 403, `${certProblem}\n`);
    }
    if (!hostAllowed(req.headers.host, opts.host)) return sendText(res, 403, 'request for another host refused');
    if (!originAllowed(req.headers.origin, req.headers.host)) return sendText(res, 403, 'cross-origin request refused');
    const auth = authorised(req, url);
    if (!auth.ok) {
      if (url.pathname.startsWith('/api/') || url.pathname === '/metrics') return sendJson(res, 401, { error: 'missing or wrong token' });
      return sendText(res, 401, '<!doctype html><title>hopscope</title><body style="background:#111;color:#eee;font:24px sans-serif;padding:2em">' +
        '<h1>hopscope: token required</h1><p>Open the URL that <code>hopscope start</code> printed (it ends in <code>?token=…</code>).</p>', 'text/html; charset=utf-8');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed');
    if (auth.via === 'query' && !url.pathname.startsWith('/api/') && url.pathname !== '/metrics') {
      // Trade the token in the URL for a cookie, and drop it from the address bar and history.
      url.searchParams.delete('token');
      res.writeHead(303, { Location: url.pathname + url.search, 'Set-Cookie': tokenCookie(opts.token), 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
      return void res.end();
    }
    const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname as ApiRoute] : undefined;
    if (route) return route(res);
    if (url.pathname.startsWith('/api/')) return sendJson(res, 404, { error: `no route ${url.pathname}` });
    return serveStatic(res, url.pathname);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendText(res, 500, `internal error: ${(e as Error).message}`);
      else res.destroy();
    });
  };
  // NOTE: rejectUnauthorized is false so that the probes stay reachable without a certificate
  // (kubelet has none) and so that a refused client hears why in HTTP, not as a bare handshake
  // failure; every other route checks the certificate itself (clientCertProblem).
  const server: Server | TlsHttpServer = opts.tls
    ? createTlsServer({ ca: opts.tls.caPem, cert: opts.tls.certPem, key: opts.tls.keyPem, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, onRequest)
    : createServer(onRequest);
  if (opts.tls) {
    // A plain-HTTP request on the TLS port fails the handshake (OpenSSL: "http request"); the raw
    // socket under it is still there to say why, in plain text, before it is closed.
    const raw = new Map<string, Socket>();
    const key = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;
    server.on('connection', (s: Socket) => {
      const k = key(s);
      raw.set(k, s);
      s.once('close', () => raw.delete(k));
    });
    server.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => {
      const sock = raw.get(key(s));
      if (err.code === 'ERR_SSL_HTTP_REQUEST' && sock && !sock.destroyed) {
        refusedPlain++;
        logRefusal(`refused plain HTTP from ${s.remoteAddress ?? 'a client'}: this agent serves HTTPS only`);
        const text = 'this agent serves HTTPS only (mutual TLS): use https:// with the hub\'s client certificate\n';
        sock.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
        return;
      }
      // A client that gives up mid-handshake or rejects our certificate: counted, not logged per
      // connection (a scanner would fill the log).
      refusedCert++;
    });
  }

  // ws's own bound (4x ours) protects memory but closes 1009 with no reason; up to it, frames
  // over the protocol's limit are closed here, with one.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false });
  const alive = new WeakMap<WebSocket, boolean>();

  const refuse = (socket: Duplex, code: number, text: string): void => {
    socket.end(`HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  };

  let closing = false;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (closing) return refuse(socket, 503, 'Service Unavailable: shutting down');
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return refuse(socket, 404, 'Not Found');
    const certProblem = clientCertProblem(req);
    if (certProblem) {
      noteRefusal(certProblem, req.socket.remoteAddress);
      return refuse(socket, 403, `Forbidden: ${certProblem}`);
    }
    if (!hostAllowed(req.headers.host, opts.host) || !originAllowed(req.headers.origin, req.headers.host)) return refuse(socket, 403, 'Forbidden');
    if (!authorised(req, url).ok) return refuse(socket, 401, 'Unauthorized');
    if (wss.clients.size >= (opts.maxClients ?? 100)) {
      refusedFull++;
      return refuse(socket, 503, 'Service Unavailable: too many clients');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const id = fanout.addClient(ws);
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      ws.on('message', (data, isBinary) => {
        // An exception thrown here would reach ws's emitter and end the process: one client's frame never may.
        try {
          if (isBinary) {
            fanout.removeClient(id);
            return closeWith(ws, 1003, 'binary frames are not accepted');
          }
          if ((data as Buffer).length > MAX_CLIENT_MESSAGE_BYTES) {
            fanout.removeClient(id);
            return closeWith(ws, 1009, `message over ${MAX_CLIENT_MESSAGE_BYTES} bytes`);
          }
          fanout.handleMessage(id, data.toString());
        } catch (e) {
          fanout.failClient(id, e);
          closeWith(ws, 1011, 'internal error');
        }
      });
      ws.on('close', () => fanout.removeClient(id));
      // maxPayload overruns and protocol errors arrive here; ws closes the socket itself.
      ws.on('error', () => fanout.removeClient(id));
    });
  });

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, opts.pingMs ?? 15_000);
  const statusTimer = setInterval(() => fanout.broadcast({ type: 'status', status: status() }), opts.statusMs ?? 1000);

  // A start that fails (port in use, the source would not start) leaves nothing running: the
  // timers alone kept the process alive after its error was printed.
  const abandon = async (): Promise<void> => {
    clearInterval(pinger);
    clearInterval(statusTimer);
    fanout.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await abandon();
    throw e;
  }
  fanout.start();
  let statusReady = false;
  const recorder: Recorder | undefined = opts.record
    ? startRecorder(opts.record, {
        topology: () => {
          const t = opts.topology();
          return t ? { topology: t, identities: identitiesFromTopology(t) } : null;
        },
        status: () => (statusReady ? status() : null),
      })
    : undefined;
  try {
    await opts.source.start({
      onJourney: (j: Journey) => {
        recorder?.journey(j);
        fanout.publish(j);
      },
      onStatus: (s) => {
        sourceStatus = s;
      },
    });
  } catch (e) {
    recorder?.close(`source failed: ${(e as Error).message}`);
    await opts.source.stop().catch(() => undefined);
    await abandon();
    throw e;
  }
  sourceStatus = opts.source.status();
  statusReady = true;

  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closed: Promise<void> | undefined;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${hostForUrl}:${port}/`,
    port,
    fanout,
    status,
    setTls(m) {
      if (!opts.tls) throw new Error('this server was started without TLS');
      (server as TlsHttpServer).setSecureContext({ ca: m.caPem, cert: m.certPem, key: m.keyPem });
      tls = m;
      reloads++;
    },
    close() {
      closed ??= (async () => {
        // NOTE: upgrades are refused before the clients are closed. A browser reconnects as soon
        // as its socket closes; one that upgraded while the source stopped was never closed,
        // and wss.close() waited for it for ever (Ctrl-C on `start` with the UI open hung).
        closing = true;
        clearInterval(pinger);
        clearInterval(statusTimer);
        fanout.stop();
        const clientsGone = new Promise<void>((resolve) => wss.close(() => resolve()));
        for (const ws of wss.clients) closeWith(ws, 1001, 'agent shutting down');
        await opts.source.stop().catch(() => undefined);
        recorder?.close('server stopped');
        // A peer that never answers the close frame would hold us for ws's 30 s close timeout.
        const stragglers = setTimeout(() => {
          for (const ws of wss.clients) ws.terminate();
        }, CLOSE_GRACE_MS);
        await clientsGone;
        clearTimeout(stragglers);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closed;
    },
  };
}
