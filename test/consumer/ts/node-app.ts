// A Node app's imports (nodenext and node16 take the Node types; bundler uses the subpaths).
import { setup } from 'xstate';
import { createLocalCluster, startSignalingServer, webrtcTransport } from 'statechorus/node';
import { fileStorage, openFileStorage, type FileStorage } from 'statechorus/file';

const machine = setup({}).createMachine({ context: { n: 0 } });
export async function main(dir: string): Promise<FileStorage> {
  const cluster = await createLocalCluster({ machine, faultModel: 'byzantine', f: 1, seed: 1 });
  await cluster.stop();
  void startSignalingServer; void webrtcTransport; void fileStorage;
  return openFileStorage(dir);
}
