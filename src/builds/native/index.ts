/**
 * The native builder: a Dockerfile and a build context in, an image in the registry out, with no
 * container engine. It uses the registry layer (as any client would push), the Dockerfile parser
 * and Node; it knows nothing of the queue, the webhook or HTTP. What a build may pull, it asks
 * (`request.mayPull`) wherever it resolves an image (base-image.ts).
 *
 * The server runs it on a thread of its own per build (thread.ts -> worker.ts), so a build never
 * holds the server's event loop and its timeout is enforced from outside.
 *
 *   Dockerfile (../dockerfile) -> support.ts (refuses what it cannot do: RUN, ...) -> builder.ts,
 *   stage by stage: FROM (base-image.ts: an image in Berth; fs-tree.ts indexes its layers through
 *   registry-layers.ts) -> COPY/ADD (sources.ts + patterns.ts find the files in the context or a
 *   stage; copy.ts plans the entries; owners.ts for --chown; archive.ts unpacks ADD's tars) ->
 *   layer.ts (a reproducible gzip tar, hashed on the way) -> config instructions (instructions.ts)
 *   -> image-config.ts (config and manifest) -> pushed into the target repository.
 */
export { NativeBuilder } from './builder.js';
export { ThreadedNativeBuilder } from './thread.js';
export { findUnsupported } from './support.js';
