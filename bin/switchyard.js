#!/usr/bin/env node
// `npx switchyard ...`: runs the TypeScript CLI through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

register();
await import('./switchyard.ts');
