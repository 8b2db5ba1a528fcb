// The floor under any node HTTP server for `make bench`: node:http answering every request itself
// with the bench payload (no upstream, no routing, no metrics). Run with the router's environment on
// the router's runtime, its RSS and CPU per 1k requests are what that runtime costs before the
// router does anything. CommonJS on purpose: on node 22+ an ESM import of node:http builds its ESM
// facade, which loads crypto, tls, http2 and zlib (~7 MB), and the router avoids that too.
'use strict';
const { readFileSync } = require('node:fs');
const http = require('node:http');

const [listenPort, payloadFile] = process.argv.slice(2);
const payload = readFileSync(payloadFile);
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/html', 'content-length': payload.length });
  res.end(payload);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
});
