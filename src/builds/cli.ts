/** `berth builds list|logs|trigger`. */
import { UsageError } from '../cli-util.js';

export async function runBuildsCommand(_args: string[]): Promise<void> {
  throw new UsageError('berth builds: not available yet');
}
