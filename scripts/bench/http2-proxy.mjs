// The reference "minimal http2 proxy" for the gRPC part of `make bench`, as undici-proxy.mjs is for
// HTTP/1.1: node:http2's core API in front, one HTTP/2 session to the app, streams piped both ways,
// trailers passed on. No routing, no metrics, no error handling beyond closing the stream.
import http2 from 'node:http2';

const [listenPort, upstream] = process.argv.slice(2);
const server = http2.createServer();
let app = null;

/** The session to the app; a new one when the last failed (the app was not listening yet). */
function appSession() {
  if (app === null || app.destroyed || app.closed) {
    app = http2.connect(upstream);
    app.on('error', () => {}); // its streams fail with it
  }
  return app;
}

server.on('stream', (stream, headers) => {
  const { ':scheme': _scheme, ':authority': _authority, ...forwarded } = headers;
  const call = appSession().request(forwarded, { endStream: stream.endAfterHeaders });
  stream.pipe(call);
  let trailers = {};
  call.on('trailers', (received) => {
    trailers = received;
  });
  call.on('response', ({ ':status': status, ...answer }) => {
    stream.respond({ ':status': status, ...answer }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    call.pipe(stream);
  });
  call.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
  stream.on('error', () => call.close(http2.constants.NGHTTP2_CANCEL));
});
server.listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => {
  server.close();
  if (app === null) process.exit(0);
  app.close(() => process.exit(0));
});
