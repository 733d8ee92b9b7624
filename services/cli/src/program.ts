import { Command, CommanderError, Option } from 'commander';
import { addApiOptions, wholeNumber, type ApiOptions } from './api-options.js';
import type { CliDeps } from './cli-deps.js';
import { EXIT_USAGE, describeError } from './cli-error.js';
import { runChannel, type ChannelOptions } from './channel-command.js';
import { runConnect, type ConnectOptions } from './connect-command.js';
import { runList, type ListOptions } from './list-command.js';
import { runStats } from './stats-command.js';
import { runStatus } from './status-command.js';
import { runWatch, type WatchOptions } from './watch-command.js';

/** The `presence` command and its subcommands (docs/client.md, "Command line"). */
export function createProgram(deps: CliDeps): Command {
  const program = new Command('presence')
    .description('Query and watch the presence service, or hold a session open with the SDK.')
    .version(deps.version, '-V, --version')
    .option('--verbose', 'print stack traces of errors (and round-trip times in connect)')
    .exitOverride()
    // Errors are printed by runCli as one line; help and version go to stdout.
    .configureOutput({ writeOut: deps.out, writeErr: deps.err, outputError: () => {} })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      '\nExit codes: 0 done, 1 the command failed (API unreachable, unauthorized, refused), 2 bad usage.\n' +
        [
          'Examples:',
          '  presence status alice bob',
          '  presence watch --types offline',
          '  presence connect alice --join room:1',
          '  presence channel room:1',
          '  presence watch --channel room:1',
          `  presence connect alice --state '{"status":"away"}'`,
          '',
        ].join('\n'),
    );

  addApiOptions(program.command('status').description('show whether clients are online, since when, and their state'))
    .argument('<clientId...>', 'one or more client ids')
    .action((clientIds: string[], options: ApiOptions) => runStatus(clientIds, options, deps));

  addApiOptions(program.command('list').description('list online client ids, one per line'))
    .option('--limit <n>', 'ids per page (1-1000)', wholeNumber(1, 1000), 100)
    .option('--cursor <cursor>', 'start at this page (from a previous list)')
    .option('--all', 'walk every page')
    .action((options: ListOptions) => runList(options, deps));

  addApiOptions(program.command('stats').description('count online clients and sessions, and list the edge nodes')).action(
    (options: ApiOptions) => runStats(options, deps),
  );

  addApiOptions(program.command('watch').description('print presence events live, one line each, resuming after drops (Ctrl-C stops)'))
    .option('--types <types>', 'online, offline or online,offline (default: both); with --channel: join, leave, update')
    .option('--channel <name>', "follow this channel's join, leave and update events instead (repeatable)", collect, [] as string[])
    .option('--after <id>', 'start after this event id (an id printed with --json), or 0 for every event retained')
    .action((options: WatchOptions) => runWatch(options, deps));

  addApiOptions(program.command('channel').description("show a channel's occupancy and members (one row per session)"))
    .argument('<name>', 'the channel')
    .option('--limit <n>', 'members per page (1-1000)', wholeNumber(1, 1000), 100)
    .option('--cursor <cursor>', 'start at this page (printed when there are more)')
    .option('--all', 'walk every page')
    .option('--state', "show each session's channel state")
    .action((name: string, options: ChannelOptions) => runChannel(name, options, deps));

  program
    .command('connect')
    .description('hold a session open as <clientId> (Ctrl-C leaves with BYE); each line typed on stdin is a new state')
    .argument('<clientId>', 'the client id to connect as')
    .option('--host <host>', 'edge node or load balancer', '127.0.0.1')
    .option('--port <port>', 'its port', wholeNumber(1, 65_535), 7070)
    .option('--state <json>', 'initial state, a JSON object, e.g. \'{"status":"away"}\'')
    .addOption(new Option('--token <token>', 'token sent in HELLO (when the edge checks tokens)'))
    .option('--join <channel>', 'join this channel on every session (repeatable)', collect, [] as string[])
    .option('--json', 'print one JSON object per line')
    .action((clientId: string, options: ConnectOptions) =>
      runConnect(clientId, { ...options, verbose: program.opts<{ verbose?: boolean }>().verbose === true }, deps),
    );

  return program;
}

/** Runs the CLI and returns the exit code; every error ends as one line on stderr. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const program = createProgram(deps);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      // `presence` without a command: commander printed the help to stderr.
      if (error.code === 'commander.help') return EXIT_USAGE;
    }
    const { message, exitCode } = describeError(error);
    deps.err(`presence: ${message}\n`);
    const verbose = program.opts<{ verbose?: boolean }>().verbose === true || argv.includes('--verbose');
    if (verbose && error instanceof Error && !(error instanceof CommanderError)) deps.err(`${stackOf(error)}\n`);
    return exitCode;
  }
}

function stackOf(error: Error): string {
  let text = error.stack ?? String(error);
  let cause: unknown = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth += 1) {
    text += `\ncaused by: ${cause.stack ?? String(cause)}`;
    cause = cause.cause;
  }
  return text;
}

/** Commander's accumulator for a repeatable option. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
