// `hopscope serve`: trace this node of a real cluster (names from the Kubernetes API) and serve
// the UI. No lab: the traffic buttons are not offered.
import type { Command } from './command.ts';
import { refusal } from '../tracer/preflight.ts';
import { isLoopbackHost, parseServerArgs, openUrl, serverWarnings, SERVER_FLAGS_HELP } from '../server/config.ts';
import { startServer } from '../server/http.ts';
import { pipelineSource } from '../server/pipeline-source.ts';
import { k8sTopology } from '../server/k8s-topology.ts';
import { UI_DIST } from './start.ts';
import { AGENT_FLAGS_HELP, agentTransportPlan, parseAgentFlags, scopeInodes } from '../hubmode/agent-flags.ts';
import { UsageError } from '../config/flags.ts';
import { tlsSummary, watchTlsDir, type TlsWatch } from '../tls/material.ts';
import { readLabState, watchLabGone } from '../lab/state.ts';
import { CLUSTER_FALLBACKS } from '../identity/cluster-source.ts';
import { stopOnSignal } from './until-signal.ts';
import { RECORD_FLAGS_HELP } from '../config/record-flags.ts';
import { hostname } from 'node:os';

const USAGE = `usage: hopscope serve [options]

Traces this node and serves the UI; pods, Services and nodes are named from the Kubernetes API.

  --kubeconfig <file>      cluster credentials (default: the lab's with --lab, else ${CLUSTER_FALLBACKS})
${SERVER_FLAGS_HELP}
${AGENT_FLAGS_HELP}
${RECORD_FLAGS_HELP}
  -h, --help`;

export const command: Command = {
  summary: 'trace this node of a real cluster and serve the UI',
  async run(args: string[]): Promise<number> {
    const agent = parseAgentFlags(args);
    const cfg = parseServerArgs(agent.rest, process.env, { uiDir: UI_DIST, port: 7070 }, 'serve');
    if (cfg.help) {
      console.log(USAGE);
      return 0;
    }
    // Decided before anything starts: beyond loopback, mutual TLS or an explicit --insecure.
    const plan = agentTransportPlan(cfg.host, agent, isLoopbackHost(cfg.host));
    if (plan.kind === 'refuse') throw new UsageError(plan.message);
    const refused = await refusal('serve');
    if (refused) {
      console.error(refused);
      return 1;
    }
    const log = (l: string) => console.error(`hopscope: ${l}`);
    serverWarnings(cfg).forEach(log);
    const nodeName = agent.node ?? process.env.NODE_NAME ?? hostname();
    // The watch starts before the server exists (a bad folder is refused before anything runs).
    const live: { server?: Awaited<ReturnType<typeof startServer>> } = {};
    let tlsWatch: TlsWatch | undefined;
    if (plan.kind === 'tls') {
      try {
        tlsWatch = watchTlsDir(plan.dir, { kind: 'agent', node: nodeName }, {
          onChange: (m) => {
            live.server?.setTls(m);
            log(`certificates rotated: now ${tlsSummary(m, Date.now()).certExpires} (${m.fingerprint.slice(0, 16)}); established connections carry on`);
          },
          onError: log,
        });
      } catch (e) {
        throw new UsageError(`--tls-dir: ${(e as Error).message}`);
      }
      const sum = tlsSummary(tlsWatch.current(), Date.now());
      log(`mutual TLS as ${sum.identity}: certificate expires ${sum.certExpires}, CA ${sum.caExpires}${sum.expired ? ' — EXPIRED: the hub will refuse this agent' : ''}`);
    } else if (plan.insecure) log(`--insecure: plain HTTP on ${cfg.host}: the token and every journey cross the network in clear`);
    // A lab on this machine: its API names things, and a scope stands for one node of it.
    const labState = agent.lab ? readLabState(agent.lab) : undefined;
    const kubeconfig = cfg.kubeconfig ?? labState?.api?.kubeconfig;
    const netns = scopeInodes(agent, labState);
    if (netns.length > 0) log(`tracing ${netns.length} network namespaces only (${agent.scopes.map((s) => `lab:${s.lab}/${s.node}`).join(', ') || 'by inode'})`);
    const topo = k8sTopology(kubeconfig);
    await topo.ready.catch((e: unknown) => {
      topo.stop();
      throw new Error(`cannot list the cluster: ${(e as Error).message}`);
    });
    const server = (live.server = await startServer({
      host: cfg.host,
      port: cfg.port,
      token: cfg.token,
      uiDir: cfg.uiDir,
      source: pipelineSource({
        ...(kubeconfig ? { kubeconfigPath: kubeconfig } : {}),
        ...(agent.lab ? { lab: agent.lab } : {}),
        ...(agent.procRoot ? { procRoot: agent.procRoot } : {}),
        ...(agent.node ? { nodeName: agent.node } : {}),
        ...(agent.kubeProxyMode ? { kubeProxyMode: agent.kubeProxyMode } : {}),
        ...(netns.length > 0 ? { filter: { netns } } : {}),
        log,
      }),
      topology: () => topo.get(),
      lab: null,
      ...(tlsWatch ? { tls: tlsWatch.current() } : {}),
      transport: () =>
        plan.kind === 'plain' && plan.insecure
          ? { mode: 'insecure', detail: `INSECURE: plain HTTP on ${cfg.host} (--insecure): the token and every journey cross the network in clear` }
          : { mode: 'loopback', detail: `plain HTTP on loopback (${cfg.host})` },
      log,
      ...(cfg.record ? { record: { ...cfg.record, source: `${agent.node ?? hostname()}${agent.lab ? ` of lab ${agent.lab}` : ''}, hopscope serve` } } : {}),
    }));
    const stop = () => {
      tlsWatch?.stop();
      topo.stop();
      return server.close();
    };
    // Handlers first, then the line that says the agent is up (a SIGINT sent on reading it).
    const stopped = stopOnSignal(log, stop);
    console.log(`hopscope is up: ${openUrl(server.url, cfg.token)}`);
    if (!agent.lab) return stopped;
    // The lab is all this agent traces: when it goes down there is nothing left to serve.
    const lab = agent.lab;
    let unwatch = () => {};
    const gone = new Promise<number>((resolve) => {
      unwatch = watchLabGone(lab, () => {
        log(`lab ${lab} went down: stopping`);
        void stop().then(() => resolve(1));
      });
    });
    return Promise.race([stopped, gone]).finally(unwatch);
  },
};
