/**
 * The dependency rule (.dependency-cruiser.cjs, ARCHITECTURE.md) holds for the whole tree, and a
 * reaching import is reported under the rule's name.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../server/config.ts';

const require = (await import('node:module')).createRequire(import.meta.url);
const ruleSet = require(path.join(PROJECT_ROOT, '.dependency-cruiser.cjs'));

async function violations(roots: string[]) {
  const cwd = process.cwd();
  process.chdir(PROJECT_ROOT);
  try {
    const { output } = await cruise(roots, { ...ruleSet.options, validate: true, ruleSet, outputType: 'json' });
    const result = (typeof output === 'string' ? JSON.parse(output) : output) as ICruiseResult;
    return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
  } finally {
    process.chdir(cwd);
  }
}

describe('architecture', () => {
  it('has no dependency-rule violations and no cycles', async () => {
    expect(await violations(['server', 'client/src', 'tools', 'bench', 'test'])).toEqual([]);
  });

  it('names the rule when a lower layer reaches up', async () => {
    const probe = path.join(PROJECT_ROOT, 'server', 'model', `rule-probe-${process.pid}.ts`);
    fs.writeFileSync(probe, "export { runTraining } from '../train/loop.ts';\n");
    try {
      const found = await violations([path.relative(PROJECT_ROOT, probe)]);
      expect(found).toContain(`layer-model: server/model/${path.basename(probe)} → server/train/loop.ts`);
    } finally {
      fs.rmSync(probe, { force: true });
    }
  });
});
