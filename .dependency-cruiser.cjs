/**
 * bnlab's dependency rule, checked in `npm test` (test/architecture.test.ts) and by
 * `npm run lint:deps`. Layers, highest first; a layer imports only layers below it:
 *
 *   tools, bench, test  →  cli  →  web  →  commands | demo  →  train  →  policies | stats | engine
 *   →  backbones | data | runs  →  model  →  config  →  schema
 *
 * Folders on one line separated by `|` are siblings and do not import each other. The client
 * imports only server/schema/. Tests beside a module (`*.test.ts`) may use higher layers for
 * their fixtures; shipped code may not. See ARCHITECTURE.md.
 */
const LAYERS = [
  ['schema', ['server/schema/']],
  ['config', ['server/config\\.ts$']],
  ['model', ['server/model/']],
  ['backbones', ['server/backbones/'], 'data', ['server/data/'], 'runs', ['server/runs/']],
  ['policies', ['server/policies/'], 'stats', ['server/stats/'], 'engine', ['server/engine/']],
  ['train', ['server/train/']],
  ['commands', ['server/commands/'], 'demo', ['server/demo/']],
  ['web', ['server/web/']],
  ['cli', ['server/cli\\.ts$', 'server/cli/']],
];

const alternation = (paths) => `^(${paths.join('|')})`;
const rules = [];
const below = [];
for (const level of LAYERS) {
  const siblings = [];
  for (let i = 0; i < level.length; i += 2) siblings.push({ name: level[i], paths: level[i + 1] });
  for (const layer of siblings) {
    const allowed = [...below, ...layer.paths];
    rules.push({
      name: `layer-${layer.name}`,
      comment: `${layer.name} may import only ${below.length ? 'the layers below it' : 'itself'} (see .dependency-cruiser.cjs)`,
      severity: 'error',
      // tests beside a module may build their fixtures with higher layers (the demo backbone, a loader)
      from: { path: alternation(layer.paths), pathNot: '\\.test\\.ts$' },
      to: { path: '^(server|client|tools|bench|test)/', pathNot: alternation([...allowed, 'test/support/']) },
    });
  }
  below.push(...siblings.flatMap((layer) => layer.paths));
}

module.exports = {
  forbidden: [
    ...rules,
    {
      name: 'client-imports-schema-only',
      comment: 'the browser bundle sees only server/schema/ (no Node, no tfjs)',
      severity: 'error',
      from: { path: '^client/' },
      to: { path: '^(server|tools|bench|test)/', pathNot: '^server/schema/' },
    },
    {
      name: 'schema-is-plain',
      comment: 'server/schema/ is shared with the browser: no Node built-ins, no tfjs',
      severity: 'error',
      from: { path: '^server/schema/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'schema-no-tfjs',
      comment: 'server/schema/ is shared with the browser: no tfjs',
      severity: 'error',
      from: { path: '^server/schema/' },
      to: { path: '@tensorflow' },
    },
    {
      name: 'test-support-only-in-tests',
      comment: 'test/support/ holds fixtures and probes for tests and tools, never for shipped code',
      severity: 'error',
      from: { path: '^server/', pathNot: '\\.test\\.ts$' },
      to: { path: '^test/support/' },
    },
    {
      name: 'no-circular',
      comment: 'no file imports itself through others',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|^client/dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
