// Entry point of the `podnet` command: parses the subcommand and its options, and turns every
// user mistake into a clear message and exit status 2 (1 for a failure at run time), never a
// stack trace.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CLUSTER_COMMANDS, CLUSTER_HELP, runClusterCommand } from './cluster/commands.js';
import { demo } from './demo.js';
import { iptablesTrace } from './iptables-trace.js';
import { NETPOL_HELP, runNetpolCommand } from './netpol/command.js';
import { PROMETHEUS_CONFIG_HELP, runPrometheusConfig } from './observability/prometheus-config-command.js';
import { type Output, pcapRead } from './pcap-read.js';
import { DEMO_HELP, IPTABLES_HELP, MAIN_HELP, PCAP_HELP, UsageError } from './usage.js';

const consoleOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

const HELP: Record<string, string> = {
  pcap: PCAP_HELP,
  demo: DEMO_HELP,
  iptables: IPTABLES_HELP,
  netpol: NETPOL_HELP,
  'prometheus-config': PROMETHEUS_CONFIG_HELP,
  ...CLUSTER_HELP,
};

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, command: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(
      `podnet ${command}: ${(error as Error).message.replace(/\. To specify a positional argument.*$/, '')}`,
      `run \`podnet help ${command.split(' ')[0]}\``,
    );
  }
}

async function run(argv: string[], io: Output): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
      io.out(MAIN_HELP);
      return 0;
    case 'help': {
      const topic = rest[0];
      if (topic === undefined) io.out(MAIN_HELP);
      else if (HELP[topic]) io.out(HELP[topic]);
      else throw new UsageError(`podnet help: no command "${topic}"`, 'run `podnet help` for the list of commands');
      return 0;
    }
    case 'pcap': {
      const [sub, ...subArgs] = rest;
      if (sub === '-h' || sub === '--help') {
        io.out(PCAP_HELP);
        return 0;
      }
      if (sub !== 'read') {
        throw new UsageError(
          sub === undefined ? 'podnet pcap: missing subcommand' : `podnet pcap: unknown subcommand "${sub}"`,
          'usage: podnet pcap read FILE [--json]',
        );
      }
      const { values, positionals } = parse(
        subArgs,
        { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
        'pcap read',
      );
      if (values.help) {
        io.out(PCAP_HELP);
        return 0;
      }
      if (positionals.length !== 1) {
        throw new UsageError(
          positionals.length === 0 ? 'podnet pcap read: missing FILE' : `podnet pcap read: expected one FILE, got ${positionals.length}`,
          'usage: podnet pcap read FILE [--json]',
        );
      }
      return pcapRead(positionals[0] as string, values.json === true, io);
    }
    case 'demo': {
      const { values, positionals } = parse(
        rest,
        {
          out: { type: 'string', short: 'o', default: 'podnet-demo.pcap' },
          json: { type: 'boolean', default: false },
          help: { type: 'boolean', short: 'h' },
        },
        'demo',
      );
      if (values.help) {
        io.out(DEMO_HELP);
        return 0;
      }
      if (positionals.length > 0)
        throw new UsageError(`podnet demo: unexpected argument "${positionals[0]}"`, 'usage: podnet demo [--out FILE] [--json]');
      return demo(values.out as string, values.json === true, io);
    }
    case 'iptables': {
      const [sub, ...subArgs] = rest;
      if (sub === '-h' || sub === '--help') {
        io.out(IPTABLES_HELP);
        return 0;
      }
      if (sub !== 'trace') {
        throw new UsageError(
          sub === undefined ? 'podnet iptables: missing subcommand' : `podnet iptables: unknown subcommand "${sub}"`,
          'usage: podnet iptables trace --rules FILE --src IP --dst IP --dport N [--sport N] [--proto tcp|udp|sctp|icmp] [--local-ip IP ...] [--json]',
        );
      }
      const { values, positionals } = parse(
        subArgs,
        {
          rules: { type: 'string' },
          src: { type: 'string' },
          dst: { type: 'string' },
          dport: { type: 'string' },
          sport: { type: 'string' },
          proto: { type: 'string', default: 'tcp' },
          'local-ip': { type: 'string', multiple: true },
          json: { type: 'boolean', default: false },
          help: { type: 'boolean', short: 'h' },
        },
        'iptables trace',
      );
      if (values.help) {
        io.out(IPTABLES_HELP);
        return 0;
      }
      if (positionals.length > 0) {
        throw new UsageError(`podnet iptables trace: unexpected argument "${positionals[0]}"`, 'run `podnet help iptables`');
      }
      for (const required of ['rules', 'src', 'dst'] as const) {
        if (values[required] === undefined)
          throw new UsageError(`podnet iptables trace: missing --${required}`, 'run `podnet help iptables`');
      }
      return iptablesTrace(
        {
          rules: values.rules as string,
          src: values.src as string,
          dst: values.dst as string,
          ...(values.dport === undefined ? {} : { dport: values.dport as string }),
          ...(values.sport === undefined ? {} : { sport: values.sport as string }),
          proto: values.proto as string,
          localIps: (values['local-ip'] as string[] | undefined) ?? [],
          json: values.json === true,
        },
        io,
      );
    }
    default:
      if (CLUSTER_COMMANDS.has(command)) return runClusterCommand(command, rest, io);
      if (command === 'netpol') return runNetpolCommand(rest, io);
      if (command === 'prometheus-config') return runPrometheusConfig(rest, io);
      throw new UsageError(`podnet: unknown command "${command}"`, 'run `podnet --help` for the list of commands');
  }
}

/** Runs the command line; returns the exit status. */
export async function main(argv: string[], io: Output = consoleOutput): Promise<number> {
  try {
    return await run(argv, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n${error.hint}`);
      return 2;
    }
    // An unexpected failure is a podnet bug: say so in one line, with the details for a report.
    io.err(`podnet: internal error: ${(error as Error)?.message ?? String(error)}`);
    if (process.env.PODNET_DEBUG) io.err((error as Error)?.stack ?? '');
    return 1;
  }
}
