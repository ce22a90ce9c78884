// The hub's JourneySource: connects to every discovered agent, merges their streams and
// stitches cross-node journeys, so the ordinary server (UI, /ws, auth, per-client filters)
// serves the whole cluster. Agents that go away are reconnected with backoff; their lanes are
// marked missing in the meantime.
import type { Journey } from '../protocol/events.ts';
import type { FilterUnion } from '../server/filter.ts';
import type { JourneySource, SourceSink, SourceStatus } from '../server/source.ts';
import { connectAgent, type AgentLink, type AgentLinkInfo, type AgentLinkOptions } from './agent-client.ts';
import type { AgentEndpoint, Discovery } from './discovery.ts';
import type { Transport } from '../protocol/messages.ts';
import { isLoopbackHost } from '../server/config.ts';
import { tlsSummary, type TlsMaterial } from '../tls/material.ts';
import { createStitcher, type AgentLiveness, type Stitcher, type StitcherStats } from './stitch.ts';

/** Options of the hub source. */
export interface HubSourceOptions {
  discovery: Discovery;
  /** Token the agents accept. */
  token: string;
  /** Mutual TLS to https:// agents: the CA and the hub's client certificate (current material). */
  tls?: () => TlsMaterial;
  /** --insecure: plain http:// to agents beyond loopback is allowed (else refused). */
  insecure?: boolean;
  /** How long a half waits for its other node's half (ms, default 3000). */
  stitchWaitMs?: number;
  maxHeld?: number;
  tickMs?: number;
  link?: Pick<AgentLinkOptions, 'minBackoffMs' | 'maxBackoffMs' | 'staleMs'>;
  log?: (line: string) => void;
}

/** The hub source, with what `/api/status` shows about the agents. */
export interface HubSource extends JourneySource {
  agents(): AgentLinkInfo[];
  /** Rotated certificates: replace every live link, without a gap. */
  relinkAll(): void;
  stitchStats(): StitcherStats;
}

/** Agents on one host share one kernel clock (the lab); agents on separate nodes do not. */
export function sameHost(a: AgentEndpoint | undefined, b: AgentEndpoint | undefined): boolean {
  return !!a && !!b && new URL(a.url).hostname === new URL(b.url).hostname;
}

/** Plain HTTP to an agent beyond loopback (URL hosts bracket IPv6 addresses: "[::1]"). */
function plainBeyondLoopback(u: URL): boolean {
  return u.protocol === 'http:' && !isLoopbackHost(u.hostname.replace(/^\[|\]$/g, ''));
}

/** Why the hub will not connect to this agent, or undefined: plain HTTP beyond loopback needs --insecure, https needs certificates. Pure. */
export function linkRefusal(ep: AgentEndpoint, o: { tls: boolean; insecure: boolean }): string | undefined {
  const u = new URL(ep.url);
  if (u.protocol === 'https:' && !o.tls) return 'an https:// agent needs the hub\'s certificates: give --tls-dir (ca.crt, hub.crt, hub.key)';
  if (plainBeyondLoopback(u) && !o.insecure)
    return 'plain http:// to an agent beyond loopback would carry the token and every journey in clear: use https:// agents (--tls-dir), or --insecure';
  return undefined;
}

/** How the hub reaches its agents, for /api/status (red in the UI when insecure). Pure. */
export function hubTransport(agents: AgentEndpoint[], tls: TlsMaterial | undefined, reloads: number, nowMs: number): Transport {
  const plain = agents.filter((a) => plainBeyondLoopback(new URL(a.url)));
  if (plain.length > 0) return { mode: 'insecure', detail: `INSECURE: plain HTTP to ${plain.map((a) => a.name).join(', ')} (--insecure): the token and every journey cross the network in clear` };
  if (tls) {
    const sum = tlsSummary(tls, nowMs);
    return { mode: 'mtls', detail: `mutual TLS to the agents as ${sum.identity}, certificate expires ${sum.certExpires}${sum.expired ? ' (EXPIRED)' : ''}`, certExpires: sum.certExpires, caExpires: sum.caExpires, expired: sum.expired, reloads };
  }
  return { mode: 'loopback', detail: 'plain HTTP to agents on loopback' };
}

