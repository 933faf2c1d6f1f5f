// Jest runs the ESM-only NestJS 12 packages through Node's VM modules; TypeScript is compiled by SWC with
// decorator metadata on, because Nest's constructor injection depends on it.
const swcEsm = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
  },
  module: { type: 'es6' },
};

const ESM_ONLY_REQUIRED = ['cookie', 'content-disposition'];

export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['@swc/jest', swcEsm],
    // CommonJS dependencies require() these ESM-only packages (light-my-request -> cookie@2,
    // @fastify/static -> content-disposition@2); jest's VM modules cannot, so they are compiled to CommonJS.
    [`/node_modules/(${ESM_ONLY_REQUIRED.join('|')})/.+\\.js$`]: [
      '@swc/jest',
      { module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY_REQUIRED.join('|')})/)`],
  testTimeout: 60000,
  maxWorkers: 2,
};
