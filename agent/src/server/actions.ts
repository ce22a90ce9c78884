// Lab actions from the UI turned into concrete commands (pure), validated against the cluster:
// names are looked up, never pasted into a shell; commands are argv arrays.
import type { InspectCheck, LabAction, TopologyView } from '../protocol/messages.ts';
import { inspectCommand, type InspectCommand } from '../protocol/inspect.ts';
import type { LabMode } from '../protocol/lab-modes.ts';

/** Where a command runs: a pod's netns or an external host's netns. */
export type ExecTarget = { type: 'pod'; namespace: string; name: string } | { type: 'external'; name: string };

/** A lab action ready to run. */
export type ActionPlan =
  | { kind: 'exec'; target: ExecTarget; argv: string[]; describe: string }
  | { kind: 'scale'; namespace: string; deployment: string; replicas: number; describe: string }
  | { kind: 'rebuild'; mode: LabMode; describe: string }
  | { kind: 'inspect'; command: InspectCommand; describe: string };

function service(t: TopologyView, ns: string, name: string) {
  const s = t.services.find((x) => x.namespace === ns && x.name === name);
  if (!s) throw new Error(`no service ${ns}/${name} (have: ${t.services.map((x) => `${x.namespace}/${x.name}`).join(', ')})`);
  return s;
}

function fromPod(t: TopologyView, name: string | undefined): ExecTarget {
  const want = name ?? 'client';
  const p = t.pods.find((x) => x.name === want);
  if (!p) throw new Error(`no pod named ${want} to run from`);
  return { type: 'pod', namespace: p.namespace, name: p.name };
}

// -w prints the status and time so the UI can show the answer without the body.
const CURL = ['curl', '-sS', '-m', '3', '-o', '/dev/null', '-w', '%{http_code} in %{time_total}s'];

// Every name a check carries must be one of the lab's: a check never reaches a namespace or a
// Service the cluster does not have.
function checkNames(t: TopologyView, c: InspectCheck): void {
  const node = (n: string) => {
    if (!t.nodes.some((x) => x.name === n)) throw new Error(`no node ${n} (have: ${t.nodes.map((x) => x.name).join(', ')})`);
  };
  const at = (p: Extract<InspectCheck, { at: unknown }>['at']) => {
    if (p.kind === 'node') node(p.node);
    else if (!t.pods.some((x) => x.namespace === p.namespace && x.name === p.name)) throw new Error(`no pod ${p.namespace}/${p.name}`);
  };
  switch (c.what) {
    case 'service-rules':
      node(c.node);
      service(t, c.service.namespace, c.service.name);
      return;
    case 'endpoints':
      service(t, c.service.namespace, c.service.name);
      return;
    case 'vxlan-fdb':
    case 'bridge-fdb':
    case 'conntrack':
      return node(c.node);
    case 'neigh':
    case 'route-get':
    case 'routes':
    case 'listening':
      return at(c.at);
    default: {
      const never: never = c;
      throw new Error(`unknown check ${JSON.stringify(never)}`);
    }
  }
}

/** Turn a validated action into a command or a scale, or throw a clear error. */
export function planAction(t: TopologyView, a: LabAction, mode?: LabMode): ActionPlan {
  switch (a.kind) {
    case 'curl': {
      const s = service(t, a.service.namespace, a.service.name);
      const p = a.port ? s.ports.find((x) => x.port === a.port) : s.ports.find((x) => x.protocol === 'TCP');
      if (!p) throw new Error(`service ${s.namespace}/${s.name} has no TCP port${a.port ? ` ${a.port}` : ''}`);
      const target = fromPod(t, a.from);
      const url = `http://${s.clusterIP}:${p.port}/`;
      return { kind: 'exec', target, argv: [...CURL, url], describe: `curl ${url} (${s.name}) from ${target.name}` };
    }
    case 'connect': {
      const pod = t.pods.find((x) => x.namespace === a.pod.namespace && x.name === a.pod.name);
      if (!pod) throw new Error(`no pod ${a.pod.namespace}/${a.pod.name}`);
      const target = fromPod(t, a.from);
      const url = `http://${pod.ip}:${a.port}/`;
      return { kind: 'exec', target, argv: [...CURL, url], describe: `curl ${url} (pod ${pod.name}, no Service) from ${target.name}` };
    }
    case 'dig': {
      const dns = t.services.find((x) => x.name === 'kube-dns') ?? t.services.find((x) => x.ports.some((p) => p.port === 53 && p.protocol === 'UDP'));
      if (!dns) throw new Error('no cluster DNS service (kube-dns) in this cluster');
      const target = fromPod(t, a.from);
      return {
        kind: 'exec',
        target,
        argv: ['dig', '+short', '+time=2', '+tries=1', `@${dns.clusterIP}`, a.name],
        describe: `dig ${a.name} @${dns.clusterIP} from ${target.name}`,
      };
    }
    case 'nodeport': {
      const s = service(t, a.service.namespace, a.service.name);
      const p = s.ports.find((x) => x.nodePort !== undefined);
      if (!p?.nodePort) throw new Error(`service ${s.namespace}/${s.name} has no NodePort`);
      const node = a.node ? t.nodes.find((n) => n.name === a.node) : t.nodes[0];
      if (!node) throw new Error(`no node ${a.node ?? ''}`);
      const ext = t.externals[0];
      if (!ext) throw new Error('this lab has no external host to call a NodePort from');
      const url = `http://${node.address}:${p.nodePort}/`;
      return { kind: 'exec', target: { type: 'external', name: ext.name }, argv: [...CURL, url], describe: `curl ${url} (NodePort of ${s.name} on ${node.name}) from ${ext.name}` };
    }
    case 'scale': {
      const d = t.deployments.find((x) => x.namespace === a.namespace && x.name === a.deployment);
      if (!d) throw new Error(`no deployment ${a.namespace}/${a.deployment}`);
      return { kind: 'scale', namespace: a.namespace, deployment: a.deployment, replicas: a.replicas, describe: `scale ${a.namespace}/${a.deployment} to ${a.replicas}` };
    }
    case 'rebuild':
      return { kind: 'rebuild', mode: { cni: a.cni, kubeProxy: a.kubeProxy }, describe: `rebuild the lab as ${a.cni} + ${a.kubeProxy}` };
    case 'inspect': {
      if (!mode) throw new Error('inspections need a lab this agent owns');
      checkNames(t, a.check);
      const command = inspectCommand(a.check, mode);
      return { kind: 'inspect', command, describe: command.line };
    }
    default: {
      const never: never = a;
      throw new Error(`unknown action ${JSON.stringify(never)}`);
    }
  }
}
