// The hub's connection to one agent: a websocket client speaking protocol v1 (hello, subscribe to
// everything), every frame validated, reconnecting with backoff when the agent goes away. An
// agent that says nothing for `staleMs` (it sends status every second) is treated as gone.
import WebSocket from 'ws';
import { closeWith } from '../protocol/close-reason.ts';
import { MATCH_ALL, PROTOCOL_VERSION, parseServerMessage, type AgentStatus } from '../protocol/messages.ts';
import type { Journey } from '../protocol/events.ts';
import type { AgentEndpoint } from './discovery.ts';
import { describeTlsFailure, identityMismatch, type TlsMaterial } from '../tls/material.ts';
import type { PeerCertificate, TLSSocket } from 'node:tls';

/**
 * Most bytes in one frame from an agent (ws closes the link 1009 past it, and it reconnects). An
 * agent's batches hold at most 500 journeys (its fan-out's maxBatch): far below this.
 */
export const MAX_AGENT_FRAME_BYTES = 32 * 1024 * 1024;

/** Connection state of one agent. */
export type LinkState = 'connecting' | 'up' | 'down';

/** What the hub knows about one agent. */
export interface AgentLinkInfo {
  name: string;
  url: string;
  state: LinkState;
  /** Times a connection was established. */
  connects: number;
  journeys: number;
  /** Journeys the agent told us it dropped for this (slow) client. */
  missed: number;
  /** Frames received, valid or not. */
  frames: number;
  /** Frames dropped as invalid (binary, not JSON, not protocol v1). */
  invalidFrames: number;
  /** Connections closed (1011) because handling a frame threw. */
  frameErrors: number;
  lastError?: string;
  status?: AgentStatus;
  /** Over mutual TLS: the agent's certificate as last seen (the node it names, its expiry). */
  tls?: { identity: string; certExpires: string };
  /** Times the link was replaced by one with rotated certificates, without a gap. */
  relinks: number;
}

/** Options of one agent link. */
export interface AgentLinkOptions {
  token: string;
  onJourney(agent: string, j: Journey): void;
  onState?(agent: string, state: LinkState): void;
  /** Reconnect backoff (ms). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** No frame for this long: the agent is gone (ms). */
  staleMs?: number;
  /**
   * Mutual TLS to an https:// agent: the CA and the hub's client certificate, read at each
   * connection (rotated material applies to the next one). The agent must present a
   * certificate of that CA naming the node `ep.name`.
   */
  tls?: () => TlsMaterial;
  /** Never connect, and say why (a plain-HTTP agent beyond loopback without --insecure). */
  refuse?: string;
}

/** Journey ids remembered to drop the copies two overlapping links deliver during a relink. */
const RECENT_IDS = 8192;

/** A live link; `close` stops reconnecting. */
export interface AgentLink {
  info(): AgentLinkInfo;
  /**
   * Open a second link (with the current certificates) and, once the agent has welcomed it,
   * close the first: no journey is lost in between (copies seen on both are dropped by id).
   */
  relink(): void;
  close(): void;
}

/** What a failed connection to an agent was, in words. Pure. */
export function linkFailure(e: Error & { code?: string }): string {
  if (e.code && /^(CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|ERR_SSL_|ERR_TLS_)/.test(e.code)) return `TLS: ${describeTlsFailure(e.code, e.message)}`;
  return e.message;
}

