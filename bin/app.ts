// The CDK app that `cdk synth` and `cdk deploy` run (see cdk.json): the hub switchyard.config.ts describes.
// buildApp validates the config, derives the topology, builds the stack and registers cdk-nag.
import { buildApp } from '../lib/app.js';
import config from '../switchyard.config.js';

buildApp(config);
