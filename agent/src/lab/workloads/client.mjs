// Periodic HTTP client of a lab pod (e.g. a sidecar calling its app over lo): one GET every
// interval, the result logged as one line.
// usage: node client.mjs <url> <intervalMs>
/* global fetch, AbortSignal */
import { setInterval } from 'node:timers';

const [url, intervalText] = process.argv.slice(2);
const interval = Number(intervalText);

async function once() {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(Math.min(interval, 5000)) });
    const body = (await res.text()).trim();
    console.log(`${new Date().toISOString()} GET ${url} -> ${res.status} ${body}`);
  } catch (e) {
    console.log(`${new Date().toISOString()} GET ${url} failed: ${e.cause?.code ?? e.message}`);
  }
}
console.log(`listening client ${url} every ${interval}ms`);
await once();
setInterval(once, interval);
