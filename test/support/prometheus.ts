// A real Prometheus for tests (Debian package, installed by scripts/test-deps.sh): started on a free
// loopback port with the given scrape configs (1 s scrapes), ready once it says so; close() stops it
// and removes its data.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

const PROMETHEUS = '/usr/bin/prometheus';

export interface TestPrometheus {
  readonly url: string;
  /** The end of its stderr, for failure messages. */
  logs(): string;
  close(): Promise<void>;
}

/** `scrapeConfigs`: the YAML list under `scrape_configs:` (indented as its items). */
export async function startPrometheus(scrapeConfigs: string): Promise<TestPrometheus> {
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} missing: run bash scripts/test-deps.sh`);
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-prom-'));
  await writeFile(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${scrapeConfigs}`,
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let logs = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    logs = (logs + chunk.toString()).slice(-4000);
  });
  const close = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `prometheus ready at ${url}`,
      async () => (await request(`${url}/-/ready`)).statusCode,
      (status) => status === 200,
      { timeoutMs: 15_000, intervalMs: 100, seen: () => ({ stderr: logs }) },
    );
  } catch (error) {
    await close();
    throw error;
  }
  return { url, logs: () => logs, close };
}
