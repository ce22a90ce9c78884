// The lab's control-plane address: runs inside the lab's underlay namespace, listens on an
// underlay address (like a real API server's 10.0.0.254:6443 that nodes reach over their
// network) and relays each TCP connection, bytes unchanged, to the lab API's Unix socket. A
// path-named Unix socket is reachable from any network namespace, so nothing links the lab to
// the root namespace. TLS ends in the API server: clients verify the lab CA as on a cluster.
// usage: node api-forwarder.mjs <bind address> <port> <unix socket path> <max connections>
import { connect, createServer } from 'node:net';

const [bind, portText, socketPath, maxText] = process.argv.slice(2);
const port = Number(portText);
const max = Number(maxText);
if (!bind || !socketPath || !Number.isInteger(port) || port <= 0 || port > 65535 || !Number.isInteger(max) || max <= 0) {
  console.error('usage: node api-forwarder.mjs <bind address> <port> <unix socket path> <max connections>');
  process.exit(2);
}
let refused = 0;

const server = createServer((client) => {
  const upstream = connect(socketPath);
  // pipe() applies backpressure both ways: a slow reader stops its writer, nothing piles up here.
  client.pipe(upstream);
  upstream.pipe(client);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
});
// Connections beyond the bound are closed at accept (the kernel's backlog holds the rest).
server.maxConnections = max;
server.on('drop', () => {
  refused++;
  if (refused === 1 || refused % 100 === 0) console.log(`${new Date().toISOString()} refused ${refused} connections over the limit of ${max}`);
});
server.on('error', (e) => {
  console.error(`api-forwarder: ${e.message}`);
  process.exit(1);
});
server.listen(port, bind, () => console.log(`listening api-forwarder ${bind}:${port} -> ${socketPath} (max ${max} connections)`));
