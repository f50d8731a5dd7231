// What the CLI says about itself: the name it was invoked under (usage lines read `greedynas ...`
// when run through the package's bin and `node dist/run.js ...` from a checkout), the version
// line, the command list and each command's --help, in which boolean settings appear in both
// their forms (--flip, --no-flip) and only the options the command accepts are listed.
import { basename } from 'node:path';

import { DEFAULTS, settingOfOption } from '../pipeline/config.js';
import { gitCommit, packageVersion } from '../util/provenance.js';
import type { Command } from './command.js';
import { isSwitchOption, OPTION_HELP } from './options.js';

export const EXIT_STATUS = 'exit status: 0 success, 1 failure, 2 usage or configuration error, 130 interrupted (Ctrl-C; continue with --resume)';

/**
 * How the user invoked the CLI, for usage lines: the bin's name when argv[1] is the `greedynas`
 * link (npx, a global install, node_modules/.bin), `node dist/run.js` otherwise.
 */
export function invokedName(argv1: string | undefined = process.argv[1]): string {
  const base = argv1 === undefined ? '' : basename(argv1).replace(/\.(c|m)?js$/, '');
  return base === 'greedynas' ? 'greedynas' : 'node dist/run.js';
}

/** `greedynas 0.1.0 (git 1a2b3c4d5e6f)`, for --version. */
export function versionText(): string {
  const { name, version } = packageVersion();
  const commit = gitCommit();
  return `${name} ${version}${commit ? ` (git ${commit.slice(0, 12)}${commit.endsWith('+dirty') ? ', uncommitted changes' : ''})` : ''}, node ${process.version}`;
}

export function usage(commands: Record<string, Command>, name = invokedName()): string {
  const lines = [`usage: ${name} <command> [options]   (--help after a command for its options)`, '', 'commands:'];
  for (const [cmd, c] of Object.entries(commands)) lines.push(`  ${cmd.padEnd(16)}${c.summary}`);
  lines.push(
    '',
    `Quick start: ${name} run   (fmnist-small space on the shipped Fashion-MNIST subset)`,
    `${name} --version prints the version.`,
    EXIT_STATUS,
  );
  return lines.join('\n');
}

const COLUMN = 26;

/** One option line; a name wider than the column puts its help on the next line. */
function optionLine(names: string, help: string): string[] {
  const head = `  ${names}`;
  if (head.length < COLUMN) return [`${head.padEnd(COLUMN)}${help}`];
  return [head, `${' '.repeat(COLUMN)}${help}`];
}

export function commandHelp(cmdName: string, c: Command, name = invokedName()): string {
  const lines = [`usage: ${name} ${cmdName}${c.positional ? ` ${c.positional}` : ''} [options]`, '', c.summary, ''];
  if (c.options.length > 0 || c.extra !== undefined) lines.push('options:');
  for (const o of c.options) {
    const key = settingOfOption(o)!;
    const def = DEFAULTS[key];
    const names = isSwitchOption(o) ? `--${o}, --no-${o}` : `--${o}`;
    lines.push(...optionLine(names, `${OPTION_HELP[key]} (default ${def === null ? 'none' : String(def)})`));
  }
  for (const [o, h] of Object.entries(c.extra ?? {})) lines.push(...optionLine(`--${o}`, h));
  if (c.config !== false) lines.push(...optionLine('--config FILE', 'JSON file of settings (keys as in config.json); options on the command line win'));
  if (c.progress !== false) lines.push(...optionLine('--quiet', 'no progress bar'));
  lines.push(...optionLine('--help', 'this text'));
  lines.push('', EXIT_STATUS);
  return lines.join('\n');
}
