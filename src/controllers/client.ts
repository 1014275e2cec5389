// Moved to ./runtime/ (the controller runtime); kept so existing imports keep working.
export * from './runtime/client.ts';
export { InProcessClient } from './runtime/in-process.ts';
export { reflect, type Reflector } from './runtime/reflect.ts';
