/** `berth user ...` and `berth token ...`. */
import { UsageError } from '../cli-util.js';

export async function runUserCommand(_args: string[]): Promise<void> {
  throw new UsageError('berth user: not available yet');
}

export async function runTokenCommand(_args: string[]): Promise<void> {
  throw new UsageError('berth token: not available yet');
}
