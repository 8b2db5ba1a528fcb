// @fastify/http-proxy in front of the bench upstream, default options, logging off.
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const [listenPort, upstream] = process.argv.slice(2);
const app = Fastify({ logger: false });
app.register(proxy, { upstream });
await app.listen({ port: Number(listenPort), host: '127.0.0.1' });
process.stdout.write('ready\n');
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
