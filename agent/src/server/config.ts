// Flags and environment of `hopscope start` / `hopscope serve`, validated in one place. Pure.
import { isIP } from 'node:net';
import { generateToken, validateToken } from './auth.ts';

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

/** Parse argv + env; throws Error with a message naming the flag. */
export function parseServerArgs(argv: string[], env: Record<string, string | undefined>, defaults: { uiDir: string; port: number }, mode: 'start' | 'serve'): ServerConfig {
  let host = '127.0.0.1';
  let port = defaults.port;
  let token: string | undefined = env.HOPSCOPE_TOKEN ? validateToken(env.HOPSCOPE_TOKEN) : undefined;
  let uiDir = defaults.uiDir;
  let topology: string | undefined;
  let labName: string | undefined;
  let kubeconfig: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--host': {
        const v = value();
        if (!isIP(v) && v !== 'localhost') throw new Error(`--host: expected an IP address to bind, got "${v.slice(0, 60)}"`);
        host = v;
        break;
      }
      case '--port': {
        const v = value();
        if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new Error(`--port: expected 0-65535, got "${v.slice(0, 20)}"`);
        port = Number(v);
        break;
      }
      case '--token':
        token = validateToken(value());
        break;
      case '--ui':
        uiDir = value();
        break;
      case '--topology':
        if (mode !== 'start') throw new Error('--topology is for `hopscope start`');
        topology = value();
        break;
      case '--name': {
        if (mode !== 'start') throw new Error('--name is for `hopscope start`');
        const v = value();
        if (!LAB_NAME.test(v)) throw new Error(`--name: lab names are 1-20 of a-z 0-9 "-", got "${v.slice(0, 40)}"`);
        labName = v;
        break;
      }
      case '--kubeconfig':
        if (mode !== 'serve') throw new Error('--kubeconfig is for `hopscope serve`');
        kubeconfig = value();
        break;
      case '-h':
      case '--help':
        help = true;
        break;
      default:
        throw new Error(`unknown option "${a.slice(0, 60)}"`);
    }
  }
  const tokenGenerated = token === undefined;
  return {
    host,
    port,
    token: token ?? generateToken(),
    tokenGenerated,
    uiDir,
    ...(topology ? { topology } : {}),
    ...(labName ? { labName } : {}),
    ...(kubeconfig ? { kubeconfig } : {}),
    help,
  };
}

/** The URL to open, with the token for the first page load. */
export function openUrl(baseUrl: string, token: string): string {
  return `${baseUrl}?token=${encodeURIComponent(token)}`;
}
