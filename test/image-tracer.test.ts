// The image's bpftrace (0.23.2, Debian trixie) against the host's (0.17, bookworm), on the same
// kernel: the image built by `npm run image` (cached by content), started with podman and the
// DaemonSet's own capabilities and seccomp profile (read from manifests/agent-daemonset.yaml),
// must compile every form of the program, trace a lab through `hopscope trace --lab`, and give
// the same journeys as the host's pipeline for the same calls. It also measures that each of the
// manifest's capabilities is needed. Needs podman (setup installs it): without it this fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_KERNEL_FILTER, type KernelFilter } from '../agent/src/tracer/kernel-filter.ts';
import { renderProgram } from '../agent/src/tracer/program.ts';
import type { Journey } from '../agent/src/protocol/events.ts';
import { curl, curlUntilNode, synOf, traceLabForFile, waitFor } from './trace-helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const CONTAINERS_CONF = join(ROOT, 'scripts/containers.conf');
const NAME = `im${process.pid % 10000}`;
const t = traceLabForFile(NAME, { cni: 'flannel-vxlan', kubeProxy: 'iptables' });

/** The agent container's capabilities and seccomp profile, as the DaemonSet says. */
function manifestSecurity(): { caps: string[]; seccompUnconfined: boolean } {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'manifests/agent-daemonset.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, unknown>);
  const ds = docs.find((d) => d.kind === 'DaemonSet') as { spec: { template: { spec: { containers: { securityContext: { capabilities: { drop: string[]; add: string[] }; seccompProfile?: { type: string } } }[] } } } };
  const sc = ds.spec.template.spec.containers[0]!.securityContext;
  expect(sc.capabilities.drop).toEqual(['ALL']);
  return { caps: sc.capabilities.add, seccompUnconfined: sc.seccompProfile?.type === 'Unconfined' };
}

let image = '';
const podman = (args: string[], o: { timeout?: number } = {}) =>
  execa('podman', args, { env: { CONTAINERS_CONF }, reject: false, timeout: o.timeout ?? 120_000, stdin: 'ignore' });
