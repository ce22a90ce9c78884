// The image's bpftrace (0.23.2, Debian trixie) against the host's (0.17, bookworm), on the same
// kernel: the image built by `npm run image` (cached by content), started on lab node-1 by the
// kubelet stand-in (test/podman-kit) from manifests/agent-daemonset.yaml as written, its command,
// read-only hostPath volumes or a capability changed in a copy of the manifest where a test needs
// it. It must compile every form of the program, report its sampler counters as the decoder
// reads them, trace a lab through `hopscope trace --lab`, and give the same journeys as the
// host's pipeline for the same calls. It also measures that each of the manifest's capabilities
// is needed. Needs podman (setup installs it): without it this fails.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_KERNEL_FILTER, type KernelFilter } from '../agent/src/tracer/kernel-filter.ts';
import { PROGRAM_VERSION, renderProgram } from '../agent/src/tracer/program.ts';
import { createDecoder } from '../agent/src/tracer/decoder.ts';
import { targetNetns } from '../agent/src/lab/lab.ts';
import { loadManifest } from './podman-kit/manifests.ts';
import { podToPodman, type PodmanRun } from './podman-kit/pod-to-podman.ts';
import { buildImage, inNetns, journeyFeed, labNodeContext, removeNodeFiles, type JourneyFeed } from './podman-kit/lab-node.ts';
import { containerName, leftContainers, podman, podmanProcessEnv, requirePodman, runToExit, sleep, startContainer, type Container } from './podman-kit/podman.ts';
import { curl, curlUntilNode, synOf, traceLabForFile, waitFor } from './trace-helpers.ts';
import type { Journey } from '../agent/src/protocol/events.ts';

const PREFIX = 'im';
const NODE = 'node-1';
const NAME = `im${process.pid % 10000}`;
const t = traceLabForFile(NAME, { cni: 'flannel-vxlan', kubeProxy: 'iptables' });
const TOKEN = randomBytes(18).toString('base64url');

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const manifest = (): AnyObj => structuredClone(loadManifest('agent-daemonset.yaml', 'DaemonSet')) as AnyObj;
const agentOf = (d: AnyObj): AnyObj => d.spec.template.spec.containers[0];
/** The capabilities the DaemonSet's agent container adds (after dropping ALL). */
const manifestCaps = (): string[] => agentOf(manifest()).securityContext.capabilities.add as string[];

/** What a test changes in (a copy of) the manifest's agent container. */
interface Edit {
  /** The container's command; its args are then `args` or none (not the manifest's `serve ...`). */
  command?: string[];
  args?: string[];
  /** Host folders mounted read-only (hostPath volumes) at the same path, or at `at`. */
  hostPaths?: { path: string; at?: string }[];
  /** The capabilities it adds, in place of the manifest's. */
  caps?: string[];
}

let image = '';

/** The agent pod of the DaemonSet on lab node-1, edited as `edit` says, as the kubelet stand-in runs it. */
function agentRun(edit: Edit = {}): PodmanRun {
  const doc = manifest();
  const c = agentOf(doc);
  if (edit.command) c.command = edit.command;
  if (edit.args || edit.command) c.args = edit.args ?? [];
  for (const [i, h] of (edit.hostPaths ?? []).entries()) {
    doc.spec.template.spec.volumes.push({ name: `test${i}`, hostPath: { path: h.path } });
    c.volumeMounts.push({ name: `test${i}`, mountPath: h.at ?? h.path, readOnly: true });
  }
  if (edit.caps) c.securityContext.capabilities.add = edit.caps;
  return podToPodman(doc, 'agent', labNodeContext(t.lab, NODE, { manifest: doc, image, containerName: containerName(PREFIX), token: TOKEN }));
}

/** Runs a shell script in the agent container (edited as `edit` says) to its end. */
const shInAgent = (script: string, edit: Edit = {}) => runToExit(agentRun({ command: ['sh', '-c', script], ...edit }), 120_000);

beforeAll(() => {
  // Fails (does not skip) without podman or the image.
  console.log(requirePodman());
  image = buildImage();
}, 20 * 60_000);

