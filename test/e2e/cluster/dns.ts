// Service "DNS" for pod processes: a CommonJS preload (NODE_OPTIONS=--require) that patches
// dns.lookup / dns.promises.lookup to answer `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc` and
// `<svc>.<ns>.svc.cluster.local` from a JSON hosts file the harness rewrites as Services change.
// net/tls/undici all resolve through dns.lookup, so HTTP clients in pods reach ClusterIPs.

import { rename, writeFile } from 'node:fs/promises';

export const DNS_PRELOAD_SOURCE = `'use strict';
// Written by the switchyard fake cluster: resolves Service names to ClusterIPs.
const dns = require('node:dns');
const fs = require('node:fs');
const file = process.env.SWITCHYARD_FAKE_HOSTS;
const namespace = process.env.SWITCHYARD_FAKE_NAMESPACE || 'default';
function resolve(hostname) {
  if (!file || typeof hostname !== 'string') return undefined;
  const name = hostname.toLowerCase().replace(/\\.$/, '');
  let hosts;
  try { hosts = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { return undefined; }
  return hosts[name] || hosts[name + '.' + namespace];
}
const originalLookup = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  if (typeof options === 'function') { callback = options; options = {}; }
  const ip = resolve(hostname);
  if (ip === undefined) return originalLookup.call(dns, hostname, options, callback);
  const all = typeof options === 'object' && options !== null && options.all;
  process.nextTick(() => (all ? callback(null, [{ address: ip, family: 4 }]) : callback(null, ip, 4)));
  return {};
};
const originalPromise = dns.promises.lookup;
dns.promises.lookup = async function lookup(hostname, options) {
  const ip = resolve(hostname);
  if (ip === undefined) return originalPromise.call(dns.promises, hostname, options);
  const all = typeof options === 'object' && options !== null && options.all;
  return all ? [{ address: ip, family: 4 }] : { address: ip, family: 4 };
};
`;

export async function writeHostsFile(path: string, hosts: Readonly<Record<string, string>>): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(hosts));
  await rename(temporary, path);
}
