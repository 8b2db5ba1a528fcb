// The slice of Kubernetes object shapes the webhook reads and writes. Objects arrive as untrusted
// JSON, so every field is optional and the handlers check what they rely on.

export type StringMap = Record<string, string>;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: StringMap;
  annotations?: StringMap;
  [key: string]: unknown;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
  [key: string]: unknown;
}

export interface ProbeHandlerPort {
  port?: number | string;
  [key: string]: unknown;
}

export interface Probe {
  httpGet?: ProbeHandlerPort;
  tcpSocket?: ProbeHandlerPort;
  grpc?: ProbeHandlerPort;
  [key: string]: unknown;
}

/** postStart/preStop: the same handler shapes as a probe (httpGet, tcpSocket, exec, sleep). */
export interface Lifecycle {
  postStart?: Probe;
  preStop?: Probe;
  [key: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: Lifecycle;
  restartPolicy?: string;
  [key: string]: unknown;
}

export interface Volume {
  name: string;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  hostNetwork?: boolean;
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: PodSpec;
  [key: string]: unknown;
}

export interface PodTemplate {
  metadata?: ObjectMeta;
  spec: PodSpec;
  [key: string]: unknown;
}

export interface Deployment {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: {
    replicas?: number;
    paused?: boolean;
    selector?: { matchLabels?: StringMap; [key: string]: unknown };
    template: PodTemplate;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** A Kubernetes minor version as learned from the API server (`/version`). */
export interface KubeVersion {
  readonly major: number;
  readonly minor: number;
}
