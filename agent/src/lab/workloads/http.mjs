// HTTP server of a lab pod: answers every request with a JSON line naming the pod and the
// peer it saw, and counts requests per peer (GET /stats) so a test can see who called.
// usage: node http.mjs <pod> <namespace> <node> <bind> <port>
import { createServer } from 'node:http';

const [pod, namespace, node, bind, portText] = process.argv.slice(2);
const port = Number(portText);
const perPeer = new Map();
let total = 0;

const server = createServer((req, res) => {
  const peer = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '?';
  if (req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ pod, total, perPeer: Object.fromEntries(perPeer) }) + '\n');
    return;
  }
  total++;
  perPeer.set(peer, (perPeer.get(peer) ?? 0) + 1);
  console.log(`${new Date().toISOString()} ${req.method} ${req.url} from ${peer}:${req.socket.remotePort}`);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ pod, namespace, node, peer, peerPort: req.socket.remotePort, request: total }) + '\n');
});
server.keepAliveTimeout = 1000;
server.listen(port, bind, () => console.log(`listening http ${bind}:${port}`));
