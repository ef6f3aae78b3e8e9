/**
 * Where a compiled module is, for worker threads (which load JavaScript files, never the test
 * runner's transformed sources). Berth runs from dist/, where the module sits beside its caller;
 * under the test runner the caller is a TypeScript source in src/, and the module is looked up
 * at the same place under dist/ (`npm run build` makes it; `npm test` builds first).
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The package's root: the nearest folder above `dir` with a package.json. */
function packageRoot(dir: string): string {
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The URL of compiled module `name` (a path relative to the caller, `./worker.js`). */
export function compiledModule(callerUrl: string, name: string): URL {
  const beside = new URL(name, callerUrl);
  if (!callerUrl.endsWith('.ts')) return beside;
  const path = fileURLToPath(beside);
  const root = packageRoot(dirname(fileURLToPath(callerUrl)));
  const compiled = join(root, 'dist', relative(root, path));
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: run \`npm run build\` (worker threads run the compiled code)`);
  return pathToFileURL(compiled);
}
