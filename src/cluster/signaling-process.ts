// The signaling server as a child process of a process group: reports its URL over IPC and
// exits when the parent goes away.
import { startSignalingServer } from '../../signaling/node.ts';

const server = await startSignalingServer({ port: Number(process.env['SIGNALING_PORT'] ?? 0) }).catch((err: unknown) => {
  process.send?.({ error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
process.send?.({ url: server.url });
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
