/**
 * The instructions that only change the image config (no layer): ENV, LABEL, EXPOSE, VOLUME,
 * USER, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER. Each reads its
 * arguments as Docker does (variables expanded where Docker expands them, exec or shell form).
 */
import {
  type EscapeChar,
  expandWord,
  type Flags,
  type Instruction,
  type Lookup,
  parseExecForm,
  parseKeyValues,
  parseList,
} from '../dockerfile/index.js';
import { type ImageConfig, setEnv } from './image-config.js';

/** An instruction that is wrong as written; the builder adds the instruction and line. */
export class InstructionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstructionError';
  }
}

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** What config instructions read and change in a stage. */
export interface StageConfigState {
  config: ImageConfig;
  /** Variables for substitution: ENV, then the stage's ARGs. */
  lookup: Lookup;
  escape: EscapeChar;
  /** SHELL: how shell-form CMD, ENTRYPOINT and HEALTHCHECK are run. */
  shell: string[];
  /** Whether this stage set CMD (ENTRYPOINT clears an inherited CMD only). */
  cmdSet: boolean;
}

/** Flags each instruction accepts; any other flag is refused with the instruction's line. */
export const ALLOWED_FLAGS: Record<string, readonly string[]> = {
  FROM: ['platform'],
  COPY: ['from', 'chown', 'chmod', 'link'],
  ADD: ['chown', 'chmod', 'link'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
};

/** Instructions that change only the config, handled here. */
export const CONFIG_INSTRUCTIONS = new Set([
  'ENV',
  'LABEL',
  'EXPOSE',
  'VOLUME',
  'USER',
  'CMD',
  'ENTRYPOINT',
  'SHELL',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'ONBUILD',
  'MAINTAINER',
]);

export function applyConfigInstruction(instruction: Instruction, flags: Flags, state: StageConfigState): void {
  const { config } = state;
  const runtime = config.config;
  const args = flags.rest;
  const expand = (word: string) => expandWord(word, state.lookup, state.escape);
  switch (instruction.name) {
    case 'ENV': {
      // Every pair is expanded with the environment from before this line (`ENV a=1 b=$a` gives
      // b the earlier a), as Docker does; then all are set.
      const pairs = parseKeyValues(args, state.escape, 'ENV', instruction.line).map(({ key, value }) => [expand(key), expand(value)] as const);
      for (const [name, value] of pairs) {
        if (name === '') throw new InstructionError('ENV names cannot be empty');
        setEnv(runtime, name, value);
      }
      return;
    }
    case 'LABEL':
      runtime.Labels ??= {};
      for (const { key, value } of parseKeyValues(args, state.escape, 'LABEL', instruction.line)) {
        const name = expand(key);
        if (name === '') throw new InstructionError('LABEL names cannot be empty');
        runtime.Labels[name] = expand(value);
      }
      return;
    case 'EXPOSE':
      runtime.ExposedPorts ??= {};
      for (const word of args.split(/\s+/).filter(Boolean)) {
        for (const port of exposedPorts(expand(word))) runtime.ExposedPorts[port] = {};
      }
      return;
    case 'VOLUME': {
      const volumes = parseList(args).map((word) => expand(word).trim());
      if (volumes.length === 0 || volumes.some((v) => v === '')) throw new InstructionError('VOLUME needs non-empty paths');
      runtime.Volumes ??= {};
      for (const volume of volumes) runtime.Volumes[volume] = {};
      return;
    }
    case 'USER': {
      const user = expand(args).trim();
      if (user === '') throw new InstructionError('USER needs a user name or id');
      runtime.User = user;
      return;
    }
    case 'CMD':
      runtime.Cmd = command(args, state.shell, 'CMD');
      state.cmdSet = true;
      return;
    case 'ENTRYPOINT':
      runtime.Entrypoint = command(args, state.shell, 'ENTRYPOINT');
      // An ENTRYPOINT resets the CMD inherited from the base image, as Docker does.
      if (!state.cmdSet) delete runtime.Cmd;
      return;
    case 'SHELL': {
      const shell = parseExecForm(args);
      if (!shell || shell.length === 0) throw new InstructionError('SHELL must be written in JSON form, e.g. SHELL ["/bin/bash", "-c"]');
      state.shell = shell;
      runtime.Shell = shell;
      return;
    }
    case 'STOPSIGNAL': {
      const signal = expand(args).trim();
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(signal)) throw new InstructionError(`invalid signal "${signal}"`);
      runtime.StopSignal = signal;
      return;
    }
    case 'HEALTHCHECK':
      runtime.Healthcheck = healthcheck(flags);
      return;
    case 'ONBUILD': {
      const trigger = args.trim();
      const name = /^\S+/.exec(trigger)?.[0]?.toUpperCase();
      if (!name) throw new InstructionError('ONBUILD needs an instruction');
      if (name === 'ONBUILD' || name === 'FROM' || name === 'MAINTAINER') throw new InstructionError(`ONBUILD cannot trigger ${name}`);
      runtime.OnBuild = [...(runtime.OnBuild ?? []), trigger];
      return;
    }
    case 'MAINTAINER':
      config.author = args.trim();
      return;
    default:
      throw new InstructionError('is not a config instruction');
  }
}

