// `hopscope lab` as a trainer uses it: a detached controller, the live commands, and a
// `lab down` that cleans up after the controller was killed with -9.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLabState, type LabState } from '../agent/src/lab/state.ts';
import { downLab } from '../agent/src/lab/teardown.ts';
import { listNetns } from '../agent/src/lab/netns.ts';
import { parseNetnsName } from '../agent/src/lab/naming.ts';
import { expectGone } from './lab-helpers.ts';

const NAME = `tc${process.pid % 10000}`;
const hopscope = (...args: string[]) => execa(process.execPath, ['agent/bin/hopscope.mjs', ...args], { reject: false, timeout: 100_000 });
let up: Awaited<ReturnType<typeof hopscope>>;
let state: LabState;

beforeAll(async () => {
  up = await hopscope('lab', 'up', '--name', NAME, '--kube-proxy', 'nftables');
  state = readLabState(NAME);
});
afterAll(async () => {
  await downLab(NAME).catch(() => undefined);
});

describe('hopscope lab (detached controller)', () => {
  it('up returns once the lab is ready and prints the kubeconfig and a summary', () => {
    expect(up.exitCode).toBe(0);
    expect(up.stdout).toContain(`/run/hopscope/labs/${NAME}.kubeconfig`);
    expect(up.stdout).toMatch(/default\/client\s+10\.244\.1\.2/);
    expect(state).toMatchObject({ phase: 'ready', detached: true, model: { kubeProxy: 'nftables' } });
    expect(state.controllerPid).not.toBe(process.pid);
    expect(readFileSync(`/proc/${state.controllerPid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['lab', 'controller', NAME]));
  });

  it('status, exec, curl, dig and nodeport work against it', async () => {
    const status = await hopscope('lab', 'status', '--name', NAME);
    expect(status.stdout).toContain(`lab ${NAME} (ready)`);
    const exec = await hopscope('lab', 'exec', '--name', NAME, 'client', '--', 'ip', '-br', 'addr', 'show', 'eth0');
    expect(exec.stdout).toContain('10.244.1.2/24');
    const curl = await hopscope('lab', 'curl', '--name', NAME, 'client', 'web');
    expect(JSON.parse(curl.stdout)).toMatchObject({ namespace: 'default', peer: '10.244.1.2' });
    const dig = await hopscope('lab', 'dig', '--name', NAME, 'client', 'web');
    expect(dig.stdout).toMatch(/web\.default\.svc\.cluster\.local\.\s+\d+\s+IN\s+A\s+10\.96\.0\.20/);
    const np = await hopscope('lab', 'nodeport', '--name', NAME, 'ext-client', 'node-2', '30080');
    expect(JSON.parse(np.stdout).pod).toMatch(/^web-/);
  });

  it('bad input gets a clear error and changes nothing', async () => {
    const exec = await hopscope('lab', 'exec', '--name', NAME, 'nosuch', '--', 'true');
    expect(exec.exitCode).toBe(1);
    expect(exec.stderr).toMatch(/no pod "nosuch" in lab .*; pods: default\/client, kube-system\/coredns/);
    const again = await hopscope('lab', 'up', '--name', NAME);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain(`lab "${NAME}" already exists`);
    const badCni = await hopscope('lab', 'up', '--name', `${NAME}-x`, '--cni', 'weave');
    expect(badCni.stderr).toContain('--cni must be one of flannel-vxlan, calico-routed, calico-vxlan, calico-ipip');
    const dir = mkdtempSync(join(tmpdir(), 'hs-topo-'));
    writeFileSync(join(dir, 'bad.yaml'), 'name: x\nnodes: [{ name: Node_1, podCIDR: 10.244.1.0/24, address: 10.0.0.1 }]\n');
    const badTopo = await hopscope('lab', 'up', '--topology', join(dir, 'bad.yaml'));
    expect(badTopo.exitCode).toBe(1);
    expect(badTopo.stderr).toMatch(/topology is invalid:\n\s+nodes\.0\.name: must be a DNS-1123 label/);
    const ipip = await hopscope('lab', 'up', '--name', `${NAME}-i`, '--cni', 'calico-ipip');
    expect(ipip.exitCode).toBe(1);
    expect(ipip.stderr).toMatch(/calico-ipip needs IP-in-IP/);
    expect(existsSync(`/run/hopscope/labs/${NAME}-i.controller.log`)).toBe(false);
    expect(listNetns().filter((n) => [`${NAME}-x`, `${NAME}-i`, 'x'].includes(parseNetnsName(n)?.lab ?? ''))).toEqual([]);
    expect(readLabState(NAME).model).toEqual(state.model);
  });

  it('scale goes through the lab API and rebuilds pods and rules', async () => {
    const r = await hopscope('lab', 'scale', '--name', NAME, 'web', '3');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('deployment.apps/web scaled to 3');
    const s = readLabState(NAME);
    const web = s.model.pods.filter((p) => p.deployment?.name === 'web');
    expect(web).toHaveLength(3);
    expect(s.workloads.filter((w) => w.pod.startsWith('default/web-'))).toHaveLength(3);
    const table = await execa('ip', ['netns', 'exec', s.netns.find((n) => n.owner === 'node-1')!.name, 'nft', 'list', 'table', 'ip', 'kube-proxy']);
    for (const p of web) expect(table.stdout).toContain(`dnat to ${p.ip}:8080`);
    const bad = await hopscope('lab', 'scale', '--name', NAME, 'nosuch', '2');
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/not found/);
  });

  it('down after kill -9 of the controller leaves no namespace, process, /etc/netns dir or state file', async () => {
    const s = readLabState(NAME);
    process.kill(s.controllerPid, 'SIGKILL');
    const down = await hopscope('lab', 'down', '--name', NAME);
    expect(down.exitCode).toBe(0);
    expect(down.stdout).toMatch(new RegExp(`lab ${NAME} down: ${s.netns.length} namespaces removed`));
    expectGone(NAME, [s.controllerPid, s.api!.inLab.forwarderPid, ...s.workloads.map((w) => w.pid), ...s.sandboxes!.map((x) => x.pid)], s.netns.map((n) => n.name));
    expect(existsSync(s.api!.serviceAccountDir)).toBe(false);
    // The killed controller could not remove its cgroups: down did.
    expect(s.cgroups!.roots.length).toBeGreaterThan(0);
    for (const root of s.cgroups!.roots) expect(existsSync(root), root).toBe(false);
    const again = await hopscope('lab', 'down', '--name', NAME);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toContain(`no lab "${NAME}"`);
  });

  it('up --foreground runs until Ctrl-C, then removes everything', async () => {
    const name = `${NAME}f`;
    const child = execa(process.execPath, ['agent/bin/hopscope.mjs', 'lab', 'up', '--foreground', '--name', name, '--cni', 'calico-routed'], { reject: false, buffer: false });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('Ctrl-C tears the lab down.')) resolve();
        });
        child.on('exit', () => reject(new Error(`exited early:\n${out}`)));
      });
      const s = readLabState(name);
      expect(s).toMatchObject({ phase: 'ready', detached: false, controllerPid: child.pid });
      child.kill('SIGINT');
      const r = await child;
      expect(r.signal).toBe('SIGINT');
      expectGone(name, s.workloads.map((w) => w.pid), s.netns.map((n) => n.name));
    } finally {
      child.kill('SIGKILL');
      await downLab(name).catch(() => undefined);
    }
  });
});
