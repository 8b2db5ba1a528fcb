// The reference "minimal undici proxy" for `make bench`: node:http in front, one undici Pool,
// pool.stream() piping the upstream body into the response. No routing, no metrics.
import http from 'node:http';
import { Pool } from 'undici';

const [listenPort, upstream] = process.argv.slice(2);
const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function forwardHeaders(headers) {
  const out = {};
  for (const key in headers) if (!HOP.has(key)) out[key] = headers[key];
  return out;
}

const server = http.createServer((req, res) => {
  pool
    .stream(
      {
        path: req.url,
        method: req.method,
        headers: forwardHeaders(req.headers),
        body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
        opaque: res,
      },
      ({ statusCode, headers, opaque }) => {
        opaque.writeHead(statusCode, forwardHeaders(headers));
        return opaque;
      },
    )
    .catch((err) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(err.message) }));
      } else res.destroy();
    });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  server.close();
  pool.close().then(() => process.exit(0));
  server.closeAllConnections();
});
