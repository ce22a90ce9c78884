// The UI's one websocket to the agent: hello, subscribe, reconnect with backoff. The browser
// sends the token cookie on the same-origin upgrade. Every frame is validated before use.
import {
  PROTOCOL_VERSION,
  parseServerMessage,
  type ClientFilter,
  type ClientMessage,
  type LabAction,
} from '@hopscope/agent/protocol/messages.ts';
import type { UiAction } from '../store/reducer.ts';

export interface AgentSocket {
  subscribe(f: ClientFilter): void;
  pause(): void;
  resume(): void;
  action(id: string, a: LabAction): void;
  close(): void;
}

/** Connect and keep connected; every event goes to `dispatch`. */
export function connectAgent(dispatch: (a: UiAction) => void, getFilter: () => ClientFilter, getPaused: () => boolean): AgentSocket {
  let ws: WebSocket | undefined;
  let closed = false;
  let backoff = 500;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const send = (m: ClientMessage) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
  };

  const open = () => {
    dispatch({ type: 'connection', state: 'connecting' });
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const sock = new WebSocket(`${proto}//${location.host}/ws`);
    ws = sock;
    sock.onopen = () => {
      backoff = 500;
      sock.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION } satisfies ClientMessage));
      sock.send(JSON.stringify({ type: 'subscribe', filter: getFilter() } satisfies ClientMessage));
      if (getPaused()) sock.send(JSON.stringify({ type: 'pause' } satisfies ClientMessage));
    };
    sock.onmessage = (ev) => {
      const r = parseServerMessage(String(ev.data));
      if (r.ok) dispatch({ type: 'server', message: r.message });
      else dispatch({ type: 'invalid', reason: r.reason });
    };
    sock.onclose = (ev) => {
      dispatch({ type: 'connection', state: 'closed', reason: ev.reason || (ev.code === 1006 ? 'connection lost' : `closed (${ev.code})`) });
      if (closed) return;
      timer = setTimeout(open, backoff);
      backoff = Math.min(backoff * 2, 10_000);
    };
  };
  open();

  return {
    subscribe: (filter) => send({ type: 'subscribe', filter }),
    pause: () => send({ type: 'pause' }),
    resume: () => send({ type: 'resume' }),
    action: (id, action) => send({ type: 'action', id, action }),
    close: () => {
      closed = true;
      if (timer) clearTimeout(timer);
      ws?.close(1000, 'page closed');
    },
  };
}
