// Stopping a long-running command: on SIGINT or SIGTERM (whether sent to this process or, under
// npx, to the npm process that started it: see bin/statechorus.mjs, which turns the parent's
// death into a SIGTERM here), run `stop` once, then exit. A stop that hangs does not keep the
// process: it leaves after `graceMs` anyway.
export function onShutdown(stop: (signal: NodeJS.Signals) => Promise<void>, log: (line: string) => void, graceMs = 5000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    setTimeout(() => {
      log(`still stopping after ${graceMs} ms; exiting anyway`);
      process.exit(process.exitCode ?? 1);
    }, graceMs).unref();
    stop(signal).then(
      () => process.exit(process.exitCode ?? 0),
      (e: unknown) => {
        log(`error while stopping: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
