// The product version, reported by `switchyard --version`, build_info metrics and the
// `switchyard.io/injected` annotation. A unit test keeps it equal to package.json's.

export const VERSION = '0.1.0';
