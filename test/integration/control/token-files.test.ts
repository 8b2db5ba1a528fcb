// `switchyard control` as a user runs it (the built bin/switchyard.js): a token file holding what no
// `Authorization: Bearer` header can carry is refused at start-up, naming the flag, file and line,
// instead of starting a control plane whose API no request can ever authenticate to.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO_ROOT as ROOT } from '../../support/build.js';

beforeAll(() => ensureBuilt('cli/control.js'), 120_000);

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `switchyard control` until it exits, or stops it once it says it is listening. */
function control(args: readonly string[]): Promise<Run> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/switchyard.js'), 'control', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('listening on')) child.kill('SIGKILL');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe('switchyard control token files', () => {
  let dir = '';
  let fileMode: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swy-token-files-'));
    await writeFile(
      join(dir, 'switchyard.yaml'),
      'services:\n  - name: shop\n    tracks:\n      stable: { upstream: "http://127.0.0.1:9", admin: ["http://127.0.0.1:9"] }\n',
    );
    fileMode = [
      '--config',
      join(dir, 'switchyard.yaml'),
      '--state-dir',
      join(dir, 'state'),
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'silent',
    ];
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['--api-token-file', 'api token 0123456789\n', 'line 1, column 4: a space'],
    ['--router-token-file', '\nrouter-secret-0123456789\n# rotated\n', 'line 3: more than the token'],
  ])('refuses %s holding %j at start-up', async (flag, content, problem) => {
    const file = join(dir, 'token');
    await writeFile(file, content);
    const run = await control([...fileMode, flag, file]);
    expect(run.stdout).not.toContain('listening on');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${flag}: ${file} ${problem}`);
    expect(run.stderr).toContain('[SWY_FLAG_INVALID]');
  });

  it('refuses a router secret in the config that no router could present', async () => {
    const config = join(dir, 'secret-in-config.yaml');
    await writeFile(
      config,
      'routerAuth: { secret: "router secret 0123456789" }\nservices:\n  - name: shop\n    tracks:\n      stable: { upstream: "http://127.0.0.1:9", admin: ["http://127.0.0.1:9"] }\n',
    );
    const run = await control([...fileMode, '--config', config]);
    expect(run.stdout).not.toContain('listening on');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('router secret (routerAuth): line 1, column 7: a space');
  });

  it('starts with a token file holding one bearer token and a newline', async () => {
    const file = join(dir, 'good-token');
    await writeFile(file, 'aB3-._~+/0123456789==\r\n');
    expect((await control([...fileMode, '--api-token-file', file])).stdout).toContain('listening on');
  });
});
