import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { startDemo } from '../demo/demo.js';
import { FileSecretStore } from '../file-secrets.js';
import { loadConfigFile } from '../load-config.js';
import { startRuntime } from '../runtime.js';
import type { HubStats } from '../stats.js';

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new InvalidArgumentError(`not a port number (got "${value}")`);
  return n;
}

function summary(stats: HubStats): string {
  const t = stats.totals;
  const rejected = Object.values(stats.sources).reduce(
    (n, s) => n + Object.values(s.rejected).reduce((a, b) => a + b, 0),
    0,
  );
  return `accepted ${t.accepted} | delivered ${t.delivered} | skipped ${t.skipped} | quarantined ${t.quarantined} | dead-lettered ${t.deadLettered} | in flight ${t.inFlight} | rejected ${rejected} | ${stats.balanced ? 'balanced' : t.inFlight > 0 ? 'settling (counters and queue depths are read at slightly different moments)' : 'NOT balanced'}`;
}

interface DevOptions {
  config: string;
  secrets: string;
  port: number;
  data: string;
  demo: boolean;
  logLevel: string;
}

/** `switchyard dev`: the hub on embedded emulators (DESIGN.md section 5, "Local run"). */
export function register(program: Command): void {
  program
    .command('dev')
    .description('Run the hub locally on embedded emulators (dynalite, fauxqs)')
    .option('--config <file>', 'hub config module', 'switchyard.config.ts')
    .option(
      '--secrets <file>',
      'secrets file (name -> value), the local Secrets Manager',
      '.switchyard/secrets.json',
    )
    .option('--port <n>', 'port for the webhook endpoint', port, 3000)
    .option('--data <dir>', 'where local state is kept', '.switchyard')
    .option('--demo', 'add simulated Stripe and CRM systems and send them realistic traffic', false)
    .option('--log-level <level>', 'handler log level: DEBUG, INFO, WARN, ERROR, SILENT', 'WARN')
    .action(async (options: DevOptions) => {
      let config = await loadConfigFile(options.config);
      const demo = options.demo ? await startDemo(config) : undefined;
      if (demo) {
        config = demo.config;
        console.log(`demo: destinations point at the simulated CRM ${demo.crm.url}`);
      }
      const runtime = await startRuntime({
        config,
        secrets: new FileSecretStore(resolve(options.secrets), demo?.secrets ?? {}),
        dataDir: resolve(options.data),
        port: options.port,
        logLevel: options.logLevel.toUpperCase() as 'WARN',
      });
      console.log(
        `Switchyard ready at ${runtime.url} (console: ${runtime.url}/ · webhooks: ${runtime.topology.routes.map((r) => `${runtime.url}${r.path}`).join(', ')})`,
      );

      let last = '';
      const ticker = setInterval(() => {
        void runtime.stats().then((stats) => {
          const line = summary(stats);
          if (line !== last) console.log(line);
          last = line;
        });
      }, 1000);

      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) return;
        stopping = true;
        console.log(`${signal}: draining...`);
        clearInterval(ticker);
        void (async () => {
          await runtime.stop();
          await demo?.stop();
          console.log('stopped');
          process.exit(0);
        })();
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));

      if (demo) await demo.run(runtime.url, (line) => console.log(line));
    });
}
