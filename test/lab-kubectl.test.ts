// The real kubectl against the lab, as a trainer types it: the columns and values a cluster's
// API server prints (server-side Tables), describe, scale, get -w, selectors, namespaces, output
// formats, and `hopscope lab kubectl`. Every value asserted comes from the lab's own model.
// Runs `kubectl` from PATH (1.32 here, Debian's 1.20 on a fresh machine) and every extra binary
// listed in HOPSCOPE_TEST_KUBECTL (colon-separated paths), so both can be checked on one machine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { labUp, loadTopology, type LabHandle } from '../agent/src/lab/lab.ts';
import type { ClusterModel } from '../agent/src/lab/model.ts';

const NAME = `kc${process.pid % 10000}`;
const KUBECTLS = ['kubectl', ...(process.env.HOPSCOPE_TEST_KUBECTL ?? '').split(':').filter((p) => p.length > 0)];
let lab: LabHandle;
let kubeconfig: string;

beforeAll(async () => {
  lab = await labUp(loadTopology(), { name: NAME });
  kubeconfig = lab.state().api!.kubeconfig;
});
afterAll(async () => {
  await lab?.down();
});

const model = (): ClusterModel => lab.state().model;

/** Each request kubectl -v=6 logged: "GET /api/v1/pods 200" (1.20 and 1.32 log alike). */
function requests(stderr: string): string[] {
  return [...stderr.matchAll(/round_trippers\.go:\d+\] (\w+) (\S+) (\d{3})/g)].map((m) => `${m[1]} ${new URL(m[2]!).pathname} ${m[3]}`);
}

/**
 * A kubectl table as rows of header → cell, cut at the header's column starts (kubectl pads
 * columns with spaces; a header or a cell may hold single spaces, e.g. NOMINATED NODE).
 */
function parseTable(out: string): { headers: string[]; rows: Record<string, string>[] } {
  const lines = out.split('\n').filter((l) => l.trim().length > 0);
  if (lines.length === 0) return { headers: [], rows: [] };
  const cols = [...lines[0]!.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], start: m.index }));
  const rows = lines.slice(1).map((l) => Object.fromEntries(cols.map((c, i) => [c.name, l.slice(c.start, cols[i + 1]?.start ?? l.length).trim()])));
  return { headers: cols.map((c) => c.name), rows };
}

const labels = (l: Record<string, string>): string =>
  Object.keys(l)
    .sort()
    .map((k) => `${k}=${l[k]}`)
    .join(',') || '<none>';

