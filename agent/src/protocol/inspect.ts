// The commands a lesson shows at a hop, rendered from a validated check: argv arrays for the
// server to run (never a shell string) and the line a user would type to see the same. Pure:
// the agent runs what this returns, and the page shows the very transcript the agent sends.
import type { InspectCheck, NEIGH_DEVICES } from './messages.ts';
import type { LabMode } from './lab-modes.ts';

/** Where a command runs: in a node's or a pod's network namespace, or against the API (kubectl). */
export type InspectPlace = { kind: 'node'; node: string } | { kind: 'pod'; namespace: string; name: string } | { kind: 'api' };

/** A check ready to run: the first command runs at `place`, each later one reads the one before. */
export interface InspectCommand {
  place: InspectPlace;
  pipeline: string[][];
  /** The pipeline as typed at a shell. */
  line: string;
}

// Arguments a shell would take as they are; anything else is single-quoted.
const BARE = /^[A-Za-z0-9._/:=@%+,-]+$/;

/** One argument as a shell needs it typed. */
export function shellQuote(arg: string): string {
  return BARE.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The device a CNI's VXLAN traffic leaves through (calico-routed has none: flannel.1 is shown empty). */
export function vxlanDevice(cni: LabMode['cni']): (typeof NEIGH_DEVICES)[number] {
  return cni === 'calico-vxlan' ? 'vxlan.calico' : 'flannel.1';
}

/** Render a check for a lab in mode `m`. */
export function inspectCommand(c: InspectCheck, m: LabMode): InspectCommand {
  const make = (place: InspectPlace, pipeline: string[][]): InspectCommand => ({ place, pipeline, line: pipeline.map((argv) => argv.map(shellQuote).join(' ')).join(' | ') });
  switch (c.what) {
    case 'service-rules': {
      const node: InspectPlace = { kind: 'node', node: c.node };
      const svc = `${c.service.namespace}/${c.service.name}`;
      // iptables: every rule kube-proxy writes for a Service port carries "ns/name:port" in its
      // comment (KUBE-SERVICES, KUBE-SVC-* with the random pick, KUBE-SEP-* with the DNAT).
      // nftables: the chains are named "…-ns/name/proto/port…"; -A3 shows each chain's body.
      return m.kubeProxy === 'nftables'
        ? make(node, [['nft', 'list', 'table', 'ip', 'kube-proxy'], ['grep', '-F', '-A3', '--', `-${svc}/`]])
        : make(node, [['iptables-save', '-t', 'nat'], ['grep', '-F', '--', `${svc}:`]]);
    }
    case 'endpoints':
      return make({ kind: 'api' }, [['kubectl', 'get', 'endpoints', c.service.name, '-n', c.service.namespace]]);
    case 'vxlan-fdb':
      return make({ kind: 'node', node: c.node }, [['bridge', 'fdb', 'show', 'dev', vxlanDevice(m.cni)]]);
    case 'neigh':
      return make(c.at, [['ip', 'neigh', 'show', ...(c.address ? [c.address] : []), ...(c.dev ? ['dev', c.dev] : [])]]);
    case 'route-get':
      return make(c.at, [['ip', 'route', 'get', c.dst]]);
    case 'routes':
      return make(c.at, [['ip', 'route']]);
    case 'bridge-fdb':
      return make({ kind: 'node', node: c.node }, [['bridge', 'fdb', 'show', 'br', 'cni0'], ['grep', '-v', 'permanent']]);
    case 'conntrack':
      return make({ kind: 'node', node: c.node }, [
        ['conntrack', '-L', '-p', c.proto, '--orig-dst', c.origDst, ...(c.origDport !== undefined ? ['--orig-port-dst', String(c.origDport)] : [])],
      ]);
    case 'listening':
      return make(c.at, [['ss', '-ltnu']]);
    default: {
      const never: never = c;
      throw new Error(`unknown check ${JSON.stringify(never)}`);
    }
  }
}

/** The prompt a transcript starts with: where you would type the line. */
export function promptOf(p: InspectPlace): string {
  switch (p.kind) {
    case 'node':
      return `${p.node} $`;
    case 'pod':
      return `pod ${p.namespace}/${p.name} $`;
    case 'api':
      return '$';
    default: {
      const never: never = p;
      throw new Error(`unknown place ${JSON.stringify(never)}`);
    }
  }
}

/** Most characters of output a transcript carries. */
export const MAX_TRANSCRIPT_OUTPUT = 6000;

/** The transcript the agent answers with: the prompt and line, then the output verbatim (bounded). */
export function transcript(cmd: InspectCommand, output: string): string {
  const cut = output.length > MAX_TRANSCRIPT_OUTPUT ? `${output.slice(0, MAX_TRANSCRIPT_OUTPUT)}\n… (${output.length - MAX_TRANSCRIPT_OUTPUT} more characters)\n` : output;
  return `${promptOf(cmd.place)} ${cmd.line}\n${cut}`;
}

/** A transcript split back into its command line and output (the page shows them apart). */
export function parseTranscript(t: string): { prompt: string; line: string; output: string } {
  const nl = t.indexOf('\n');
  const head = nl < 0 ? t : t.slice(0, nl);
  const at = head.indexOf('$ ');
  return { prompt: at < 0 ? '' : head.slice(0, at + 1), line: at < 0 ? head : head.slice(at + 2), output: nl < 0 ? '' : t.slice(nl + 1) };
}
