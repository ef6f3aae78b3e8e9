/**
 * The native builder: builds Dockerfiles without RUN in TypeScript, with no container engine.
 * FROM an image stored in Berth (or scratch), COPY/ADD from the build context or another stage,
 * and the config instructions; layers are gzip tars written with tar-stream and streamed into the
 * registry through its own API (`uploads.putWhole`, `blobs.mount`, `manifests.put`), as any
 * client would push. Base layers are reused by reference (mounted into the target repository),
 * never copied.
 *
 * Reproducible: the same Dockerfile, context and build args give the same image digest. Every
 * entry the builder writes has one mtime (0, or the SOURCE_DATE_EPOCH build arg), owner 0:0 unless
 * --chown says otherwise (files from another stage or an archive keep theirs), entries sorted,
 * gzip without a name or time, JSON with sorted keys, and `created` set to that same epoch.
 *
 * Stages are built on demand from the last one (the target), so a stage nothing uses is never
 * built; but the whole Dockerfile is checked first, and any RUN (or unknown instruction) fails the
 * build before anything is done, naming the instruction and line.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { digestOf } from '../../registry/digest.js';
import { isNonDistributable } from '../../registry/manifest.js';
import { checkName, checkTag } from '../../registry/names.js';
import type { Registry } from '../../registry/registry.js';
import { ArchiveError } from './archive.js';
import { type BaseImage, BaseImageError, resolveBaseImage } from './base-image.js';
import { AUTOMATIC_BUILD_ARGS, BUILD_USER, type Builder, type BuildRequest, type BuildResult, UnsupportedDockerfileError } from '../builder.js';
import { CopyError, type Owner, planCopy, planDirectory } from './copy.js';
import {
  type Dockerfile,
  DockerfileSyntaxError,
  expandWord,
  type Flags,
  type Instruction,
  type Lookup,
  parseArgDeclarations,
  parseDockerfile,
  parseFlags,
  parseList,
  platformArgs,
  SubstitutionError,
} from '../dockerfile/index.js';
import { applyLayer, FsPathError, FsTree } from './fs-tree.js';
import {
  configBlob,
  envMap,
  type HistoryEntry,
  type ImageConfig,
  type LayerDescriptor,
  MANIFEST_MEDIA_TYPE,
  manifestBytes,
  type Platform,
  scratchConfig,
  timestamp,
} from './image-config.js';
import { ALLOWED_FLAGS, applyConfigInstruction, DEFAULT_SHELL, InstructionError } from './instructions.js';
import { findUnsupported, isRemoteSource, NATIVE_INSTRUCTIONS, remoteAdd } from './support.js';
import { ContextChangedError, LAYER_MEDIA_TYPE, type LayerItem, writeLayer } from './layer.js';
import { OwnerError, resolveOwner } from './owners.js';
import { IgnoreMatcher } from './patterns.js';
import { RegistryLayers } from './registry-layers.js';
import { ContextFs, resolveIn, TreeFs } from './sources.js';
import { formatBytes } from '../../util/bytes.js';

export interface NativeBuilderOptions {
  registry: Registry;
  /** Where the build's temporary files go (layers before upload, extracted files); default: the OS temp folder. */
  tempDir?: string;
  /** The platform picked from a multi-platform base, and given to `FROM scratch`; default linux/amd64. */
  platform?: Platform;
}

/** A Dockerfile the native builder understands but cannot build as written (missing file, bad flag value, ...). */
export class NativeBuildError extends Error {
  constructor(
    readonly instruction: string,
    readonly line: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`Dockerfile line ${line}: ${instruction}: ${message}`, options);
    this.name = 'NativeBuildError';
  }
}

