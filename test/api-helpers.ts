// Test kit for clients of the lab API, which speaks HTTPS with a CA of its own: a fetch that
// trusts exactly that CA (as kubectl does with the kubeconfig's certificate-authority-data).
import { Agent, fetch as undiciFetch } from 'undici';

/** fetch trusting `ca` (PEM); `socketPath` connects over the API's Unix socket instead of TCP. */
export function caFetch(ca: string, opts: { socketPath?: string } = {}): typeof undiciFetch {
  const dispatcher = new Agent({ connect: { ca, ...(opts.socketPath ? { socketPath: opts.socketPath } : {}) } });
  return (input, init = {}) => undiciFetch(input, { ...init, dispatcher });
}
