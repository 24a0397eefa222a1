// The signaling server as a child process of a process group: reports its URL over IPC and
// exits when the parent goes away.
import { startSignalingServer, type SignalingServer } from '../../signaling/node.ts';

let server: SignalingServer | undefined;
const stop = async () => {
  setTimeout(() => process.exit(0), 2_000).unref();
  await server?.close();
  process.exit(0);
};
// Installed first: a parent that dies while we start must not leave us running.
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

server = await startSignalingServer({ port: Number(process.env['SIGNALING_PORT'] ?? 0) }).catch((err: unknown) => {
  process.send?.({ error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
if (!process.connected) await stop();
process.send?.({ url: server.url });