/** CMD/ENTRYPOINT: the exec form as written; the shell form run by the stage's shell. */
function command(args: string, shell: string[], name: string): string[] {
  const exec = parseExecForm(args);
  if (exec) return exec;
  if (args.trim() === '') throw new InstructionError(`${name} needs a command`);
  return [...shell, args];
}

/** EXPOSE words: `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` (a range gives each port). */
function exposedPorts(word: string): string[] {
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
  if (!match) throw new InstructionError(`invalid port "${word}": use PORT, PORT/tcp, PORT/udp or START-END`);
  const start = Number(match[1]);
  const end = match[2] === undefined ? start : Number(match[2]);
  const protocol = (match[3] ?? 'tcp').toLowerCase();
  if (start < 1 || end > 65535 || end < start) throw new InstructionError(`invalid port range "${word}"`);
  if (end - start >= 1024) throw new InstructionError(`port range "${word}" is too large`);
  const ports: string[] = [];
  for (let port = start; port <= end; port++) ports.push(`${port}/${protocol}`);
  return ports;
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  let match;
  while ((match = part.exec(text)) !== null) {
    total += Number(match[1]) * DURATION_UNITS[match[2]!]!;
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) throw new InstructionError(`invalid duration "${text}" (use e.g. 30s, 1m30s, 500ms)`);
  return Math.round(total);
}

function healthcheck(flags: Flags): NonNullable<ImageConfig['config']['Healthcheck']> {
  const rest = flags.rest.trim();
  const word = /^\S+/.exec(rest)?.[0]?.toUpperCase();
  if (word === 'NONE') {
    if (rest.length > 4 || flags.values.size > 0) throw new InstructionError('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (word !== 'CMD') throw new InstructionError('HEALTHCHECK must be NONE or [OPTIONS] CMD command');
  const commandText = rest.slice(3).trim();
  if (commandText === '') throw new InstructionError('HEALTHCHECK CMD needs a command');
  const exec = parseExecForm(commandText);
  const check: NonNullable<ImageConfig['config']['Healthcheck']> = {
    Test: exec ? ['CMD', ...exec] : ['CMD-SHELL', commandText],
  };
  const durations: [string, 'Interval' | 'Timeout' | 'StartPeriod' | 'StartInterval'][] = [
    ['interval', 'Interval'],
    ['timeout', 'Timeout'],
    ['start-period', 'StartPeriod'],
    ['start-interval', 'StartInterval'],
  ];
  for (const [flag, field] of durations) {
    const value = flags.values.get(flag);
    if (value === undefined) continue;
    const ns = parseDuration(value);
    if (ns !== 0 && ns < 1e6) throw new InstructionError(`HEALTHCHECK --${flag} must be at least 1ms`);
    check[field] = ns;
  }
  const retries = flags.values.get('retries');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw new InstructionError(`HEALTHCHECK --retries must be a whole number, not "${retries}"`);
    check.Retries = Number(retries);
  }
  return check;
}
