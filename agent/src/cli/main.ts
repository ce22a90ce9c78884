// The `hopscope` command line: dispatches to one module per command.
//
// One exit-code rule for every command (README "Running it"): 0 when the command did what was
// asked, a long-running one (trace, start, serve, hub, lab up --foreground) stopped by Ctrl-C or
// SIGTERM included, once it has stopped cleanly; 1 for anything refused or failed, a wrong
// command line included (the message names the flag); 130 only when a second Ctrl-C gives up
// waiting for that clean stop.
import { UsageError } from '../config/flags.ts';
import type { Command } from './command.ts';

const commands: Record<string, () => Promise<Command>> = {
  doctor: async () => (await import('./doctor.ts')).command,
  lab: async () => (await import('./lab.ts')).command,
  trace: async () => (await import('./trace.ts')).command,
  start: async () => (await import('./start.ts')).command,
  serve: async () => (await import('./serve.ts')).command,
  hub: async () => (await import('./hub.ts')).command,
  export: async () => (await import('./export.ts')).command,
  open: async () => (await import('./open.ts')).command,
  certs: async () => (await import('./certs.ts')).command,
};

async function usage(): Promise<string> {
  // Loading every command for its summary costs a moment; only help asks for it.
  const loaded = await Promise.all(Object.entries(commands).map(async ([name, load]) => [name, (await load()).summary] as const));
  const lines = loaded.map(([name, summary]) => `  ${name.padEnd(8)} ${summary}`);
  return `usage: hopscope <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "hopscope <command> --help" for a command's options.`;
}

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(await usage());
    return 0;
  }
  if (!name) {
    console.error(await usage());
    return 1;
  }
  const load = commands[name];
  if (!load) {
    console.error(`hopscope: unknown command "${name}"\n${await usage()}`);
    return 1;
  }
  try {
    return await (await load()).run(rest);
  } catch (e) {
    const hint = e instanceof UsageError ? `\n(see "hopscope ${name} --help")` : '';
    console.error(`hopscope ${name}: ${(e as Error).message}${hint}`);
    return 1;
  }
}
