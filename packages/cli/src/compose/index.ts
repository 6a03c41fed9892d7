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
export { type ComposeCommand, findCompose } from './compose-command.js';
export { ComposeError, type ComposeErrorCode, ComposeErrorCodes } from './errors.js';
export { type ComposeKillTarget, composeKillTarget } from './kill.js';
export { COMPOSE_SUBNET, CONTROL_PLANE_ADDRESS, composeNodes, MAX_NODES, overrideFor, PUBLISHED_NODEPORTS } from './plan.js';
