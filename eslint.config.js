import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/node_modules/**', '**/dist/**', 'runs/**', 'bench/results/**', '**/.scratch/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      // Libraries are pure: only services read the environment (DESIGN.md §2).
      'no-restricted-syntax': 'off',
    },
  },
  {
    files: ['libs/**/*.ts'],
    // Tests, and the helpers only tests import, may read where their brokers are.
    ignores: ['libs/**/*.test.ts', 'libs/**/*.test-helpers.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Libraries never read process.env; pass typed config in.',
        },
      ],
    },
  },
  {
    files: ['scripts/**/*.mjs', '**/scripts/**/*.mjs', '*.js'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' },
    },
  },
);
