// The built-in lab (flannel VXLAN + kube-proxy iptables), brought up once in this process with
// labUp, then driven with real traffic: pod to pod, Service, DNS, NodePort, scale, sidecar.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { readLabState } from '../agent/src/lab/state.ts';
import { listNetns } from '../agent/src/lab/netns.ts';
import { parseNetnsName } from '../agent/src/lab/naming.ts';
import { checkDatapath, expectGone, requests, webPods } from './lab-helpers.ts';
import { caFetch } from './api-helpers.ts';
import { containerId } from '../agent/src/lab/kubelet.ts';

const NAME = `tf${process.pid % 10000}`;
let lab: LabHandle;
const rootLinksBefore = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;

beforeAll(async () => {
  lab = await labUp(loadTopology(), { name: NAME });
});
afterAll(async () => {
  await lab?.down();
});

describe('lab: flannel-vxlan + iptables', () => {
  it('records every namespace with its inode in the state file, and nothing in the root namespace', () => {
    const s = readLabState(NAME);
    expect(s.phase).toBe('ready');
    expect(s.model.cni).toBe('flannel-vxlan');
    const kinds = s.netns.map((n) => `${n.kind}:${n.owner}`);
    expect(kinds).toEqual(expect.arrayContaining(['underlay:underlay', 'node:node-1', 'node:node-2', 'external:ext-client', 'pod:default/client', 'pod:kube-system/coredns']));
    for (const n of s.netns) {
      expect(statSync(`/run/netns/${n.name}`).ino).toBe(n.inode);
      expect(parseNetnsName(n.name)).toEqual({ lab: NAME, runId: s.runId });
    }
    expect(s.workloads.length).toBe(5);
    // The default cgroup driver, cgroupfs: kubepods/besteffort/pod<uid>/<container id>, below the
    // run's own directory, in every hierarchy; one sandbox per pod.
    expect(s.cgroups?.driver).toBe('cgroupfs');
    expect(s.sandboxes).toHaveLength(s.model.pods.length);
    for (const w of s.workloads) {
      const p = s.model.pods.find((x) => `${x.namespace}/${x.name}` === w.pod)!;
      const lines = readFileSync(`/proc/${w.pid}/cgroup`, 'utf8').trim().split('\n');
      for (const l of lines) expect(l).toMatch(new RegExp(`${s.prefix.replace('.', '\\.')}kubelet/kubepods/besteffort/pod${p.uid}/${containerId(p.uid, w.container)}$`));
    }
    expect(s.api?.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(readFileSync(s.api!.kubeconfig, 'utf8')).toContain(s.api!.url);
    // Pods resolve through the kube-dns ClusterIP with the namespace's search path.
    const client = s.netns.find((n) => n.owner === 'default/client')!;
    expect(readFileSync(`/etc/netns/${client.name}/resolv.conf`, 'utf8')).toContain('nameserver 10.96.0.10\nsearch default.svc.cluster.local');
    const rootLinksNow = spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout;
    for (const p of s.model.pods) expect(rootLinksNow).not.toContain(`: ${p.hostVeth}`);
    for (const dev of ['flannel.1', 'cni0']) if (!rootLinksBefore.includes(`: ${dev}`)) expect(rootLinksNow).not.toContain(`: ${dev}`);
  });

  it('programs kube-proxy rules and flannel forwarding the kernel accepted', async () => {
    const nat = await lab.exec({ node: 'node-1' }, ['iptables-save', '-t', 'nat']);
    expect(nat.stdout).toMatch(/-A KUBE-SERVICES -d 10\.96\.0\.20\/32 -p tcp -m comment --comment "default\/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-[A-Z2-7]{16}/);
    expect(nat.stdout).toMatch(/-m statistic --mode random --probability 0\.50000000000 -j KUBE-SEP-/);
    expect(nat.stdout).toContain('-j KUBE-NODEPORTS');
    const fdb = await lab.exec({ node: 'node-1' }, ['bridge', 'fdb', 'show', 'dev', 'flannel.1']);
    expect(fdb.stdout).toContain('dst 10.0.0.2 self permanent');
    const vx = await lab.exec({ node: 'node-1' }, ['ip', '-d', 'link', 'show', 'flannel.1']);
    expect(vx.stdout).toMatch(/vxlan id 1 local 10\.0\.0\.1 dev eth0 .*dstport 8472/);
  });

  it('is IPv4 only: no IPv6 addresses, so no router solicitations or neighbour discovery noise', async () => {
    for (const target of ['client', { node: 'node-1' }] as const) {
      const r = await lab.exec(target, ['ip', '-6', 'addr', 'show']);
      expect(r.exitCode).toBe(0);
      expect(r.stdout.trim()).toBe('');
    }
  });

  it('carries pod, Service, DNS and NodePort traffic', async () => {
    await checkDatapath(lab);
  });

  it('the two containers of the sidecar pod talk over lo only', async () => {
    // The sidecar calls the app at start and then every 5 s; the app counts callers.
    const stats = JSON.parse((await lab.exec('sidecar-demo', ['curl', '-sS', 'http://127.0.0.1:9090/stats'])).stdout) as { perPeer: Record<string, number> };
    expect(stats.perPeer['127.0.0.1']).toBeGreaterThanOrEqual(1);
    const sidecarLog = lab.state().workloads.find((w) => w.container === 'sidecar')!.log;
    expect(readFileSync(sidecarLog, 'utf8')).toMatch(/GET http:\/\/127\.0\.0\.1:9090\/ -> 200 .*"pod":"sidecar-demo"/);
    const pod = lab.state().model.pods.find((p) => p.name === 'sidecar-demo')!;
    const outside = await lab.exec('client', ['curl', '-sS', '-m', '2', `http://${pod.ip}:9090/`]);
    expect(outside.exitCode).not.toBe(0);
  });

  it('exec into an unknown pod fails with the list of pods', async () => {
    await expect(lab.exec('nosuch', ['true'])).rejects.toThrow(/no pod "nosuch".*default\/client/);
  });

  it('scale web 4 builds pods the Service reaches; scale 1 removes them', async () => {
    const before = webPods(lab);
    await lab.scale('default', 'web', 4);
    const s = readLabState(NAME);
    const web4 = s.model.pods.filter((p) => p.deployment?.name === 'web');
    expect(web4).toHaveLength(4);
    expect(s.model.deployments.find((d) => d.name === 'web')!.replicas).toBe(4);
    expect(s.model.services.find((v) => v.name === 'web')!.endpoints).toHaveLength(4);
    const added = web4.filter((p) => !before.some((b) => b.name === p.name));
    for (const p of added) expect(s.netns.find((n) => n.owner === `default/${p.name}`)?.inode).toBeGreaterThan(0);
    // The lab API serves the new model too.
    const res = await caFetch(readFileSync(s.api!.caFile, 'utf8'))(`${s.api!.url}/apis/apps/v1/namespaces/default/deployments/web`, { headers: { authorization: `Bearer ${s.api!.token}` } });
    expect(((await res.json()) as { spec: { replicas: number } }).spec.replicas).toBe(4);

    const answers = await requests(lab, 'client', 'http://10.96.0.20/', 40);
    expect(new Set(answers.map((a) => a.pod))).toEqual(new Set(web4.map((p) => p.name)));

    const gonePids = s.workloads.filter((w) => w.pod !== `default/${web4[0]!.name}` && w.pod.startsWith('default/web-')).map((w) => w.pid);
    const goneNetns = s.netns.filter((n) => n.owner.startsWith('default/web-') && n.owner !== `default/${web4[0]!.name}`).map((n) => n.name);
    await lab.scale('default', 'web', 1);
    const one = await requests(lab, 'client', 'http://10.96.0.20/', 6);
    expect(new Set(one.map((a) => a.pod))).toEqual(new Set([web4[0]!.name]));
    for (const n of goneNetns) expect(existsSync(`/run/netns/${n}`)).toBe(false);
    for (const p of gonePids) expect(existsSync(`/proc/${p}/ns/net`)).toBe(false);
    // Their sandboxes and pod cgroups go with them; the kept pod's stay.
    const after = readLabState(NAME);
    expect(after.sandboxes!.map((x) => x.pod).filter((x) => x.startsWith('default/web-'))).toEqual([`default/${web4[0]!.name}`]);
    for (const root of after.cgroups!.roots)
      for (const p of web4) expect(existsSync(`${root}/kubepods/besteffort/pod${p.uid}`), `${root} ${p.name}`).toBe(p === web4[0]);
  });

  it('refuses calico-ipip before building anything, because this kernel has no IP-in-IP', async () => {
    await expect(labUp(loadTopology(), { name: `${NAME}-ipip`, cni: 'calico-ipip', cleanupOnExit: false })).rejects.toThrow(/calico-ipip needs IP-in-IP.*calico-vxlan/);
    expect(listNetns().filter((n) => parseNetnsName(n)?.lab === `${NAME}-ipip`)).toEqual([]);
    expect(existsSync(`/run/hopscope/labs/${NAME}-ipip.json`)).toBe(false);
  });

  it('down removes namespaces, processes, cgroups, /etc/netns and the state file', async () => {
    const s = readLabState(NAME);
    await lab.down();
    expectGone(NAME, [...s.workloads.map((w) => w.pid), ...s.sandboxes!.map((x) => x.pid)], s.netns.map((n) => n.name));
    for (const root of s.cgroups!.roots) expect(existsSync(root), root).toBe(false);
  });
});
