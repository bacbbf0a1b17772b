import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SwitchyardConfig } from '../functions/core/config.js';
import { loadConfig } from '../functions/core/config-schema.js';
import { ConfigError } from '../functions/core/errors.js';

/** Imports a config module (TypeScript works under tsx) and validates it. */
export async function loadConfigFile(file: string): Promise<SwitchyardConfig> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigError([`--config: no such file (got "${file}")`]);
  const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  if (module.default === undefined)
    throw new ConfigError([`${file}: has no default export (export default defineConfig({...}))`]);
  return loadConfig(module.default);
}