/** Sum the agents' statuses into the hub's. */
export function mergeStatuses(agents: AgentLinkInfo[]): SourceStatus {
  const up = agents.filter((a) => a.state === 'up');
  const statuses = up.map((a) => a.status).filter((s) => s !== undefined);
  const versions = [...new Set(statuses.map((s) => s.bpftraceVersion).filter((v): v is string => !!v))];
  const dropped: Record<string, number> = {};
  let eventsIn = 0;
  let lostEvents = 0;
  let restarts = 0;
  let suppressed = 0;
  for (const s of statuses) {
    eventsIn += s.counters.eventsIn;
    lostEvents += s.counters.lostEvents;
    restarts += s.counters.bpftraceRestarts;
    suppressed += s.sampling.suppressed;
    for (const [k, v] of Object.entries(s.counters.dropped)) dropped[`agent-${k}`] = (dropped[`agent-${k}`] ?? 0) + v;
  }
  dropped['agent-missed'] = agents.reduce((n, a) => n + a.missed, 0);
  const down = agents.filter((a) => a.state !== 'up').map((a) => a.name);
  const first = statuses[0];
  return {
    tracer: up.length > 0 ? 'running' : agents.length > 0 ? 'unavailable' : 'starting',
    probeSet: first?.probeSet ?? null,
    bpftraceVersion: versions.length ? versions.join(', ') : null,
    sampling: first ? { ...first.sampling, suppressed } : { enabled: false, description: 'no agent connected', suppressed: 0 },
    counters: { eventsIn, lostEvents, bpftraceRestarts: restarts, dropped },
    message: `hub: ${up.length}/${agents.length} agents up${down.length ? `; down: ${down.join(', ')}` : ''}`,
  };
}

/** Create the hub source. */
export function hubSource(opts: HubSourceOptions): HubSource {
  const log = opts.log ?? (() => {});
  const links = new Map<string, { ep: AgentEndpoint; link: AgentLink }>();
  let sink: SourceSink | undefined;
  let timer: NodeJS.Timeout | undefined;

  const liveness = (node: string): AgentLiveness => {
    const l = links.get(node);
    if (!l) return 'unknown';
    return l.link.info().state === 'up' ? 'up' : 'down';
  };
  const stitcher: Stitcher = createStitcher({
    waitMs: opts.stitchWaitMs ?? 3000,
    maxHeld: opts.maxHeld ?? 4096,
    agentOf: liveness,
    sameClock: (a, b) => sameHost(links.get(a)?.ep, links.get(b)?.ep),
  });
  const emit = (js: Journey[]) => {
    for (const j of js) sink?.onJourney(j);
  };
  const agents = () => [...links.values()].map((l) => l.link.info());
  let relinks = 0;
  const status = (): SourceStatus => ({ ...mergeStatuses(agents()), transport: hubTransport([...links.values()].map((l) => l.ep), opts.tls?.(), relinks, Date.now()) });

  const reconcile = (want: AgentEndpoint[]) => {
    const names = new Set(want.map((a) => a.name));
    for (const [name, l] of links) {
      const next = want.find((a) => a.name === name);
      if (next && next.url === l.ep.url) continue;
      l.link.close();
      links.delete(name);
      if (!names.has(name)) log(`agent ${name} left (${l.ep.url})`);
    }
    for (const ep of want) {
      if (links.has(ep.name)) continue;
      log(`agent ${ep.name} at ${ep.url}`);
      const refusal = linkRefusal(ep, { tls: !!opts.tls, insecure: !!opts.insecure });
      if (refusal) log(`agent ${ep.name} at ${ep.url} refused: ${refusal}`);
      const link = connectAgent(ep, {
        token: opts.token,
        ...(opts.tls ? { tls: opts.tls } : {}),
        ...(refusal ? { refuse: refusal } : {}),
        ...opts.link,
        onJourney: (agent, j) => emit(stitcher.push(agent, j, Date.now())),
        onState: (agent, s) => {
          log(`agent ${agent} ${s}${s === 'down' ? ` (${links.get(agent)?.link.info().lastError ?? 'closed'})` : ''}`);
          sink?.onStatus(status());
        },
      });
      links.set(ep.name, { ep, link });
    }
  };

  return {
    agents,
    relinkAll() {
      relinks++;
      for (const l of links.values()) l.link.relink();
    },
    stitchStats: () => stitcher.stats(),
    async start(s) {
      sink = s;
      timer = setInterval(() => {
        emit(stitcher.tick(Date.now()));
        sink?.onStatus(status());
      }, opts.tickMs ?? 200);
      timer.unref();
      log(`finding agents: ${opts.discovery.describe}`);
      await opts.discovery.start(reconcile);
    },
    // NOTE: the hub asks every agent for everything and filters per browser itself: narrowing
    // the agents' kernels for one browser would cut journeys out of another's view.
    setFilter(_u: FilterUnion) {},
    status,
    capabilities: () => ({ mode: 'hub', discovery: opts.discovery.describe, agents: agents(), stitch: stitcher.stats() }),
    async stop() {
      clearInterval(timer);
      await opts.discovery.stop();
      for (const l of links.values()) l.link.close();
      links.clear();
      emit(stitcher.flush());
    },
  };
}
