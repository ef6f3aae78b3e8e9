/**
 * Dockerfiles as both builders read them: parser.ts turns the text into instructions (directives,
 * continuations, comments) and reads their arguments the way Docker does (flags, exec and shell
 * forms, quoted words, `$VAR` substitution); bases.ts finds the images a Dockerfile pulls from.
 */
export * from './bases.js';
export * from './parser.js';
