/**
 * Print a saved `bnlab compare --json` report as the table `bnlab compare` prints (README results
 * are pasted from this, so every figure traces back to the report file):
 *   npx tsx tools/format-comparison.ts docs/results-seeds.json
 */
import fs from 'node:fs';
import type { ComparisonReport } from '../server/schema/comparison.ts';
import { formatComparison } from '../server/stats/comparison-report.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: npx tsx tools/format-comparison.ts <report.json>');
const report = JSON.parse(fs.readFileSync(file, 'utf8')) as ComparisonReport;
if (report.format !== 'bnlab-comparison@2') throw new Error(`${file} is not a bnlab compare --json report (format ${String(report.format)})`);
console.log(formatComparison(report));
