// The README's promises about the command line, checked as a user meets them: `hopscope ...` run
// as a child process (agent/bin/hopscope.mjs), its exit code, stdout and stderr. Each case here
// was found broken once (issue 12, section 5).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { downLab } from '../agent/src/lab/teardown.ts';

const BIN = 'agent/bin/hopscope.mjs';
const NAME = `cl${process.pid % 10000}`;
const scratch = mkdtempSync(join(tmpdir(), 'hs-cli-'));
// No lab (an empty labs dir: other labs on this machine are not this test's), no kubeconfig.
const noLabs = mkdtempSync(join(scratch, 'labs-'));
const emptyHome = mkdtempSync(join(scratch, 'home-'));
const bare: Record<string, string> = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && e[0] !== 'KUBECONFIG'));
const alone = { ...bare, HOME: emptyHome, HOPSCOPE_LABS_DIR: noLabs };

const hopscope = (args: string[], env: Record<string, string> = bare, timeout = 60_000) =>
  execa(process.execPath, [BIN, ...args], { reject: false, timeout, env, extendEnv: false });

/** Start a long-running command; resolves once its stderr or stdout says `ready`. */
async function running(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ResultPromise; out: () => string; err: () => string }> {
  const child = execa(process.execPath, [BIN, ...args], { reject: false, env, extendEnv: false, buffer: false, detached: true });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const end = Date.now() + 60_000;
  while (!ready.test(out + err)) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`hopscope ${args.join(' ')} did not get ready:\n${out}\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, out: () => out, err: () => err };
}

/** The exit code, or a failure naming what the process printed if it does not exit in time. */
async function exitOf(p: { child: ResultPromise; err: () => string }, withinMs: number): Promise<number | null> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running after ${withinMs} ms:\n${p.err()}`)), withinMs).unref());
  const r = await Promise.race([p.child, timeout]);
  return r.exitCode ?? null;
}

describe('a wrong command line: exit 1 and a message naming the flag', () => {
  it('trace: a flag is never taken as the value of the one before it', async () => {
    const from = await hopscope(['trace', '--from', '--port', '80'], alone);
    expect(from.exitCode).toBe(1);
    expect(from.stderr).toMatch(/^hopscope trace: --from needs a value$/m);
    const count = await hopscope(['trace', '--count', '--oneline'], alone);
    expect(count.exitCode).toBe(1);
    expect(count.stderr).toMatch(/^hopscope trace: --count needs a value$/m);
    const unknown = await hopscope(['trace', '--frobnicate'], alone);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('unknown option "--frobnicate"');
  });

  it('lab and doctor use the same parser: no raw parser text, nothing accepted by accident', async () => {
    const scale = await hopscope(['lab', 'scale', 'web', '-1'], alone);
    expect(scale.exitCode).toBe(1);
    expect(scale.stderr).toContain('scale: replicas must be a whole number from 0, got "-1"');
    expect(scale.stderr).not.toMatch(/Unknown option|positional argument/);
    const doctor = await hopscope(['doctor', '--anything'], alone);
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stderr).toContain('hopscope doctor: unknown option "--anything"');
    const labUsage = await hopscope(['lab'], alone);
    expect(labUsage.exitCode).toBe(1);
    expect((await hopscope([], alone)).exitCode).toBe(1);
    expect((await hopscope(['nosuch'], alone)).exitCode).toBe(1);
    const file = await hopscope(['serve', '--token-file', join(scratch, 'nope')], alone);
    expect(file.exitCode).toBe(1);
    expect(file.stderr).toContain('--token-file: cannot read');
  });
});

