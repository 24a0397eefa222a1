export type { Transport } from './types.ts';
