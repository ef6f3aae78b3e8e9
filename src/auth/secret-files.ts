/**
 * Berth's secret files, checked at start: the token signing key and the robot tokens in storage
 * (when the driver keeps them on this host's disk), the users file, and a signing key file from
 * the config. Each one that other users of the host can read is named in a warning: Berth writes
 * them private (0600 in 0700 folders), but older versions, `htpasswd`, or a copy may not have.
 */
import type { Logger } from 'pino';
import { PathNotFoundError, type StorageDriver } from '../../storage-drivers/driver.js';
import { readableByOthers } from '../../storage-drivers/file-access.js';
import type { AuthConfig } from './config.js';
import { SIGNING_KEY_PATH } from './keys.js';
import { ROBOT_DIR } from './robots.js';

async function storagePaths(config: AuthConfig, driver: StorageDriver): Promise<string[]> {
  const paths = config.signingKeyFile ? [] : [SIGNING_KEY_PATH];
  try {
    paths.push(...(await driver.list(ROBOT_DIR)));
  } catch (err) {
    if (!(err instanceof PathNotFoundError)) throw err;
  }
  return paths;
}

export async function warnAboutExposedSecrets(config: AuthConfig, driver: StorageDriver, log: Logger): Promise<void> {
  const exposed: string[] = [];
  if (driver.exposed) {
    for (const path of await storagePaths(config, driver)) {
      const file = await driver.exposed(path);
      if (file) exposed.push(file);
    }
  }
  for (const file of [config.usersFile, config.signingKeyFile]) {
    if (!file) continue;
    try {
      if (await readableByOthers(file)) exposed.push(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  for (const file of exposed) {
    log.warn({ file }, 'secret file readable by other users of this host: chmod 600 it, and 700 the folders above it');
  }
}
