// The fake kubelet: every Pod becomes local processes on its own loopback IP. Native sidecars
// (initContainers with restartPolicy Always) start first, plain init containers run to completion,
// then the containers start; readiness/liveness probes (httpGet, tcpSocket) drive the Ready
// condition; crashed containers restart with back-off (restartCount); deleting a pod sends
// SIGTERM (main containers first, sidecars after) and SIGKILL after the grace period.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { type Api, internalContext } from './api.js';
import type { EventRecorder } from './controllers/events.js';
import type { ContainerSpec, ImageRule } from './images.js';
import { isObject, type KubeObject } from './objects.js';
import { MissingDependency, type PodFiles, rewriteForPod } from './pod-files.js';
import type { ResourceType } from './resources.js';

type Obj = Record<string, unknown>;
const asObj = (value: unknown): Obj => (isObject(value) ? value : {});
const asList = (value: unknown): Obj[] => (Array.isArray(value) ? value.filter(isObject) : []);
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

type Kind = 'init' | 'sidecar' | 'main';

interface ContainerRuntime {
  readonly spec: Obj;
  readonly kind: Kind;
  child: ChildProcess | undefined;
  exited: Promise<number | null> | undefined;
  restartCount: number;
  state: Obj;
  lastState: Obj;
  ready: boolean;
  started: boolean;
  probeFailures: number;
  livenessFailures: number;
  readonly logPath: string;
}

interface PodRuntime {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly dir: string;
  readonly containers: ContainerRuntime[];
  pod: KubeObject;
  initialized: boolean;
  stopping: boolean;
  timers: Set<NodeJS.Timeout>;
  statusDirty: boolean;
}

export interface KubeletOptions {
  readonly api: Api;
  readonly files: PodFiles;
  readonly events: EventRecorder;
  readonly images: readonly ImageRule[];
  readonly repoRoot: string;
  readonly workDir: string;
  readonly nextPodIp: () => string;
  readonly probePeriodMs: number;
  readonly maxGraceMs: number;
  /** Environment every pod process gets (PATH, NODE_OPTIONS for DNS, hosts file, ...). */
  readonly baseEnv: (pod: KubeObject, podDir: string) => Promise<Record<string, string>>;
  readonly log: (line: string) => void;
}

export class Kubelet {
  readonly #pods = new Map<string, PodRuntime>();
  readonly #podType: ResourceType;
  #closed = false;
  readonly #unsubscribe: () => void;

