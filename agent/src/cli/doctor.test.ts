import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../tracer/capabilities.ts';
import { hasCapability, missing, tlsCheck, toolFailure } from './doctor.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCert, makeCa } from '../tls/certs.ts';

const ok = { ok: true, detail: 'ok' };
const base: Capabilities = {
  kernel: '6.18', littleEndian: true, root: true, btf: ok, tracefs: { ...ok, path: '/sys/kernel/tracing' },
  bpftrace: { ...ok, version: '0.17.0' }, tracepoints: ok, kprobes: ok, fentry: ok,
  natFunctions: ['nf_nat_manip_pkt'], probeSet: 'kprobes', probeSetReason: 'kprobes attach',
};

describe('doctor: missing', () => {
  it('names the package or step for each gap', () => {
    expect(missing(base, true)).toEqual([]);
    const m = missing({ ...base, bpftrace: { ok: false, detail: 'no', version: null }, btf: { ok: false, detail: 'no' }, probeSet: 'tracepoints' }, false);
    expect(m.join('\n')).toMatch(/apt-get install bpftrace/);
    expect(m.join('\n')).toMatch(/apt-get install util-linux/);
    expect(m.join('\n')).toMatch(/CONFIG_DEBUG_INFO_BTF/);
    expect(m.join('\n')).toMatch(/NAT is read from conntrack/);
    expect(missing(base, true, { ok: false, detail: 'no CAP_SYS_PTRACE: 3 of 90 readable' })).toEqual([
      "other processes' network namespaces (no CAP_SYS_PTRACE: 3 of 90 readable): pods on this node cannot be named; a container needs CAP_SYS_PTRACE",
    ]);
  });
});

describe('doctor: toolFailure', () => {
  it('says a missing tool is not installed and how to get it, never "exited with undefined"', () => {
    expect(toolFailure('ip', { code: 'ENOENT' }, 'iproute2')).toBe('not listed: ip is not installed (Debian: apt-get install iproute2)');
    expect(toolFailure('ip', { exitCode: 2 }, 'iproute2')).toBe('ip exited with code 2');
    expect(toolFailure('ip', { signal: 'SIGKILL' }, 'iproute2')).toBe('ip killed by SIGKILL');
    expect(toolFailure('ip', { timedOut: true }, 'iproute2')).toBe('ip timed out');
    expect(toolFailure('ip', { code: 'EACCES' }, 'iproute2')).toBe('ip could not run (EACCES)');
  });
});

describe('doctor: hasCapability', () => {
  it('reads a capability bit from /proc/<pid>/status', () => {
    // Recorded in the image: --cap-drop ALL --cap-add BPF,PERFMON,SYS_PTRACE, then without SYS_PTRACE.
    expect(hasCapability('Name:\tcat\nCapEff:\t000000c000080000\n', 19n)).toBe(true);
    expect(hasCapability('Name:\tcat\nCapEff:\t000000c000000000\n', 19n)).toBe(false);
    expect(hasCapability('Name:\tcat\n', 19n)).toBe(false);
  });
});

describe('doctor: mutual TLS', () => {
  const DAY = 86_400_000;
  const write = (dir: string, node: string, validity: Parameters<typeof issueCert>[1]['validity']) => {
    const ca = makeCa('hopscope-ca doctor', { days: 3650 });
    const c = issueCert(ca, { commonName: node, dnsNames: [node], usage: 'server', validity });
    writeFileSync(join(dir, 'ca.crt'), ca.certPem);
    writeFileSync(join(dir, `${node}.crt`), c.certPem);
    writeFileSync(join(dir, `${node}.key`), c.keyPem);
  };

  it('shows whose certificate it is and when it expires, and flags an expired one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-tl-doctor-'));
    try {
      write(dir, 'node-1', { days: 30 });
      const good = tlsCheck(dir, 'node-1');
      expect(good.ok).toBe(true);
      expect(good.detail).toMatch(new RegExp(`^${dir} as node-1: certificate expires \\d{4}-\\d\\d-\\d\\dT.*Z \\((29|30) days left\\), CA \\d{4}-`));
      write(dir, 'node-1', { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
      expect(tlsCheck(dir, 'node-1')).toMatchObject({ ok: false, detail: expect.stringContaining('(EXPIRED)') });
      expect(tlsCheck(dir, 'node-2')).toEqual({ ok: false, detail: `${dir}: cannot read ${dir}/node-2.crt: ENOENT` });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says plainly when there is no TLS folder', () => {
    expect(tlsCheck(undefined, 'node-1')).toEqual({ ok: true, detail: 'none (no --tls-dir, nothing at /etc/hopscope/tls): an agent serves plain HTTP, on loopback only' });
  });
});
