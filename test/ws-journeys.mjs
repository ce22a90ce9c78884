// A websocket client of `hopscope serve` for tests that run the agent inside a lab node's network
// namespace (unreachable from the test's own): run it in that namespace; it prints every journey
// of every batch as one JSON line, until killed.
// usage: node test/ws-journeys.mjs <ws url> <token>
import WebSocket from 'ws';

const [url, token] = process.argv.slice(2);
const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
ws.on('open', () => {
  ws.send(JSON.stringify({ type: 'hello', version: 1 }));
  ws.send(JSON.stringify({ type: 'subscribe', filter: { onlyDrops: false, onlyNat: false } }));
  console.log(JSON.stringify({ open: true }));
});
ws.on('message', (d) => {
  const m = JSON.parse(d.toString());
  if (m.type === 'batch') for (const j of m.journeys) console.log(JSON.stringify({ journey: j }));
});
ws.on('error', (e) => {
  console.error(`ws-journeys: ${e.message}`);
  process.exit(1);
});
ws.on('close', () => process.exit(0));