afterAll(() => {
  removeNodeFiles();
  // Nothing of this file is left in podman.
  expect(leftContainers(PREFIX)).toEqual([]);
});

describe('the image: bpftrace 0.23.2 with the DaemonSet\'s capabilities', () => {
  // The report probe prints its sampler counters' run totals (print then zero lost what other
  // CPUs counted in between); the decoder turns them into per-report amounts. Under 0.23.2 too:
  // every hop line the image's bpftrace printed is counted by its reports, exactly.
  it('reports sampler totals that count every hop line it printed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-im-prog-'));
    let bpftrace: Container | undefined;
    try {
      const state = t.lab.state();
      const client = t.pod('default', 'client');
      const web = t.pod('default', 'web', 'node-2');
      const filter: KernelFilter = {
        ...DEFAULT_KERNEL_FILTER,
        netns: state.netns.map((n) => n.inode),
        from: { cidrs: [{ family: 4, bytes: client.ip.split('.').map(Number), prefix: 32 }], ports: [] },
        proto: 'icmp',
        everyPacket: true,
      };
      writeFileSync(join(dir, 'p.bt'), renderProgram(filter, { probeSet: 'tracepoints', vxlanPorts: [4789, 8472] }));
      bpftrace = await startContainer(agentRun({ command: ['bpftrace'], args: ['-B', 'full', '/p/p.bt'], hostPaths: [{ path: dir, at: '/p' }] }));
      const logs = async (): Promise<string[]> => (await podman(['logs', bpftrace!.name])).stdout.split('\n');
      for (const t0 = Date.now(); !(await logs()).includes(`B hopscope ${PROGRAM_VERSION}`); await sleep(200))
        if (Date.now() - t0 > 60_000) throw new Error(`bpftrace in the image did not attach: ${await bpftrace.logs()}`);
      const ping = inNetns(targetNetns(state, 'default/client').name, ['ping', '-c', '30', '-i', '0.02', '-W', '2', web.ip]);
      expect(ping.stdout).toMatch(/30 packets transmitted, 30 received/);
      const count = (lines: string[]) => {
        const d = createDecoder({ reasonNames: new Map() });
        const got = { printed: 0, hops: 0 };
        for (const l of lines) {
          if (l === '') continue;
          const e = d.decode(l);
          if (e.type === 'hop') got.hops++;
          else if (e.type === 'sampled') got.printed += e.printed;
        }
        return got;
      };
      // Until the reports have caught up with the lines (a report a second), then one more.
      for (const t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(300)) {
        const c = count(await logs());
        if (c.hops > 0 && c.printed === c.hops) break;
      }
      await sleep(1500);
      const lines = await logs();
      const got = count(lines);
      // Each echo and reply crosses at least 8 traced devices between the two nodes.
      expect(got.hops).toBeGreaterThanOrEqual(30 * 2 * 8);
      expect(got.printed).toBe(got.hops);
      // The totals only grow: nothing zeroes them between reports.
      const totals = lines.filter((l) => l.startsWith('@prn: ')).map((l) => Number(l.slice(6)));
      expect(totals.length).toBeGreaterThanOrEqual(2);
      expect(totals.at(-1)).toBe(got.hops);
      expect(totals).toEqual([...totals].sort((a, b) => a - b));
      // Its flush lines carry the kernel time (the stream clock the idle time-out counts on).
      const d = createDecoder({ reasonNames: new Map() });
      const flushes = lines.filter((l) => l.startsWith('P ')).map((l) => d.decode(l));
      expect(flushes.length).toBeGreaterThan(5);
      for (const f of flushes) expect(f).toMatchObject({ type: 'notice', kind: 'flush', value: expect.any(Number) });
      expect(flushes.every((f) => f.type === 'notice' && f.value > 0)).toBe(true);
    } finally {
      await bpftrace?.remove();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('runs bpftrace 0.23.2 (the version this file exists to cover)', async () => {
    const r = await runToExit(agentRun({ command: ['bpftrace'], args: ['--version'] }), 60_000);
    expect(r.stdout).toMatch(/bpftrace v0\.23\.2/);
  });

  it('compiles the program for every filter form (0.23.2 once crashed on a nested ternary)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-im-prog-'));
    try {
      const v4 = { family: 4 as const, bytes: [10, 244, 1, 0], prefix: 24 };
      const forms: Partial<KernelFilter>[] = [
        {},
        { everyPacket: true, sampleEvery: 0 },
        { from: { cidrs: [v4], ports: [80, 443] }, to: { cidrs: [v4], ports: [8080] }, proto: 'tcp' },
        { ports: [53], proto: 'udp', netns: [4026532177, 4026532178], netnsClosed: true },
      ];
      forms.forEach((f, i) => writeFileSync(join(dir, `p${i}.bt`), renderProgram({ ...DEFAULT_KERNEL_FILTER, ...f }, { probeSet: 'tracepoints', vxlanPorts: [4789, 8472] })));
      writeFileSync(join(dir, 'k.bt'), renderProgram(DEFAULT_KERNEL_FILTER, { probeSet: 'kprobes', vxlanPorts: [4789, 8472] }));
      // --dry-run: compiled, loaded and verified by the kernel, not attached. The kprobes form
      // only compiles (--emit-elf): this kernel has no kprobes to load it against.
      const script = [
        ...forms.map((_, i) => `bpftrace --dry-run /p/p${i}.bt >/dev/null 2>/tmp/err || { echo "p${i}: exit $?"; grep -v RLIMIT_MEMLOCK /tmp/err | tail -3; }`),
        'bpftrace --emit-elf /tmp/k.o /p/k.bt >/dev/null 2>/tmp/err || { echo "k: exit $?"; tail -3 /tmp/err; }',
      ].join('; ');
      const r = await shInAgent(script, { hostPaths: [{ path: dir, at: '/p' }] });
      // (bpftrace warns that nf_nat_manip_pkt is not traceable here, on stderr: not a failure.)
      expect(r.stdout).toBe('');
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('doctor in the container reports the probe set and says what is missing', async () => {
    const r = await runToExit(agentRun({ args: ['doctor'] }), 120_000);
    expect(r.stdout).toMatch(/^bpftrace +yes .*0\.23\.2/m);
    expect(r.stdout).toMatch(/^tracepoints +yes attaches/m);
    expect(r.stdout).toMatch(/^probe set +(tracepoints|kprobes): /m);
    expect(r.stdout).not.toContain('undefined');
    expect(r.stdout).toContain('ip is not installed');
    expect(r.stdout).toMatch(/^process netns +yes /m);
    expect(r.code).toBe(0);
    // Without SYS_PTRACE, doctor names what is lost and the capability that gives it back.
    const lacking = await runToExit(agentRun({ args: ['doctor'], caps: manifestCaps().filter((c) => c !== 'SYS_PTRACE') }), 120_000);
    expect(lacking.stdout).toMatch(/^process netns +no +no CAP_SYS_PTRACE: \d+ of \d+ processes/m);
    expect(lacking.stdout).toMatch(/pods on this node cannot be named; a container needs CAP_SYS_PTRACE/);
  });

  // Each capability the manifest grants, removed in turn, breaks something the agent does on a
  // node; with all of them everything works. A pod's process of the lab stands for a
  // container's process on the node (hostPID).
  it('needs every capability the manifest grants, and no more', async () => {
    const pid = t.lab.state().workloads[0]!.pid;
    expect(pid).toBeGreaterThan(1);
    const probes = [
      `bpftrace -e 'tracepoint:net:netif_receive_skb { $s = (struct sk_buff *)args->skbaddr; @n[$s->dev->ifindex] = count(); } interval:ms:100 { exit(); }' >/dev/null 2>&1 && echo bpf-ok`,
      `readlink /host/proc/${pid}/ns/net >/dev/null 2>&1 && echo netns-ok`,
      `cat /host/proc/${pid}/cgroup >/dev/null 2>&1 && echo cgroup-ok`,
      'cat /sys/kernel/tracing/events/skb/kfree_skb/format >/dev/null 2>&1 && echo tracefs-ok',
    ].join('; ');
    const run = async (caps: string[]) => (await shInAgent(probes, { caps })).stdout.split('\n').filter(Boolean);
    const all = ['bpf-ok', 'netns-ok', 'cgroup-ok', 'tracefs-ok'];
    const caps = manifestCaps();
    // "No more": every other capability is dropped.
    expect(agentRun().argv.filter((a, i, argv) => argv[i - 1] === '--cap-drop')).toEqual(['ALL']);
    expect(await run(caps)).toEqual(all);
    for (const c of caps) {
      const got = await run(caps.filter((x) => x !== c));
      expect(got, `without ${c}`).not.toEqual(all);
    }
  });
});

