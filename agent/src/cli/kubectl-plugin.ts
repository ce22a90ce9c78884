// `kubectl hopscope install|uninstall|open|trace`: the kubectl plugin (kubectl runs any
// `kubectl-hopscope` on the PATH). It drives kubectl itself, so it works with whatever
// credentials and context kubectl has; the plan of each command is pure and tested.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateToken, validateToken } from '../server/auth.ts';
import { REMOTE_TRACE_FLAGS, parseRemoteTraceArgs, remoteTrace } from '../hubmode/remote-trace.ts';
import { caFromSecretJson, CA_SECRET, issueClusterTls, tlsSecretsYaml } from '../tls/secrets.ts';
import { clip, int, onlyIf, parseFlags, pattern, short, toggle, value, type Parsed, type Spec } from '../config/flags.ts';

/** Where the manifests are (the repository's, or /app/manifests in the image). */
export const MANIFESTS_DIR = fileURLToPath(new URL('../../../manifests', import.meta.url));
const NAMESPACE = 'hopscope';
const HUB_SERVICE = 'svc/hopscope-hub';
const HUB_PORT = 7070;

const USAGE = `usage: kubectl hopscope <command> [options]

  install     create the hopscope namespace, read-only RBAC, the agent DaemonSet, the hub, the
              token Secret and the mutual-TLS Secrets (a CA, each node's agent certificate, the
              hub's) with kubectl apply -k; keeps the token and the CA of an earlier install and
              issues fresh certificates (run it again to renew them, or after adding nodes: the
              pods take them without a restart)
  uninstall   delete them
  open        port-forward to the hub and print the URL with the token (Ctrl-C to stop)
  trace       stream journeys from the hub as text (filter: -n NS, --pod P, --service S,
              --port N, --proto tcp|udp|icmp, --only-drops, --only-nat; --json | --oneline;
              --count N, --duration S)

options for every command:
  --context <ctx>      kubectl context
  --kubeconfig <file>  kubeconfig for kubectl
  --kubectl <path>     the kubectl to run (default: $KUBECTL, else kubectl on the PATH)
install:
  --manifests <dir>    manifests to apply (default: the ones shipped with hopscope)
  --image <ref>        agent/hub image instead of ghcr.io/hopscope/hopscope:0.1.0
open:
  --port <n>           local port (default 7070)`;

/** Parsed plugin invocation. */
export interface PluginArgs {
  command: 'install' | 'uninstall' | 'open' | 'trace' | 'help';
  kubectl: string;
  /** Arguments put before every kubectl command (context, kubeconfig). */
  global: string[];
  manifests: string;
  image?: string;
  port: number;
  /** trace: the remaining flags (filter and output). */
  rest: string[];
}

const IMAGE = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

/** Parse argv (after `kubectl hopscope`). Throws Error naming the flag. */
export function parsePluginArgs(argv: string[], env: Record<string, string | undefined>): PluginArgs {
  const [cmd, ...args] = argv;
  const command = cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help' ? 'help' : cmd;
  if (command !== 'install' && command !== 'uninstall' && command !== 'open' && command !== 'trace' && command !== 'help')
    throw new Error(`unknown command "${command.slice(0, 40)}" (install, uninstall, open, trace)`);
  const common = {
    context: value(kubectlValue),
    kubeconfig: value(kubectlValue),
    kubectl: value(kubectlValue),
    manifests: onlyIf(command === 'install', 'is for install', value(kubectlValue)),
    image: onlyIf(command === 'install', 'is for install', pattern(IMAGE, 'an image reference')),
    help: short('h', toggle()),
  } satisfies Spec;
  const own = { ...common, port: onlyIf(command === 'open', 'is for open', int(1, 65535)) };
  // trace's flags (its filter has a --port of its own) go on to the remote trace's parser.
  const { values: v, rest }: Parsed<typeof own> = command === 'trace' ? parseFlags(args, common, { forward: REMOTE_TRACE_FLAGS }) : parseFlags(args, own);
  return {
    command: v.help ? 'help' : command,
    kubectl: v.kubectl ?? (env.KUBECTL || 'kubectl'),
    global: [...(v.context ? ['--context', v.context] : []), ...(v.kubeconfig ? ['--kubeconfig', v.kubeconfig] : [])],
    manifests: v.manifests ?? MANIFESTS_DIR,
    ...(v.image ? { image: v.image } : {}),
    port: v.port ?? HUB_PORT,
    rest,
  };
}

