// File-mode persistence: one JSON file per service in the state dir, written atomically (temp file,
// fsync, rename, directory fsync) so a crash leaves either the old or the new state, never half.

import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { RolloutStatus } from '../../api/canary.js';
import { ErrorCode, SwitchyardError, errorMessage } from '../../api/errors.js';
import type { PublishRoutes } from '../rollout-types.js';
import type { TrackConfig } from './config.js';

/** One recorded event (what a Kubernetes Event would say), newest last. */
export interface RolloutEvent {
  readonly at: string;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export const MAX_STORED_EVENTS = 200;

export interface ServiceState {
  readonly status: RolloutStatus;
  /** The track serving as stable now (the config's, or the canary's after a promotion). */
  readonly stable: TrackConfig;
  /** The announced canary (config or `rollout start`), null when none. */
  readonly canary: TrackConfig | null;
  /** The stable track as last read from the config file: an edit of it is adopted, an unchanged file is not. */
  readonly configStable: TrackConfig | null;
  /** Canary revision last read from the config file, so an unchanged file does not re-announce it. */
  readonly configCanaryRevision: string | null;
  readonly events: readonly RolloutEvent[];
  /** The last route publish executed, republished verbatim (same generation) on restart. */
  readonly lastRoutes: PublishRoutes | null;
}

interface StateFile extends ServiceState {
  readonly version: 1;
  readonly namespace: string;
  readonly name: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTrack(value: unknown): value is TrackConfig {
  return (
    isRecord(value) &&
    typeof value.upstream === 'string' &&
    Array.isArray(value.admin) &&
    value.admin.every((url) => typeof url === 'string')
  );
}

function isStateFile(value: unknown): value is StateFile {
  return (
    isRecord(value) &&
    value.version === 1 &&
    isRecord(value.status) &&
    typeof value.status.phase === 'string' &&
    typeof value.status.routeGeneration === 'number' &&
    isTrack(value.stable) &&
    (value.canary === null || isTrack(value.canary)) &&
    (value.configStable == null || isTrack(value.configStable)) &&
    (value.events === undefined || Array.isArray(value.events))
  );
}

export class StateStore {
  readonly #dir: string;
  #writes = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async init(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
  }

  path(namespace: string, name: string): string {
    return join(this.#dir, `${namespace}_${name}.json`);
  }

  /** The saved state, or null when this service has none yet. A corrupt file is an error, not a reset. */
  async load(namespace: string, name: string): Promise<ServiceState | null> {
    const file = this.path(namespace, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SwitchyardError(
        ErrorCode.DocumentInvalid,
        `state file ${file} is not valid JSON (${errorMessage(error)}); move it away to start over`,
        { field: file },
      );
    }
    // Checked as far as a restart dereferences it: a hand-edited file must fail here, naming itself.
    if (!isStateFile(parsed)) {
      throw new SwitchyardError(
        ErrorCode.DocumentInvalid,
        `state file ${file} has an unknown format; move it away to start over`,
        { field: file },
      );
    }
    return {
      status: parsed.status,
      stable: parsed.stable,
      canary: parsed.canary,
      configStable: parsed.configStable ?? null,
      configCanaryRevision: parsed.configCanaryRevision ?? null,
      events: parsed.events ?? [],
      lastRoutes: parsed.lastRoutes ?? null,
    };
  }

  async save(namespace: string, name: string, state: ServiceState): Promise<void> {
    const file = this.path(namespace, name);
    // Unique per write: a temp name shared by two writers would be renamed away under the other.
    const temp = `${file}.${process.pid}.${++this.#writes}.tmp`;
    const body: StateFile = {
      version: 1,
      namespace,
      name,
      ...state,
      events: state.events.slice(-MAX_STORED_EVENTS),
    };
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(body, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, file);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    const dir = await open(this.#dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
