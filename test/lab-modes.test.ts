// The other CNI / kube-proxy combinations this kernel supports, brought up side by side (same
// addresses in each: only their namespaces keep them apart), each checked with real traffic;
// then scaling and tearing down one must not disturb the others.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import { readLabState } from '../agent/src/lab/state.ts';
import { checkDatapath, expectGone, requests, webPods } from './lab-helpers.ts';

const tag = process.pid % 10000;
const combos = [
  { name: `fn${tag}`, cni: 'flannel-vxlan', kubeProxy: 'nftables', cgroupDriver: 'systemd' },
  { name: `cr${tag}`, cni: 'calico-routed', kubeProxy: 'iptables', cgroupDriver: 'none' },
  { name: `cv${tag}`, cni: 'calico-vxlan', kubeProxy: 'nftables', cgroupDriver: 'cgroupfs' },
] as const;
const labs = new Map<string, LabHandle>();

beforeAll(async () => {
  for (const c of combos) labs.set(c.name, await labUp(loadTopology(), c));
});
afterAll(async () => {
  for (const l of labs.values()) await l.down();
});

describe.each(combos)('lab: $cni + $kubeProxy', (c) => {
  it('carries pod, Service, DNS and NodePort traffic', async () => {
    const lab = labs.get(c.name)!;
    expect(lab.state().model).toMatchObject({ cni: c.cni, kubeProxy: c.kubeProxy });
    await checkDatapath(lab);
  });
});

describe('cgroup drivers side by side', () => {
  it('each lab has its own tree in its driver\'s shape (none: no cgroups, no sandboxes), and its own pod uids', () => {
    const [sd, none, fs] = combos.map((c) => labs.get(c.name)!.state());
    const pathOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    expect(pathOf(sd!.workloads[0]!.pid)).toMatch(new RegExp(`/${sd!.prefix.replace('.', '\\.')}kubelet/kubepods\\.slice/kubepods-besteffort\\.slice/kubepods-besteffort-pod[0-9a-f_]{36}\\.slice/cri-containerd-[0-9a-f]{64}\\.scope\n`));
    expect(pathOf(fs!.workloads[0]!.pid)).toMatch(new RegExp(`/${fs!.prefix.replace('.', '\\.')}kubelet/kubepods/besteffort/pod[0-9a-f-]{36}/[0-9a-f]{64}\n`));
    expect(none!.cgroups).toBeUndefined();
    expect(none!.sandboxes).toBeUndefined();
    expect(pathOf(none!.workloads[0]!.pid)).not.toContain('kubepods');
    const uids = (st: typeof sd) => new Set(st!.model.pods.map((p) => p.uid));
    for (const u of uids(sd)) expect(uids(fs).has(u) || uids(none).has(u)).toBe(false);
  });
});

describe('kernel state per mode', () => {
  it('nftables mode programs table ip kube-proxy with numgen vmaps', async () => {
    const r = await labs.get(combos[0].name)!.exec({ node: 'node-2' }, ['nft', 'list', 'table', 'ip', 'kube-proxy']);
    expect(r.stdout).toMatch(/numgen random mod 2 vmap \{ 0 : goto endpoint-[A-Z2-7]{8}-default\/web\/tcp\/http__10\.244\.\d+\.\d+\/8080, 1 : goto /);
    expect(r.stdout).toContain('dnat to 10.244.2.2:53');
  });

  it('calico modes use cali veths with /32 routes and proxy ARP; calico-vxlan has vxlan.calico on 4789', async () => {
    const routed = labs.get(combos[1].name)!;
    const pod = routed.state().model.pods.find((p) => p.node === 'node-1' && p.name === 'client')!;
    const routes = await routed.exec({ node: 'node-1' }, ['ip', 'route']);
    expect(routes.stdout).toContain(`${pod.ip} dev ${pod.hostVeth} scope link`);
    expect(routes.stdout).toMatch(/10\.244\.2\.0\/24 via 10\.0\.0\.2 dev eth0 proto bird/);
    const arp = await routed.exec({ node: 'node-1' }, ['sysctl', '-n', `net.ipv4.conf.${pod.hostVeth}.proxy_arp`]);
    expect(arp.stdout.trim()).toBe('1');
    const vx = await labs.get(combos[2].name)!.exec({ node: 'node-2' }, ['ip', '-d', 'link', 'show', 'vxlan.calico']);
    expect(vx.stdout).toMatch(/vxlan id 4096 local 10\.0\.0\.2 dev eth0 .*dstport 4789/);
  });
});

describe('side by side', () => {
  it('scaling one lab changes neither the state nor the traffic of another', async () => {
    const [a, b] = [labs.get(combos[1].name)!, labs.get(combos[2].name)!];
    const bBefore = webPods(b).map((p) => p.name).sort();
    await a.scale('default', 'web', 3);
    const third = webPods(a).find((p) => !bBefore.includes(p.name))!;
    expect(third).toBeDefined();
    expect((await requests(a, 'client', 'http://10.96.0.20/', 24)).map((x) => x.pod)).toContain(third.name);
    expect(readLabState(b.name).model.pods.filter((p) => p.deployment?.name === 'web').map((p) => p.name).sort()).toEqual(bBefore);
    const inB = await requests(b, 'client', 'http://10.96.0.20/', 12);
    expect(inB.every((x) => bBefore.includes(x.pod))).toBe(true);
  });

  it('tearing one lab down leaves the others working', async () => {
    const a = labs.get(combos[0].name)!;
    const s = a.state();
    await a.down();
    labs.delete(combos[0].name);
    expectGone(s.name, s.workloads.map((w) => w.pid), s.netns.map((n) => n.name));
    for (const l of labs.values()) {
      const answers = await requests(l, 'client', 'http://web/', 4);
      expect(answers.every((x) => webPods(l).some((p) => p.name === x.pod))).toBe(true);
    }
  });
});