// Values go to kubectl as separate argv entries (no shell), but never as a flag.
function kubectlValue(t: string): string {
  if (t.startsWith('-')) throw new Error(`"${clip(t, 40)}" looks like a flag`);
  return t;
}

/** The kubectl commands of each step (argv after the kubectl executable). Pure. */
export const plan = {
  getToken: (g: string[]) => [...g, 'get', 'secret', 'hopscope-token', '-n', NAMESPACE, '-o', 'jsonpath={.data.token}', '--ignore-not-found'],
  getCa: (g: string[]) => [...g, 'get', 'secret', CA_SECRET, '-n', NAMESPACE, '-o', 'json', '--ignore-not-found'],
  getNodes: (g: string[]) => [...g, 'get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}'],
  apply: (g: string[], dir: string) => [...g, 'apply', '-k', dir],
  uninstall: (g: string[]) => [
    [...g, 'delete', 'namespace', NAMESPACE, '--ignore-not-found'],
    [...g, 'delete', 'clusterrolebinding,clusterrole', 'hopscope-read', '--ignore-not-found'],
  ],
  portForward: (g: string[], localPort: number) => [...g, 'port-forward', '-n', NAMESPACE, '--address', '127.0.0.1', HUB_SERVICE, `${localPort === 0 ? '' : localPort}:${HUB_PORT}`],
};

/** The kustomize `images` override for --image. */
export function imageOverride(ref: string): string {
  const at = ref.indexOf('@');
  const lastSlash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const hasTag = colon > lastSlash;
  const name = at > 0 ? ref.slice(0, at) : hasTag ? ref.slice(0, colon) : ref;
  const tail = at > 0 ? `    digest: ${ref.slice(at + 1)}\n` : hasTag ? `    newTag: "${ref.slice(colon + 1)}"\n` : '';
  return `images:\n  - name: ghcr.io/hopscope/hopscope\n    newName: ${name}\n${tail}`;
}