describe.each(KUBECTLS)('%s against the lab API', (bin) => {
  /** Run kubectl with -v=6: stdout, and a check that every request it made got a 200. */
  async function kubectl(...args: string[]): Promise<string> {
    const r = await execa(bin, ['--kubeconfig', kubeconfig, '-v=6', ...args], { reject: false, timeout: 60_000 });
    expect(r.exitCode, `${args.join(' ')}: ${r.stderr.split('\n').slice(-5).join('\n')}`).toBe(0);
    const seen = requests(r.stderr);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((l) => !l.endsWith(' 200')), args.join(' ')).toEqual([]);
    return r.stdout;
  }

  it('get pods -A -o wide: READY, STATUS, RESTARTS, AGE, IP and NODE of every pod', async () => {
    const t = parseTable(await kubectl('get', 'pods', '-A', '-o', 'wide'));
    expect(t.headers).toEqual(['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    const m = model();
    expect(t.rows.map((r) => `${r.NAMESPACE}/${r.NAME}`).sort()).toEqual(m.pods.map((p) => `${p.namespace}/${p.name}`).sort());
    for (const p of m.pods) {
      const r = t.rows.find((x) => x.NAME === p.name)!;
      expect(r).toMatchObject({ READY: `${p.containers.length}/${p.containers.length}`, STATUS: 'Running', RESTARTS: '0', IP: p.ip, NODE: p.node, 'NOMINATED NODE': '<none>', 'READINESS GATES': '<none>' });
      expect(r.AGE).toMatch(/^\d+(s|m(\d+s)?|h(\d+m)?|d(\d+h)?)$/);
    }
  });

  it('get pods (default namespace, -n, -l): the narrow columns, only the pods asked for', async () => {
    const m = model();
    const def = parseTable(await kubectl('get', 'pods'));
    expect(def.headers).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(def.rows.map((r) => r.NAME).sort()).toEqual(m.pods.filter((p) => p.namespace === 'default').map((p) => p.name).sort());
    const ks = parseTable(await kubectl('get', 'pods', '-n', 'kube-system'));
    expect(ks.rows.map((r) => r.NAME)).toEqual(m.pods.filter((p) => p.namespace === 'kube-system').map((p) => p.name));
    const web = parseTable(await kubectl('get', 'pods', '-l', 'app=web', '-o', 'wide'));
    expect(web.rows.map((r) => [r.NAME, r.IP, r.NODE]).sort()).toEqual(m.pods.filter((p) => p.labels.app === 'web').map((p) => [p.name, p.ip, p.node]).sort());
    const notWeb = await kubectl('get', 'pods', '-A', '-l', 'app!=web', '-o', 'name');
    expect(notWeb.trim().split('\n').sort()).toEqual(m.pods.filter((p) => p.labels.app !== 'web').map((p) => `pod/${p.name}`).sort());
  });

  it('get services -A -o wide: TYPE, CLUSTER-IP, EXTERNAL-IP, PORT(S), SELECTOR', async () => {
    const t = parseTable(await kubectl('get', 'services', '-A', '-o', 'wide'));
    expect(t.headers).toEqual(['NAMESPACE', 'NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
    const m = model();
    expect(t.rows).toHaveLength(m.services.length);
    for (const s of m.services) {
      const ports = s.ports.map((p) => (s.type === 'NodePort' ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`)).join(',');
      expect(t.rows.find((r) => r.NAME === s.name)).toMatchObject({ NAMESPACE: s.namespace, TYPE: s.type, 'CLUSTER-IP': s.clusterIP, 'EXTERNAL-IP': '<none>', 'PORT(S)': ports, SELECTOR: labels(s.selector) });
    }
  });

  it('get endpoints and endpointslices: the backends behind each Service', async () => {
    const m = model();
    const ep = parseTable(await kubectl('get', 'endpoints', '-A'));
    expect(ep.headers).toEqual(['NAMESPACE', 'NAME', 'ENDPOINTS', 'AGE']);
    for (const s of m.services) {
      const all = s.ports.flatMap((p) => s.endpoints.map((e) => `${e.ip}:${p.targetPort}`));
      const want = all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',') || '<none>';
      expect(ep.rows.find((r) => r.NAME === s.name)?.ENDPOINTS, s.name).toBe(want);
    }
    const slices = parseTable(await kubectl('get', 'endpointslices', '-A'));
    expect(slices.headers).toEqual(['NAMESPACE', 'NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
    for (const s of m.services) {
      const row = slices.rows.find((r) => new RegExp(`^${s.name}-[a-z0-9]{5}$`).test(r.NAME ?? ''))!;
      expect(row).toMatchObject({ NAMESPACE: s.namespace, ADDRESSTYPE: 'IPv4', PORTS: s.ports.map((p) => p.targetPort).join(','), ENDPOINTS: s.endpoints.map((e) => e.ip).join(',') });
    }
  });

  it('get nodes -o wide, deployments -o wide, replicasets, namespaces', async () => {
    const m = model();
    const nodes = parseTable(await kubectl('get', 'nodes', '-o', 'wide'));
    expect(nodes.headers).toEqual(['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', 'INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME']);
    expect(nodes.rows.map((r) => [r.NAME, r.STATUS, r['INTERNAL-IP']])).toEqual(m.nodes.map((n) => [n.name, 'Ready', n.address]));
    const deploys = parseTable(await kubectl('get', 'deployments', '-o', 'wide'));
    expect(deploys.headers).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
    for (const d of m.deployments) {
      const have = m.pods.filter((p) => p.deployment?.name === d.name).length;
      expect(deploys.rows.find((r) => r.NAME === d.name)).toMatchObject({ READY: `${have}/${d.replicas}`, 'UP-TO-DATE': String(have), AVAILABLE: String(have), CONTAINERS: d.containers.map((c) => c.name).join(','), SELECTOR: labels(d.labels) });
    }
    const rs = parseTable(await kubectl('get', 'replicasets'));
    expect(rs.headers).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
    // Every Deployment's ReplicaSet (the model names it on each of its pods): desired, current and ready.
    for (const d of m.deployments) {
      const pods = m.pods.filter((p) => p.deployment?.name === d.name);
      if (!pods.length) continue;
      const n = String(pods.length);
      expect(rs.rows.find((r) => r.NAME === pods[0]!.deployment!.replicaSet), d.name).toMatchObject({ DESIRED: String(d.replicas), CURRENT: n, READY: n });
    }
    const ns = parseTable(await kubectl('get', 'namespaces'));
    expect(ns.headers).toEqual(['NAME', 'STATUS', 'AGE']);
    for (const n of new Set(m.pods.map((p) => p.namespace))) expect(ns.rows.find((r) => r.NAME === n)?.STATUS).toBe('Active');
  });

  it('--field-selector, get all, leases, events and api-resources', async () => {
    const m = model();
    const onNode1 = parseTable(await kubectl('get', 'pods', '-A', '--field-selector', 'spec.nodeName=node-1'));
    expect(onNode1.rows.map((r) => r.NAME).sort()).toEqual(m.pods.filter((p) => p.node === 'node-1').map((p) => p.name).sort());
    // get all: the "all" category of the default namespace (pods, Services, Deployments, ReplicaSets).
    const all = (await kubectl('get', 'all', '-o', 'name')).trim().split('\n').sort();
    const def = <T extends { namespace: string }>(xs: T[]) => xs.filter((x) => x.namespace === 'default');
    const rsOf = new Set(def(m.pods).flatMap((p) => (p.deployment ? [`replicaset.apps/${p.deployment.replicaSet}`] : [])));
    expect(all).toEqual(
      [...def(m.pods).map((p) => `pod/${p.name}`), ...def(m.services).map((x) => `service/${x.name}`), ...def(m.deployments).map((d) => `deployment.apps/${d.name}`), ...rsOf].sort(),
    );
    const leases = parseTable(await kubectl('get', 'leases', '-n', 'kube-node-lease'));
    expect(leases.headers).toEqual(['NAME', 'HOLDER', 'AGE']);
    expect(leases.rows.map((r) => [r.NAME, r.HOLDER])).toEqual(m.nodes.map((n) => [n.name, n.name]));
    const ev = await execa(bin, ['--kubeconfig', kubeconfig, 'get', 'events', '-A'], { reject: false, timeout: 60_000 });
    expect(ev.exitCode, ev.stderr).toBe(0);
    expect(ev.stdout).toBe('');
    expect(ev.stderr.trim()).toBe('No resources found');
    const res = parseTable(await kubectl('api-resources'));
    expect(res.rows.map((r) => r.NAME).sort()).toEqual(['deployments', 'endpoints', 'endpointslices', 'events', 'leases', 'namespaces', 'nodes', 'pods', 'replicasets', 'services']);
  });

  it('-o json, -o yaml, -o jsonpath and -o name print the objects themselves', async () => {
    const m = model();
    const json = JSON.parse(await kubectl('get', 'pods', '-A', '-o', 'json')) as { items: { metadata: { name: string } }[] };
    expect(json.items.map((p) => p.metadata.name).sort()).toEqual(m.pods.map((p) => p.name).sort());
    const yaml = parseYaml(await kubectl('get', 'service', 'web', '-o', 'yaml')) as { spec: { clusterIP: string } };
    expect(yaml.spec.clusterIP).toBe(m.services.find((s) => s.name === 'web')!.clusterIP);
    const ips = await kubectl('get', 'pods', '-A', '-o', 'jsonpath={.items[*].status.podIP}');
    expect(ips.trim().split(' ').sort()).toEqual(m.pods.map((p) => p.ip).sort());
    const names = await kubectl('get', 'nodes', '-o', 'name');
    expect(names.trim().split('\n')).toEqual(m.nodes.map((n) => `node/${n.name}`));
  });

  it('describe pod, service, node and deployment', async () => {
    const m = model();
    const pod = m.pods.find((p) => p.deployment?.name === 'web')!;
    const node = m.nodes.find((n) => n.name === pod.node)!;
    const dp = await kubectl('describe', 'pod', pod.name);
    expect(dp).toMatch(new RegExp(`^Node:\\s+${pod.node}/${node.address}$`, 'm'));
    expect(dp).toMatch(new RegExp(`^IP:\\s+${pod.ip}$`, 'm'));
    expect(dp).toMatch(/^Events:\s+<none>$/m);
    const svc = m.services.find((s) => s.name === 'web')!;
    const ds = await kubectl('describe', 'service', 'web');
    expect(ds).toMatch(new RegExp(`^Endpoints:\\s+${svc.endpoints.map((e) => `${e.ip}:${svc.ports[0]!.targetPort}`).join(',')}$`, 'm'));
    expect(ds).toMatch(new RegExp(`^IP:\\s+${svc.clusterIP}$`, 'm'));
    const dn = await kubectl('describe', 'node', node.name);
    expect(dn).toMatch(new RegExp(`^\\s+InternalIP:\\s+${node.address}$`, 'm'));
    expect(dn).toMatch(new RegExp(`^\\s+HolderIdentity:\\s+${node.name}$`, 'm'));
    // Its non-terminated pods are the model's pods on that node.
    for (const p of m.pods) expect(dn.includes(` ${p.name} `), p.name).toBe(p.node === node.name);
    const d = m.deployments.find((x) => x.name === 'web')!;
    const dd = await kubectl('describe', 'deployment', 'web');
    expect(dd).toMatch(new RegExp(`^Replicas:\\s+${d.replicas} desired \\| ${d.replicas} updated \\| ${d.replicas} total \\| ${d.replicas} available \\| 0 unavailable$`, 'm'));
    expect(dd).toMatch(new RegExp(`^NewReplicaSet:\\s+${pod.deployment!.replicaSet} \\(${d.replicas}/${d.replicas} replicas created\\)$`, 'm'));
  });

  it('get pods -w shows a scale-up pod arrive Running and a scale-down pod go Terminating', async () => {
    const out: string[] = [];
    const watch = execa(bin, ['--kubeconfig', kubeconfig, 'get', 'pods', '-l', 'app=web', '-w'], { reject: false, buffer: false });
    watch.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    // Rows printed later are not re-aligned to the header (Terminating is wider than Running):
    // the narrow pod columns hold no spaces, so split on whitespace.
    const rows = () =>
      out
        .join('')
        .split('\n')
        .slice(1)
        .filter((l) => l.trim())
        .map((l) => {
          const [NAME, READY, STATUS, RESTARTS, AGE] = l.trim().split(/\s+/);
          return { NAME, READY, STATUS, RESTARTS, AGE };
        });
    const until = async (what: string, f: () => boolean) => {
      const end = Date.now() + 30_000;
      while (!f()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; watch printed:\n${out.join('')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      const before = model().pods.filter((p) => p.deployment?.name === 'web');
      await until('the current pods', () => rows().length >= before.length);
      expect(rows().map((r) => r.NAME).sort()).toEqual(before.map((p) => p.name).sort());
      expect(await kubectl('scale', 'deployment/web', '--replicas', String(before.length + 1))).toBe('deployment.apps/web scaled');
      const added = model().pods.find((p) => p.deployment?.name === 'web' && !before.some((b) => b.uid === p.uid))!;
      await until('the new pod', () => rows().some((r) => r.NAME === added.name && r.STATUS === 'Running'));
      await kubectl('scale', 'deployment', 'web', `--replicas=${before.length}`);
      expect(model().pods.some((p) => p.uid === added.uid)).toBe(false);
      await until('the removed pod terminating', () => rows().some((r) => r.NAME === added.name && r.STATUS === 'Terminating'));
      // One header: the rows of later events print under the first.
      expect(out.join('').match(/^NAME\s/gm)).toHaveLength(1);
    } finally {
      watch.kill('SIGTERM');
      await watch;
    }
  });
});

describe('hopscope lab kubectl', () => {
  const hopscope = (...args: string[]) => execa(process.execPath, ['agent/bin/hopscope.mjs', 'lab', 'kubectl', ...args], { reject: false, timeout: 100_000 });

  it("runs kubectl with the lab's kubeconfig: what kubectl prints against the lab API", async () => {
    const m = model();
    const r = await hopscope('--name', NAME, 'get', 'pods', '-A', '-o', 'wide');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(parseTable(r.stdout).rows.map((x) => [x.NAME, x.IP, x.NODE]).sort()).toEqual(m.pods.map((p) => [p.name, p.ip, p.node]).sort());
    // After "--" everything is kubectl's, a "--" of kubectl's own included.
    const ip = await hopscope('--name', NAME, '--', 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}');
    expect(ip.stdout).toBe(m.services.find((s) => s.name === 'web')!.clusterIP);
    // kubectl's exit code and its error come through.
    const missing = await hopscope('--name', NAME, 'get', 'pod', 'no-such-pod');
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('pods "no-such-pod" not found');
  });

  it('says what is wrong: no kubectl arguments, an unknown lab, kubectl missing', async () => {
    const none = await hopscope('--name', NAME);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain('usage: hopscope lab kubectl');
    const other = await hopscope('--name', `${NAME}x`, 'get', 'pods');
    expect(other.exitCode).toBe(1);
    expect(other.stderr).toContain(`${NAME}x`);
    const noKubectl = await execa(process.execPath, ['agent/bin/hopscope.mjs', 'lab', 'kubectl', '--name', NAME, 'get', 'pods'], { reject: false, env: { PATH: '/nonexistent' } });
    expect(noKubectl.exitCode).toBe(1);
    expect(noKubectl.stderr).toContain('kubectl is not installed');
  });
});
