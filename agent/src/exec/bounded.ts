// Running a program bounded in time and in bytes of output, for the commands the agent runs on
// a node or in a lab namespace (kube-proxy's rules, lesson inspections, lab exec): a command
// that hangs or floods is stopped and says so, and never takes the agent down.
import { execa } from 'execa';

export interface ExecResult {
  /** -1 when the command was stopped (timed out, or its output outgrew maxBytes). */
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The output outgrew maxBytes: what came before is kept, the command was stopped. */
  truncated: boolean;
}

/** Most bytes of each output stream an exec keeps by default. */
export const EXEC_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Runs argv bounded in time and in bytes of each output stream; never rejects for the command's
 * own failure (a missing program is thrown, as execa reports it: `code` ENOENT).
 */
export async function execBounded(argv: string[], o: { timeoutMs: number; maxBytes: number; input?: string; env?: Record<string, string> }): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('exec: no command given');
  const r = await execa(file, args, {
    reject: false,
    // A command that ignores SIGTERM at its time-out is killed a second later.
    forceKillAfterDelay: 1000,
    timeout: o.timeoutMs,
    maxBuffer: o.maxBytes,
    // Read as bytes, so that maxBytes bounds bytes (on text, execa counts characters).
    encoding: 'buffer',
    ...(o.input === undefined ? { stdin: 'ignore' as const } : { input: o.input }),
    ...(o.env ? { env: o.env } : {}),
  });
  if ((r as { code?: string }).code === 'ENOENT') throw Object.assign(new Error(`${file} is not installed`), { code: 'ENOENT' });
  const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
  return { exitCode: r.exitCode ?? -1, stdout: text(r.stdout), stderr: text(r.stderr), timedOut: r.timedOut, truncated: r.isMaxBuffer };
}
