/**
 * The bnlab command line: commands and flags, nothing else. Each command is a thin call into the
 * engine with the terminal listener (progress bars) attached; `--json` prints machine-readable
 * results on stdout while progress goes to stderr.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from './config.ts';
import { selectBackend } from './engine/backend.ts';
import { recipeFromFlags, parsePolicyFlag, type RecipeFlags } from './cli/recipe-args.ts';
import { terminalListener } from './cli/progress.ts';
import { PolicySpecSchema, type PolicySpec } from './schema.ts';
import { comparisonReport, formatComparison, runComparison } from './train/compare.ts';
import { policyName } from './policies/resolve.ts';
import { runTraining } from './train/run.ts';
import { inspectRecipe } from './train/inspect-recipe.ts';
import { recalibrateBackbone } from './train/recalibrate.ts';
import { predictFiles } from './train/predict.ts';
import { exportCheckpoint } from './train/export.ts';

const config = loadConfig();
const program = new Command('bnlab').description('Fine-tune pretrained image backbones with BatchNorm handled on purpose.').showHelpAfterError();

function recipeOptions(command: Command): Command {
  return command
    .option('--recipe <file>', 'recipe JSON (flags override its fields); default recipes/demo.json')
    .option('--backbone <name|path|url>', 'registry name, model.json path or folder, or URL')
    .option('--data <folder>', 'image folder: root/<class>/* or root/{train,val}/<class>/*')
    .option('--policy <name>', 'freeze-all | train-bn | bn-stats-only | adabn | full | unfreeze-last:<n> | rules.json')
    .option('--epochs <n>')
    .option('--batch-size <n>')
    .option('--lr <rate>')
    .addOption(new Option('--optimizer <type>').choices(['adam', 'sgd']))
    .option('--seed <n>')
    .option('--max-steps <n>', 'cap on steps per epoch (quick checks)')
    .option('--precise-bn', 'recompute BN population statistics after training')
    .addOption(new Option('--resize <mode>', 'fit images to the input: crop (shorter side x 1.15, center crop), squash (whole image), pad (letterbox)').choices(['crop', 'squash', 'pad']))
    .option('--data-seed <n>', 'seed of the train/val split (default: --seed)')
    .option('--allow-tiny-batch', 'allow batch size 1 with training-mode BN (per-image statistics)')
    .option('--bn-momentum-keras <m>', 'override BN momentum, Keras convention (weight of the old value, e.g. 0.99)')
    .option('--bn-momentum-pytorch <m>', 'override BN momentum, PyTorch convention (weight of the new value, e.g. 0.1)')
    .addOption(new Option('--backend <name>', 'tensor backend').choices(['wasm', 'cpu', 'tensorflow']));
}

async function withDemoData<T extends RecipeFlags>(flags: T): Promise<T> {
  // The default recipe trains on generated demo data: make it on first use.
  if (!flags.recipe && !flags.data) {
    const { ensureDemoDataset } = await import('./demo/make-dataset.ts');
    await ensureDemoDataset(config);
  }
  return flags;
}

const runId = (prefix: string) => `${prefix}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')}`;

recipeOptions(program.command('train').description('fine-tune a backbone on an image folder with one policy'))
  .option('--out <dir>', 'checkpoint folder (default checkpoints/<run>)')
  .option('--run <id>', 'run id (default train-<time>)')
  .option('--resume', 'continue the run in --out from its last checkpoint')
  .option('--json', 'print the run summary as JSON')
  .action(async (flags) => {
    const recipe = recipeFromFlags(await withDemoData(flags));
    const id = flags.run ?? (flags.out ? path.basename(path.resolve(flags.out)) : runId('train'));
    const summary = await runTraining(recipe, { runId: id, config, onEvent: terminalListener(), resume: flags.resume, backend: flags.backend, outDir: flags.out });
    if (flags.json) console.log(JSON.stringify(summary, null, 2));
  });

recipeOptions(program.command('compare').description('train several policies on the same split over one or more seeds; print means, intervals and paired verdicts'))
  .option('--policies <list>', 'comma-separated policies', 'freeze-all,train-bn,adabn')
  .option('--seeds <n>', 'run seeds per policy (recipe field seeds; 5 or more before drawing conclusions)')
  .option('--json', 'print the comparison report (per-policy statistics, verdicts, every run summary) as JSON')
  .action(async (flags) => {
    const recipe = recipeFromFlags(await withDemoData(flags));
    const policies = (flags.policies as string).split(',').map((p) => {
      const parsed = PolicySpecSchema.safeParse(parsePolicyFlag(p.trim()));
      if (!parsed.success) throw new Error(`--policies: '${p}': ${parsed.error.issues[0].message}`);
      return parsed.data as PolicySpec;
    });
    const names = policies.map(policyName);
    const duplicate = names.find((p, i) => names.indexOf(p) !== i);
    if (duplicate) throw new Error(`--policies: '${duplicate}' is listed twice`);
    const comparisonId = runId('compare');
    const started = Date.now();
    // the same manifest the dashboard writes, so it lists this comparison as one group
    const { comparisonManifest, writeComparisonManifest } = await import('./web/run-history.ts');
    await writeComparisonManifest(config.checkpointsDir, comparisonManifest(comparisonId, recipe, policies, new Date().toISOString()));
    const summaries = await runComparison(recipe, policies, { comparisonId, config, onEvent: terminalListener(), backend: flags.backend });
    const report = comparisonReport(comparisonId, recipe, names, summaries, (Date.now() - started) / 1000);
    if (flags.json) console.log(JSON.stringify(report, null, 2));
    else console.log(`\n${formatComparison(report)}`);
  });

recipeOptions(program.command('inspect').description("rank BN layers by how far the data's statistics are from the pretrained ones; recommend a policy"))
  .option('--json', 'print the report as JSON')
  .option('--top <n>', 'layers to list', '10')
  .action(async (flags) => {
    const recipe = recipeFromFlags(await withDemoData(flags));
    const report = await inspectRecipe(recipe, config, flags.backend);
    if (flags.json) {
      console.log(JSON.stringify(report, null, 2));
      return;
    }
    console.log(`${report.backbone} on ${report.data} (${report.trainCount} train images, ${report.classes.length} classes), backend ${report.backend}`);
    console.log('\nBN layers ranked by data/pretrained mismatch (normalised mean shift, |log var ratio|, symmetric KL):');
    const byName = new Map(report.layers.map((l) => [l.layer, l]));
    for (const name of report.ranking.slice(0, Number(flags.top))) {
      const l = byName.get(name)!;
      console.log(`  ${name.padEnd(28)} ${l.meanShift.toFixed(3).padStart(8)} ${l.logVarRatio.toFixed(3).padStart(8)} ${l.symmetricKl.toFixed(3).padStart(10)}`);
    }
    for (const finding of report.lint) console.log(`lint ${finding.code}: ${finding.message}`);
    for (const warning of report.warnings) console.log(`warning: ${warning}`);
    for (const skipped of report.skippedFiles) console.log(`skipped ${skipped.path}: ${skipped.reason}`);
    console.log(`\nrecommended policy: ${report.recommendation.policy} — ${report.recommendation.reason}`);
  });

program
  .command('recalibrate')
  .description('recompute every BN layer statistic of a pretrained model on an image folder and save it')
  .requiredOption('--backbone <name|path|url>')
  .requiredOption('--data <folder>')
  .requiredOption('--out <dir>')
  .option('--batch-size <n>', 'images per forward pass', '32')
  .option('--json', 'print per-layer changes as JSON')
  .addOption(new Option('--backend <name>').choices(['wasm', 'cpu', 'tensorflow']))
  .action(async (flags) => {
    const result = await recalibrateBackbone(
      {
        backbone: flags.backbone,
        data: flags.data,
        outDir: path.resolve(flags.out),
        batchSize: Number(flags.batchSize),
        backend: flags.backend,
        onLayer: (done, total, name) => process.stderr.write(`\r  recalibrating ${done}/${total} ${name.padEnd(30)}`),
      },
      config,
    );
    process.stderr.write('\n');
    if (flags.json) console.log(JSON.stringify(result, null, 2));
    else console.log(`recalibrated ${result.layers.length} BN layers on ${result.images} images → ${result.outDir}/model.json`);
  });

program
  .command('predict')
  .description('classify images with a checkpoint')
  .requiredOption('--checkpoint <dir>')
  .argument('<inputs...>', 'image files or folders')
  .option('--top <k>', 'classes per image', '3')
  .option('--json', 'print predictions as JSON')
  .addOption(new Option('--backend <name>').choices(['wasm', 'cpu', 'tensorflow']))
  .action(async (inputs: string[], flags) => {
    await selectBackend(flags.backend ?? config.backend);
    const result = await predictFiles(flags.checkpoint, inputs, Number(flags.top));
    if (flags.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    for (const p of result.predictions) console.log(`${p.file}: ${p.top.map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`);
    for (const s of result.skipped) console.log(`skipped ${s.path}: ${s.reason}`);
  });

program
  .command('export')
  .description('write a checkpoint as a plain tfjs layers model (model.json + weights.bin + labels.json)')
  .requiredOption('--checkpoint <dir>')
  .requiredOption('--out <dir>')
  .addOption(new Option('--backend <name>').choices(['wasm', 'cpu', 'tensorflow']))
  .action(async (flags) => {
    await selectBackend(flags.backend ?? config.backend);
    const out = await exportCheckpoint(flags.checkpoint, path.resolve(flags.out));
    console.log(`exported → ${out}/model.json`);
  });

program
  .command('demo-data')
  .description('generate the demo image folder (data/demo) if it is missing')
  .action(async () => {
    const { ensureDemoDataset } = await import('./demo/make-dataset.ts');
    const dir = await ensureDemoDataset(config);
    console.log(`demo data in ${dir}`);
  });

program
  .command('serve')
  .description('start the dashboard')
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--port <port>', 'port (0 = any free one)', '3000')
  .option('--token <token>', 'access token (required when --host is not loopback)')
  .action(async (flags) => {
    const { startDashboard } = await import('./web/start.ts');
    await startDashboard({ config, host: flags.host, port: Number(flags.port), token: flags.token ?? null });
  });

program.parseAsync().catch((error: Error) => {
  process.stderr.write(`\nbnlab: ${error.message}\n`);
  if (process.env.BNLAB_DEBUG) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
