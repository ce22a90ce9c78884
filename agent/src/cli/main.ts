// The `hopscope` command line: dispatches to one module per command.
import type { Command } from './command.ts';

const commands: Record<string, () => Promise<Command>> = {
  doctor: async () => (await import('./doctor.ts')).command,
  lab: async () => (await import('./lab.ts')).command,
  trace: async () => (await import('./trace.ts')).command,
  start: async () => (await import('./start.ts')).command,
  serve: async () => (await import('./serve.ts')).command,
  hub: async () => (await import('./hub.ts')).command,
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
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await usage());
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    console.error(`hopscope: unknown command "${name}"\n${await usage()}`);
    return 2;
  }
  try {
    return await (await load()).run(rest);
  } catch (e) {
    console.error(`hopscope ${name}: ${(e as Error).message}`);
    return 1;
  }
}