describe('trace with no lab and no cluster', () => {
  it('says what it traces and that nothing names it, and keeps --duration', async () => {
    const t0 = Date.now();
    const r = await hopscope(['trace', '--duration', '5', '--oneline'], alone);
    const took = Date.now() - t0;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('tracing every network namespace on this node (no lab is up)');
    expect(r.stderr).toContain('no cluster to name things from (no --kubeconfig; none of $KUBECONFIG, ~/.kube/config, the in-cluster service account)');
    expect(r.stderr).toMatch(/\d+ journeys from \d+ events/);
    // It asked no API that is not there: that wait (10 s) came before the duration began, so the
    // old command took 13-16 s. --duration counts from the start; up to 6 s spare for a loaded
    // machine's bpftrace start and stop.
    expect(took).toBeLessThan(11_000);
  });

  it('--count 1 prints one journey and stops, within --duration', async () => {
    const ping = execa('ping', ['-i', '0.2', '127.0.0.1'], { reject: false });
    try {
      // Time enough to start (~3 s here) and see a ping, not to wait 10 s for an API first: the
      // first journey came after the duration was over, so the command had printed nothing in it.
      const r = await hopscope(['trace', '--count', '1', '--duration', '11', '--oneline'], alone);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toMatch(/^j\d+ /);
      expect(r.stderr).not.toContain('--duration 11: stopping');
    } finally {
      ping.kill();
      await ping;
    }
  });

  it('Ctrl-C prints the counters, exits 0 and leaves no program dir', async () => {
    const p = await running(['trace', '--oneline'], alone, /Ctrl-C to stop/);
    const pid = p.child.pid!;
    const dirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith(`hopscope-bpf-${pid}-`));
    expect(dirs()).toHaveLength(1);
    // A terminal's Ctrl-C goes to the whole process group: hopscope, setpriv and bpftrace.
    process.kill(-pid, 'SIGINT');
    expect(await exitOf(p, 15_000)).toBe(0);
    expect(p.err()).toMatch(/\d+ journeys from \d+ events; lost \d+/);
    expect(dirs()).toEqual([]);
  });
});

