export { seal, sealWithProof, rewrap, open, BROADCAST, type WireKind, type WireMessage, type IngressDrop, type IngressResult, type IngressOptions } from './envelope.ts';
export { EventTooLargeError, eventBudget, RECORD_LIMITS, WIRE_MAX_DEPTH, wireLimits } from './limits.ts';
