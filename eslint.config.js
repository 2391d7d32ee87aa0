// ESLint flat config: typescript-eslint recommended rules on the whole project, and the library boundaries.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Each library has one room: pg and pg-copy-streams in shared/db, the AWS SDK in shared/lake, ccxt in shared/exchange.
 * Elsewhere a value import of them is an error (type imports may stay: they add no dependency at run time), and so is
 * a dynamic import(), which no-restricted-imports does not see. scripts/ are held to the same rule as the functions.
 */
const LIBRARIES = {
  db: {
    paths: ['pg', 'pg-copy-streams'],
    patterns: [],
    message: 'PostgreSQL goes through shared/db (only type imports of pg elsewhere).',
  },
  lake: {
    paths: [],
    patterns: ['@aws-sdk/*'],
    message: 'S3 goes through shared/lake (only type imports of the AWS SDK elsewhere).',
  },
  exchange: {
    paths: ['ccxt'],
    patterns: [],
    message: 'ccxt stays inside shared/exchange (only type imports elsewhere).',
  },
  testing: {
    paths: ['@google-cloud/functions-framework/testing'],
    patterns: [],
    message:
      "The Functions Framework's testing helpers are for tests: functions are served by shared/http/server.ts.",
  },
};

/** The boundary rules for files that may use the libraries of `allowed` (room names of LIBRARIES). */
function boundaries(allowed) {
  const refused = Object.entries(LIBRARIES).filter(([room]) => !allowed.includes(room));
  const escape = (n) => n.replace(/[/-]/g, (c) => `\\${c}`);
  const exact = refused.flatMap(([, l]) => l.paths).map(escape);
  const prefixes = refused.flatMap(([, l]) => l.patterns).map((p) => escape(p.replace('*', '')));
  const source = [...exact.map((n) => `^${n}$`), ...prefixes.map((p) => `^${p}`)].join('|');
  return {
    'no-restricted-imports': 'off',
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        paths: refused.flatMap(([, l]) =>
          l.paths.map((name) => ({ name, message: l.message, allowTypeImports: true })),
        ),
        patterns: refused.flatMap(([, l]) =>
          l.patterns.map((p) => ({ group: [p], message: l.message, allowTypeImports: true })),
        ),
      },
    ],
    'no-restricted-syntax': [
      'error',
      {
        selector: `ImportExpression[source.value=/${source}/]`,
        message:
          'A library is imported in its own room only (shared/db, shared/lake, shared/exchange; test/ for testing helpers).',
      },
    ],
  };
}

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.local/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      // `total += await f()` reads total before the await: concurrent workers lose each other's additions.
      'require-atomic-updates': ['error', { allowProperties: true }],
      ...boundaries([]),
    },
  },
  { files: ['shared/db/**'], rules: boundaries(['db']) },
  { files: ['shared/lake/**'], rules: boundaries(['lake']) },
  { files: ['shared/exchange/**'], rules: boundaries(['exchange']) },
  // Tests and benchmarks set up and inspect the real stores (create buckets, seed and count rows, COPY fixtures), so
  // pg, pg-copy-streams and the AWS SDK are theirs to use; ccxt stays behind shared/exchange there too. Only tests may
  // use the Functions Framework's testing helpers.
  { files: ['test/**', 'bench/**'], rules: boundaries(['db', 'lake']) },
  { files: ['test/**'], rules: boundaries(['db', 'lake', 'testing']) },
);
