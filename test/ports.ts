// A port a test can close and listen on again. A port the kernel handed out (listen on 0) is in
// the ephemeral range, where any process's next outgoing connection may take it while it is
// closed: the restart then fails with EADDRINUSE. Below that range only an explicit bind can.
import { readFileSync } from 'node:fs';

/** First port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

/**
 * Starts `listen` on a random port below the ephemeral range, trying another while one is taken.
 * `listen` must reject with the listen error (code EADDRINUSE) when the port is in use.
 */
export async function listenBelowEphemeral<T>(listen: (port: number) => Promise<T>): Promise<{ value: T; port: number }> {
  const top = ephemeralStart();
  const bottom = Math.max(1024, top - 12_000);
  for (let attempt = 0; ; attempt++) {
    const port = bottom + Math.floor(Math.random() * (top - bottom));
    try {
      return { value: await listen(port), port };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 50) throw e;
    }
  }
}
