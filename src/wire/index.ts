export { seal, sealWithProof, rewrap, open, BROADCAST, type WireKind, type WireMessage, type IngressDrop, type IngressResult, type IngressOptions } from './envelope.ts';