  constructor(private readonly options: KubeletOptions) {
    const type = options.api.findType('', 'v1', 'pods');
    if (!type) throw new Error('fake cluster: pods type missing');
    this.#podType = type;
    options.api.podTerminator = (pod) => this.#terminate(pod);
    this.#unsubscribe = options.api.store.subscribe((event) => {
      if (event.typeKey === '/pods') {
        const uid = event.object.metadata.uid ?? '';
        if (event.type === 'ADDED') this.#start(event.object);
        else if (event.type === 'DELETED') {
          const runtime = this.#pods.get(uid);
          if (runtime && !runtime.stopping) void this.#stop(runtime, 0);
        } else {
          const runtime = this.#pods.get(uid);
          if (runtime) runtime.pod = event.object;
        }
      } else if (event.typeKey === '/secrets' || event.typeKey === '/configmaps') {
        for (const runtime of this.#pods.values()) {
          if (runtime.namespace === event.object.metadata.namespace && !runtime.stopping) {
            void this.options.files.writeVolumes(runtime.pod, runtime.dir).catch(() => {});
          }
        }
      }
    });
    for (const pod of options.api.list(this.#podType, undefined).items) this.#start(pod);
  }

  logs(namespace: string, name: string, container: string | undefined): string | undefined {
    const runtime = [...this.#pods.values()].find(
      (entry) => entry.namespace === namespace && entry.name === name,
    );
    if (!runtime) return undefined;
    const target = container
      ? runtime.containers.find((entry) => entry.spec.name === container)
      : runtime.containers.find((entry) => entry.kind === 'main');
    if (!target) return undefined;
    try {
      return readFileSync(target.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  #start(pod: KubeObject): void {
    const uid = pod.metadata.uid ?? '';
    if (this.#closed || this.#pods.has(uid) || !asObj(pod.spec).nodeName) return;
    const phase = asObj(pod.status).phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const namespace = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name ?? '';
    const dir = join(this.options.workDir, 'pods', `${namespace}_${name}_${uid.slice(0, 8)}`);
    const spec = asObj(pod.spec);
    const containers: ContainerRuntime[] = [
      ...asList(spec.initContainers).map((container) => ({
        container,
        kind: (container.restartPolicy === 'Always' ? 'sidecar' : 'init') as Kind,
      })),
      ...asList(spec.containers).map((container) => ({ container, kind: 'main' as Kind })),
    ].map(({ container, kind }) => ({
      spec: container,
      kind,
      child: undefined,
      exited: undefined,
      restartCount: 0,
      state: {
        waiting: {
          reason:
            kind === 'main' && asList(spec.initContainers).length > 0
              ? 'PodInitializing'
              : 'ContainerCreating',
        },
      },
      lastState: {},
      ready: false,
      started: false,
      probeFailures: 0,
      livenessFailures: 0,
      logPath: join(dir, 'logs', `${String(container.name)}.log`),
    }));
    const runtime: PodRuntime = {
      uid,
      namespace,
      name,
      ip: this.options.nextPodIp(),
      dir,
      containers,
      pod,
      initialized: false,
      stopping: false,
      timers: new Set(),
      statusDirty: false,
    };
    this.#pods.set(uid, runtime);
    void this.options.events.record(
      pod,
      'Normal',
      'Scheduled',
      `Successfully assigned ${namespace}/${name} to fake-node`,
      'default-scheduler',
    );
    void this.#run(runtime).catch((error: unknown) =>
      this.options.log(`kubelet: pod ${namespace}/${name}: ${String(error)}`),
    );
  }

  async #run(runtime: PodRuntime): Promise<void> {
    await mkdir(join(runtime.dir, 'logs'), { recursive: true });
    await this.#syncStatus(runtime);
    let volumeDirs: Map<string, string> | undefined;
    while (!runtime.stopping && !this.#closed) {
      try {
        volumeDirs = await this.options.files.writeVolumes(runtime.pod, runtime.dir);
        break;
      } catch (error) {
        if (!(error instanceof MissingDependency)) throw error;
        await this.options.events.record(
          runtime.pod,
          'Warning',
          'FailedMount',
          `MountVolume.SetUp failed: ${error.message}`,
          'kubelet',
        );
        await this.#sleep(runtime, 500);
      }
    }
    if (!volumeDirs) return;
    for (const container of runtime.containers.filter((entry) => entry.kind !== 'main')) {
      if (runtime.stopping) return;
      if (container.kind === 'sidecar') {
        await this.#launch(runtime, container, volumeDirs);
        continue;
      }
      for (;;) {
        const exitCode = await this.#launch(runtime, container, volumeDirs).then(() => container.exited);
        if (runtime.stopping) return;
        if (exitCode === 0) break;
        await this.#sleep(runtime, this.#backoff(container));
        container.restartCount++;
      }
    }
    runtime.initialized = true;
    for (const container of runtime.containers.filter((entry) => entry.kind === 'main')) {
      if (runtime.stopping) return;
      await this.#launch(runtime, container, volumeDirs);
    }
    this.#schedule(runtime, () => this.#probe(runtime), this.options.probePeriodMs);
  }

  #backoff(container: ContainerRuntime): number {
    return Math.min(5000, 200 * 2 ** container.restartCount);
  }

  #sleep(runtime: PodRuntime, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        runtime.timers.delete(timer);
        resolve();
      }, ms);
      runtime.timers.add(timer);
    });
  }

  #schedule(runtime: PodRuntime, task: () => Promise<void>, ms: number): void {
    const tick = () => {
      if (runtime.stopping || this.#closed) return;
      const timer = setTimeout(() => {
        runtime.timers.delete(timer);
        task().finally(tick);
      }, ms);
      runtime.timers.add(timer);
    };
    tick();
  }

  async #launch(
    runtime: PodRuntime,
    container: ContainerRuntime,
    volumeDirs: Map<string, string>,
  ): Promise<void> {
    const { pod } = runtime;
    const spec = container.spec as unknown as ContainerSpec & Obj;
    const image = String(spec.image ?? '');
    const rule = this.options.images.find((candidate) => candidate.match(image));
    if (!rule) {
      container.state = {
        waiting: { reason: 'ErrImagePull', message: `fake kubelet: no command for image "${image}"` },
      };
      runtime.statusDirty = true;
      await this.#syncStatus(runtime);
      await this.options.events.record(
        pod,
        'Warning',
        'Failed',
        `Failed to pull image "${image}": the fake kubelet has no command for it`,
        'kubelet',
      );
      container.exited = Promise.resolve(1);
      return;
    }
    let userEnv: Record<string, string>;
    try {
      userEnv = this.options.files.env(pod, container.spec);
    } catch (error) {
      container.state = { waiting: { reason: 'CreateContainerConfigError', message: String(error) } };
      await this.#syncStatus(runtime);
      await this.#sleep(runtime, 500);
      return this.#launch(runtime, container, volumeDirs);
    }
    const mounts = this.options.files.mounts(container.spec, volumeDirs);
    const command = rule.command({
      image,
      container: spec,
      podIp: runtime.ip,
      repoRoot: this.options.repoRoot,
    });
    const containerEnv: Record<string, string> = { ...command.env, ...userEnv };
    for (const [key, value] of Object.entries(containerEnv))
      containerEnv[key] = rewriteForPod(value, mounts, runtime.ip);
    // The harness's own variables (API server address, DNS preload) are not rewritten.
    const base = await this.options.baseEnv(pod, runtime.dir);
    const env: Record<string, string> = {
      ...base,
      SWITCHYARD_FAKE_POD_IP: runtime.ip,
      HOSTNAME: runtime.name,
      ...containerEnv,
    };
    // The DNS/network preload rides on NODE_OPTIONS; a container that sets its own NODE_OPTIONS
    // (the injected router does) keeps its flags and still gets the pod's network view.
    if (base.NODE_OPTIONS !== undefined && containerEnv.NODE_OPTIONS !== undefined) {
      env.NODE_OPTIONS = `${base.NODE_OPTIONS} ${containerEnv.NODE_OPTIONS}`;
    }
    const expandArg = (arg: string) =>
      rewriteForPod(
        arg.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string) => env[name] ?? match),
        mounts,
        runtime.ip,
      );
    const argv = command.argv.map((arg, index) => (index === 0 ? arg : expandArg(arg)));
    const log = openSync(container.logPath, 'a');
    const child = spawn(argv[0] ?? 'false', argv.slice(1), {
      cwd: runtime.dir,
      env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    container.child = child;
    const startedAt = now();
    container.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
      child.once('error', () => resolve(127));
    });
    const hasStartup = isObject(container.spec.startupProbe);
    container.state = { running: { startedAt } };
    container.started = !hasStartup;
    container.ready = !isObject(container.spec.readinessProbe) && container.kind !== 'init';
    container.probeFailures = 0;
    container.livenessFailures = 0;
    runtime.statusDirty = true;
    if (container.restartCount === 0) {
      await this.options.events.record(
        pod,
        'Normal',
        'Pulled',
        `Container image "${image}" already present on machine`,
        'kubelet',
      );
    }
    await this.options.events.record(
      pod,
      'Normal',
      'Created',
      `Created container ${String(spec.name)}`,
      'kubelet',
    );
    await this.options.events.record(
      pod,
      'Normal',
      'Started',
      `Started container ${String(spec.name)}`,
      'kubelet',
    );
    await this.#syncStatus(runtime);
    void container.exited.then((exitCode) =>
      this.#onExit(runtime, container, exitCode ?? 1, startedAt, volumeDirs),
    );
    if (container.kind === 'sidecar' && hasStartup) {
      while (!container.started && !runtime.stopping && container.child === child) {
        await this.#probeContainer(runtime, container);
        if (!container.started) await this.#sleep(runtime, this.options.probePeriodMs);
      }
    }
  }

  async #onExit(
    runtime: PodRuntime,
    container: ContainerRuntime,
    exitCode: number,
    startedAt: string,
    volumeDirs: Map<string, string>,
  ) {
    container.child = undefined;
    container.ready = false;
    const terminated = {
      terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: now() },
    };
    container.state = terminated;
    runtime.statusDirty = true;
    if (runtime.stopping || this.#closed || container.kind === 'init') {
      await this.#syncStatus(runtime);
      return;
    }
    const restartPolicy = asObj(runtime.pod.spec).restartPolicy ?? 'Always';
    const restart =
      container.kind === 'sidecar' ||
      restartPolicy === 'Always' ||
      (restartPolicy === 'OnFailure' && exitCode !== 0);
    if (!restart) {
      await this.#syncStatus(runtime);
      return;
    }
    container.lastState = terminated;
    container.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off restarting failed container ${String(container.spec.name)}`,
      },
    };
    await this.#syncStatus(runtime);
    await this.options.events.record(
      runtime.pod,
      'Warning',
      'BackOff',
      `Back-off restarting failed container ${String(container.spec.name)} in pod ${runtime.name}`,
      'kubelet',
    );
    await this.#sleep(runtime, this.#backoff(container));
    if (runtime.stopping || this.#closed) return;
    container.restartCount++;
    await this.#launch(runtime, container, volumeDirs);
  }

  async #probe(runtime: PodRuntime): Promise<void> {
    await Promise.all(
      runtime.containers
        .filter((entry) => entry.child)
        .map((container) => this.#probeContainer(runtime, container)),
    );
    await this.#syncStatus(runtime);
  }

  async #probeContainer(runtime: PodRuntime, container: ContainerRuntime): Promise<void> {
    if (!container.child) return;
    const { spec } = container;
    if (!container.started && isObject(spec.startupProbe)) {
      if (await this.#check(runtime, container, spec.startupProbe)) {
        container.started = true;
        runtime.statusDirty = true;
      }
      return;
    }
    if (isObject(spec.readinessProbe)) {
      const ok = await this.#check(runtime, container, spec.readinessProbe);
      const threshold = Number(spec.readinessProbe.failureThreshold ?? 3);
      if (ok) {
        container.probeFailures = 0;
        if (!container.ready) runtime.statusDirty = true;
        container.ready = true;
      } else if (++container.probeFailures >= threshold || !container.ready) {
        if (container.ready) runtime.statusDirty = true;
        container.ready = false;
      }
    }
    if (isObject(spec.livenessProbe)) {
      const ok = await this.#check(runtime, container, spec.livenessProbe);
      container.livenessFailures = ok ? 0 : container.livenessFailures + 1;
      if (container.livenessFailures >= Number(spec.livenessProbe.failureThreshold ?? 3)) {
        container.livenessFailures = 0;
        await this.options.events.record(
          runtime.pod,
          'Normal',
          'Killing',
          `Container ${String(spec.name)} failed liveness probe, will be restarted`,
          'kubelet',
        );
        this.#signal(container, 'SIGKILL');
      }
    }
  }

  #port(container: ContainerRuntime, port: unknown): number | undefined {
    if (typeof port === 'number') return port;
    if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port);
    return asList(container.spec.ports).find((entry) => entry.name === port)?.containerPort as
      | number
      | undefined;
  }

  async #check(runtime: PodRuntime, container: ContainerRuntime, probe: Obj): Promise<boolean> {
    const timeoutMs = Number(probe.timeoutSeconds ?? 1) * 1000;
    if (isObject(probe.httpGet)) {
      const get = probe.httpGet;
      const port = this.#port(container, get.port);
      if (port === undefined) return false;
      const https = get.scheme === 'HTTPS';
      const headers: Record<string, string> = {};
      for (const header of asList(get.httpHeaders)) headers[String(header.name)] = String(header.value);
      return new Promise((resolve) => {
        const request = (https ? httpsRequest : httpRequest)(
          {
            host: runtime.ip,
            port,
            path: String(get.path ?? '/'),
            method: 'GET',
            headers,
            timeout: timeoutMs,
            rejectUnauthorized: false,
          },
          (response) => {
            response.resume();
            resolve((response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 400);
          },
        );
        request.on('timeout', () => request.destroy());
        request.on('error', () => resolve(false));
        request.end();
      });
    }
    if (isObject(probe.tcpSocket)) {
      const port = this.#port(container, probe.tcpSocket.port);
      if (port === undefined) return false;
      return new Promise((resolve) => {
        const socket = createConnection({ host: runtime.ip, port, timeout: timeoutMs });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('timeout', () => {
          socket.destroy();
          resolve(false);
        });
        socket.once('error', () => resolve(false));
      });
    }
    return true;
  }

  #containerStatus(container: ContainerRuntime): Obj {
    return {
      name: container.spec.name,
      image: container.spec.image,
      imageID: `fake://${String(container.spec.image)}`,
      containerID: container.child?.pid ? `fake://${container.child.pid}` : undefined,
      ready: container.ready,
      started: container.kind === 'init' ? undefined : Boolean(container.child) && container.started,
      restartCount: container.restartCount,
      state: container.state,
      lastState: container.lastState,
    };
  }

  async #syncStatus(runtime: PodRuntime): Promise<void> {
    const sidecarsAndMain = runtime.containers.filter((entry) => entry.kind !== 'init');
    const mains = runtime.containers.filter((entry) => entry.kind === 'main');
    const containersReady = sidecarsAndMain.every((entry) => entry.ready);
    const ready = containersReady && !runtime.stopping;
    const allMainExited = mains.every((entry) => isObject(entry.state.terminated));
    const restartPolicy = asObj(runtime.pod.spec).restartPolicy ?? 'Always';
    let phase = 'Pending';
    if (mains.some((entry) => entry.child || isObject(entry.state.terminated) || entry.restartCount > 0))
      phase = 'Running';
    if (restartPolicy !== 'Always' && allMainExited && runtime.initialized) {
      phase = mains.every((entry) => (asObj(entry.state.terminated).exitCode ?? 1) === 0)
        ? 'Succeeded'
        : 'Failed';
    }
    const condition = (type: string, value: boolean) => ({ type, status: value ? 'True' : 'False' });
    const status = {
      phase,
      conditions: [
        condition('PodReadyToStartContainers', true),
        condition('Initialized', runtime.initialized),
        condition('Ready', ready),
        condition('ContainersReady', containersReady),
        condition('PodScheduled', true),
      ],
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: runtime.ip,
      podIPs: [{ ip: runtime.ip }],
      qosClass: 'BestEffort',
      ...(runtime.containers.some((entry) => entry.kind !== 'main')
        ? {
            initContainerStatuses: runtime.containers
              .filter((entry) => entry.kind !== 'main')
              .map((entry) => this.#containerStatus(entry)),
          }
        : {}),
      containerStatuses: mains.map((entry) => this.#containerStatus(entry)),
    };
    const normalized = JSON.parse(JSON.stringify(status)) as Obj;
    const current = this.options.api.tryGet(this.#podType, runtime.namespace, runtime.name);
    if (!current || current.metadata.uid !== runtime.uid) return;
    const previous = asObj(current.status);
    const comparable = (value: Obj) =>
      JSON.stringify({ ...value, startTime: undefined, conditions: value.conditions });
    if (comparable(previous) === comparable(normalized)) return;
    const startTime = previous.startTime ?? now();
    const previousConditions = asList(previous.conditions);
    const conditions = (normalized.conditions as Obj[]).map((entry) => {
      const before = previousConditions.find((candidate) => candidate.type === entry.type);
      return {
        ...entry,
        lastProbeTime: null,
        lastTransitionTime: before && before.status === entry.status ? before.lastTransitionTime : now(),
      };
    });
    if (comparable({ ...previous }) === comparable({ ...normalized, conditions })) return;
    try {
      await this.options.api.update(
        this.#podType,
        runtime.namespace,
        runtime.name,
        (pod) => ({ ...pod, status: { ...normalized, conditions, startTime } }),
        internalContext('kubelet'),
        'status',
      );
      runtime.statusDirty = false;
    } catch (error) {
      this.options.log(`kubelet: status of ${runtime.namespace}/${runtime.name}: ${String(error)}`);
    }
  }

  #signal(container: ContainerRuntime, signal: NodeJS.Signals): void {
    const pid = container.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }

  #terminate(pod: KubeObject): void {
    const runtime = this.#pods.get(pod.metadata.uid ?? '');
    if (!runtime) {
      this.options.api.finalizeRemoval(this.#podType, pod.metadata.namespace, pod.metadata.name ?? '');
      return;
    }
    const grace = Math.min(
      this.options.maxGraceMs,
      Number(pod.metadata.deletionGracePeriodSeconds ?? 30) * 1000,
    );
    void this.#stop(runtime, grace).then(() =>
      this.options.api.finalizeRemoval(this.#podType, runtime.namespace, runtime.name),
    );
  }

  async #stop(runtime: PodRuntime, graceMs: number): Promise<void> {
    if (runtime.stopping) return;
    runtime.stopping = true;
    for (const timer of runtime.timers) clearTimeout(timer);
    runtime.timers.clear();
    await this.#syncStatus(runtime);
    const deadline = Date.now() + graceMs;
    const stopGroup = async (group: ContainerRuntime[]) => {
      const running = group.filter((entry) => entry.child);
      for (const container of running) {
        if (graceMs > 0) {
          void this.options.events.record(
            runtime.pod,
            'Normal',
            'Killing',
            `Stopping container ${String(container.spec.name)}`,
            'kubelet',
          );
        }
        this.#signal(container, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      }
      await Promise.all(
        running.map(async (container) => {
          const exited = container.exited ?? Promise.resolve(0);
          const remaining = Math.max(0, deadline - Date.now());
          let timer: NodeJS.Timeout | undefined;
          const timedOut = await Promise.race([
            exited.then(() => false),
            new Promise<boolean>((resolve) => {
              timer = setTimeout(() => resolve(true), remaining);
            }),
          ]);
          clearTimeout(timer);
          if (timedOut) {
            this.#signal(container, 'SIGKILL');
            await exited;
          }
        }),
      );
    };
    await stopGroup(runtime.containers.filter((entry) => entry.kind === 'main'));
    await stopGroup(runtime.containers.filter((entry) => entry.kind !== 'main').reverse());
    this.#pods.delete(runtime.uid);
  }

  /** Last resort when the test process exits without close(): SIGKILL every container, synchronously. */
  killAllNow(): void {
    for (const runtime of this.#pods.values()) {
      for (const container of runtime.containers) this.#signal(container, 'SIGKILL');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    await Promise.all([...this.#pods.values()].map((runtime) => this.#stop(runtime, 2000)));
  }
}
