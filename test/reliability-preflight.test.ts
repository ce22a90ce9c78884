// The agent refuses to start, saying what to install, when it is not root or bpftrace, the
// kernel's BTF or tracefs is missing. Real processes: an unprivileged uid (setpriv), a PATH
// without bpftrace, BTF and tracefs paths that do not exist (the checks themselves are real).
import { mkdtempSync, rmSync, symlinkSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const CLI = 'agent/bin/hopscope.mjs';
const bin = mkdtempSync(join(tmpdir(), 'hopscope-nobpftrace-'));
// Everything the agent may run before it refuses, except bpftrace.
for (const tool of ['setpriv', 'mount']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
symlinkSync(process.execPath, join(bin, 'node'));

afterAll(() => rmSync(bin, { recursive: true, force: true }));

const NAME = `hspf${process.pid % 100000}`;

async function run(cmd: 'serve' | 'start' | 'trace', opts: { env?: Record<string, string>; nobody?: boolean } = {}) {
  const args = [CLI, cmd, ...(cmd === 'trace' ? [] : ['--port', '0']), ...(cmd === 'start' ? ['--name', NAME] : ['--kubeconfig', '/nonexistent/kubeconfig'])];
  const env = { ...process.env, HOPSCOPE_TOKEN: 'preflight-test-0123456789', ...opts.env };
  const r = opts.nobody
    ? await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args], { env, reject: false, timeout: 30_000 })
    : await execa(process.execPath, args, { env, reject: false, timeout: 30_000 });
  return { code: r.exitCode, stderr: String(r.stderr), stdout: String(r.stdout) };
}

function labLeftovers(): string[] {
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.includes(NAME)) : [];
  const state = existsSync('/run/hopscope/labs') ? readdirSync('/run/hopscope/labs').filter((n) => n.startsWith(NAME)) : [];
  return [...netns, ...state];
}

describe('the agent refuses to start without what it needs', () => {
  it.each(['serve', 'start', 'trace'] as const)('%s as an unprivileged user: says root is needed and changes nothing', async (cmd) => {
    const r = await run(cmd, { nobody: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`hopscope ${cmd}: cannot start:\\n {2}- not running as root.*sudo`));
    expect(r.stdout).not.toMatch(/hopscope is up/);
    expect(labLeftovers()).toEqual([]);
  });

  it.each(['serve', 'start', 'trace'] as const)('%s without bpftrace on PATH: says to install it, before any lab exists', async (cmd) => {
    const r = await run(cmd, { env: { PATH: bin } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bpftrace is missing.*apt-get install bpftrace/);
    // Only bpftrace is missing: the other checks passed.
    expect(r.stderr).not.toMatch(/root|BTF|tracefs|setpriv/);
    expect(labLeftovers()).toEqual([]);
  });

  it('serve without the kernel BTF: names the path and the kernel option', async () => {
    const r = await run('serve', { env: { HOPSCOPE_BTF_PATH: '/nonexistent/btf/vmlinux' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no kernel BTF at \/nonexistent\/btf\/vmlinux.*CONFIG_DEBUG_INFO_BTF/);
    expect(r.stderr).not.toMatch(/bpftrace is missing|tracefs/);
  });

  it('start without tracefs (and it cannot be mounted there): says how to mount it', async () => {
    const r = await run('start', { env: { HOPSCOPE_TRACEFS_PATH: '/nonexistent/tracing' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tracefs is not available \(not mounted and mounting failed: .*\).*mount -t tracefs nodev/);
    expect(existsSync('/nonexistent')).toBe(false);
    expect(labLeftovers()).toEqual([]);
  });

  it('a malformed path setting is refused with the variable named', async () => {
    const r = await run('serve', { env: { HOPSCOPE_BTF_PATH: 'relative/vmlinux' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HOPSCOPE_BTF_PATH: expected an absolute path/);
  });
});
