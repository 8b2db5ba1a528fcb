// `--tls-cert-file/--tls-key-file` (e.g. cert-manager): read the pair, watch the directory (kubelet
// swaps Secret volumes by symlink, so file watches alone miss updates) and reload when both parse.

import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { ErrorCode, SwitchyardError, errorMessage } from '../api/errors.js';
import type { KeyPairPem, TlsSource } from './tls.js';

export interface FileTlsSource extends TlsSource {
  /** Re-reads the files now; returns true when the pair changed. */
  reload(): boolean;
  close(): void;
}

function readPair(certFile: string, keyFile: string): KeyPairPem {
  const pair = { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
  createSecureContext({ cert: pair.certPem, key: pair.keyPem }); // throws on a mismatched or half-written pair
  return pair;
}

/** Loads the pair once (throwing a clear error when it is unusable) and then follows changes. */
export function watchTlsFiles(options: {
  certFile: string;
  keyFile: string;
  logger: Logger;
  /** Debounce for bursts of file events. Default 100 ms. */
  debounceMs?: number;
}): FileTlsSource {
  const log = options.logger.child({ component: 'webhook-tls' });
  let pair: KeyPairPem;
  try {
    pair = readPair(options.certFile, options.keyFile);
  } catch (error) {
    throw new SwitchyardError(
      ErrorCode.FlagInvalid,
      `--tls-cert-file ${options.certFile} / --tls-key-file ${options.keyFile}: cannot load a certificate and matching key (${errorMessage(error)})`,
      { field: 'tls-cert-file', cause: error },
    );
  }
  const listeners = new Set<(pair: KeyPairPem) => void>();
  let timer: NodeJS.Timeout | null = null;

  const reload = (): boolean => {
    let next: KeyPairPem;
    try {
      next = readPair(options.certFile, options.keyFile);
    } catch (error) {
      log.warn({ err: error }, 'TLS files unreadable or mismatched; keeping the previous certificate');
      return false;
    }
    if (next.certPem === pair.certPem && next.keyPem === pair.keyPem) return false;
    pair = next;
    log.info({ certFile: options.certFile }, 'reloaded TLS certificate from files');
    for (const listener of listeners) listener(pair);
    return true;
  };

  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, options.debounceMs ?? 100);
  };
  const directories = [...new Set([dirname(options.certFile), dirname(options.keyFile)])];
  const watchers: FSWatcher[] = directories.map((directory) => watch(directory, schedule));

  return {
    current: () => pair,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reload,
    close() {
      if (timer) clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
