// `--machine ./app.mjs#machine`: the XState machine a replica runs, from a module's export.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyStateMachine } from 'xstate';

export async function loadMachine(spec: string): Promise<AnyStateMachine> {
  const hash = spec.lastIndexOf('#');
  const file = hash > 0 ? spec.slice(0, hash) : spec;
  const name = hash > 0 ? spec.slice(hash + 1) : 'machine';
  const url = pathToFileURL(resolve(file)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`--machine ${spec}: cannot import ${resolve(file)} (${(e as Error).message})`);
  }
  const machine = mod[name] ?? (hash < 0 ? mod['default'] : undefined);
  if (!machine || typeof (machine as { transition?: unknown }).transition !== 'function') {
    const exported = Object.keys(mod).join(', ') || 'nothing';
    throw new Error(`--machine ${spec}: ${resolve(file)} exports no XState machine named ${JSON.stringify(name)} (it exports ${exported}); write FILE#EXPORT`);
  }
  return machine as AnyStateMachine;
}
