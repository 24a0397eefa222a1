// Multi-process tests run the compiled code (child processes are plain Node). The test command
// builds once and sets STATECHORUS_BUILT; a test run on its own builds here.
import { execFileSync } from 'node:child_process';

let built = process.env['STATECHORUS_BUILT'] === '1';

export function ensureBuilt(): void {
  if (built) return;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  built = true;
}
