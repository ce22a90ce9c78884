// `hopscope hub`: connect to every node's agent, stitch cross-node journeys, serve the UI for
// the whole cluster. `hopscope hub trace`: the CLI view streamed from a hub.
import type { Command } from './command.ts';
import { SERVER_FLAGS, SERVER_FLAGS_HELP, openUrl, parseServerArgs, readTokenFile, serverWarnings, tokenOf, tokenWarning } from '../server/config.ts';
import { CLUSTER_FALLBACKS } from '../identity/cluster-source.ts';
import { startServer } from '../server/http.ts';
import { hostname } from 'node:os';
import { RECORD_FLAGS_HELP } from '../config/record-flags.ts';
import { k8sTopology } from '../server/k8s-topology.ts';
import { validateToken } from '../server/auth.ts';
import { UI_DIST } from './start.ts';
import { AGENT_DISCOVERY_DEFAULTS, k8sDiscovery, parseAgentList, staticDiscovery, type Discovery } from '../hubmode/discovery.ts';
import { hubSource } from '../hubmode/hub-source.ts';
import { REMOTE_TRACE_FLAGS, remoteTrace, remoteTraceArgs } from '../hubmode/remote-trace.ts';
import { int, parseFlags, pattern, toggle, UsageError, value, type Spec } from '../config/flags.ts';
import { tlsSummary, watchTlsDir, type TlsWatch } from '../tls/material.ts';
import { stopOnSignal } from './until-signal.ts';

const USAGE = `usage: hopscope hub [options]
       hopscope hub trace --url <hub url> [--token-file <f>] [filter] [--json | --oneline] [--count N] [--duration S]

Connects to the agent on every node, stitches journeys that cross nodes (the packet leaving one
node and arriving at the other become one journey with both lanes) and serves the UI.

Finding agents (default: the agent DaemonSet's pods through the Kubernetes API):
  --agents <name=url,...>  a fixed list instead, e.g. node-1=http://10.0.0.1:4780
  --agent-namespace <ns>   namespace of the agent pods (default ${AGENT_DISCOVERY_DEFAULTS.namespace})
  --agent-selector <sel>   label selector (default ${AGENT_DISCOVERY_DEFAULTS.labelSelector})
  --agent-port <n>         port the agents listen on (default ${AGENT_DISCOVERY_DEFAULTS.port})
  --agent-token-file <f>   token of the agents, from a file (default: the hub's own token)
  --agent-token <t>        the same on the command line (readable in ps)
  --stitch-wait-ms <n>     how long half a journey waits for the other node's half (default 3000)
  --tls-dir <dir>          mutual TLS to the agents: ca.crt, hub.crt, hub.key (the mounted Secret;
                           re-read when it changes). Agents found through the API are then https://,
                           and each must present a certificate of that CA naming its node
  --insecure               allow plain http:// agents beyond loopback (token and journeys in clear)

Serving:
  --kubeconfig <file>      cluster credentials (default: ${CLUSTER_FALLBACKS})
${SERVER_FLAGS_HELP}
${RECORD_FLAGS_HELP}

trace: the token from --token-file <f>, else $HOPSCOPE_TOKEN (--token <t> works, readable in ps)
trace filter: -n <ns>, --pod <name>, --service <name>, --port <n>, --proto tcp|udp|icmp, --only-drops, --only-nat`;

/** Flags of `hopscope hub` (the rest go to the server parser). */
export interface HubFlags {
  agents?: string;
  namespace: string;
  selector: string;
  port: number;
  agentToken?: string;
  /** --agent-token was given on the command line (worth the same warning as --token). */
  agentTokenFromFlag: boolean;
  waitMs: number;
  tlsDir?: string;
  insecure: boolean;
  rest: string[];
}

