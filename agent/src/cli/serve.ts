// `hopscope serve`: trace this node of a real cluster (names from the Kubernetes API) and serve
// the UI. No lab: the traffic buttons are not offered.
import type { Command } from './command.ts';
import { checkPrerequisites, refusalMessage } from '../tracer/preflight.ts';
import { parseServerArgs, openUrl } from '../server/config.ts';
import { startServer } from '../server/http.ts';
import { pipelineSource } from '../server/pipeline-source.ts';
import { k8sTopology } from '../server/k8s-topology.ts';
import { UI_DIST } from './start.ts';
import { AGENT_FLAGS_HELP, parseAgentFlags, scopeInodes } from '../hubmode/agent-flags.ts';
import { readLabState } from '../lab/state.ts';
import { stopOnSignal } from './until-signal.ts';

const USAGE = `usage: hopscope serve [options]

Traces this node and serves the UI; pods, Services and nodes are named from the Kubernetes API.

  --kubeconfig <file> cluster credentials (default: in-cluster, $KUBECONFIG, ~/.kube/config)
  --host <ip>         address to bind (default 127.0.0.1)
  --port <n>          port (default 7070)
  --token <t>         access token (default: $HOPSCOPE_TOKEN, else a random one)
  --ui <dir>          built UI (default ui/dist)
${AGENT_FLAGS_HELP}
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
    const problems = await checkPrerequisites();
    if (problems.length > 0) {
      console.error(refusalMessage('serve', problems));
      return 1;
    }
    const log = (l: string) => console.error(`hopscope: ${l}`);
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
    const server = await startServer({
      host: cfg.host,
      port: cfg.port,
      token: cfg.token,
      uiDir: cfg.uiDir,
      source: pipelineSource({
        ...(kubeconfig ? { kubeconfigPath: kubeconfig } : {}),
        ...(agent.lab ? { lab: agent.lab } : {}),
        ...(agent.procRoot ? { procRoot: agent.procRoot } : {}),
        ...(agent.node ? { nodeName: agent.node } : {}),
        ...(netns.length > 0 ? { filter: { netns } } : {}),
        log,
      }),
      topology: () => topo.get(),
      lab: null,
    });
    console.log(`hopscope is up: ${openUrl(server.url, cfg.token)}`);
    return stopOnSignal(log, () => {
      topo.stop();
      return server.close();
    });
  },
};
