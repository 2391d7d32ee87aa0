// esbuild plugin shared by the function bundles and the operator commands' bundles: zod's locales hold English only.
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

/**
 * esbuild plugin: zod's `locales` namespace holds English only. The project reads zod as the namespace `z`, so
 * esbuild keeps every export of it, the error messages of some 60 languages included (about 0.3 MiB); nothing
 * configures a language other than English, zod's default.
 */
export const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir)
        ? { path: join(args.resolveDir, '../locales/en.js'), namespace: 'zod-english' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: root,
      loader: 'js',
    }));
  },
};
