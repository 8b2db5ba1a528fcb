// For tests that run the built CLI (bin/switchyard.js runs dist/). `make test` builds first; run
// directly, vitest may find dist/ missing or older than the sources, and then it is rebuilt.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
const SOURCE_DIRS = ['api', 'cli', 'controller', 'router', 'webhook'];

function newestSourceMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

/** Builds dist/ unless `file` (a path under dist/) exists and is newer than every source file. */
export function ensureBuilt(file: string): void {
  const built = join(REPO_ROOT, 'dist', file);
  const newest = Math.max(...SOURCE_DIRS.map((dir) => newestSourceMs(join(REPO_ROOT, dir))));
  if (existsSync(built) && statSync(built).mtimeMs >= newest) return;
  try {
    execFileSync(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        'tsconfig.build.json',
        '--noEmitOnError',
        'false',
      ],
      { cwd: REPO_ROOT, stdio: 'pipe' },
    );
  } catch {
    // tsc exits non-zero on a type error anywhere but still emits; the check below decides.
  }
  if (!existsSync(built)) throw new Error(`dist/${file} is missing after building; run \`npm run build\``);
}
