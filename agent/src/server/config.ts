// Flags and environment of `hopscope start` / `hopscope serve`, validated in one place. Pure
// but for reading --token-file (through the `readText` passed in).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { generateToken, validateToken } from './auth.ts';
import { clip, int, onlyIf, parseFlags, pattern, short, toggle, UsageError, value, type Spec } from '../config/flags.ts';
import { RECORD_FLAGS, recordOptionsOf, type RecordOptions } from '../config/record-flags.ts';

/** Server settings shared by start and serve. */
export interface ServerConfig {
  host: string;
  port: number;
  token: string;
  /** True when the token was generated for this run (print it). */
  tokenGenerated: boolean;
  /** Where the token came from (a --token on the command line is worth a warning). */
  tokenFrom: TokenFrom;
  uiDir: string;
  /** start: topology file (default: built-in); serve: unused. */
  topology?: string;
  /** start: lab name (default: the topology's). */
  labName?: string;
  /** serve: kubeconfig (default: in-cluster / $KUBECONFIG / ~/.kube/config). */
  kubeconfig?: string;
  /** --write: record what is served. */
  record?: RecordOptions;
  help: boolean;
}

/** Where a token came from. */
export type TokenFrom = 'flag' | 'file' | 'env' | 'generated';

/**
 * Why --token on the command line is discouraged: every local user can read a process's
 * arguments (`ps`, /proc/<pid>/cmdline), but not its environment or a 0600 file.
 */
export function tokenWarning(from: TokenFrom): string | undefined {
  return from === 'flag' ? '--token on the command line can be read by every local user (ps, /proc/<pid>/cmdline); prefer $HOPSCOPE_TOKEN or --token-file' : undefined;
}

/** The token in a file (trailing newline allowed), validated. Throws Error saying what is wrong. */
export function readTokenFile(path: string, readText: (path: string) => string = (p) => readFileSync(p, 'utf8')): string {
  let text: string;
  try {
    text = readText(path);
  } catch (e) {
    throw new Error(`cannot read ${clip(path)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return validateToken(text.replace(/\r?\n$/, ''));
}

const LAB_NAME = /^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/;

/** Every server option; `hopscope serve`'s and `hopscope hub`'s own parsers forward these. */
export const SERVER_FLAGS = {
  host: value((t) => {
    if (!isIP(t) && t !== 'localhost') throw new Error(`expected an IP address to bind, got "${clip(t)}"`);
    return t;
  }),
  port: int(0, 65535),
  token: value(validateToken),
  'token-file': value(),
  ui: value(),
  topology: value(),
  name: pattern(LAB_NAME, 'a lab name (1-20 of a-z 0-9 "-")'),
  kubeconfig: value(),
  ...RECORD_FLAGS,
  help: short('h', toggle()),
} satisfies Spec;

/** The help lines of the serving flags, shared by start, serve, hub and open. */
export const SERVER_FLAGS_HELP = `  --host <ip>              address to bind (default 127.0.0.1; anything else exposes the UI)
  --port <n>               port (default 7070; 0 picks a free one)
  --token-file <f>         access token from a file (default: $HOPSCOPE_TOKEN, else a random one)
  --token <t>              the token itself (every local user can read it in ps: prefer the two above)
  --ui <dir>               built UI (default ui/dist)`;

/** Whether an address (or "localhost") is this machine's loopback: 127.0.0.0/8, ::1. Pure. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** What a user should hear about how they serve: a token in argv, a bind beyond loopback. */
export function serverWarnings(cfg: Pick<ServerConfig, 'tokenFrom' | 'host'>): string[] {
  const token = tokenWarning(cfg.tokenFrom);
  const exposed = !isLoopbackHost(cfg.host);
  return [...(token ? [token] : []), ...(exposed ? [`listening on ${cfg.host}: anyone who can reach it and has the token can see the traffic`] : [])];
}

/**
 * The token from --token, else --token-file, else $HOPSCOPE_TOKEN, validated ('generated' and no
 * token when none is given). Throws UsageError naming where a bad one came from.
 */
export function tokenOf(
  v: { token?: string | undefined; 'token-file'?: string | undefined },
  env: Record<string, string | undefined>,
  readText?: (path: string) => string,
): { token?: string; from: TokenFrom } {
  if (v.token && v['token-file']) throw new UsageError('--token and --token-file: choose one');
  if (v.token) return { token: v.token, from: 'flag' };
  if (v['token-file']) {
    try {
      return { token: readTokenFile(v['token-file'], readText), from: 'file' };
    } catch (e) {
      throw new UsageError(`--token-file: ${(e as Error).message}`);
    }
  }
  try {
    return env.HOPSCOPE_TOKEN ? { token: validateToken(env.HOPSCOPE_TOKEN), from: 'env' } : { from: 'generated' };
  } catch (e) {
    throw new UsageError(`$HOPSCOPE_TOKEN: ${(e as Error).message}`);
  }
}

/** Parse argv + env; throws Error with a message naming the flag. */
export function parseServerArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  defaults: { uiDir: string; port: number },
  mode: 'start' | 'serve',
  readText?: (path: string) => string,
): ServerConfig {
  const { values: v } = parseFlags(argv, {
    ...SERVER_FLAGS,
    topology: onlyIf(mode === 'start', 'is for `hopscope start`', SERVER_FLAGS.topology),
    name: onlyIf(mode === 'start', 'is for `hopscope start`', SERVER_FLAGS.name),
    kubeconfig: onlyIf(mode === 'serve', 'is for `hopscope serve`', SERVER_FLAGS.kubeconfig),
  });
  const record = recordOptionsOf(v);
  const { token, from: tokenFrom } = tokenOf(v, env, readText);
  return {
    host: v.host ?? '127.0.0.1',
    port: v.port ?? defaults.port,
    token: token ?? generateToken(),
    tokenGenerated: token === undefined,
    tokenFrom,
    uiDir: v.ui ?? defaults.uiDir,
    ...(v.topology ? { topology: v.topology } : {}),
    ...(v.name ? { labName: v.name } : {}),
    ...(v.kubeconfig ? { kubeconfig: v.kubeconfig } : {}),
    ...(record ? { record } : {}),
    help: v.help ?? false,
  };
}

/** The URL to open, with the token for the first page load. */
export function openUrl(baseUrl: string, token: string): string {
  return `${baseUrl}?token=${encodeURIComponent(token)}`;
}
