// The lab as a kubelet-run node sees it: the API over HTTPS with the lab's CA, reached from a
// node's namespace at the control-plane address (a forwarder in the underlay to the API's Unix
// socket), a service-account folder for in-cluster configuration, and the real kubectl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import type { LabState } from '../agent/src/lab/state.ts';
import { API_FORWARDER_MAX_CONNECTIONS } from '../agent/src/lab/workloads.ts';
import { expectGone } from './lab-helpers.ts';

const NAME = `kb${process.pid % 10000}`;
let lab: LabHandle;
let s: LabState;
let api: NonNullable<LabState['api']>;
let node1: string;

beforeAll(async () => {
  lab = await labUp(loadTopology(), { name: NAME });
  s = lab.state();
  api = s.api!;
  node1 = s.netns.find((n) => n.kind === 'node' && n.owner === 'node-1')!.name;
});
afterAll(async () => {
  await lab?.down();
});

/** kubectl -v=6 logs one line per request: "GET https://… 200 OK in 2 milliseconds". */
function statuses(stderr: string): string[] {
  return [...stderr.matchAll(/round_trippers\.go:\d+\] (\w+) (\S+) (\d{3})/g)].map((m) => `${m[1]} ${new URL(m[2]!).pathname} ${m[3]}`);
}

describe('lab API as a cluster serves it', () => {
  it('the real kubectl (bearer token over TLS, CA from the kubeconfig) gets 200s and the pods as JSON', async () => {
    const r = await execa('kubectl', ['--kubeconfig', api.kubeconfig, 'get', 'pods', '-A', '-o', 'json', '-v=6'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const seen = statuses(r.stderr);
    expect(seen).toContain('GET /api/v1/pods 200');
    expect(seen.filter((l) => !l.endsWith(' 200'))).toEqual([]);
    const list = JSON.parse(r.stdout) as { items: { metadata: { namespace: string; name: string } }[] };
    expect(list.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort()).toEqual(s.model.pods.map((p) => `${p.namespace}/${p.name}`).sort());
  });

  it('inside node-1 the API answers at the control-plane address, for kubectl and for the service-account files', async () => {
    expect(api.inLab).toMatchObject({ host: '10.0.0.254', port: 6443, url: 'https://10.0.0.254:6443' });
    const names = await execa('ip', ['netns', 'exec', node1, 'kubectl', '--kubeconfig', api.inLab.kubeconfig, 'get', 'nodes', '-o', 'name'], { reject: false });
    expect(names.stderr).toBe('');
    expect(names.stdout.trim().split('\n')).toEqual(s.model.nodes.map((n) => `node/${n.name}`));
    // What a pod's in-cluster client does: token and ca.crt from the service-account folder.
    const sa = api.serviceAccountDir;
    expect(readFileSync(join(sa, 'namespace'), 'utf8')).toBe('hopscope');
    expect(readFileSync(join(sa, 'ca.crt'), 'utf8')).toBe(readFileSync(api.caFile, 'utf8'));
    const curl = await execa(
      'ip',
      ['netns', 'exec', node1, 'curl', '-sS', '-m', '5', '--cacert', join(sa, 'ca.crt'), '-H', `Authorization: Bearer ${readFileSync(join(sa, 'token'), 'utf8')}`, `${api.inLab.url}/api/v1/namespaces/default/pods/client`],
      { reject: false },
    );
    expect(curl.stderr).toBe('');
    expect(JSON.parse(curl.stdout)).toMatchObject({ kind: 'Pod', metadata: { name: 'client' } });
    // Nothing of the lab is in the root namespace: the control-plane address is not ours here.
    const rootAddrs = await execa('ip', ['-o', 'addr']);
    expect(rootAddrs.stdout).not.toContain(` ${api.inLab.host}/`);
  });

  it("the forwarder is the lab's own process in the underlay namespace, and bounds its connections", async () => {
    const underlay = s.netns.find((n) => n.kind === 'underlay')!;
    expect(readFileSync(`/proc/${api.inLab.forwarderPid}/cmdline`, 'utf8')).toContain('api-forwarder.mjs');
    const { stdout: link } = await execa('readlink', [`/proc/${api.inLab.forwarderPid}/ns/net`]);
    expect(link).toBe(`net:[${underlay.inode}]`);
    // More connections than the bound, held open from node-1: the extra ones are closed at once.
    const over = API_FORWARDER_MAX_CONNECTIONS + 20;
    const script = `
      const net = require('node:net'); let closed = 0, open = 0;
      for (let i = 0; i < ${over}; i++) {
        const c = net.connect(${api.inLab.port}, '${api.inLab.host}');
        c.on('connect', () => open++); c.on('error', () => {}); c.on('close', () => closed++);
      }
      setTimeout(() => { console.log(JSON.stringify({ open, closed })); process.exit(0); }, 1500);`;
    const r = await execa('ip', ['netns', 'exec', node1, process.execPath, '-e', script]);
    const { open, closed } = JSON.parse(r.stdout) as { open: number; closed: number };
    expect(open).toBe(over);
    expect(closed).toBe(over - API_FORWARDER_MAX_CONNECTIONS);
    // The forwarder lives on and serves again once those are gone.
    const again = await execa('ip', ['netns', 'exec', node1, 'kubectl', '--kubeconfig', api.inLab.kubeconfig, 'get', 'ns', '-o', 'name'], { reject: false });
    expect(again.stdout).toContain('namespace/default');
  });
});

describe('lab down', () => {
  it('stops the forwarder and removes the socket, CA, kubeconfigs and service-account folder', async () => {
    await lab.down();
    expectGone(NAME, [api.inLab.forwarderPid, ...s.workloads.map((w) => w.pid)], s.netns.map((n) => n.name));
    for (const f of [api.socket, api.caFile, api.kubeconfig, api.inLab.kubeconfig, api.serviceAccountDir]) expect(existsSync(f), f).toBe(false);
  });
});
