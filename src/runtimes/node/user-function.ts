/**
 * Loads the user's handler from a handler string the way AWS's Node.js runtime does (UserFunction.js):
 * `dir/module.nested.export`, module resolved relative to the task root as extensionless/.js (CommonJS unless the
 * nearest package.json says "type": "module"), then .mjs, then .cjs, then Node's own resolution.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { HandlerNotFound, ImportModuleError, MalformedHandlerName, UserCodeSyntaxError } from './errors.js';

/** The handler signature: (event, context, callback) => result | Promise<result>. */
export type UserHandler = (event: unknown, context: unknown, callback: (err?: unknown, result?: unknown) => void) => unknown;

const require = createRequire(import.meta.url);
const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function tryRequireFile(file: string, extension = ''): unknown {
  const p = file + extension;
  return fs.existsSync(p) ? require(p) : undefined;
}

async function tryImport(file: string, extension: string): Promise<unknown> {
  const p = file + extension;
  return isFile(p) ? await import(pathToFileURL(p).href) : undefined;
}

function folderHasTypeModule(folder: string): boolean {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    if (dir.endsWith(`${path.sep}node_modules`)) return false;
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        const pkg: unknown = JSON.parse(fs.readFileSync(pj, 'utf8'));
        return pkg !== null && typeof pkg === 'object' && (pkg as { type?: unknown }).type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    if (path.dirname(dir) === dir) return false;
  }
}

async function tryLoad(appRoot: string, moduleRoot: string, module: string): Promise<unknown> {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  // As AWS: an existing extensionless path (file or directory) is require()d.
  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;
  const pjHasModule = isFile(lambdaStylePath + '.js') && folderHasTypeModule(path.dirname(lambdaStylePath + '.js'));
  if (!pjHasModule) {
    const loaded = tryRequireFile(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (pjHasModule && (await tryImport(lambdaStylePath, '.js'))) ||
    (await tryImport(lambdaStylePath, '.mjs')) ||
    tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) return loaded;
  // Node's own resolution from the task root (a package in node_modules named as the handler module).
  const nodeStylePath = require.resolve(module, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] });
  return require(nodeStylePath);
}

function resolveNested(object: unknown, nested: string): unknown {
  return nested.split('.').reduce<unknown>((o, key) => (o !== null && (typeof o === 'object' || typeof o === 'function') ? (o as Record<string, unknown>)[key] : undefined), object);
}

/**
 * Loads `fullHandler` (e.g. "src/index.handler") from appRoot. Throws Runtime.MalformedHandlerName,
 * Runtime.ImportModuleError, Runtime.UserCodeSyntaxError, Runtime.HandlerNotFound, or whatever the module threw
 * while initialising.
 */
export async function loadHandler(appRoot: string, fullHandler: string): Promise<UserHandler> {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(`'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`);
  }
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(handlerString));
  const match = FUNCTION_EXPR.exec(handlerString);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const module = match[1] ?? '';
  const handlerPath = match[2] ?? '';

  let userApp: unknown;
  try {
    userApp = await tryLoad(appRoot, moduleRoot, module);
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  let handler = resolveNested(userApp, handlerPath);
  // An ES module may export the handler on its default export (export default { handler }).
  if (handler === undefined || handler === null) handler = resolveNested((userApp as { default?: unknown } | null)?.default, handlerPath);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler as UserHandler;
}

/** True for `async function` handlers (AWS reports a drained event loop as Runtime.NodeJsExit for those only). */
export function isAsyncFunction(fn: unknown): boolean {
  return typeof fn === 'function' && fn.constructor?.name === 'AsyncFunction';
}
