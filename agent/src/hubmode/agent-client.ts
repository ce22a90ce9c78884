// The hub's connection to one agent: a websocket client speaking protocol v1 (hello, subscribe to
// everything), every frame validated, reconnecting with backoff when the agent goes away. An
// agent that says nothing for `staleMs` (it sends status every second) is treated as gone.
import WebSocket from 'ws';
import { closeWith } from '../protocol/close-reason.ts';
import { MATCH_ALL, PROTOCOL_VERSION, parseServerMessage, type AgentStatus } from '../protocol/messages.ts';
import type { Journey } from '../protocol/events.ts';
import type { AgentEndpoint } from './discovery.ts';

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
}

/** A live link; `close` stops reconnecting. */
export interface AgentLink {
  info(): AgentLinkInfo;
  close(): void;
}

/** Connect to an agent and keep connecting. */
export function connectAgent(ep: AgentEndpoint, opts: AgentLinkOptions): AgentLink {
  const info: AgentLinkInfo = { name: ep.name, url: ep.url, state: 'connecting', connects: 0, journeys: 0, missed: 0, frames: 0, invalidFrames: 0, frameErrors: 0 };
  const minB = opts.minBackoffMs ?? 250;
  const maxB = opts.maxBackoffMs ?? 5000;
  const staleMs = opts.staleMs ?? 5000;
  let ws: WebSocket | undefined;
  let closed = false;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;

  const setState = (s: LinkState) => {
    if (info.state === s) return;
    info.state = s;
    opts.onState?.(ep.name, s);
  };

  const armWatchdog = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      info.lastError = `no message for ${staleMs} ms`;
      ws?.terminate();
    }, staleMs);
  };

  const schedule = () => {
    if (closed) return;
    const delay = Math.min(maxB, minB * 2 ** attempt++) * (0.8 + Math.random() * 0.4);
    retry = setTimeout(open, delay);
  };

  function open(): void {
    if (closed) return;
    const url = new URL('ws', ep.url.replace(/^http/, 'ws'));
    const sock = new WebSocket(url, { headers: { Authorization: `Bearer ${opts.token}` }, perMessageDeflate: false, handshakeTimeout: 5000, maxPayload: MAX_AGENT_FRAME_BYTES });
    ws = sock;
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
          setState('up');
          break;
        case 'status':
          info.status = msg.status;
          break;
        case 'batch':
          for (const j of msg.journeys) {
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
    sock.on('unexpected-response', (_req, res) => {
      info.lastError = `HTTP ${res.statusCode}${res.statusCode === 401 ? ' (wrong token?)' : ''}`;
      sock.terminate();
    });
    sock.on('error', (e) => {
      info.lastError = e.message;
    });
    sock.on('close', () => {
      clearTimeout(watchdog);
      if (ws === sock) ws = undefined;
      setState('down');
      schedule();
    });
  }

  open();
  return {
    info: () => ({ ...info }),
    close() {
      closed = true;
      clearTimeout(retry);
      clearTimeout(watchdog);
      ws?.terminate();
    },
  };
}
