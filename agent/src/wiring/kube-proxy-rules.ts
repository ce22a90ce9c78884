// Keeps the node's kube-proxy rules fresh for naming DNAT hops: read at start, on a timer and
// soon after the Services or their endpoints change (kube-proxy rewrites its rules then), one
// read at a time. When the rules cannot be read (no CAP_NET_ADMIN, no nft/iptables in the
// image), chains are still named from the API and the status says why the rules were not read.
import { readNodeRules, type ReadAttempt, type ReadLimits, type RulesMemo, type RulesRead } from '../kubeproxy/reader.ts';
import type { NodeRules } from '../kubeproxy/explain.ts';
import type { KubeProxyMode } from '../kubeproxy/names.ts';

/** What the agent reports about the node's rules. */
export interface KubeProxyRulesStatus {
  /** The mode chains are named in: the rules' own, else the assumed one. */
  mode: KubeProxyMode;
  /** 'node' when the last read found kube-proxy's rules; 'api' when names come from the API alone. */
  source: 'node' | 'api';
  reads: number;
  /** Reads that found no kube-proxy rules or could not run. */
  failures: number;
  /** Why the rules are not read (each tool's answer), when source is 'api'. */
  reason?: string;
  lastReadMs?: number;
  /** Wall-clock ms of the last read. */
  lastReadAt?: number;
}

/** A running reader. */
export interface KubeProxyRules {
  current(): NodeRules | undefined;
  /** The mode names are given in right now. */
  mode(): KubeProxyMode;
  status(): KubeProxyRulesStatus;
  /** Ask for a read soon (endpoints changed); coalesced with one in flight. */
  poke(): void;
  /** Resolves after the next read completes. */
  next(): Promise<void>;
  stop(): void;
}

/** Options of startKubeProxyRules. */
export interface KubeProxyRulesOptions {
  /** The mode to name chains in when the rules cannot be read (default iptables, kube-proxy's). */
  assumedMode: KubeProxyMode;
  procRoot?: string;
  /** Read in this named network namespace (a lab node's) instead of the agent's own. */
  netns?: string;
  /** Re-read this often (default 10 s). */
  intervalMs?: number;
  /** A poke waits this long so a burst of endpoint changes makes one read (default 500 ms). */
  debounceMs?: number;
  limits?: Partial<ReadLimits>;
  log?: (line: string) => void;
  /** How one read is made (default readNodeRules with procRoot and limits): tests hand in theirs. */
  read?: () => Promise<RulesRead>;
}

const describeAttempts = (as: ReadAttempt[]): string =>
  as.map((a) => (a.ok ? `${a.source}: no kube-proxy rules` : (a.error ?? a.source))).join('; ');

/** Refused for want of a capability (the tools say "Permission denied" / "Operation not permitted"). */
const refused = (as: ReadAttempt[]): boolean => as.some((a) => !a.ok && /Permission denied|Operation not permitted|you must be root/.test(a.error ?? ''));

/** One read as `hopscope doctor` says it: a line, and what is missing when the rules were not read. */
export function rulesReport(r: RulesRead): { ok: boolean; detail: string; missing?: string } {
  if (r.rules) return { ok: true, detail: `${r.rules.mode} mode, read from this node in ${r.ms} ms` };
  const detail = `not read (${describeAttempts(r.attempts)}): DNAT chains are named from the API alone`;
  return refused(r.attempts)
    ? { ok: false, detail, missing: "kube-proxy rules: reading them needs CAP_NET_ADMIN (iptables-nft, nft; legacy iptables also CAP_NET_RAW); without it chains are named from the API and not checked against the node's rules" }
    : { ok: false, detail };
}

/** Start reading; the first read begins at once. */
export function startKubeProxyRules(opts: KubeProxyRulesOptions): KubeProxyRules {
  let rules: NodeRules | undefined;
  let st: KubeProxyRulesStatus = { mode: opts.assumedMode, source: 'api', reads: 0, failures: 0 };
  let inFlight: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let waiters: (() => void)[] = [];
  let debounce: NodeJS.Timeout | undefined;
  let lastReason: string | undefined;
  const memo: RulesMemo = new Map();

  const readOnce = async (): Promise<void> => {
    const r = await (opts.read ?? (() => readNodeRules({ ...(opts.procRoot ? { procRoot: opts.procRoot } : {}), ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.netns ? { netns: opts.netns } : {}), memo })))();
    if (stopped) return;
    rules = r.rules;
    const reason = r.rules ? undefined : describeAttempts(r.attempts);
    st = {
      mode: r.rules?.mode ?? opts.assumedMode,
      source: r.rules ? 'node' : 'api',
      reads: st.reads + 1,
      failures: st.failures + (r.rules ? 0 : 1),
      ...(reason ? { reason } : {}),
      lastReadMs: r.ms,
      lastReadAt: Date.now(),
    };
    // Said at the first read and when it changes, not on every read.
    if (st.reads === 1 || reason !== lastReason) opts.log?.(reason ? `kube-proxy rules not read (chains named from the API, ${opts.assumedMode} mode assumed): ${reason}` : `kube-proxy rules read from ${opts.netns ? `the lab node's namespace ${opts.netns}` : 'this node'} (${st.mode} mode)`);
    lastReason = reason;
  };
  const read = (): void => {
    if (stopped) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = readOnce()
      .catch((e: unknown) => {
        st = { ...st, failures: st.failures + 1, reason: (e as Error).message };
      })
      .finally(() => {
        inFlight = undefined;
        const w = waiters;
        waiters = [];
        for (const f of w) f();
        if (again) {
          again = false;
          read();
        }
      });
  };
  const timer = setInterval(read, opts.intervalMs ?? 10_000);
  timer.unref();
  read();
  return {
    current: () => rules,
    mode: () => st.mode,
    status: () => st,
    poke() {
      if (stopped || debounce) return;
      debounce = setTimeout(() => {
        debounce = undefined;
        read();
      }, opts.debounceMs ?? 500);
      debounce.unref();
    },
    next: () => new Promise<void>((resolve) => waiters.push(resolve)),
    stop() {
      stopped = true;
      clearInterval(timer);
      if (debounce) clearTimeout(debounce);
      for (const f of waiters) f();
      waiters = [];
    },
  };
}
