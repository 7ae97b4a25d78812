#!/usr/bin/env node
// Thin launcher: run the TypeScript CLI through tsx so that users need no build step.
import { register } from 'tsx/esm/api';
register();
await import('../server/cli.ts');
