/**
 * `statechorus signal --port 8787 [--host H]` on Node (bin/statechorus.mjs calls `main`).
 * Prints `signaling server listening on ws://HOST:PORT` once listening (with the real port
 * when --port 0), stops cleanly on SIGINT/SIGTERM, exits 1 with a message on bad arguments
 * or when the port is taken.
 */
import { parseArgs, usage, UsageError } from './args.ts';
import { startSignalingServer } from './node.ts';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const stdio: CliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/**
 * Runs the command line. Resolves once the server is listening (or the command is done) with
 * the exit code so far; a running server keeps the process alive until a signal stops it.
 */
export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIo = stdio): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv, { PORT: process.env['PORT'] });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`statechorus: ${e.message}`);
    io.err(`Run "statechorus --help" for usage.`);
    process.exitCode = 1;
    return 1;
  }
  if (parsed.kind === 'help') {
    io.out(usage().trimEnd());
    return 0;
  }
  const { port, host, limits, redis } = parsed.command;
  let server;
  try {
    server = await startSignalingServer({
      port,
      host,
      ...limits,
      ...(redis
        ? {
            redis: {
              url: redis,
              onEvent: (e) =>
                e.type === 'down'
                  ? io.err(`statechorus signal: lost Redis (${e.error}); relaying between this instance's clients only until it is back`)
                  : io.out('Redis is back: sharing rooms again'),
            },
          }
        : {}),
    });
  } catch (e) {
    io.err(`statechorus signal: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
    return 1;
  }
  const stop = (signal: NodeJS.Signals) => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    io.out(`${signal}: shutting down`);
    // Should a handle linger, do not hang: leave anyway shortly after.
    setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref();
    server.close().then(
      () => {
        const s = server.stats();
        io.out(`signaling server stopped (${s.accepted} connections served, ${s.relayed} messages relayed)`);
      },
      (e: unknown) => {
        io.err(`statechorus signal: error while closing: ${e instanceof Error ? e.message : String(e)}`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const shared = server.stats().redis;
  if (shared) io.out(`sharing rooms through Redis at ${shared.url} (instance ${shared.instance})`);
  // Only now: whoever waits for this line may signal at once, and the handlers must be there.
  io.out(`signaling server listening on ${server.url}`);
  return 0;
}
