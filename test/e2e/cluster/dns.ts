// The pod's network view for its processes: a CommonJS preload (NODE_OPTIONS=--require) that
// - patches dns.lookup / dns.promises.lookup to answer `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc` and
//   `<svc>.<ns>.svc.cluster.local` from a JSON hosts file the harness rewrites as Services change
//   (net/tls/undici all resolve through dns.lookup, so HTTP clients in pods reach ClusterIPs), and
//   `localhost` to the pod IP;
// - makes "localhost inside the pod" the pod IP: servers listening on any/loopback addresses listen
//   on the pod IP, and connections to 127.0.0.1/::1 go to the pod IP (so two pods never clash).

import { rename, writeFile } from 'node:fs/promises';

export const DNS_PRELOAD_SOURCE = `'use strict';
// Written by the switchyard fake cluster: resolves Service names to ClusterIPs.
const dns = require('node:dns');
const fs = require('node:fs');
const file = process.env.SWITCHYARD_FAKE_HOSTS;
const namespace = process.env.SWITCHYARD_FAKE_NAMESPACE || 'default';
const podIp = process.env.SWITCHYARD_FAKE_POD_IP;
const LOCAL = new Set(['', '0.0.0.0', '::', '127.0.0.1', 'localhost', '::1']);
function resolve(hostname) {
  if (typeof hostname !== 'string') return undefined;
  const name = hostname.toLowerCase().replace(/\\.$/, '');
  if (podIp && name === 'localhost') return podIp;
  if (!file) return undefined;
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
if (podIp) {
  const net = require('node:net');
  const originalListen = net.Server.prototype.listen;
  net.Server.prototype.listen = function listen(...args) {
    const first = args[0];
    if (first && typeof first === 'object' && !Array.isArray(first) && first.port !== undefined && !first.path) {
      if (first.host === undefined || LOCAL.has(first.host)) first.host = podIp;
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\\d+$/.test(first))) {
      if (typeof args[1] === 'string') { if (LOCAL.has(args[1])) args[1] = podIp; }
      else args.splice(1, 0, podIp);
    }
    return originalListen.apply(this, args);
  };
  const LOOPBACK = new Set(['127.0.0.1', '::1']);
  const fix = (options) => {
    if (options && typeof options === 'object' && typeof options.host === 'string' && LOOPBACK.has(options.host)) options.host = podIp;
  };
  const originalConnect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connect(...args) {
    const first = args[0];
    if (Array.isArray(first)) fix(first[0]);
    else if (first && typeof first === 'object') fix(first);
    else if (typeof first === 'number' && typeof args[1] === 'string' && LOOPBACK.has(args[1])) args[1] = podIp;
    return originalConnect.apply(this, args);
  };
}
`;

export async function writeHostsFile(path: string, hosts: Readonly<Record<string, string>>): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(hosts));
  await rename(temporary, path);
}
