// The CLI view streamed from a hub (or an agent): a protocol v1 websocket client that prints
// journeys as `hopscope trace` does. Used by `hopscope hub trace` and `kubectl hopscope trace`.
import WebSocket from 'ws';
import { PROTOCOL_VERSION, clientFilterSchema, parseServerMessage, type ClientFilter } from '../protocol/messages.ts';
import type { Journey } from '../protocol/events.ts';
import { renderJson, renderOneLine, renderStory } from '../journeys/story.ts';

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

/** Flags of the remote trace (filter and output); the rest is returned. Throws Error. */
export function parseRemoteTraceArgs(args: string[]): { filter: ClientFilter; format: RemoteFormat; count?: number; durationS?: number; rest: string[] } {
  const raw: Record<string, unknown> = {};
  let format: RemoteFormat = 'story';
  let count: number | undefined;
  let durationS: number | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = (v: string, max: number): number => {
      if (!/^\d{1,9}$/.test(v) || Number(v) < 1 || Number(v) > max) throw new Error(`${flag}: expected a number 1-${max}, got "${v.slice(0, 20)}"`);
      return Number(v);
    };
    switch (flag) {
      case '-n':
      case '--namespace': raw.namespace = value(); break;
      case '--pod': raw.pod = value(); break;
      case '--service': raw.service = value(); break;
      case '--port': raw.port = int(value(), 65535); break;
      case '--proto': raw.proto = value(); break;
      case '--only-drops': raw.onlyDrops = true; break;
      case '--only-nat': raw.onlyNat = true; break;
      case '--json': format = 'json'; break;
      case '--oneline': format = 'oneline'; break;
      case '--count': count = int(value(), 1_000_000_000); break;
      case '--duration': durationS = int(value(), 86_400); break;
      default: rest.push(a);
    }
  }
  const r = clientFilterSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`filter: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return { filter: r.data, format, ...(count ? { count } : {}), ...(durationS ? { durationS } : {}), rest };
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
      ws.close(1000, 'done');
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
    ws.on('message', (data) => {
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
    });
    ws.on('close', () => {
      clearTimeout(timer);
      resolve(printed);
    });
  });
}
