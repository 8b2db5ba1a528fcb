// `scripts/fake-cluster`: starts the fake cluster, writes its kubeconfig, prints the path and keeps
// running until SIGINT/SIGTERM (then kills every pod process and frees every port).

import { startFakeCluster } from './cluster.js';

async function run(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const index = args.indexOf(name);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const cluster = await startFakeCluster({
    tls: !args.includes('--http'),
    kubernetesVersion: flag('--kubernetes-version') ?? '1.32.0',
    log: args.includes('--verbose') ? (line) => process.stderr.write(`${line}\n`) : undefined,
  });
  process.stdout.write(`${cluster.kubeconfigPath}\n`);
  process.stderr.write(
    `fake cluster: API server ${cluster.url}\n  export KUBECONFIG=${cluster.kubeconfigPath}\n  Ctrl-C stops it and every pod process\n`,
  );
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    cluster.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`fake cluster: close failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

run().catch((error: unknown) => {
  process.stderr.write(`fake cluster: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
