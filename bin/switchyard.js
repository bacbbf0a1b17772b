#!/usr/bin/env node
// `npx switchyard ...`: runs the TypeScript CLI through tsx, so no build step is needed. Both of tsx's
// loaders: the user's switchyard.config.ts is CommonJS when their package.json has no "type": "module".
import { register as registerCommonJs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

registerCommonJs();
register();
await import('./switchyard.ts');