/** Build args every automated build gets (as Docker Hub gave them): not worth a warning when unused. */
/** Build args that never draw the "not consumed" warning: the automatic ones, and the builder's own epoch. */
const QUIET_BUILD_ARGS: ReadonlySet<string> = new Set([...AUTOMATIC_BUILD_ARGS, 'SOURCE_DATE_EPOCH']);
/** Errors that mean "this Dockerfile, as written": reported with the instruction and line. */
const USER_ERRORS = [CopyError, InstructionError, SubstitutionError, FsPathError, BaseImageError, ArchiveError, DockerfileSyntaxError, ContextChangedError, OwnerError];
const MAX_DOCKERFILE_SIZE = 1024 * 1024;
const MAX_IMAGE_FILE_SIZE = 4 * 1024 * 1024;

export class NativeBuilder implements Builder {
  readonly name = 'native' as const;

  constructor(private readonly options: NativeBuilderOptions) {}

  async build(request: BuildRequest): Promise<BuildResult> {
    request.signal.throwIfAborted();
    // Fail on a bad target before any work (the registry would refuse it only at the end).
    checkName(request.repository);
    request.tags.forEach(checkTag);
    const work = await mkdtemp(join(this.options.tempDir ?? tmpdir(), 'berth-native-'));
    try {
      return await new BuildRun(this.options, request, work).run();
    } catch (err) {
      // Streams stopped by the signal fail with a generic AbortError: report the signal's reason.
      if (request.signal.aborted) throw request.signal.reason;
      throw err;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}

interface StageDef {
  index: number;
  /** `AS name`, lower-cased. */
  name?: string;
  from: Instruction;
  body: Instruction[];
}

/** A layer of a stage: in the registry already (a base layer), or a temporary file of this build. */
interface StageLayer {
  descriptor: LayerDescriptor;
  repository?: string;
  file?: string;
}

interface StageState {
  config: ImageConfig;
  layers: StageLayer[];
  /** The merged filesystem; built from the base layers when first needed. */
  tree?: FsTree;
  args: Map<string, string | undefined>;
  shell: string[];
  cmdSet: boolean;
  base?: { name: string; digest: string };
}

class BuildRun {
  private readonly registry: Registry;
  private readonly platform: Platform;
  private readonly signal: AbortSignal;
  private readonly layers: RegistryLayers;
  private readonly stages: StageDef[] = [];
  private readonly built = new Map<number, Promise<StageState>>();
  /** Images named by `COPY --from=<image>`, by reference. */
  private readonly images = new Map<string, Promise<StageState>>();
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly usedBuildArgs = new Set<string>();
  private readonly builtinArgs: Map<string, string>;
  private dockerfile!: Dockerfile;
  private context!: ContextFs;
  private epoch = 0;
  private steps = new Map<Instruction, number>();
  private temps = 0;

  constructor(
    options: NativeBuilderOptions,
    private readonly request: BuildRequest,
    private readonly work: string,
  ) {
    this.registry = options.registry;
    this.platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
    this.signal = request.signal;
    this.layers = new RegistryLayers(this.registry, work, this.signal);
    // Docker's automatic platform args; usable in FROM, and in a stage once declared with ARG.
    this.builtinArgs = platformArgs(this.platform);
  }

  async run(): Promise<BuildResult> {
    const { request } = this;
    this.context = new ContextFs(await realpath(request.contextDir));
    const text = await this.readDockerfile();
    this.dockerfile = parseDockerfile(text);
    this.check();
    this.context = new ContextFs(this.context.root, await this.readIgnore());
    this.epoch = this.sourceDateEpoch();
    this.dockerfile.instructions.forEach((instruction, i) => this.steps.set(instruction, i + 1));

    for (const instruction of this.dockerfile.instructions) {
      if (instruction.name === 'FROM') break;
      this.step(instruction);
      this.guard(instruction, () => this.declareArgs(instruction, this.globalArgs, (name) => this.globalLookup(name), false));
    }
    const target = await this.stage(this.stages.length - 1);
    const unused = Object.keys(request.buildArgs).filter((key) => !this.usedBuildArgs.has(key) && !QUIET_BUILD_ARGS.has(key));
    if (unused.length > 0) request.log(`[warning] build args not consumed by any ARG: ${unused.sort().join(', ')}`);
    return this.push(target);
  }

  // --- reading and checking --------------------------------------------------------------------

  private async readDockerfile(): Promise<string> {
    const name = this.request.dockerfile || 'Dockerfile';
    const normal = posix.normalize(name);
    if (name.startsWith('/') || normal === '..' || normal.startsWith('../')) throw new Error(`the Dockerfile path "${name}" is outside the build context`);
    const { node } = await resolveIn(this.context, normal, true);
    if (!node || node.type !== 'file') throw new Error(`no Dockerfile at "${name}" in the build context`);
    if (node.size > MAX_DOCKERFILE_SIZE) throw new Error(`the Dockerfile is larger than ${MAX_DOCKERFILE_SIZE} bytes`);
    return readFile(node.content!.disk!, 'utf8');
  }

  /** `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's `.dockerignore`. */
  private async readIgnore(): Promise<IgnoreMatcher | undefined> {
    for (const name of [`${posix.normalize(this.request.dockerfile || 'Dockerfile')}.dockerignore`, '.dockerignore']) {
      const { node } = await resolveIn(this.context, name, true);
      if (node?.type === 'file' && node.size <= MAX_DOCKERFILE_SIZE) return new IgnoreMatcher(await readFile(node.content!.disk!, 'utf8'));
    }
    return undefined;
  }

  /** Refuses what this builder cannot do before doing anything; splits the stages. */
  private check(): void {
    const { instructions } = this.dockerfile;
    if (!instructions.some((i) => i.name === 'FROM')) throw new NativeBuildError('FROM', 1, 'the Dockerfile has no FROM instruction');
    const unsupported = findUnsupported(this.dockerfile);
    if (unsupported) throw unsupported;
    let seenFrom = false;
    for (const instruction of instructions) {
      const { name, line, args } = instruction;
      if (name === 'FROM') {
        seenFrom = true;
        const words = this.guard(instruction, () => parseFlags(args, line)).rest.split(/\s+/).filter(Boolean);
        if (words.length !== 1 && !(words.length === 3 && words[1]!.toUpperCase() === 'AS')) {
          throw new NativeBuildError('FROM', line, 'use FROM [--platform=...] image [AS name]');
        }
        const stageName = words[2]?.toLowerCase();
        if (stageName !== undefined && !/^[a-z][a-z0-9._-]*$/.test(stageName)) throw new NativeBuildError('FROM', line, `invalid stage name "${words[2]}"`);
        if (stageName !== undefined && this.stages.some((s) => s.name === stageName)) throw new NativeBuildError('FROM', line, `duplicate stage name "${words[2]}"`);
        this.stages.push({ index: this.stages.length, name: stageName, from: instruction, body: [] });
      } else if (!seenFrom) {
        if (name !== 'ARG') throw new NativeBuildError(name, line, 'only ARG may come before the first FROM');
      } else {
        this.stages[this.stages.length - 1]!.body.push(instruction);
      }
    }
  }

  private sourceDateEpoch(): number {
    const value = this.request.buildArgs.SOURCE_DATE_EPOCH;
    if (value === undefined || value === '') return 0;
    if (!/^\d+$/.test(value)) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds since 1970, not "${value}"`);
    return Number(value);
  }

  // --- helpers ---------------------------------------------------------------------------------

  private step(instruction: Instruction): void {
    this.signal.throwIfAborted();
    const args = instruction.args.replace(/\s+/g, ' ');
    this.request.log(`Step ${this.steps.get(instruction)}/${this.dockerfile.instructions.length} : ${instruction.name}${args ? ` ${args}` : ''}`);
  }

  /** Runs `fn`, reporting a Dockerfile mistake with its instruction and line. */
  private guard<T>(instruction: Instruction, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.wrap(instruction, err);
    }
  }

  private wrap(instruction: Instruction, err: unknown): unknown {
    if (USER_ERRORS.some((type) => err instanceof type)) {
      return new NativeBuildError(instruction.name, instruction.line, (err as Error).message, { cause: err });
    }
    return err;
  }

  private globalLookup(name: string): string | undefined {
    return this.globalArgs.has(name) ? this.globalArgs.get(name) : this.builtinArgs.get(name);
  }

  private stageLookup(state: StageState): Lookup {
    return (name) => envMap(state.config.config).get(name) ?? state.args.get(name);
  }

  private flags(instruction: Instruction): Flags {
    const flags = parseFlags(instruction.args, instruction.line);
    const allowed = ALLOWED_FLAGS[instruction.name] ?? [];
    for (const name of flags.values.keys()) {
      if (!allowed.includes(name)) throw new UnsupportedDockerfileError(instruction.name, instruction.line, `--${name} is not supported by the native builder`);
    }
    return flags;
  }

  private tempFile = (): string => join(this.work, `file-${++this.temps}`);

  // --- stages ----------------------------------------------------------------------------------

  private stage(index: number): Promise<StageState> {
    let state = this.built.get(index);
    if (!state) {
      state = this.buildStage(this.stages[index]!);
      this.built.set(index, state);
    }
    return state;
  }

  /** A stage by `--from` / FROM name or number, when it is one defined before `before`. */
  private findStage(text: string, before: number): StageDef | undefined {
    if (/^\d+$/.test(text)) {
      const index = Number(text);
      return index < before ? this.stages[index] : undefined;
    }
    return this.stages.find((s) => s.index < before && s.name === text.toLowerCase());
  }

  private async buildStage(def: StageDef): Promise<StageState> {
    const { from } = def;
    this.step(from);
    let state: StageState;
    try {
      state = await this.startStage(def);
    } catch (err) {
      throw this.wrap(from, err);
    }
    for (const instruction of def.body) {
      this.step(instruction);
      try {
        await this.dispatch(instruction, state, def);
      } catch (err) {
        throw this.wrap(instruction, err);
      }
    }
    return state;
  }

  private async startStage(def: StageDef): Promise<StageState> {
    const flags = this.flags(def.from);
    const image = expandWord(flags.rest.split(/\s+/)[0]!, (name) => this.globalLookup(name), this.dockerfile.escape);
    const platformFlag = flags.values.get('platform');
    const platform = platformFlag ? parsePlatform(expandWord(platformFlag, (name) => this.globalLookup(name))) : this.platform;
    const parent = this.findStage(image, def.index);
    let state: StageState;
    if (image.toLowerCase() === 'scratch') {
      state = { config: scratchConfig(platform), layers: [], tree: new FsTree(), args: new Map(), shell: [...DEFAULT_SHELL], cmdSet: false };
    } else if (parent && !/^\d+$/.test(image)) {
      state = derive(await this.stage(parent.index));
      this.request.log(` ---> from stage ${parent.name ?? parent.index}`);
    } else {
      const base = await resolveBaseImage(this.registry, image, platform, this.request.mayPull);
      this.request.log(` ---> ${base.repository}@${base.digest}`);
      state = fromImage(base, image);
    }
    // ONBUILD triggers of the base run now, as Docker runs them, and are not inherited.
    const triggers = state.config.config.OnBuild ?? [];
    delete state.config.config.OnBuild;
    for (const trigger of triggers) {
      const [instruction, ...more] = parseDockerfile(trigger).instructions;
      if (!instruction || more.length > 0) throw new InstructionError(`invalid ONBUILD trigger in the base image: ${trigger}`);
      const placed = { ...instruction, line: def.from.line };
      if (placed.name === 'RUN') throw new UnsupportedDockerfileError('RUN', def.from.line, `(an ONBUILD trigger of the base image) needs the buildah builder`);
      if (!NATIVE_INSTRUCTIONS.has(placed.name) || placed.name === 'FROM') throw new UnsupportedDockerfileError(placed.name, def.from.line, '(an ONBUILD trigger of the base image) is not supported');
      this.request.log(` ---> ONBUILD ${trigger}`);
      await this.dispatch(placed, state, def);
    }
    return state;
  }

  private async dispatch(instruction: Instruction, state: StageState, def: StageDef): Promise<void> {
    const lookup = this.stageLookup(state);
    switch (instruction.name) {
      case 'ARG':
        this.declareArgs(instruction, state.args, lookup, true);
        this.history(state, instruction, true);
        return;
      case 'COPY':
      case 'ADD':
        return this.copy(instruction, state, def, lookup);
      case 'WORKDIR':
        return this.workdir(instruction, state, lookup);
      default: {
        const flags = this.flags(instruction);
        const configState = { config: state.config, lookup, escape: this.dockerfile.escape, shell: state.shell, cmdSet: state.cmdSet };
        applyConfigInstruction(instruction, flags, configState);
        state.shell = configState.shell;
        state.cmdSet = configState.cmdSet;
        this.history(state, instruction, true);
      }
    }
  }

  /** ARG: build args override defaults; a stage's `ARG NAME` without a default takes the global one. */
  private declareArgs(instruction: Instruction, scope: Map<string, string | undefined>, lookup: Lookup, inStage: boolean): void {
    if (instruction.name !== 'ARG') throw new InstructionError('only ARG may come before the first FROM');
    this.flags(instruction);
    for (const { key, value } of parseArgDeclarations(instruction.args, this.dockerfile.escape, instruction.line)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InstructionError(`invalid ARG name "${key}"`);
      let resolved: string | undefined;
      if (Object.hasOwn(this.request.buildArgs, key)) {
        resolved = this.request.buildArgs[key];
        this.usedBuildArgs.add(key);
      } else if (value !== undefined) {
        resolved = expandWord(value, lookup, this.dockerfile.escape);
      } else if (inStage && this.globalArgs.has(key)) {
        resolved = this.globalArgs.get(key);
      } else {
        resolved = this.builtinArgs.get(key);
      }
      scope.set(key, resolved);
    }
  }

  private history(state: StageState, instruction: Instruction, empty: boolean): void {
    const entry: HistoryEntry = {
      created: timestamp(this.epoch),
      created_by: `${instruction.name} ${instruction.args.replace(/\s+/g, ' ')}`.trim(),
      comment: 'berth native builder',
    };
    if (empty) entry.empty_layer = true;
    state.config.history = [...(state.config.history ?? []), entry];
  }

  /** The stage's filesystem, built from its base layers the first time it is needed. */
  private async treeOf(state: StageState): Promise<FsTree> {
    if (state.tree) return state.tree;
    const tree = new FsTree();
    for (const [index, layer] of state.layers.entries()) {
      const { repository, descriptor } = layer;
      if (!repository || isNonDistributable(descriptor)) {
        throw new Error(`cannot read layer ${descriptor.digest} of the base image (${descriptor.mediaType})`);
      }
      const source = { repository, digest: descriptor.digest, mediaType: descriptor.mediaType };
      applyLayer(tree, await this.layers.entries(source), index, (path) => ({ layer: { ...source, path } }));
    }
    state.tree = tree;
    return tree;
  }

  /** Reads a small file of a stage's filesystem (following its symlinks), or undefined. */
  private async readImageFile(state: StageState, path: string): Promise<string | undefined> {
    const tree = await this.treeOf(state);
    const { node } = tree.resolve(path, true);
    if (node?.type !== 'file' || !node.content) return undefined;
    if (node.size > MAX_IMAGE_FILE_SIZE) throw new InstructionError(`/${path} is too large to read`);
    await this.layers.extract([node.content]);
    return readFile(node.content.disk!, 'utf8');
  }

  private async copy(instruction: Instruction, state: StageState, def: StageDef, lookup: Lookup): Promise<void> {
    const { name, line } = instruction;
    const flags = this.flags(instruction);
    const words = parseList(flags.rest).map((word) => expandWord(word, lookup, this.dockerfile.escape));
    if (words.length < 2) throw new InstructionError(`${name} needs at least one source and a destination`);
    const sources = words.slice(0, -1);
    const dest = words[words.length - 1]!;
    if (name === 'ADD') {
      // Checked again after substitution: `ADD $URL /x` is only known here.
      const remote = sources.find(isRemoteSource);
      if (remote) throw remoteAdd(line, remote);
    }
    const fromFlag = flags.values.get('from');
    let from = this.context as ContextFs | TreeFs;
    if (fromFlag !== undefined) {
      const fromName = expandWord(fromFlag, lookup, this.dockerfile.escape);
      const source = this.findStage(fromName, def.index);
      const fresh = source !== undefined && !this.built.has(source.index);
      const sourceState = source ? await this.stage(source.index) : await this.image(fromName);
      if (fresh) this.step(instruction); // the source stage logged its own steps in between
      from = new TreeFs(`stage ${source ? (source.name ?? source.index) : fromName}`, await this.treeOf(sourceState));
    }
    const tree = await this.treeOf(state);
    const chown = flags.values.get('chown');
    const owner = chown ? await resolveOwner(expandWord(chown, lookup, this.dockerfile.escape), (path) => this.readImageFile(state, path)) : undefined;
    const chmodFlag = flags.values.get('chmod');
    const chmod = chmodFlag === undefined ? undefined : parseChmod(expandWord(chmodFlag, lookup, this.dockerfile.escape));
    const items = await planCopy({
      sources,
      dest,
      workdir: state.config.config.WorkingDir || '/',
      from,
      fromContext: fromFlag === undefined,
      tree,
      layer: state.layers.length,
      owner,
      chmod,
      unpack: name === 'ADD',
      tempFile: this.tempFile,
      signal: this.signal,
    });
    await this.commitLayer(state, instruction, items);
  }

  private async workdir(instruction: Instruction, state: StageState, lookup: Lookup): Promise<void> {
    this.flags(instruction);
    const path = expandWord(instruction.args, lookup, this.dockerfile.escape).trim();
    if (path === '') throw new InstructionError('WORKDIR needs a path');
    const workdir = posix.join('/', state.config.config.WorkingDir || '/', path).replace(/(.)\/$/, '$1');
    state.config.config.WorkingDir = path.startsWith('/') ? posix.normalize(path).replace(/(.)\/$/, '$1') : workdir;
    const tree = await this.treeOf(state);
    // Created folders belong to the USER, as Docker (BuildKit) does it.
    const user = state.config.config.User;
    const owner = user ? await resolveOwner(user, (p) => this.readImageFile(state, p)) : undefined;
    const items = planDirectory(tree, state.config.config.WorkingDir.slice(1), state.layers.length, owner);
    await this.commitLayer(state, instruction, items);
  }

  /** Writes the planned entries as the stage's next layer (none when there are no entries). */
  private async commitLayer(state: StageState, instruction: Instruction, items: LayerItem[]): Promise<void> {
    if (items.length === 0) {
      this.history(state, instruction, true);
      return;
    }
    await this.layers.extract(items.flatMap((item) => (item.node.content?.layer && !item.node.content.disk ? [item.node.content] : [])));
    const layer = await writeLayer(items, join(this.work, `layer-${++this.temps}.tar.gz`), this.epoch, this.signal);
    state.layers.push({ descriptor: { mediaType: LAYER_MEDIA_TYPE, digest: layer.digest, size: layer.size, diffId: layer.diffId }, file: layer.file });
    state.config.rootfs.diff_ids.push(layer.diffId);
    this.history(state, instruction, false);
    this.request.log(` ---> ${layer.digest} (${layer.entries} entries, ${formatBytes(layer.tarSize)}, ${formatBytes(layer.size)} compressed)`);
  }

  /** `COPY --from=<image>`: an image in Berth, as a read-only stage. */
  private image(reference: string): Promise<StageState> {
    let state = this.images.get(reference);
    if (!state) {
      state = resolveBaseImage(this.registry, reference, this.platform, this.request.mayPull).then((base) => fromImage(base, reference));
      this.images.set(reference, state);
    }
    return state;
  }

  // --- push ------------------------------------------------------------------------------------

  private async push(state: StageState): Promise<BuildResult> {
    const { registry, request } = this;
    const repository = request.repository;
    for (const { descriptor, repository: from, file } of state.layers) {
      this.signal.throwIfAborted();
      if (isNonDistributable(descriptor) || (await registry.blobs.isLinked(repository, descriptor.digest))) continue;
      if (file) {
        await registry.uploads.putWhole(repository, descriptor.digest, createReadStream(file));
      } else if (!(await registry.blobs.mount(repository, descriptor.digest, from!))) {
        throw new Error(`base layer ${descriptor.digest} is no longer in ${from}`);
      }
    }
    const config = finalConfig(state, this.epoch);
    const blob = configBlob(config);
    this.signal.throwIfAborted();
    if (!(await registry.blobs.isLinked(repository, blob.digest))) await registry.uploads.putWhole(repository, blob.digest, Readable.from([blob.bytes]));
    const annotations: Record<string, string> = {};
    if (state.base) {
      annotations['org.opencontainers.image.base.name'] = state.base.name;
      annotations['org.opencontainers.image.base.digest'] = state.base.digest;
    }
    const manifest = manifestBytes({ config: { digest: blob.digest, size: blob.bytes.length }, layers: state.layers.map((l) => l.descriptor), annotations });
    this.signal.throwIfAborted();
    const [first, ...rest] = request.tags;
    const put = await registry.manifests.put(repository, first ?? digestOf(manifest), manifest, MANIFEST_MEDIA_TYPE, rest, { actor: { name: BUILD_USER } });
    request.log(`Pushed ${repository}@${put.digest}${put.tags.length > 0 ? ` as ${put.tags.join(', ')}` : ''}`);
    return { digest: put.digest };
  }
}

/** A stage starting from another stage: a copy of its state (the filesystem too). */
function derive(parent: StageState): StageState {
  return {
    config: structuredClone(parent.config),
    layers: [...parent.layers],
    tree: parent.tree?.clone(),
    args: new Map(),
    shell: [...parent.shell],
    cmdSet: false,
    base: parent.base,
  };
}

function fromImage(base: BaseImage, name: string): StageState {
  const config = structuredClone(base.config);
  config.rootfs = { type: 'layers', diff_ids: base.layers.map((l) => l.diffId) };
  config.history ??= [];
  return {
    config,
    layers: base.layers.map((descriptor) => ({ descriptor, repository: base.repository })),
    args: new Map(),
    shell: config.config.Shell ? [...config.config.Shell] : [...DEFAULT_SHELL],
    cmdSet: false,
    base: { name, digest: base.digest },
  };
}

/** The config as pushed: the fields of the OCI image spec (a base's other fields are dropped). */
function finalConfig(state: StageState, epoch: number): ImageConfig {
  const { config } = state;
  return {
    created: timestamp(epoch),
    author: config.author,
    architecture: config.architecture,
    os: config.os,
    'os.version': config['os.version'],
    'os.features': config['os.features'],
    variant: config.variant,
    config: config.config,
    rootfs: { type: 'layers', diff_ids: state.layers.map((l) => l.descriptor.diffId) },
    history: config.history,
  };
}

function parsePlatform(text: string): Platform {
  const [os, architecture, variant] = text.split('/');
  if (!os || !architecture) throw new InstructionError(`invalid platform "${text}": use os/arch[/variant]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** `--chmod`: octal modes (`755`, `0644`). */
function parseChmod(text: string): number {
  if (!/^[0-7]{3,4}$/.test(text)) throw new InstructionError(`--chmod=${text}: the native builder takes octal modes like 755 or 0644`);
  return parseInt(text, 8);
}

