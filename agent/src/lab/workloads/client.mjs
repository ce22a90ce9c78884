// Periodic HTTP client of a lab pod (e.g. a sidecar calling its app over lo): one GET every
// interval, the result logged as one line. node:http rather than fetch: a third less memory.
// usage: node client.mjs <url> <intervalMs>
import { get } from 'node:http';
import { setInterval } from 'node:timers';

const [url, intervalText] = process.argv.slice(2);
const interval = Number(intervalText);

function once() {
  const req = get(url, { timeout: Math.min(interval, 5000) }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (body += d));
    res.on('end', () => console.log(`${new Date().toISOString()} GET ${url} -> ${res.statusCode} ${body.trim()}`));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => console.log(`${new Date().toISOString()} GET ${url} failed: ${e.code ?? e.message}`));
}
console.log(`listening client ${url} every ${interval}ms`);
once();
setInterval(once, interval);