const containerName = () => `hs-im-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** `podman run` arguments for the agent container: the manifest's security, the node's mounts. */
function runArgs(name: string, caps: string[], extra: string[] = []): string[] {
  const sec = manifestSecurity();
  return [
    'run', '--rm', '--name', name, '--cap-drop', 'ALL', ...caps.flatMap((c) => ['--cap-add', c]),
    ...(sec.seccompUnconfined ? ['--security-opt', 'seccomp=unconfined'] : []),
    '--read-only', '--tmpfs', '/tmp:size=32m', '--network', 'host', '--pid', 'host',
    '-v', '/sys/kernel/btf:/sys/kernel/btf:ro', '-v', '/sys/kernel/tracing:/sys/kernel/tracing:ro', '-v', '/proc:/host/proc:ro',
    ...extra,
  ];
}

beforeAll(async () => {
  // Fails (does not skip) without podman: the script names what is missing.
  const r = await execa('bash', [join(ROOT, 'scripts/image.sh')], { env: { HOPSCOPE_IMAGE_QUIET: '1' }, reject: false, timeout: 20 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`npm run image failed (${r.exitCode}): ${r.stderr}`);
  image = r.stdout.trim().split('\n').at(-1)!;
}, 20 * 60_000);

describe('the image: bpftrace 0.23.2 with the DaemonSet\'s capabilities', () => {
  it('runs bpftrace 0.23.2 (the version this file exists to cover)', async () => {
    const r = await podman(['run', '--rm', '--name', containerName(), '--entrypoint', 'bpftrace', image, '--version']);
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
      const r = await podman([...runArgs(containerName(), manifestSecurity().caps, ['-v', `${dir}:/p:ro`]), '--entrypoint', 'sh', image, '-c', script]);
      // (bpftrace warns that nf_nat_manip_pkt is not traceable here, on stderr: not a failure.)
      expect(r.stdout).toBe('');
      expect(r.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('doctor in the container reports the probe set and says what is missing', async () => {
    const r = await podman([...runArgs(containerName(), manifestSecurity().caps), image, 'doctor']);
    expect(r.stdout).toMatch(/^bpftrace +yes .*0\.23\.2/m);
    expect(r.stdout).toMatch(/^tracepoints +yes attaches/m);
    expect(r.stdout).toMatch(/^probe set +(tracepoints|kprobes): /m);
    expect(r.stdout).not.toContain('undefined');
    expect(r.stdout).toContain('ip is not installed');
    expect(r.stdout).toMatch(/^process netns +yes /m);
    expect(r.exitCode).toBe(0);
    // Without SYS_PTRACE, doctor names what is lost and the capability that gives it back.
    const lacking = await podman([...runArgs(containerName(), manifestSecurity().caps.filter((c) => c !== 'SYS_PTRACE')), image, 'doctor']);
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
    const run = async (caps: string[]) => (await podman([...runArgs(containerName(), caps), '--entrypoint', 'sh', image, '-c', probes])).stdout.split('\n').filter(Boolean);
    const all = ['bpf-ok', 'netns-ok', 'cgroup-ok', 'tracefs-ok'];
    const { caps } = manifestSecurity();
    expect(await run(caps)).toEqual(all);
    for (const c of caps) {
      const got = await run(caps.filter((x) => x !== c));
      expect(got, `without ${c}`).not.toEqual(all);
    }
  });
});

/** `hopscope trace --lab <name> --json` in the image, journeys collected as they come. */
function traceInContainer(lab: string): { journeys: Journey[]; stderr: string[]; child: ChildProcess; name: string } {
  const name = containerName();
  const args = runArgs(name, manifestSecurity().caps, ['-v', '/run/hopscope:/run/hopscope:ro', '-v', '/run/netns:/run/netns:ro']);
  const child = spawn('podman', [...args, image, 'trace', '--lab', lab, '--json'], { env: { ...process.env, CONTAINERS_CONF }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { journeys: [] as Journey[], stderr: [] as string[], child, name };
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (l.startsWith('{')) out.journeys.push(JSON.parse(l) as Journey);
  });
  createInterface({ input: child.stderr! }).on('line', (l) => {
    if (out.stderr.length < 50) out.stderr.push(l);
  });
  return out;
}

/** What must be equal between the two tracers: each hop's kind, device and owner, and the NAT. */
const shape = (j: Journey) =>
  j.hops.map((h) => `${h.kind} ${h.where.label} ${h.dev}${h.nat ? ` nat ${h.nat.before.ip}:${h.nat.before.port}->${h.nat.after.ip}:${h.nat.after.port}` : ''}`);

describe('the same journeys under 0.17 (host) and 0.23.2 (image)', () => {
  let c: ReturnType<typeof traceInContainer> | undefined;
  afterAll(async () => {
    if (!c) return;
    c.child.kill('SIGINT');
    await podman(['rm', '-f', '-t', '2', c.name]);
  });

  it('same-node, cross-node and ClusterIP calls give the same hops, devices, owners and NAT', async () => {
    c = traceInContainer(NAME);
    const client = t.pod('default', 'client');
    const local = t.lab.state().model.pods.find((p) => p.name.startsWith('web') && p.node === client.node)!;
    const remote = t.lab.state().model.pods.find((p) => p.name.startsWith('web') && p.node !== client.node)!;
    // The container's tracer attaches a few seconds after it starts: call until it shows one.
    for (let i = 0; ; i++) {
      const a = await curl(t.lab, 'default/client', `http://${local.ip}:8080/`);
      if (await waitFor('a first journey from the container', () => synOf(c!.journeys, client.ip, a.peerPort), 2000).catch(() => undefined)) break;
      if (i === 20 || c.child.exitCode !== null) throw new Error(`the container delivered no journey: ${c.stderr.join('\n')}`);
    }
    const calls = [
      await curl(t.lab, 'default/client', `http://${local.ip}:8080/`),
      await curl(t.lab, 'default/client', `http://${remote.ip}:8080/`),
      await curlUntilNode(t.lab, 'default/client', 'http://10.96.0.20:80/', remote.node),
    ];
    for (const a of calls) {
      const host = await waitFor(`the host's SYN from port ${a.peerPort}`, () => synOf(t.journeys, client.ip, a.peerPort));
      const image = await waitFor(`the image's SYN from port ${a.peerPort}`, () => synOf(c!.journeys, client.ip, a.peerPort));
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
