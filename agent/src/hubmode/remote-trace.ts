// The CLI view streamed from a hub (or an agent): a protocol v1 websocket client that prints
// journeys as `hopscope trace` does. Used by `hopscope hub trace` and `kubectl hopscope trace`.
import WebSocket from 'ws';
import { closeWith } from '../protocol/close-reason.ts';
import { PROTOCOL_VERSION, clientFilterSchema, parseServerMessage, type ClientFilter } from '../protocol/messages.ts';
import type { Journey } from '../protocol/events.ts';
import { renderJson, renderOneLine, renderStory } from '../journeys/story.ts';
import { int, parseFlags, short, toggle, value, type Spec, type Values } from '../config/flags.ts';

/** Output formats of the remote trace. */
export type RemoteFormat = 'story' | 'oneline' | 'json';

/** Options of a remote trace. */
export interface RemoteTraceOptions {
  /** Base URL of the hub, e.g. http://127.0.0.1:7070/ */
  url: string;
  token: string;
  filter: ClientFilter;
  format: RemoteFormat;
  count?: number;
  durationS?: number;
  write(text: string): void;
  /** Called once the subscription is sent. */
  onSubscribed?(): void;
  signal?: AbortSignal;
}

/** The text of one journey, with the lanes a hub could not fill said plainly. */
export function renderRemote(j: Journey, format: RemoteFormat): string {
  switch (format) {
    case 'json':
      return renderJson(j);
    case 'oneline':
      return renderOneLine(j) + (j.missingAgents?.length ? `  [missing: ${j.missingAgents.join(', ')}]` : '');
    case 'story': {
      const agents = [...new Set(j.hops.map((h) => h.agent).filter(Boolean))];
      const lines = [renderStory(j)];
      if (agents.length > 1) lines.push(`  stitched from agents ${agents.join(' + ')}`);
      if (j.missingAgents?.length) lines.push(`  lane missing: ${j.missingAgents.join(', ')} (its agent was not connected; hops there are unknown)`);
      return lines.join('\n');
    }
    default: {
      const never: never = format;
      return never;
    }
  }
}

/** Flags of the remote trace: the filter and the output. */
export const REMOTE_TRACE_FLAGS = {
  namespace: short('n', value()),
  pod: value(),
  service: value(),
  port: int(1, 65535),
  proto: value(),
  'only-drops': toggle(),
  'only-nat': toggle(),
  json: toggle(),
  oneline: toggle(),
  count: int(1, 1_000_000_000),
  duration: int(1, 86_400),
} satisfies Spec;

/** What a remote trace is asked for. */
export interface RemoteTraceArgs {
  filter: ClientFilter;
  format: RemoteFormat;
  count?: number;
  durationS?: number;
}

/** The remote trace's flag values → filter and output. Throws Error. */
export function remoteTraceArgs(v: Values<typeof REMOTE_TRACE_FLAGS>): RemoteTraceArgs {
  if (v.json && v.oneline) throw new Error('--json and --oneline: choose one');
  // The hub validates the filter with the same schema; checking here says so before connecting.
  const given = { namespace: v.namespace, pod: v.pod, service: v.service, port: v.port, proto: v.proto, onlyDrops: v['only-drops'], onlyNat: v['only-nat'] };
  const r = clientFilterSchema.safeParse(Object.fromEntries(Object.entries(given).filter(([, x]) => x !== undefined)));
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`filter: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return { filter: r.data, format: v.json ? 'json' : v.oneline ? 'oneline' : 'story', ...(v.count ? { count: v.count } : {}), ...(v.duration ? { durationS: v.duration } : {}) };
}

/** Parse the remote trace's flags (nothing else is accepted). Throws Error naming the flag. */
export function parseRemoteTraceArgs(args: string[]): RemoteTraceArgs {
  return remoteTraceArgs(parseFlags(args, REMOTE_TRACE_FLAGS).values);
}

/** Stream until count/duration/abort or the server closes; resolves with the journeys printed. */
export async function remoteTrace(o: RemoteTraceOptions): Promise<number> {
  const wsUrl = new URL('ws', o.url.replace(/^http/, 'ws'));
  const ws = new WebSocket(wsUrl, { headers: { Authorization: `Bearer ${o.token}` }, perMessageDeflate: false, handshakeTimeout: 10_000 });
  let printed = 0;
  return new Promise<number>((resolve, reject) => {
    let opened = false;
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      closeWith(ws, 1000, 'done');
      resolve(printed);
    };
    if (o.durationS) timer = setTimeout(done, o.durationS * 1000);
    o.signal?.addEventListener('abort', done, { once: true });
    ws.on('unexpected-response', (_req, res) => {
      reject(new Error(`${o.url}: HTTP ${res.statusCode}${res.statusCode === 401 ? ' (wrong token)' : ''}`));
      ws.terminate();
    });
    ws.on('error', (e) => {
      if (!opened) reject(new Error(`${o.url}: ${e.message}`));
    });
    ws.on('open', () => {
      opened = true;
      ws.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION }));
      ws.send(JSON.stringify({ type: 'subscribe', filter: o.filter }));
      o.onSubscribed?.();
    });
    const onFrame = (data: WebSocket.RawData): void => {
      const m = parseServerMessage(data.toString());
      if (!m.ok) return;
      if (m.message.type === 'error') o.write(`hopscope: server error: ${m.message.reason}\n`);
      if (m.message.type !== 'batch') return;
      for (const j of m.message.journeys) {
        if (o.count !== undefined && printed >= o.count) break;
        o.write(renderRemote(j, o.format) + '\n');
        printed++;
      }
      if (o.count !== undefined && printed >= o.count) done();
    };
    ws.on('message', (data) => {
      // Thrown from ws's emitter this would end the process with a stack trace: end the trace with a reason instead.
      try {
        onFrame(data);
      } catch (e) {
        clearTimeout(timer);
        closeWith(ws, 1011, 'frame not shown');
        reject(new Error(`${o.url}: a frame could not be shown: ${(e as Error).message}`));
      }
    });
    ws.on('close', () => {
      clearTimeout(timer);
      resolve(printed);
    });
  });
}
