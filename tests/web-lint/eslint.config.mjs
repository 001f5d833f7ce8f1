// ESLint for the console's TypeScript (web/src), run by tests/web-lint/run from the repository
// root. Type-aware: typescript-eslint reads web/tsconfig.json with this folder's own TypeScript 6
// (web/ builds with TypeScript 7, which has no JavaScript API for typescript-eslint to load).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export default defineConfig([
  {
    basePath: repo,
    files: ['web/src/**/*.{ts,tsx}'],
    extends: [
      js.configs.recommended,
      tseslint.configs.recommendedTypeChecked,
      tseslint.configs.stylisticTypeChecked,
      reactHooks.configs.flat.recommended,
    ],
    languageOptions: {
      parserOptions: {
        project: path.join(repo, 'web', 'tsconfig.json'),
        tsconfigRootDir: path.join(repo, 'web'),
      },
    },
    rules: {
      // An empty name is shown like a missing one ("(unknown)"), so `||` is meant for strings.
      '@typescript-eslint/prefer-nullish-coalescing': ['error', { ignorePrimitives: { string: true } }],
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
]);
