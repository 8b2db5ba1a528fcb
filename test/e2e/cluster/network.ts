// Loopback addressing for the fake cluster: Linux routes all of 127.0.0.0/8 to lo, so each cluster
// claims a 127.X.0.0/16 block (by binding a lock socket in it, so concurrent clusters on one machine
// never share addresses); Services get ClusterIPs 127.X.0.1–127.X.15.254, pods 127.X.16.1 upward,
// the API server listens on 127.X.255.1.

import { createServer, type Server } from 'node:net';

const LOCK_PORT = 49_151;
const SERVICE_LIMIT = 16 * 256;

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export class AddressBlock {
  #nextService = 1;
  #nextPod = 16 * 256 + 1;

  private constructor(
    readonly octet: number,
    private readonly lock: Server,
  ) {}

  static async claim(): Promise<AddressBlock> {
    const start = 20 + Math.floor(Math.random() * 200);
    for (let offset = 0; offset < 230; offset++) {
      const octet = 20 + ((start - 20 + offset) % 230);
      const lock = createServer();
      try {
        await listen(lock, `127.${octet}.255.254`, LOCK_PORT);
        lock.unref();
        return new AddressBlock(octet, lock);
      } catch {
        lock.close();
      }
    }
    throw new Error('fake cluster: every 127.X.0.0/16 block is claimed by another fake cluster');
  }

  /** Where the API server listens. */
  get apiServerIp(): string {
    return `127.${this.octet}.255.1`;
  }

  #address(index: number): string {
    return `127.${this.octet}.${Math.floor(index / 256)}.${index % 256}`;
  }

  nextServiceIp(): string {
    if (this.#nextService % 256 === 255) this.#nextService += 2;
    if (this.#nextService >= SERVICE_LIMIT) throw new Error('fake cluster: out of ClusterIPs');
    return this.#address(this.#nextService++);
  }

  nextPodIp(): string {
    if (this.#nextPod % 256 === 255) this.#nextPod += 2;
    if (this.#nextPod >= 255 * 256) throw new Error('fake cluster: out of pod IPs');
    return this.#address(this.#nextPod++);
  }

  release(): Promise<void> {
    return new Promise((resolve) => this.lock.close(() => resolve()));
  }
}
