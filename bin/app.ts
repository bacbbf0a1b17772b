// The CDK app that `cdk synth` and `cdk deploy` run (see cdk.json): the hub switchyard.config.ts describes.
// buildApp validates the config, derives the topology, builds the stack and registers cdk-nag.
//
// Stages: `npx cdk deploy --context stage=prod` (or dev) builds the stack `<name>-<stage>`, every
// resource named after it, with the stage's deploy strategy, log retention and alarm thresholds
// (lib/stages.ts; override them with `buildApp(config, { stages: { prod: { ... } } })`). Without
// `--context stage=...` it builds the unstaged hub named after the config, as before stages.
// `npx cdk diff --context stage=prod` shows what a change will do to that stage.
import { buildApp } from '../lib/app.js';
import config from '../switchyard.config.js';

buildApp(config);
