import { MissingEnvironmentError } from './core/errors.js';

/** Reads a required variable once, at load; a missing one fails the cold start with its name. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new MissingEnvironmentError(name);
  return value;
}

export function requireJsonEnv<T>(name: string): T {
  const raw = requireEnv(name);
  try {
    return JSON.parse(raw) as T;
  } catch (error) {
    throw new MissingEnvironmentError(`${name} (set, but not JSON)`, { cause: error });
  }
}