/**
 * `hopscope trace --lab <name> --json` in the agent container on node-1, journeys read from its
 * log as they come. In node-1's network namespace (hostNetwork) the lab's API is the in-lab
 * address (as for the DaemonSet), so it names things through the lab's in-lab kubeconfig.
 */
async function traceInContainer(lab: string): Promise<{ container: Container; feed: JourneyFeed }> {
  const api = t.lab.state().api;
  if (!api) throw new Error(`lab ${lab} runs without its API`);
  const run = agentRun({ args: ['trace', '--lab', lab, '--kubeconfig', api.inLab.kubeconfig, '--json'], hostPaths: [{ path: '/run/hopscope' }, { path: '/run/netns' }] });
  const container = await startContainer(run);
  return { container, feed: journeyFeed('podman', ['logs', '-f', container.name], podmanProcessEnv()) };
}

/** What must be equal between the two tracers: each hop's kind, device and owner, and the NAT. */
const shape = (j: Journey) =>
  j.hops.map((h) => `${h.kind} ${h.where.label} ${h.dev}${h.nat ? ` nat ${h.nat.before.ip}:${h.nat.before.port}->${h.nat.after.ip}:${h.nat.after.port}` : ''}`);

describe('the same journeys under 0.17 (host) and 0.23.2 (image)', () => {
  let inImage: Awaited<ReturnType<typeof traceInContainer>> | undefined;
  afterAll(async () => {
    await inImage?.container.remove();
    await inImage?.feed.stop();
  });

  it('same-node, cross-node and ClusterIP calls give the same hops, devices, owners and NAT', async () => {
    inImage = await traceInContainer(NAME);
    const c = inImage.feed;
    const client = t.pod('default', 'client');
    const local = t.lab.state().model.pods.find((p) => p.name.startsWith('web') && p.node === client.node)!;
    const remote = t.lab.state().model.pods.find((p) => p.name.startsWith('web') && p.node !== client.node)!;
    // The container's tracer attaches a few seconds after it starts: call until it shows one.
    for (let i = 0; ; i++) {
      const a = await curl(t.lab, 'default/client', `http://${local.ip}:8080/`);
      if (await waitFor('a first journey from the container', () => synOf(c.journeys, client.ip, a.peerPort), 2000).catch(() => undefined)) break;
      if (i === 20 || c.child.exitCode !== null) throw new Error(`the container delivered no journey: ${c.stderr.join('\n')}`);
    }
    const calls = [
      await curl(t.lab, 'default/client', `http://${local.ip}:8080/`),
      await curl(t.lab, 'default/client', `http://${remote.ip}:8080/`),
      await curlUntilNode(t.lab, 'default/client', 'http://10.96.0.20:80/', remote.node),
    ];
    for (const a of calls) {
      const host = await waitFor(`the host's SYN from port ${a.peerPort}`, () => synOf(t.journeys, client.ip, a.peerPort));
      const image = await waitFor(`the image's SYN from port ${a.peerPort}`, () => synOf(c.journeys, client.ip, a.peerPort));
      // Both journeys end when the packet is delivered: wait until neither grows any more.
      await new Promise((r) => setTimeout(r, 1500));
      const h = synOf(t.journeys, client.ip, a.peerPort)!;
      const i = synOf(c.journeys, client.ip, a.peerPort)!;
      expect(shape(i), `call to ${a.pod} from port ${a.peerPort}`).toEqual(shape(h));
      expect(i.hops.length).toBeGreaterThan(2);
      expect([host.src.ip, host.dst.ip]).toEqual([image.src.ip, image.dst.ip]);
    }
  });
});