const HUB_FLAGS = {
  agents: value(),
  'agent-namespace': pattern(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a namespace name'),
  'agent-selector': pattern(/^[-A-Za-z0-9_./=!,() ]{1,300}$/, 'a label selector'),
  'agent-port': int(1, 65535),
  'agent-token': value(validateToken),
  'agent-token-file': value(),
  'stitch-wait-ms': int(100, 60_000),
  'tls-dir': value(),
  insecure: toggle(),
} satisfies Spec;

function tokenFromFile(flag: string, path: string): string {
  try {
    return readTokenFile(path);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/** Pull the hub flags out of argv; the server's flags are left in `rest`. Throws Error naming the flag. */
export function parseHubFlags(argv: string[]): HubFlags {
  const { values: v, rest } = parseFlags(argv, HUB_FLAGS, { forward: SERVER_FLAGS });
  if (v['agent-token'] && v['agent-token-file']) throw new UsageError('--agent-token and --agent-token-file: choose one');
  return {
    ...(v.agents ? { agents: v.agents } : {}),
    namespace: v['agent-namespace'] ?? AGENT_DISCOVERY_DEFAULTS.namespace,
    selector: v['agent-selector'] ?? AGENT_DISCOVERY_DEFAULTS.labelSelector,
    port: v['agent-port'] ?? AGENT_DISCOVERY_DEFAULTS.port,
    ...(v['agent-token'] ? { agentToken: v['agent-token'] } : v['agent-token-file'] ? { agentToken: tokenFromFile('--agent-token-file', v['agent-token-file']) } : {}),
    agentTokenFromFlag: v['agent-token'] !== undefined,
    waitMs: v['stitch-wait-ms'] ?? 3000,
    ...(v['tls-dir'] ? { tlsDir: v['tls-dir'] } : {}),
    insecure: v.insecure ?? false,
    rest,
  };
}

const HUB_TRACE_FLAGS = {
  ...REMOTE_TRACE_FLAGS,
  url: pattern(/^https?:\/\/[^/?#]+\/?$/, 'http://host:port/'),
  token: value(validateToken),
  'token-file': value(),
} satisfies Spec;

async function traceCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, HUB_TRACE_FLAGS);
  const t = remoteTraceArgs(values);
  const url = values.url;
  const { token, from } = tokenOf(values, process.env);
  if (!url) throw new UsageError('--url <hub url> is required');
  if (!token) throw new UsageError('--token-file (or $HOPSCOPE_TOKEN) is required');
  const warning = tokenWarning(from);
  if (warning) console.error(`hopscope: ${warning}`);
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const n = await remoteTrace({
      url: url.endsWith('/') ? url : `${url}/`,
      token,
      filter: t.filter,
      format: t.format,
      ...(t.count ? { count: t.count } : {}),
      ...(t.durationS ? { durationS: t.durationS } : {}),
      write: (s) => process.stdout.write(s),
      onSubscribed: () => console.error(`hopscope: following ${url}`),
      signal: ac.signal,
    });
    console.error(`hopscope: ${n} journeys`);
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export const command: Command = {
  summary: 'connect to every node\'s agent, stitch cross-node journeys, serve the UI',
  async run(args: string[]): Promise<number> {
    if (args[0] === 'trace') return traceCommand(args.slice(1));
    const hub = parseHubFlags(args);
    const cfg = parseServerArgs(hub.rest, process.env, { uiDir: UI_DIST, port: 7070 }, 'serve');
    if (cfg.help) {
      console.log(USAGE);
      return 0;
    }
    const log = (l: string) => console.error(`hopscope hub: ${l}`);
    serverWarnings(cfg).forEach(log);
    if (hub.agentTokenFromFlag && cfg.tokenFrom !== 'flag') log(tokenWarning('flag')!.replace('--token', '--agent-token'));
    if (hub.tlsDir && hub.insecure) throw new UsageError('--tls-dir and --insecure: choose one');
    // The watch starts before the source exists (a bad folder is refused before anything runs).
    const live: { source?: ReturnType<typeof hubSource> } = {};
    let tlsWatch: TlsWatch | undefined;
    if (hub.tlsDir) {
      try {
        tlsWatch = watchTlsDir(hub.tlsDir, { kind: 'hub' }, {
          onChange: (m) => {
            log(`certificates rotated: now ${tlsSummary(m, Date.now()).certExpires} (${m.fingerprint.slice(0, 16)}); relinking every agent`);
            live.source?.relinkAll();
          },
          onError: log,
        });
      } catch (e) {
        throw new UsageError(`--tls-dir: ${(e as Error).message}`);
      }
      const sum = tlsSummary(tlsWatch.current(), Date.now());
      log(`mutual TLS to the agents as ${sum.identity}: certificate expires ${sum.certExpires}, CA ${sum.caExpires}${sum.expired ? ' — EXPIRED: agents will refuse the hub' : ''}`);
    }
    const discovery: Discovery = hub.agents
      ? staticDiscovery(parseAgentList(hub.agents))
      : k8sDiscovery({ ...(cfg.kubeconfig ? { kubeconfigPath: cfg.kubeconfig } : {}), namespace: hub.namespace, labelSelector: hub.selector, port: hub.port, scheme: tlsWatch ? 'https' : 'http', log });
    const topo = k8sTopology(cfg.kubeconfig);
    // The hub still stitches without the topology view (it only feeds /api/topology).
    await topo.ready.catch((e: unknown) => log(`cannot list the cluster for the topology view: ${(e as Error).message}`));
    const watch = tlsWatch;
    const source = (live.source = hubSource({
      discovery,
      token: hub.agentToken ?? cfg.token,
      stitchWaitMs: hub.waitMs,
      ...(watch ? { tls: () => watch.current() } : {}),
      insecure: hub.insecure,
      log,
    }));
    const server = await startServer({
      host: cfg.host,
      port: cfg.port,
      token: cfg.token,
      uiDir: cfg.uiDir,
      source,
      topology: () => topo.get(),
      lab: null,
      ...(cfg.record ? { record: { ...cfg.record, source: `the hub on ${hostname()}, hopscope hub` } } : {}),
    });
    // Handlers first, then the line that says the hub is up (a SIGINT sent on reading it).
    const stopped = stopOnSignal(log, () => {
      tlsWatch?.stop();
      topo.stop();
      return server.close();
    });
    console.log(`hopscope hub is up: ${openUrl(server.url, cfg.token)}`);
    return stopped;
  },
};
