// The webhook's public surface for `switchyard control` and `switchyard inject`: the endpoint, the
// pure admission core, injector config, TLS (self-managed, files, Kubernetes adapters).

export { type AdmissionDecision, type AdmitOptions, DEFAULT_CONTROLLER_USERNAME, admit } from './admit.js';
export {
  DEFAULT_CONTROL_URL,
  type InjectConfig,
  ROUTER_CONTAINER_NAME,
  makeInjectConfig,
  parseKubeVersion,
  supportsNativeSidecars,
} from './config.js';
export { injectManifests } from './manifests.js';
export { parseAdmissionReview, reviewResponse } from './review.js';
export { type ServerVersionTracker, trackServerVersion } from './server-version.js';
export { registerWebhook, type WebhookServerOptions } from './server.js';
export {
  type CaBundlePublisher,
  type CertBundle,
  type CertStore,
  MemoryCertStore,
  SelfManagedTls,
  type SelfManagedTlsOptions,
  type TlsSource,
  attachTlsSource,
  serviceDnsNames,
} from './tls.js';
export { type FileTlsSource, watchTlsFiles } from './tls-files.js';
export {
  DEFAULT_TLS_SECRET,
  DEFAULT_WEBHOOK_CONFIGURATION,
  SecretCertStore,
  WebhookCaBundlePublisher,
  fetchServerVersion,
} from './tls-kube.js';
export type { KubeVersion } from './types.js';
