// Moved to ./runtime/ (the controller runtime). Kept only so branches written against this path
// still build; import from './runtime/index.ts' instead, and delete this file once they are merged.
export * from './runtime/client.ts';
export { InProcessClient } from './runtime/in-process.ts';
