// The plugin's plumbing against a fake kubectl that records argv: the commands it would run and
// the files it hands to `kubectl apply -k`, rendered by the real kubectl's kustomize. The fake
// stays because nothing here can answer those commands for real: there is no cluster on this
// machine, and the lab's API is read-only (no apply, delete or Secrets) with no port-forward (see
// README "What was and was not run here").
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { fakeKubectl } from './fake-kubectl.ts';
import { checkTlsMaterial } from '../agent/src/tls/material.ts';
import { makeCa } from '../agent/src/tls/certs.ts';

const run = promisify(execFile);
const fake = fakeKubectl();
afterAll(() => rmSync(fake.dir, { recursive: true, force: true }));

function calls(): { argv: string[][]; notes: string[] } {
  const lines = readFileSync(fake.log, 'utf8').trim().split('\n');
  return { argv: lines.filter((l) => l.startsWith('[')).map((l) => JSON.parse(l) as string[]), notes: lines.filter((l) => !l.startsWith('[')) };
}

async function plugin(args: string[], env: Record<string, string> = {}) {
  rmSync(fake.log, { force: true });
  return run('node', ['agent/bin/kubectl-hopscope.mjs', ...args], { env: { ...process.env, KUBECTL: fake.path, FAKE_LOG: fake.log, ...env } });
}

// setup.sh installs kubectl (Debian's 1.20, whose kustomize is v2); extra binaries to check, as
// in lab-kubectl.test.ts, come colon-separated in HOPSCOPE_TEST_KUBECTL.
const KUBECTLS = ['kubectl', ...(process.env.HOPSCOPE_TEST_KUBECTL ?? '').split(':').filter((p) => p.length > 0)];

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  spec?: { template?: { spec: { containers: { image: string }[] } } };
}

