// How a long-running command (serve, hub) ends: the first SIGINT or SIGTERM runs its stop and
// the command exits 0 once that is done.

/** Resolves with exit code 0 after `stop` has finished, once SIGINT or SIGTERM arrives. */
export function stopOnSignal(log: (msg: string) => void, stop: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      log(`${sig}: stopping`);
      void stop().then(() => resolve(0));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
