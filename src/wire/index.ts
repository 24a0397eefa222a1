export { seal, open, type WireKind, type WireMessage, type IngressDrop, type IngressResult, type IngressOptions } from './envelope.ts';