describe.each(KUBECTLS)('install, rendered by %s kustomize', (bin) => {
  it('the private directory install applies renders every object, the token Secret and the --image override', async () => {
    await plugin(['install', '--image', 'reg.example.com/me/hs:2'], { FAKE_KUSTOMIZE: bin, FAKE_TOKEN_B64: Buffer.from('kustomize-token-0123456789').toString('base64') }).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\nkustomize: ${existsSync(`${fake.log}.err`) ? readFileSync(`${fake.log}.err`, 'utf8') : ''}`);
    });
    const objs = parseAllDocuments(readFileSync(`${fake.log}.yaml`, 'utf8')).map((d) => d.toJS() as Obj);
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ClusterRole/hopscope-read', 'ClusterRoleBinding/hopscope-read', 'DaemonSet/hopscope-agent', 'Deployment/hopscope-hub',
      'Namespace/hopscope', 'Secret/hopscope-agent-tls', 'Secret/hopscope-ca', 'Secret/hopscope-hub-tls', 'Secret/hopscope-token', 'Service/hopscope-hub', 'ServiceAccount/hopscope',
    ]);
    // The agents' Secret holds the CA and each node's certificate, checked as the agent checks it.
    const agentTls = objs.find((o) => o.kind === 'Secret' && o.metadata.name === 'hopscope-agent-tls')!;
    expect(Object.keys(agentTls.data!).sort()).toEqual(['ca.crt', 'node-1.crt', 'node-1.key', 'node-2.crt', 'node-2.key']);
    const pem = (k: string) => Buffer.from(agentTls.data![k]!, 'base64').toString();
    expect(checkTlsMaterial({ ca: pem('ca.crt'), cert: pem('node-2.crt'), key: pem('node-2.key') }, { kind: 'agent', node: 'node-2' }).role).toEqual({ kind: 'agent', node: 'node-2' });
    const secret = objs.find((o) => o.kind === 'Secret' && o.metadata.name === 'hopscope-token')!;
    expect(secret.metadata.namespace).toBe('hopscope');
    expect(Buffer.from(secret.data!.token!, 'base64').toString()).toBe('kustomize-token-0123456789');
    const images = objs.flatMap((o) => o.spec?.template?.spec.containers.map((c) => c.image) ?? []);
    expect(images.length).toBeGreaterThan(0);
    expect(new Set(images)).toEqual(new Set(['reg.example.com/me/hs:2']));
  });
});

describe('kubectl hopscope (fake kubectl: argument plumbing only)', () => {
  it('install: a fresh token in a private copy of the manifests, applied with -k, the copy removed', async () => {
    const r = await plugin(['install', '--context', 'lab', '--image', 'reg.example.com/me/hs:2']);
    expect(r.stdout).toContain('hopscope is installed. Next: kubectl hopscope open');
    const { argv, notes } = calls();
    expect(argv[0]).toEqual(['--context', 'lab', 'get', 'secret', 'hopscope-token', '-n', 'hopscope', '-o', 'jsonpath={.data.token}', '--ignore-not-found']);
    expect(argv[1]).toEqual(['--context', 'lab', 'get', 'secret', 'hopscope-ca', '-n', 'hopscope', '-o', 'json', '--ignore-not-found']);
    expect(argv[2]).toEqual(['--context', 'lab', 'get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}']);
    expect(argv[3]!.slice(0, 4)).toEqual(['--context', 'lab', 'apply', '-k']);
    const dir = argv[3]![4]!;
    expect(dir).toMatch(/hopscope-install-/);
    expect(existsSync(dir)).toBe(false);
    expect(notes).toContain('FILES agent-daemonset.yaml hub.yaml kustomization.yaml namespace.yaml rbac.yaml tls.yaml token.env ');
    expect(notes).toContain('MODE 600');
    expect(notes).toContain('TLS_MODE 600');
    expect(notes.find((n) => n.startsWith('TOKEN '))).toMatch(/^TOKEN token=[A-Za-z0-9_-]{16,}$/);
    expect(notes.find((n) => n.startsWith('KUSTOMIZATION_TAIL'))).toContain('newName: reg.example.com/me/hs|    newTag: "2"|');
  });

  it('install keeps the token of an earlier install', async () => {
    await plugin(['install'], { FAKE_TOKEN_B64: Buffer.from('kept-token-0123456789').toString('base64') });
    expect(calls().notes).toContain('TOKEN token=kept-token-0123456789');
  });

  it('install keeps the CA of an earlier install and issues new certificates under it', async () => {
    const ca = makeCa('hopscope-ca', { days: 365 });
    const caJson = JSON.stringify({ data: { 'ca.crt': Buffer.from(ca.certPem).toString('base64'), 'ca.key': Buffer.from(ca.keyPem).toString('base64') } });
    const r = await plugin(['install'], { FAKE_CA_JSON: caJson, FAKE_NODES: 'worker-a', FAKE_KUSTOMIZE: 'kubectl' });
    expect(r.stdout).toContain('kept the CA of the earlier install; certificates for 1 node(s) and the hub');
    const objs = parseAllDocuments(readFileSync(`${fake.log}.yaml`, 'utf8')).map((d) => d.toJS() as Obj);
    const hubTls = objs.find((o) => o.kind === 'Secret' && o.metadata.name === 'hopscope-hub-tls')!;
    const pem = (k: string) => Buffer.from(hubTls.data![k]!, 'base64').toString();
    expect(pem('ca.crt')).toBe(ca.certPem);
    // Signed by the kept CA (checkTlsMaterial verifies the signature and the key).
    expect(checkTlsMaterial({ ca: ca.certPem, cert: pem('hub.crt'), key: pem('hub.key') }, { kind: 'hub' }).caPem).toBe(ca.certPem);
  });

  it('open: port-forward to the hub Service and the URL with the token', async () => {
    const { spawn } = await import('node:child_process');
    rmSync(fake.log, { force: true });
    const p = spawn('node', ['agent/bin/kubectl-hopscope.mjs', 'open', '--port', '7999'], {
      env: { ...process.env, KUBECTL: fake.path, FAKE_LOG: fake.log, FAKE_PF_PORT: '7999', FAKE_TOKEN_B64: Buffer.from('kept-token-0123456789').toString('base64') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = await new Promise<string>((resolve, reject) => {
      let o = '';
      const t = setTimeout(() => reject(new Error(`no URL: ${o}`)), 20_000);
      p.stdout.on('data', (d: Buffer) => {
        o += d.toString();
        if (o.includes('Ctrl-C')) {
          clearTimeout(t);
          resolve(o);
        }
      });
    });
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGINT');
    await exited;
    expect(out).toContain('hopscope: http://127.0.0.1:7999/?token=kept-token-0123456789');
    expect(calls().argv[1]).toEqual(['port-forward', '-n', 'hopscope', '--address', '127.0.0.1', 'svc/hopscope-hub', '7999:7070']);
  });

  it('uninstall deletes the namespace and the cluster-wide RBAC; a bad flag changes nothing', async () => {
    await plugin(['uninstall']);
    expect(calls().argv).toEqual([
      ['delete', 'namespace', 'hopscope', '--ignore-not-found'],
      ['delete', 'clusterrolebinding,clusterrole', 'hopscope-read', '--ignore-not-found'],
    ]);
    rmSync(fake.log, { force: true });
    await expect(run('node', ['agent/bin/kubectl-hopscope.mjs', 'install', '--context', '--all'], { env: { ...process.env, KUBECTL: fake.path, FAKE_LOG: fake.log } })).rejects.toMatchObject({ code: 2 });
    expect(existsSync(fake.log)).toBe(false);
  });
});
