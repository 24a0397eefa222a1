// The group API on Node and Deno: createReplica/createClient with Node's WebRTC transport, and
// loadGroup, which reads group.json.

import { readFile } from 'node:fs/promises';
import type { AnyStateMachine } from 'xstate';
import { Client } from '../client/client.ts';
import { createReplica as createReplicaOf } from '../fault-models/runtime.ts';
import { webrtcTransport } from '../transport/node.ts';
import type { CreateReplica } from './create.ts';
import { GroupDescriptorError, parseGroup, type GroupDescriptor } from './descriptor.ts';
import { resolveClientOptions, resolveReplicaOptions, type GroupClientOptions, type GroupReplicaOptions } from './resolve.ts';

/** See createReplica in create.ts; the transport is @roamhq/wrtc's WebRTC. */
export const createReplica: CreateReplica = ((options: GroupReplicaOptions) => createReplicaOf(resolveReplicaOptions(options, webrtcTransport))) as CreateReplica;

/** See createClient in create.ts; the transport is @roamhq/wrtc's WebRTC. */
export function createClient<TMachine extends AnyStateMachine = AnyStateMachine>(options: GroupClientOptions<TMachine>): Client<TMachine> {
  return new Client<TMachine>(resolveClientOptions(options, webrtcTransport));
}

/** Reads and checks a group descriptor file (errors name the file and the cause). */
export async function loadGroup(path: string): Promise<GroupDescriptor> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new GroupDescriptorError(`${path}: cannot read the group file (${code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
  }
  return parseGroup(text, path);
}