describe('a lab without cluster DNS', () => {
  const env = { ...bare, HOPSCOPE_TOKEN: 'cli-test-token-0123456789' };
  beforeAll(async () => {
    // The built-in lab less kube-dns: its pods get no resolv.conf of the lab's.
    const topo = parse(readFileSync('agent/src/lab/topologies/default.yaml', 'utf8')) as { pods: { name: string }[]; services: { name: string }[] };
    topo.pods = topo.pods.filter((p) => p.name !== 'coredns');
    topo.services = topo.services.filter((s) => s.name !== 'kube-dns');
    writeFileSync(join(scratch, 'nodns.yaml'), stringify(topo));
    const up = await hopscope(['lab', 'up', '--name', NAME, '--topology', join(scratch, 'nodns.yaml')], bare, 120_000);
    expect(up.exitCode, up.stderr).toBe(0);
  }, 130_000);
  afterAll(async () => {
    await downLab(NAME).catch(() => undefined);
  });

  it('lab curl and lab dig by name say there is no DNS instead of timing out; an address works', async () => {
    const curl = await hopscope(['lab', 'curl', '--name', NAME, 'client', 'web']);
    expect(curl.exitCode).toBe(1);
    expect(curl.stderr).toContain(`lab ${NAME} has no cluster DNS (no kube-system/kube-dns Service), so "web" cannot be resolved; use an address instead (services: web 10.96.0.20`);
    const dig = await hopscope(['lab', 'dig', '--name', NAME, 'client', 'web']);
    expect(dig.exitCode).toBe(1);
    expect(dig.stderr).toContain('has no cluster DNS');
    const byIp = await hopscope(['lab', 'curl', '--name', NAME, 'client', '10.96.0.20']);
    expect(byIp.exitCode, byIp.stderr).toBe(0);
    expect(JSON.parse(byIp.stdout)).toMatchObject({ peer: '10.244.1.2' });
  });

  it('trace --from with a bare pod name reads it in "default"', async () => {
    const trace = execa(process.execPath, [BIN, 'trace', '--lab', NAME, '--from', 'client', '--count', '1', '--oneline', '--duration', '40'], { reject: false, env, extendEnv: false });
    const deadline = Date.now() + 40_000;
    let out = '';
    trace.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    while (out === '' && trace.exitCode === null && Date.now() < deadline) {
      await hopscope(['lab', 'curl', '--name', NAME, 'client', '10.96.0.20']);
    }
    const r = await trace;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^j\d+ .*client/);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('trace and serve of the lab stop with a notice when the lab goes down', async () => {
    const ui = mkdtempSync(join(scratch, 'ui-'));
    const trace = await running(['trace', '--lab', NAME, '--oneline'], env, /Ctrl-C to stop/);
    const serve = await running(['serve', '--lab', NAME, '--port', '0', '--ui', ui], env, /hopscope is up/);
    try {
      const down = await hopscope(['lab', 'down', '--name', NAME]);
      expect(down.exitCode, down.stderr).toBe(0);
      expect(await exitOf(trace, 15_000)).toBe(1);
      expect(trace.err()).toContain(`hopscope trace: lab ${NAME} went down: stopping`);
      expect(trace.err()).toMatch(/\d+ journeys from \d+ events/);
      expect(await exitOf(serve, 15_000)).toBe(1);
      expect(serve.err()).toContain(`lab ${NAME} went down: stopping`);
    } finally {
      trace.child.kill('SIGKILL');
      serve.child.kill('SIGKILL');
    }
    expect(existsSync(`/run/hopscope/labs/${NAME}.json`)).toBe(false);
  });
});

describe('tokens stay off the command line', () => {
  const token = 'cli-file-token-0123456789abcdef';
  const hub = (tokenArgs: string[]) =>
    running(['hub', '--agents', 'node-1=http://127.0.0.1:9', '--port', '0', '--ui', scratch, ...tokenArgs], alone, /hopscope hub is up: (\S+)/);

  it('--token-file: the token works and is not in the process arguments; --token is warned about', async () => {
    const file = join(scratch, 'token');
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    const p = await hub(['--token-file', file]);
    try {
      const url = /hopscope hub is up: (\S+)/.exec(p.out())![1]!;
      expect(url).toContain(`?token=${token}`);
      expect(readFileSync(`/proc/${p.child.pid}/cmdline`, 'utf8')).not.toContain(token);
      const base = url.slice(0, url.indexOf('?'));
      expect((await fetch(`${base}api/status`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${base}api/status`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      expect(p.err()).not.toContain('--token on the command line');
      p.child.kill('SIGTERM');
      expect(await exitOf(p, 10_000)).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
    }
    const q = await hub(['--token', token]);
    try {
      expect(q.err()).toContain('--token on the command line can be read by every local user (ps, /proc/<pid>/cmdline); prefer $HOPSCOPE_TOKEN or --token-file');
    } finally {
      q.child.kill('SIGKILL');
    }
  });
});

describe('help and README say the same', () => {
  const readme = readFileSync('README.md', 'utf8');

  it("the hub's default agent selector", async () => {
    const help = await hopscope(['hub', '--help'], alone);
    const selector = /--agent-selector <sel>\s+label selector \(default (\S+)\)/.exec(help.stdout)?.[1];
    expect(selector).toBeTruthy();
    expect(readme.includes(`pods labelled \`${selector}\``), `README: pods labelled \`${selector}\``).toBe(true);
  });

  it("trace --kubeconfig's fallbacks", async () => {
    const help = await hopscope(['trace', '--help'], alone);
    const fallbacks = /--kubeconfig <file>\s+the cluster that names things \(default: ([^)]+)\)/.exec(help.stdout)?.[1];
    expect(fallbacks).toBeTruthy();
    const row = `| \`--kubeconfig FILE\` | the cluster that names things (default: ${fallbacks})`;
    expect(readme.includes(row), `README: ${row}`).toBe(true);
  });
});
