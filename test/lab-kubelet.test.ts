// The lab as a kubelet-run node sees it: the API over HTTPS with the lab's CA, reached from a
// node's namespace at the control-plane address (a forwarder in the underlay to the API's Unix
// socket), a service-account folder for in-cluster configuration, the real kubectl, pod processes
// in the cgroups kubelet + containerd make (systemd driver here; lab-flannel checks cgroupfs), and
// `hopscope serve` run on node-1 as a node agent: in-cluster config, no lab flag, no state file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Journey } from '../agent/src/protocol/events.ts';
import { containerCgroupPath, containerId } from '../agent/src/lab/kubelet.ts';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import type { LabState } from '../agent/src/lab/state.ts';
import { API_FORWARDER_MAX_CONNECTIONS } from '../agent/src/lab/workloads.ts';
import { expectGone } from './lab-helpers.ts';
import { startNodeAgent, type NodeAgent } from './node-agent.ts';

const NAME = `kb${process.pid % 10000}`;
let lab: LabHandle;
let s: LabState;
let api: NonNullable<LabState['api']>;
let node1: string;

beforeAll(async () => {
  lab = await labUp(loadTopology(), { name: NAME, cgroupDriver: 'systemd' });
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

  it('inside node-1 and from a pod the API answers at the control-plane address, for kubectl and for the service-account files', async () => {
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
    // A pod (not hostNetwork: the hub's Deployment) reaches it too: the control-plane host routes
    // each node's pod block back to that node.
    const fromPod = await lab.exec('default/client', ['curl', '-sS', '-m', '5', '--cacert', join(sa, 'ca.crt'), '-H', `Authorization: Bearer ${readFileSync(join(sa, 'token'), 'utf8')}`, `${api.inLab.url}/api/v1/nodes`]);
    expect(fromPod.stderr).toBe('');
    expect((JSON.parse(fromPod.stdout) as { items: unknown[] }).items).toHaveLength(s.model.nodes.length);
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

describe('pods as kubelet and containerd run them', () => {
  it('every pod process sits in its kubelet cgroup in every hierarchy, named as the API reports it', async () => {
    expect(s.cgroups?.driver).toBe('systemd');
    const r = await execa('kubectl', ['--kubeconfig', api.kubeconfig, 'get', 'pods', '-A', '-o', 'json']);
    type ApiPod = { metadata: { name: string; namespace: string; uid: string }; status: { hostIP: string; podIP: string; qosClass: string; containerStatuses: { name: string; containerID: string }[] } };
    const apiPods = new Map((JSON.parse(r.stdout) as { items: ApiPod[] }).items.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
    const hierarchies = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').length;
    const expectIn = (pid: number, path: string) => {
      const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(hierarchies);
      for (const l of lines) expect(l, `pid ${pid}`).toMatch(new RegExp(`:/(.+/)?${s.prefix.replace('.', '\\.')}kubelet/${path}$`));
    };
    for (const m of s.model.pods) {
      const p = apiPods.get(`${m.namespace}/${m.name}`)!;
      expect(p.status).toMatchObject({ podIP: m.ip, hostIP: s.model.nodes.find((n) => n.name === m.node)!.address, qosClass: 'BestEffort' });
      expect(p.metadata.uid).toBe(m.uid);
      // The sandbox holds the pod's netns (a pod whose containers run nothing has one too).
      const sb = s.sandboxes!.find((x) => x.pod === `${m.namespace}/${m.name}`)!;
      expect(readlinkSync(`/proc/${sb.pid}/ns/net`)).toBe(`net:[${s.netns.find((n) => n.owner === sb.pod)!.inode}]`);
      expectIn(sb.pid, containerCgroupPath('systemd', 'BestEffort', m.uid, sb.id));
      for (const w of s.workloads.filter((x) => x.pod === sb.pod)) {
        const id = p.status.containerStatuses.find((c) => c.name === w.container)!.containerID;
        expect(id).toBe(`containerd://${containerId(m.uid, w.container)}`);
        expectIn(w.pid, containerCgroupPath('systemd', 'BestEffort', m.uid, id.slice('containerd://'.length)));
      }
    }
    // Pod uids are this run's own: another lab of the same topology has others.
    expect(s.model.uidSeed).toBe(s.prefix);
  });
});

describe('hopscope serve on node-1, as the DaemonSet runs it: in-cluster config, no lab flag, no state file', () => {
  const TOKEN = `kubelet-serve-${process.pid}-0123456789`;
  let agent: NodeAgent | undefined;
  let out: string[] = [];
  let journeys: Journey[] = [];
  let url = '';

  beforeAll(async () => {
    agent = await startNodeAgent(s, 'node-1', TOKEN);
    ({ out, journeys, url } = agent);
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
  }, 60_000);

  it("names node-1's pods from the API through netns → /proc → cgroup, and traces nothing outside node-1", async () => {
    const inodes = (node: string) => new Set(s.netns.filter((n) => (n.kind === 'node' && n.owner === node) || (n.kind === 'pod' && n.node === node)).map((n) => n.inode));
    const node1Scope = inodes('node-1');
    const node2Scope = inodes('node-2');
    const localWeb = s.model.pods.find((p) => p.deployment?.name === 'web' && p.node === 'node-1')!;
    const remoteWeb = s.model.pods.find((p) => p.deployment?.name === 'web' && p.node === 'node-2')!;
    const fromClient = () => journeys.filter((j) => j.hops[0]?.where.pod?.name === 'client');
    const reachedLocalWeb = () => fromClient().some((j) => j.hops.some((h) => h.where.pod?.name === localWeb.name));
    for (let i = 0; i < 20 && !(fromClient().length > 0 && reachedLocalWeb()); i++) {
      await lab.exec('default/client', ['curl', '-s', '-o', '/dev/null', '-m', '2', 'http://10.96.0.20/']);
      // Traffic wholly on node-2 (its host to its own pod): node-1's agent must not see it.
      await lab.exec({ node: 'node-2' }, ['curl', '-s', '-o', '/dev/null', '-m', '2', `http://${remoteWeb.ip}:8080/`]);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(fromClient().length, out.join('')).toBeGreaterThan(0);
    const j = fromClient()[0]!;
    // The client pod runs no container process: its sandbox names it (pod uid in the cgroup).
    expect(j.hops[0]!.where).toMatchObject({ pod: { namespace: 'default', name: 'client', node: 'node-1' }, label: 'client (default)' });
    expect(j.hops.some((h) => h.where.node === 'node-1' && h.where.label === 'node-1' && !h.where.pod)).toBe(true);
    // The web pod on node-1 is named by its container's id (the API's containerID).
    expect(reachedLocalWeb()).toBe(true);
    // netns 0: a drop in the socket layer, after delivery of a packet this journey followed here.
    for (const x of journeys) for (const h of x.hops.filter((y) => y.netns !== 0)) {
      expect(node1Scope.has(h.netns), `hop in netns ${h.netns} (${h.where.label})`).toBe(true);
      expect(node2Scope.has(h.netns)).toBe(false);
    }
    expect(journeys.some((x) => x.hops.some((h) => h.where.pod?.name === remoteWeb.name))).toBe(false);
    expect(out.join('')).toMatch(/kernel is shared with other nodes .*tracing only node-1's network namespaces/);
    // No lab state was used: the agent said nothing of a lab, and its status names none.
    const st = await execa('ip', ['netns', 'exec', node1, 'curl', '-sS', '-H', `Authorization: Bearer ${TOKEN}`, `${url}api/status`]);
    const status = JSON.parse(st.stdout) as { status: { lab: unknown; filter?: { netns: number[] } } };
    expect(status.status.lab).toBeNull();
  });
});

describe('kubectl scale', () => {
  it('scales the Deployment through the lab API: the new pod runs in its cgroup', async () => {
    const r = await execa('kubectl', ['--kubeconfig', api.kubeconfig, 'scale', 'deploy/web', '--replicas', '3', '-v=6'], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('deployment.apps/web scaled');
    expect(statuses(r.stderr).filter((l) => !l.endsWith(' 200'))).toEqual([]);
    const now = lab.state();
    const web = now.model.pods.filter((p) => p.deployment?.name === 'web');
    expect(web).toHaveLength(3);
    const added = web.find((p) => !s.model.pods.some((q) => q.uid === p.uid))!;
    const w = now.workloads.find((x) => x.pod === `default/${added.name}`)!;
    expect(readFileSync(`/proc/${w.pid}/cgroup`, 'utf8')).toContain(containerCgroupPath('systemd', 'BestEffort', added.uid, containerId(added.uid, w.container)));
  });
});

describe('lab down', () => {
  it('stops the forwarder and removes the socket, CA, kubeconfigs, service-account folder and cgroups', async () => {
    const now = lab.state();
    await lab.down();
    expectGone(NAME, [api.inLab.forwarderPid, ...now.workloads.map((w) => w.pid), ...now.sandboxes!.map((x) => x.pid)], now.netns.map((n) => n.name));
    for (const root of now.cgroups!.roots) expect(existsSync(root), root).toBe(false);
    for (const f of [api.socket, api.caFile, api.kubeconfig, api.inLab.kubeconfig, api.serviceAccountDir]) expect(existsSync(f), f).toBe(false);
  });
});
