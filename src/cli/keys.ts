// Key files: one identity per file, JSON { id, publicKey, seed } (exportIdentity's encoding),
// written with mode 0600 because the seed is the private key.
import { open, readFile, stat } from 'node:fs/promises';
import { exportIdentity, importIdentity, type Identity } from '../crypto/identity.ts';

export interface KeyFile {
  /** The member id ("r1"), "admin" or "client". */
  id: string;
  publicKey: string;
  seed: string;
}

/** Writes a key file; refuses to replace an existing one (a lost key cannot be made again). */
export async function writeKeyFile(path: string, id: string, identity: Identity): Promise<void> {
  const { publicKey, seed } = exportIdentity(identity);
  const fh = await open(path, 'wx', 0o600).catch((e: { code?: string }) => {
    if (e.code === 'EEXIST') throw new Error(`${path} exists; refusing to overwrite a key (use another --dir)`);
    throw e;
  });
  try {
    await fh.writeFile(JSON.stringify({ id, publicKey, seed } satisfies KeyFile, null, 2) + '\n');
    await fh.chmod(0o600); // the umask may have narrowed it further, never widened; make it exact
  } finally {
    await fh.close();
  }
}

/** Reads a key file; `warn` hears when others may read it. */
export async function readKeyFile(path: string, warn?: (line: string) => void): Promise<{ id: string; identity: Identity }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read the key file (${(e as { code?: string }).code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
  }
  let data: Partial<KeyFile>;
  try {
    data = JSON.parse(text) as Partial<KeyFile>;
  } catch (e) {
    throw new Error(`${path}: not a key file (invalid JSON: ${(e as Error).message})`);
  }
  if (!data || typeof data !== 'object' || typeof data.publicKey !== 'string' || typeof data.seed !== 'string') throw new Error(`${path}: not a key file (expected { id, publicKey, seed })`);
  let identity: Identity;
  try {
    identity = await importIdentity({ publicKey: data.publicKey, seed: data.seed });
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  if (warn && process.platform !== 'win32') {
    const mode = (await stat(path)).mode & 0o777;
    if (mode & 0o077) warn(`warning: ${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  }
  return { id: typeof data.id === 'string' ? data.id : identity.id, identity };
}
