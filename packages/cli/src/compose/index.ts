export {
  COMPOSE_FILE,
  type ComposeDownOptions,
  type ComposeRecord,
  type ComposeServiceStatus,
  type ComposeUpOptions,
  composeDown,
  composeKill,
  composeStateDir,
  composeStatus,
  composeUp,
  readComposeRecord,
} from './compose.js';
export {
  type CommandResult,
  type CommandRunner,
  type ComposeCommand,
  type ComposeProject,
  composeArgv,
  composeCommandFor,
  downArgv,
  execaRunner,
  findCompose,
  upArgv,
} from './compose-command.js';
export { ComposeError, type ComposeErrorCode, ComposeErrorCodes } from './errors.js';
export { type ComposeKillTarget, composeKillTarget } from './kill.js';
export {
  COMPOSE_SUBNET,
  CONTROL_PLANE_ADDRESS,
  composeNodes,
  MAX_NODES,
  type OverrideOptions,
  overrideFor,
  PUBLISHED_METRICS_PORTS,
  PUBLISHED_NODEPORTS,
} from './plan.js';
export {
  composePrometheusConfig,
  composePrometheusYaml,
  NODE_METRICS_PORTS,
  PROMETHEUS_SECRET_FILES,
  PROMETHEUS_SECRETS_DIR,
  type PrometheusConfig,
  type ScrapeConfig,
} from './prometheus.js';
