// The fault models by name: what createClient, createLocalCluster, startProcessGroup, the group
// descriptor and the CLI look up once instead of testing the name.

import type { FaultModel } from '../replica/types.ts';
import { byzantine } from './byzantine.ts';
import { crash } from './crash.ts';
import type { FaultModelDescriptor } from './types.ts';

export type { FaultModelDescriptor } from './types.ts';

const MODELS: { readonly [M in FaultModel]: FaultModelDescriptor } = { crash, byzantine };

/** The names, in the order error messages list them. */
export const FAULT_MODEL_NAMES = Object.keys(MODELS) as FaultModel[];

export function isFaultModel(name: unknown): name is FaultModel {
  return typeof name === 'string' && Object.hasOwn(MODELS, name);
}

/** The descriptor of a fault model; a TypeError naming `where` for anything else. */
export function faultModelOf(name: unknown, where = 'faultModelOf'): FaultModelDescriptor {
  if (!isFaultModel(name)) throw new TypeError(`${where}: unknown faultModel ${String(name)} (expected ${FAULT_MODEL_NAMES.map((m) => `'${m}'`).join(' or ')})`);
  return MODELS[name];
}