/** Connect to an agent and keep connecting. */
export function connectAgent(ep: AgentEndpoint, opts: AgentLinkOptions): AgentLink {
  const info: AgentLinkInfo = { name: ep.name, url: ep.url, state: 'connecting', connects: 0, journeys: 0, missed: 0, frames: 0, invalidFrames: 0, frameErrors: 0, relinks: 0 };
  const minB = opts.minBackoffMs ?? 250;
  const maxB = opts.maxBackoffMs ?? 5000;
  const staleMs = opts.staleMs ?? 5000;
  let ws: WebSocket | undefined;
  let closed = false;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  let relinkRetry: NodeJS.Timeout | undefined;
  const socks = new Set<WebSocket>();
  const seen = new Set<string>();
  const seenOrder: string[] = [];
  const remember = (id: string): boolean => {
    if (seen.has(id)) return false;
    seen.add(id);
    seenOrder.push(id);
    if (seenOrder.length > RECENT_IDS) seen.delete(seenOrder.shift()!);
    return true;
  };

  const setState = (s: LinkState) => {
    if (info.state === s) return;
    info.state = s;
    opts.onState?.(ep.name, s);
  };

  const schedule = () => {
    if (closed) return;
    const delay = Math.min(maxB, minB * 2 ** attempt++) * (0.8 + Math.random() * 0.4);
    retry = setTimeout(() => open(undefined), delay);
  };

  const tlsOptions = (url: URL) => {
    if (url.protocol !== 'wss:' || !opts.tls) return {};
    const m = opts.tls();
    return {
      ca: m.caPem,
      cert: m.certPem,
      key: m.keyPem,
      // The agent is known by the node it traces, not by its address (which changes with the node).
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
        const wrong = identityMismatch(ep.name, cert.subjectaltname, `agent ${ep.name}'s`);
        return wrong ? Object.assign(new Error(wrong), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }) : undefined;
      },
    };
  };

  /** Connect; with `replacing`, this link takes over from that one once welcomed. */
  function open(replacing: WebSocket | undefined): void {
    if (closed) return;
    const url = new URL('ws', ep.url.replace(/^http/, 'ws'));
    const sock = new WebSocket(url, {
      headers: { Authorization: `Bearer ${opts.token}` },
      perMessageDeflate: false,
      handshakeTimeout: 5000,
      maxPayload: MAX_AGENT_FRAME_BYTES,
      ...tlsOptions(url),
    });
    socks.add(sock);
    if (!replacing) {
      ws = sock;
      // A new agent process numbers its journeys from j1 again: ids from before mean nothing.
      seen.clear();
      seenOrder.length = 0;
    }
    let watchdog: NodeJS.Timeout | undefined;
    const armWatchdog = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        if (ws === sock) info.lastError = `no message for ${staleMs} ms`;
        sock.terminate();
      }, staleMs);
    };
    sock.on('upgrade', (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate?.();
      if (peer?.valid_to) info.tls = { identity: ep.name, certExpires: new Date(Date.parse(peer.valid_to)).toISOString() };
    });
    sock.on('open', () => {
      attempt = 0;
      info.connects++;
      sock.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION }));
      sock.send(JSON.stringify({ type: 'subscribe', filter: MATCH_ALL }));
      armWatchdog();
    });
    const onFrame = (data: WebSocket.RawData, isBinary: boolean): void => {
      info.frames++;
      armWatchdog();
      if (isBinary) {
        info.invalidFrames++;
        return;
      }
      const m = parseServerMessage(data.toString());
      if (!m.ok) {
        info.invalidFrames++;
        info.lastError = `agent sent ${m.reason}`;
        return;
      }
      const msg = m.message;
      switch (msg.type) {
        case 'welcome':
          info.status = msg.status;
          delete info.lastError;
          if (replacing && ws === replacing) {
            // Both links are subscribed now: the old one may go.
            ws = sock;
            info.relinks++;
            closeWith(replacing, 1000, 'certificates rotated');
          }
          setState('up');
          break;
        case 'status':
          info.status = msg.status;
          break;
        case 'batch':
          for (const j of msg.journeys) {
            if (!remember(j.id)) continue;
            info.journeys++;
            opts.onJourney(ep.name, j);
          }
          break;
        case 'missed':
          info.missed += msg.count;
          break;
        case 'error':
          info.lastError = msg.reason;
          break;
        case 'actionResult':
        case 'topologyChanged':
          break;
        default: {
          const never: never = msg;
          return never;
        }
      }
    };
    sock.on('message', (data, isBinary) => {
      // An exception thrown here would reach ws's emitter and end the hub: one agent's frame
      // costs that agent's connection (it reconnects), nothing more.
      try {
        onFrame(data, isBinary);
      } catch (e) {
        info.frameErrors++;
        info.lastError = `handling a frame failed: ${(e as Error).message}`;
        closeWith(sock, 1011, info.lastError);
      }
    });
    let answered = false;
    sock.on('unexpected-response', (_req, res) => {
      answered = true;
      // The agent says why in the body (a refused client certificate, a wrong token): keep its first line.
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 300) body += d;
      });
      res.on('end', () => {
        info.lastError = `HTTP ${res.statusCode}${res.statusCode === 401 ? ' (wrong token?)' : ''}${body.trim() ? `: ${body.trim().split('\n')[0]!.slice(0, 200)}` : ''}`;
        sock.terminate();
      });
      res.on('error', () => sock.terminate());
    });
    sock.on('error', (e) => {
      // Terminating after an HTTP answer makes ws report "closed before the connection was
      // established": the answer is the reason.
      if (!answered) info.lastError = linkFailure(e);
    });
    sock.on('close', () => {
      clearTimeout(watchdog);
      socks.delete(sock);
      // A replacement that never took over, or the link it replaced: the live one carries on.
      if (ws !== sock) {
        // A replacement the agent would not take (it still has the old certificates, say):
        // the old link carries on, and the replacement is tried again.
        if (replacing && ws === replacing && !closed) {
          clearTimeout(relinkRetry);
          relinkRetry = setTimeout(() => link.relink(), maxB);
        }
        return;
      }
      ws = undefined;
      setState('down');
      schedule();
    });
  }

  if (opts.refuse) {
    info.state = 'down';
    info.lastError = `refused: ${opts.refuse}`;
  } else open(undefined);
  const link: AgentLink = {
    info: () => ({ ...info }),
    relink() {
      // Down or connecting: the next connection uses the new certificates anyway.
      if (closed || !ws || info.state !== 'up' || socks.size > 1) return;
      open(ws);
    },
    close() {
      closed = true;
      clearTimeout(retry);
      clearTimeout(relinkRetry);
      for (const s of socks) s.terminate();
      ws = undefined;
    },
  };
  return link;
}
