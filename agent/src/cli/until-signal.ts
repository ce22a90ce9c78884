// How a long-running command (serve, hub) ends: the first SIGINT or SIGTERM runs its stop and
// the command exits 0 once that is done; a second one gives up waiting (exit 130).
//
// NOTE: the listeners stay registered (process.on, not once) until the stop is done. execa's
// signal-exit, loaded with the bpftrace child, re-raises a signal that has no other listener,
// and a `once` listener is already removed when it looks: the process then died mid-stop.

/** Resolves with exit code 0 after `stop` has finished, once SIGINT or SIGTERM arrives. */
export function stopOnSignal(log: (msg: string) => void, stop: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) process.exit(130);
      stopping = true;
      log(`${sig}: stopping`);
      void stop().then(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        resolve(0);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
