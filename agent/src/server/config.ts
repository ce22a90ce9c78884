// Flags and environment of `hopscope start` / `hopscope serve`, validated in one place. Pure.
import { isIP } from 'node:net';
import { generateToken, validateToken } from './auth.ts';
import { clip, int, onlyIf, parseFlags, pattern, short, toggle, value, type Spec } from '../config/flags.ts';

/** Server settings shared by start and serve. */
export interface ServerConfig {
  host: string;
  port: number;
  token: string;
  /** True when the token was generated for this run (print it). */
  tokenGenerated: boolean;
  uiDir: string;
  /** start: topology file (default: built-in); serve: unused. */
  topology?: string;
  /** start: lab name (default: the topology's). */
  labName?: string;
  /** serve: kubeconfig (default: in-cluster / $KUBECONFIG / ~/.kube/config). */
  kubeconfig?: string;
  help: boolean;
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
  ui: value(),
  topology: value(),
  name: pattern(LAB_NAME, 'a lab name (1-20 of a-z 0-9 "-")'),
  kubeconfig: value(),
  help: short('h', toggle()),
} satisfies Spec;

/** Parse argv + env; throws Error with a message naming the flag. */
export function parseServerArgs(argv: string[], env: Record<string, string | undefined>, defaults: { uiDir: string; port: number }, mode: 'start' | 'serve'): ServerConfig {
  const envToken = env.HOPSCOPE_TOKEN ? validateToken(env.HOPSCOPE_TOKEN) : undefined;
  const { values: v } = parseFlags(argv, {
    ...SERVER_FLAGS,
    topology: onlyIf(mode === 'start', 'is for `hopscope start`', SERVER_FLAGS.topology),
    name: onlyIf(mode === 'start', 'is for `hopscope start`', SERVER_FLAGS.name),
    kubeconfig: onlyIf(mode === 'serve', 'is for `hopscope serve`', SERVER_FLAGS.kubeconfig),
  });
  const token = v.token ?? envToken;
  return {
    host: v.host ?? '127.0.0.1',
    port: v.port ?? defaults.port,
    token: token ?? generateToken(),
    tokenGenerated: token === undefined,
    uiDir: v.ui ?? defaults.uiDir,
    ...(v.topology ? { topology: v.topology } : {}),
    ...(v.name ? { labName: v.name } : {}),
    ...(v.kubeconfig ? { kubeconfig: v.kubeconfig } : {}),
    help: v.help ?? false,
  };
}

/** The URL to open, with the token for the first page load. */
export function openUrl(baseUrl: string, token: string): string {
  return `${baseUrl}?token=${encodeURIComponent(token)}`;
}
