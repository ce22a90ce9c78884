// `hopscope serve`: trace this node of a real cluster (names from the Kubernetes API) and serve
// the UI. No lab: the traffic buttons are not offered.
import type { Command } from './main.ts';
import { parseServerArgs, openUrl } from '../server/config.ts';
import { startServer } from '../server/http.ts';
import { pipelineSource } from '../server/pipeline-source.ts';
import { k8sTopology } from '../server/k8s-topology.ts';
import { UI_DIST } from './start.ts';

const USAGE = `usage: hopscope serve [options]

Traces this node and serves the UI; pods, Services and nodes are named from the Kubernetes API.

  --kubeconfig <file> cluster credentials (default: in-cluster, $KUBECONFIG, ~/.kube/config)
  --host <ip>         address to bind (default 127.0.0.1)
  --port <n>          port (default 7070)
  --token <t>         access token (default: $HOPSCOPE_TOKEN, else a random one)
  --ui <dir>          built UI (default ui/dist)
  -h, --help`;

export const command: Command = {
  summary: 'trace this node of a real cluster and serve the UI',
  async run(args: string[]): Promise<number> {
    const cfg = parseServerArgs(args, process.env, { uiDir: UI_DIST, port: 7070 }, 'serve');
    if (cfg.help) {
      console.log(USAGE);
      return 0;
    }
    const log = (l: string) => console.error(`hopscope: ${l}`);
    const topo = k8sTopology(cfg.kubeconfig);
    await topo.ready.catch((e: unknown) => {
      topo.stop();
      throw new Error(`cannot list the cluster: ${(e as Error).message}`);
    });
    const server = await startServer({
      host: cfg.host,
      port: cfg.port,
      token: cfg.token,
      uiDir: cfg.uiDir,
      source: pipelineSource({ ...(cfg.kubeconfig ? { kubeconfigPath: cfg.kubeconfig } : {}), log }),
      topology: () => topo.get(),
      lab: null,
    });
    console.log(`hopscope is up: ${openUrl(server.url, cfg.token)}`);
    return new Promise<number>((resolve) => {
      const onSignal = (sig: NodeJS.Signals) => {
        log(`${sig}: stopping`);
        topo.stop();
        void server.close().then(() => resolve(0));
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
  },
};
