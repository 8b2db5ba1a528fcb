export * from './builtin.js';
export * from './exposition.js';
export * from './histogram.js';
export * from './judge.js';
export * from './prometheus.js';
export * from './provider.js';
export * from './stats.js';
export * from './window.js';
