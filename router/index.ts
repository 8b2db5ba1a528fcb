// The router's public surface for the CLI, the demo and tests: start one, build its config.
export { parseRouterConfig, type RouterConfig, routerUsage } from './config.js';
export { compileRoutes, type Decision, type Random, type Reason } from './decide.js';
export {
  type BoundAddress,
  type RouterClock,
  type RouterDeps,
  type RunningRouter,
  startRouter,
  systemClock,
} from './start.js';
