// NAT (the rule engine's NatEngine): DNAT, SNAT, MASQUERADE bindings kept in conntrack entries.
export { checkNatRange, hookManip, type MasqueradeOptions, Nat, type NatOptions, natRangeProblem } from './nat-engine.js';
export { manipPacket } from './rewrite.js';
