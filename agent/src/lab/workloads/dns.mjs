// The kube-dns backend of the lab: answers A queries for the names in a JSON record file
// over UDP and TCP, NXDOMAIN for names outside it, empty NOERROR for other types of a known
// name (as CoreDNS does). Plain JS run by node directly: small and quick to start.
// usage: node dns.mjs <records.json> <port>
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';

const [recordsPath, portText] = process.argv.slice(2);
const records = JSON.parse(readFileSync(recordsPath, 'utf8'));
const port = Number(portText);
const TTL = 5;

/** Parse the question of a query; undefined when the packet is not a usable query. */
function parseQuery(buf) {
  if (buf.length < 12) return undefined;
  const qdcount = buf.readUInt16BE(4);
  if (qdcount !== 1) return undefined;
  let off = 12;
  const labels = [];
  while (off < buf.length) {
    const len = buf[off];
    if (len === 0) { off++; break; }
    if (len > 63 || off + 1 + len > buf.length) return undefined;
    labels.push(buf.subarray(off + 1, off + 1 + len).toString('latin1'));
    off += 1 + len;
  }
  if (off + 4 > buf.length) return undefined;
  return { id: buf.readUInt16BE(0), flags: buf.readUInt16BE(2), name: labels.join('.').toLowerCase(), qtype: buf.readUInt16BE(off), qclass: buf.readUInt16BE(off + 2), question: buf.subarray(12, off + 4) };
}

function answer(q) {
  const ip = records[q.name];
  const known = ip !== undefined;
  const isA = q.qtype === 1 && q.qclass === 1;
  const rcode = known ? 0 : 3;
  const ancount = known && isA ? 1 : 0;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, opcode 0, AA, RD copied from the query, RA, rcode.
  header.writeUInt16BE(0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ancount, 6);
  const parts = [header, q.question];
  if (ancount) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the name in the question
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
    parts.push(rr);
  }
  console.log(`${new Date().toISOString()} ${q.name} type=${q.qtype} -> ${ancount ? ip : rcode ? 'NXDOMAIN' : 'NODATA'}`);
  return Buffer.concat(parts);
}

const udp = createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  const q = parseQuery(msg);
  if (q) udp.send(answer(q), rinfo.port, rinfo.address);
});
udp.bind(port, '0.0.0.0');

const tcp = createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const q = parseQuery(buf.subarray(2, 2 + len));
      buf = buf.subarray(2 + len);
      if (!q) { sock.destroy(); return; }
      const a = answer(q);
      const lenBuf = Buffer.alloc(2);
      lenBuf.writeUInt16BE(a.length, 0);
      sock.write(Buffer.concat([lenBuf, a]));
    }
  });
  sock.on('error', () => sock.destroy());
});
tcp.listen(port, '0.0.0.0', () => console.log(`listening dns udp+tcp :${port} (${Object.keys(records).length} names)`));
// The lab rewrites the record file when pods come and go; SIGHUP reloads it.
process.on('SIGHUP', () => {
  try {
    const next = JSON.parse(readFileSync(recordsPath, 'utf8'));
    for (const k of Object.keys(records)) delete records[k];
    Object.assign(records, next);
    console.log(`reloaded ${Object.keys(records).length} names`);
  } catch (e) {
    console.log(`reload failed, keeping the old records: ${e.message}`);
  }
});
