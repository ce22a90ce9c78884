// What every subcommand module exports as `command`. Its own file so that the commands import
// this type and not main.ts, which imports them: main.ts is the only file that knows them all.

/** One `hopscope <name>` subcommand. */
export interface Command {
  /** One line for `hopscope --help`. */
  summary: string;
  /** Runs with the arguments after the command name; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}
