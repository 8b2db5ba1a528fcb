// Paced load for the fixed-rate measurement (wrk2 is not packaged here): sends `rate` requests per
// second for `seconds` over a small keep-alive pool, scheduling by elapsed time so a slow tick
// catches up instead of drifting. Prints one JSON line: { sent, ok, failed, seconds }.
import { Pool } from 'undici';

const [url, rateText, secondsText, connectionsText = '16'] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const target = new URL(url);
const pool = new Pool(target.origin, { connections: Number(connectionsText), pipelining: 1 });
let sent = 0;
let ok = 0;
let failed = 0;
const started = performance.now();
const total = rate * seconds;

function fire() {
  sent++;
  pool.request({ path: target.pathname, method: 'GET' }).then(
    (res) => res.body.dump().then(() => (res.statusCode < 500 ? ok++ : failed++)),
    () => failed++,
  );
}

await new Promise((resolve) => {
  const timer = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate));
    while (sent < due) fire();
    if (sent >= total) {
      clearInterval(timer);
      resolve();
    }
  }, 5);
});
while (ok + failed < sent) await new Promise((resolve) => setTimeout(resolve, 10));
await pool.close();
process.stdout.write(
  `${JSON.stringify({ sent, ok, failed, seconds: (performance.now() - started) / 1000 })}\n`,
);