/** "Forwarding from 127.0.0.1:41234 -> 7070" → 41234. */
export function forwardedPort(line: string): number | undefined {
  const m = /Forwarding from 127\.0\.0\.1:(\d+) ->/.exec(line);
  return m ? Number(m[1]) : undefined;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(kubectl: string, args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(kubectl, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', (e) => reject(new Error(`cannot run ${kubectl}: ${e.message}`)));
    p.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function must(kubectl: string, args: string[]): Promise<Ran> {
  const r = await run(kubectl, args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

async function existingToken(a: PluginArgs): Promise<string | undefined> {
  const r = await must(a.kubectl, plan.getToken(a.global));
  const b64 = r.stdout.trim();
  if (!b64) return undefined;
  return validateToken(Buffer.from(b64, 'base64').toString('utf8').trim());
}

async function install(a: PluginArgs, out: (s: string) => void): Promise<void> {
  const token = (await existingToken(a)) ?? generateToken();
  // The CA of an earlier install signs the new certificates: agents and hub keep trusting each
  // other across the renewal, whichever picks up its Secret first.
  const ca = caFromSecretJson((await must(a.kubectl, plan.getCa(a.global))).stdout);
  const nodes = (await must(a.kubectl, plan.getNodes(a.global))).stdout.trim().split(/\s+/).filter(Boolean);
  const tls = issueClusterTls({ nodes, ...(ca ? { ca } : {}) });
  out(`${ca ? 'kept the CA of the earlier install; ' : 'made a new CA; '}certificates for ${nodes.length} node(s) and the hub, valid one year\n`);
  // A private copy of the manifests with the token file kustomize's secretGenerator reads; the
  // token never lands in the source tree and the copy is removed whatever happens.
  const dir = mkdtempSync(join(tmpdir(), 'hopscope-install-'));
  chmodSync(dir, 0o700);
  try {
    for (const f of readdirSync(a.manifests)) if (f.endsWith('.yaml')) cpSync(join(a.manifests, f), join(dir, f));
    writeFileSync(join(dir, 'token.env'), `token=${token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'tls.yaml'), tlsSecretsYaml(tls, NAMESPACE), { mode: 0o600 });
    if (a.image) appendFileSync(join(dir, 'kustomization.yaml'), imageOverride(a.image));
    const r = await must(a.kubectl, plan.apply(a.global, dir));
    out(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  out('hopscope is installed. Next: kubectl hopscope open\n');
}

/** Start `kubectl port-forward` and resolve with the local port once it forwards. */
function portForward(a: PluginArgs, localPort: number): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn(a.kubectl, plan.portForward(a.global, localPort), { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => {
      proc.kill();
      reject(new Error(`kubectl port-forward did not start in 30 s: ${err.trim()}`));
    }, 30_000);
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout!.on('data', (d: Buffer) => {
      const port = forwardedPort(d.toString());
      if (port !== undefined) {
        clearTimeout(t);
        resolve({ port, proc });
      }
    });
    proc.once('error', (e) => {
      clearTimeout(t);
      reject(new Error(`cannot run ${a.kubectl}: ${e.message}`));
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`kubectl port-forward exited (${code}): ${err.trim()}`));
    });
  });
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** Entry point of `kubectl-hopscope`; returns the exit code. */
export async function pluginMain(argv: string[], env: Record<string, string | undefined> = process.env, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  let a: PluginArgs;
  try {
    a = parsePluginArgs(argv, env);
  } catch (e) {
    process.stderr.write(`kubectl hopscope: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    switch (a.command) {
      case 'help':
        out(`${USAGE}\n`);
        return 0;
      case 'install':
        await install(a, out);
        return 0;
      case 'uninstall':
        for (const args of plan.uninstall(a.global)) out((await must(a.kubectl, args)).stdout);
        return 0;
      case 'open': {
        const token = await existingToken(a);
        if (!token) throw new Error('hopscope is not installed here (no hopscope-token Secret): run kubectl hopscope install');
        const pf = await portForward(a, a.port);
        out(`hopscope: http://127.0.0.1:${pf.port}/?token=${encodeURIComponent(token)}\n(Ctrl-C stops the port-forward)\n`);
        await untilSignal();
        pf.proc.kill();
        return 0;
      }
      case 'trace': {
        const t = parseRemoteTraceArgs(a.rest);
        const token = await existingToken(a);
        if (!token) throw new Error('hopscope is not installed here (no hopscope-token Secret): run kubectl hopscope install');
        const pf = await portForward(a, 0);
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.on('SIGINT', stop); // on, not once: see cli/until-signal.ts
        process.on('SIGTERM', stop);
        try {
          await remoteTrace({
            url: `http://127.0.0.1:${pf.port}/`,
            token,
            filter: t.filter,
            format: t.format,
            ...(t.count ? { count: t.count } : {}),
            ...(t.durationS ? { durationS: t.durationS } : {}),
            write: out,
            signal: ac.signal,
          });
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          pf.proc.kill();
        }
        return 0;
      }
      default: {
        const never: never = a.command;
        return never;
      }
    }
  } catch (e) {
    process.stderr.write(`kubectl hopscope ${a.command}: ${(e as Error).message}\n`);
    return 1;
  }
}
