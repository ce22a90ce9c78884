// Reads the node's kube-proxy rules, in this process's network namespace (the agent runs with
// hostNetwork: the node's) or in a named one (a lab node's, through `ip netns exec`): `nft list table ip kube-proxy`, `iptables-save -t nat` (and the
// legacy backend's when the nf_tables one says legacy tables exist) and /proc/net/ip_vs. Each
// read is bounded in time and size; a tool that is missing or refused (no CAP_NET_ADMIN) is
// reported, never thrown. The thin I/O beside the pure parsers.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { execBounded } from '../exec/bounded.ts';
import type { NodeRules } from './explain.ts';
import { parseIptablesSave } from './iptables-save.ts';
import { parseIpvs } from './ipvs.ts';
import { parseNftText } from './nft-text.ts';

/** Bounds of one read. */
export interface ReadLimits {
  /** Per command, ms. Default 5000. */
  timeoutMs: number;
  /** Per command's output, bytes. Default 32 MiB (a node with ~10k Services prints ~20 MB). */
  maxBytes: number;
}

/** What one attempt said. */
export interface ReadAttempt {
  source: 'nft' | 'iptables-save' | 'iptables-legacy-save' | 'ip_vs';
  ok: boolean;
  /** Bytes read, when ok. */
  bytes?: number;
  /** Why not, when not ok (the tool's own words, first line). */
  error?: string;
}

/** One read of the node's rules. */
export interface RulesRead {
  rules?: NodeRules;
  attempts: ReadAttempt[];
  /** How long the read took, ms. */
  ms: number;
}

const DEFAULTS: ReadLimits = { timeoutMs: 5000, maxBytes: 32 * 1024 * 1024 };

/**
 * The last read's parsed rules, by each source's output digest. Rules are re-read every few
 * seconds and rarely change: an unchanged output gives back the same NodeRules object, so it
 * is not parsed again (~110 ms for 2000 Services' iptables-save) and the DNAT namer, which keys
 * its cache on the object, keeps what it worked out.
 */
export type RulesMemo = Map<ReadAttempt['source'], { digest: string; rules: NodeRules }>;

function parsedOnce(memo: RulesMemo | undefined, source: ReadAttempt['source'], text: string, parse: () => NodeRules): NodeRules {
  if (!memo) return parse();
  const digest = createHash('sha256').update(text).digest('base64');
  const known = memo.get(source);
  if (known?.digest === digest) return known.rules;
  const rules = parse();
  memo.set(source, { digest, rules });
  return rules;
}

const firstLine = (s: string): string => s.trim().split('\n')[0]?.slice(0, 200) ?? '';

async function run(cmd: string, args: string[], lim: ReadLimits, netns: string | undefined): Promise<{ ok: true; out: string } | { ok: false; error: string }> {
  let r;
  try {
    r = await execBounded(netns ? ['ip', 'netns', 'exec', netns, cmd, ...args] : [cmd, ...args], lim);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { ok: false, error: `${cmd}: not installed` };
    throw e;
  }
  if (r.exitCode === 0 && !r.timedOut && !r.truncated) return { ok: true, out: r.stdout };
  const why = r.timedOut ? `timed out after ${lim.timeoutMs} ms` : r.truncated ? `output over ${lim.maxBytes} bytes` : firstLine(r.stderr || `exit ${r.exitCode}`);
  return { ok: false, error: `${cmd}: ${why}` };
}

/** Read and parse the node's rules; the mode is whichever holds kube-proxy's Service chains. */
export async function readNodeRules(opts: { procRoot?: string; limits?: Partial<ReadLimits>; netns?: string; memo?: RulesMemo } = {}): Promise<RulesRead> {
  const lim = { ...DEFAULTS, ...opts.limits };
  const started = Date.now();
  const attempts: ReadAttempt[] = [];
  const done = (rules?: NodeRules): RulesRead => ({ ...(rules ? { rules } : {}), attempts, ms: Date.now() - started });

  const nft = await run('nft', ['list', 'table', 'ip', 'kube-proxy'], lim, opts.netns);
  if (nft.ok) {
    attempts.push({ source: 'nft', ok: true, bytes: nft.out.length });
    const rules = parsedOnce(opts.memo, 'nft', nft.out, () => ({ mode: 'nftables', table: parseNftText(nft.out) }));
    if (rules.mode === 'nftables' && [...rules.table.chains.keys()].some((c) => c.startsWith('service-'))) return done(rules);
  } else attempts.push({ source: 'nft', ok: false, error: nft.error });

  let iptables: NodeRules | undefined;
  for (const cmd of ['iptables-save', 'iptables-legacy-save'] as const) {
    const r = await run(cmd, ['-t', 'nat'], lim, opts.netns);
    if (!r.ok) {
      attempts.push({ source: cmd, ok: false, error: r.error });
      continue;
    }
    attempts.push({ source: cmd, ok: true, bytes: r.out.length });
    const rules = parsedOnce(opts.memo, cmd, r.out, () => ({ mode: 'iptables', nat: parseIptablesSave(r.out) }));
    if (rules.mode !== 'iptables') continue;
    if ([...rules.nat.chains].some((c) => c.startsWith('KUBE-SVC-'))) return done(rules);
    if (rules.nat.chains.has('KUBE-SERVICES')) iptables ??= rules;
    // The nf_tables backend names the other one when it holds tables; otherwise it is not in use.
    if (!/iptables-legacy tables present/.test(r.out)) break;
  }

  // /proc/net/ip_vs shows the reader's own namespace; a named one's IPVS table is not read.
  if (opts.netns) return done(iptables);
  try {
    const text = await readBounded(`${opts.procRoot ?? '/proc'}/net/ip_vs`, lim.maxBytes);
    attempts.push({ source: 'ip_vs', ok: true, bytes: text.length });
    const rules = parsedOnce(opts.memo, 'ip_vs', text, () => ({ mode: 'ipvs', ipvs: parseIpvs(text) }));
    // IPVS mode still keeps KUBE-SERVICES in iptables (with ipsets), but no KUBE-SVC chains.
    if (rules.mode === 'ipvs' && rules.ipvs.virtuals.length > 0) return done(rules);
  } catch (e) {
    attempts.push({ source: 'ip_vs', ok: false, error: `/proc/net/ip_vs: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
  }
  return done(iptables);
}

/** A proc file read whole but never past maxBytes (its size is unknown until read). */
async function readBounded(path: string, maxBytes: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(maxBytes + 1, 1 << 20));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new Error(`over ${maxBytes} bytes`);
      chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await fh.close();
  }
}
