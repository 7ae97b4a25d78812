/**
 * The bnlab command line: commands and flags, nothing else. Each command is a thin call into the
 * engine with the terminal listener (progress bars) attached; `--json` prints machine-readable
 * results on stdout while progress goes to stderr.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from './config.ts';
import { BACKEND_NAMES, selectBackend } from './engine/backend.ts';
import { addRecipeOptions, parsePolicyFlag, recipeFromFlags, type RecipeFlags } from './cli/recipe-args.ts';
import { timestampRunId } from './runs/run-ids.ts';
import { terminalListener } from './cli/progress.ts';
import { PolicySpecSchema, type PolicySpec } from './schema/recipe.ts';
import { runComparison } from './commands/compare.ts';
import { comparisonReport, formatComparison } from './stats/comparison-report.ts';
import { policyName } from './schema/policy-names.ts';
import { runTraining } from './train/loop.ts';
import { inspectRecipe } from './commands/inspect.ts';
import { recalibrateBackbone } from './commands/recalibrate.ts';
import { predictFiles } from './commands/predict.ts';
import { exportCheckpoint } from './commands/export.ts';
import { formatBackboneSetup } from './backbones/setup.ts';
import { parsePreprocessingFlag } from './cli/recipe-args.ts';
import { describePreprocessing, PREPROCESSING_HELP } from './schema/preprocessing.ts';

const config = loadConfig();
const program = new Command('bnlab').description('Fine-tune pretrained image backbones with BatchNorm handled on purpose.').showHelpAfterError();

/** `--backend`, offered on every command that computes */
const backendOption = () => new Option('--backend <name>', 'tensor backend (default BNLAB_BACKEND or wasm)').choices(BACKEND_NAMES);

function recipeOptions(command: Command): Command {
  return addRecipeOptions(command).addOption(backendOption());
}

async function withDemoData<T extends RecipeFlags>(flags: T): Promise<T> {
  // The default recipe trains on generated demo data: make it on first use.
  if (!flags.recipe && !flags.data) {
    const { ensureDemoDataset } = await import('./demo/make-dataset.ts');
    await ensureDemoDataset(config);
  }
  return flags;
}

recipeOptions(program.command('train').description('fine-tune a backbone on an image folder with one policy'))
  .option('--out <dir>', 'checkpoint folder (default checkpoints/<run>)')
  .option('--run <id>', 'run id (default train-<time>)')
  .option('--resume', 'continue the run in --out from its last checkpoint')
  .option('--json', 'print the run summary as JSON')
  .action(async (flags) => {
    const recipe = recipeFromFlags(await withDemoData(flags));
    const id = flags.run ?? (flags.out ? path.basename(path.resolve(flags.out)) : timestampRunId('train'));
    const summary = await runTraining(recipe, { runId: id, config, onEvent: terminalListener(), resume: flags.resume, backend: flags.backend, outDir: flags.out });
    if (flags.json) console.log(JSON.stringify(summary, null, 2));
  });

recipeOptions(program.command('compare').description('train several policies on the same split over one or more seeds; print means, intervals and paired verdicts'))
  .option('--policies <list>', 'comma-separated policies', 'freeze-all,train-bn,adabn')
  .option('--json', 'print the comparison report (per-policy statistics, verdicts, every run summary) as JSON')
  .option('--queue <url>', 'submit to a running dashboard queue (one task per run) and follow it, e.g. http://127.0.0.1:3000')
  .option('--token <token>', 'the dashboard token, with --queue (default BNLAB_TOKEN)')
  .action(async (flags) => {
    const recipe = recipeFromFlags(await withDemoData(flags), { command: 'compare' });
    const policies = (flags.policies as string).split(',').map((p) => {
      const parsed = PolicySpecSchema.safeParse(parsePolicyFlag(p.trim()));
      if (!parsed.success) throw new Error(`--policies: '${p}': ${parsed.error.issues[0].message}`);
      return parsed.data as PolicySpec;
    });
    const names = policies.map(policyName);
    const duplicate = names.find((p, i) => names.indexOf(p) !== i);
    if (duplicate) throw new Error(`--policies: '${duplicate}' is listed twice`);
    if (flags.queue) {
      const { followJob, formatJobTable, submitComparison } = await import('./commands/queue-client.ts');
      const target = { url: flags.queue as string, token: flags.token ?? process.env.BNLAB_TOKEN };
      const job = await followJob(target, await submitComparison(target, recipe, policies));
      console.log(flags.json ? JSON.stringify(job, null, 2) : `\n${formatJobTable(job)}`);
      if (job.status !== 'completed') process.exitCode = 1;
      return;
    }
    const comparisonId = timestampRunId('compare');
    const started = Date.now();
    // the same manifest the dashboard writes, so it lists this comparison as one group
    const { comparisonManifest, writeComparisonManifest } = await import('./runs/history.ts');
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
    const report = await inspectRecipe(recipe, config, flags.backend, (setup) => process.stderr.write(`${formatBackboneSetup(setup)}\n`));
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
  .option('--preprocessing <mode>', `pixel scaling the model expects, when it does not say: ${PREPROCESSING_HELP}`)
  .option('--json', 'print per-layer changes as JSON')
  .addOption(backendOption())
  .action(async (flags) => {
    const result = await recalibrateBackbone(
      {
        backbone: flags.backbone,
        data: flags.data,
        outDir: path.resolve(flags.out),
        batchSize: Number(flags.batchSize),
        backend: flags.backend,
        preprocessing: flags.preprocessing ? parsePreprocessingFlag(flags.preprocessing) : null,
        onSetup: (setup) => process.stderr.write(`${formatBackboneSetup(setup)}\n`),
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
  .option('--summary', 'print only the accuracy (images in folders named after a class) and skipped files')
  .option('--json', 'print predictions as JSON')
  .addOption(backendOption())
  .action(async (inputs: string[], flags) => {
    await selectBackend(flags.backend ?? config.backend);
    const result = await predictFiles(flags.checkpoint, inputs, Number(flags.top), (s) =>
      process.stderr.write(`model ${s.model}: input ${s.inputSize}x${s.inputSize}, preprocessing ${describePreprocessing(s.preprocessing)}, ${s.classes.length} classes (from ${s.from})\n`),
    );
    if (flags.json) console.log(JSON.stringify(result, null, 2));
    else {
      if (!flags.summary) for (const p of result.predictions) console.log(`${p.file}: ${p.top.map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`);
      for (const s of result.skipped) console.log(`skipped ${s.path}: ${s.reason}`);
      if (result.accuracy) console.log(`accuracy ${(result.accuracy.value * 100).toFixed(1)}% (${result.accuracy.correct}/${result.accuracy.total} images in folders named after a class)`);
    }
    if (!result.predictions.length) throw new Error(`nothing was predicted: none of the ${inputs.length} input(s) gave a readable image (${result.skipped.length} skipped, reasons above)`);
  });

program
  .command('export')
  .description('write a checkpoint as a plain tfjs layers model (model.json + weights.bin + labels.json)')
  .requiredOption('--checkpoint <dir>')
  .requiredOption('--out <dir>')
  .option('--force', 'write into --out even when it holds other files (they may be overwritten)')
  .addOption(backendOption())
  .action(async (flags) => {
    await selectBackend(flags.backend ?? config.backend);
    const out = await exportCheckpoint(flags.checkpoint, path.resolve(flags.out), { force: Boolean(flags.force) });
    console.log(`exported → ${out.outDir}/model.json${out.teachableMachine ? ' (+ metadata.json for @teachablemachine/image)' : ''}`);
    if (out.note) console.log(out.note);
  });

program
  .command('layers')
  .description('list a model\'s layers with output shapes; marks BatchNorm layers and the default cut')
  .requiredOption('--backbone <name|path|url>')
  .option('--cut <layer>', 'mark this layer as the cut in use (checks it exists)')
  .option('--preprocessing <mode>', `state the pixel scaling (only shown here): ${PREPROCESSING_HELP}`)
  .option('--json', 'print the layer table as JSON')
  .addOption(backendOption())
  .action(async (flags) => {
    const { listLayers, formatLayerListing } = await import('./commands/layers.ts');
    const preprocessing = flags.preprocessing ? parsePreprocessingFlag(flags.preprocessing) : null;
    const listing = await listLayers(flags.backbone, config, { cutLayer: flags.cut, preprocessing, backend: flags.backend });
    console.log(flags.json ? JSON.stringify(listing, null, 2) : formatLayerListing(listing));
  });

// --- test-time BN adaptation (issue 15): corrupt, evaluate, adapt ---------------------------------
program
  .command('corrupt')
  .description('write a corrupted copy (same class folders) of a labelled folder\'s val images, for measuring distribution shift')
  .requiredOption('--data <folder>', 'labelled folder: root/<class>/* or root/{train,val}/<class>/*')
  .requiredOption('--corruption <name>', 'gaussian-noise | blur | contrast | brightness | invert | jpeg')
  .requiredOption('--severity <1-5>', 'severity (parameters in server/data/corruptions.ts)')
  .requiredOption('--out <dir>', 'new folder for the corrupted copy (root/<class>/*.png)')
  .option('--seed <n>', 'noise seed', '0')
  .option('--size <px>', 'network input size the copy is decoded for', '224')
  .addOption(new Option('--split <which>', 'which images to corrupt').choices(['val', 'all']).default('val'))
  .option('--val-fraction <f>', 'root/<class>/* folders: val fraction of the seeded split', '0.2')
  .option('--split-seed <n>', 'root/<class>/* folders: seed of the split (the recipe seed)', '0')
  .option('--json', 'print the result as JSON')
  .action(async (flags) => {
    const { corruptFolder } = await import('./commands/corrupt.ts');
    const result = await corruptFolder({
      data: flags.data,
      corruption: flags.corruption,
      severity: Number(flags.severity),
      out: flags.out,
      seed: Number(flags.seed),
      size: Number(flags.size),
      split: flags.split,
      valFraction: Number(flags.valFraction),
      splitSeed: Number(flags.splitSeed),
      onImage: (done, total) => process.stderr.write(`\r  ${flags.corruption} ${done}/${total}`),
    });
    process.stderr.write('\n');
    if (flags.json) console.log(JSON.stringify(result, null, 2));
    else console.log(`${result.corruption} severity ${result.severity} (${result.parameterName} ${result.parameter}): ${result.images} images → ${result.out}`);
    for (const s of result.skipped) console.error(`skipped ${s.path}: ${s.reason}`);
  });

program
  .command('evaluate')
  .description('accuracy, loss and per-image correctness of a checkpoint on a labelled folder (val/ of a {train,val} folder, else every image)')
  .requiredOption('--checkpoint <run>', 'checkpoint folder or run id')
  .requiredOption('--data <folder>', 'labelled folder')
  .option('--batch-size <n>', 'images per forward pass', '32')
  .option('--json', 'print the report (with per-image results) as JSON')
  .addOption(new Option('--backend <name>').choices(['wasm', 'cpu', 'tensorflow']))
  .action(async (flags) => {
    const { resolveCheckpointDir } = await import('./commands/checkpoint-arg.ts');
    const { evaluateCheckpoint } = await import('./commands/evaluate.ts');
    const checkpoint = resolveCheckpointDir(flags.checkpoint, config);
    await selectBackend(flags.backend ?? config.backend);
    const report = await evaluateCheckpoint({ checkpoint, data: flags.data, batchSize: Number(flags.batchSize) });
    if (flags.json) console.log(JSON.stringify(report, null, 2));
    else console.log(`${report.images} images: accuracy ${(report.accuracy * 100).toFixed(1)} %, loss ${report.loss.toFixed(3)}, mean entropy ${report.entropy.toFixed(3)} nats`);
    for (const s of report.skipped) console.error(`skipped ${s.path}: ${s.reason}`);
  });

program
  .command('adapt')
  .description('test-time BN adaptation of a checkpoint to unlabelled target images; writes a new checkpoint')
  .requiredOption('--checkpoint <run>', 'checkpoint folder or run id')
  .requiredOption('--data <folder>', 'unlabelled target images (any layout, searched recursively)')
  .requiredOption('--method <stats|tent>', 'stats: target population BN statistics; tent: + entropy minimisation on BN gamma/beta')
  .requiredOption('--out <dir>', 'new folder for the adapted checkpoint')
  .option('--prior <N>', 'mix with the source statistics, pseudo sample size N (Schneider et al. 2020)')
  .option('--steps <k>', 'tent: Adam steps (default one pass over the images)')
  .option('--batch-size <b>', 'tent batch size and statistics batch size (default 32; tent needs >= 2)')
  .option('--lr <rate>', 'tent: Adam learning rate (default 0.001)')
  .option('--seed <n>', 'tent: seed of the batch order (default 0)')
  .option('--episodic', 'tent: adapt each batch from the source model and write its predictions (predictions.json), not a checkpoint')
  .option('--json', 'print the adaptation summary as JSON')
  .addOption(new Option('--backend <name>').choices(['wasm', 'cpu', 'tensorflow']))
  .action(async (flags) => {
    const { resolveCheckpointDir } = await import('./commands/checkpoint-arg.ts');
    const { adaptCheckpoint, episodicTent, parseAdaptSettings } = await import('./commands/adapt.ts');
    const settings = parseAdaptSettings(flags);
    const checkpoint = resolveCheckpointDir(flags.checkpoint, config);
    await selectBackend(flags.backend ?? config.backend);
    if (settings.episodic) {
      const episodic = await episodicTent({ checkpoint, data: flags.data, out: flags.out, settings }, { onBatch: (done, total) => process.stderr.write(`\r  episodic tent ${done}/${total} images`) });
      process.stderr.write('\n');
      if (flags.json) console.log(JSON.stringify(episodic, null, 2));
      else console.log(`episodic tent on ${episodic.images} images${episodic.accuracy === null ? '' : `: accuracy ${(episodic.accuracy * 100).toFixed(1)} %`} → ${episodic.out}/predictions.json`);
      return;
    }
    const result = await adaptCheckpoint(
      { checkpoint, data: flags.data, out: flags.out, settings },
      {
        onStep: (step, entropy) => process.stderr.write(`\r  tent step ${step} entropy ${entropy.toFixed(4)}   `),
        onLayer: (done, total, name) => process.stderr.write(`\r  statistics ${done}/${total} ${name.padEnd(30)}`),
      },
    );
    process.stderr.write('\n');
    if (flags.json) {
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    const prior = settings.prior === null ? '' : `, prior N=${settings.prior} (source weight ${result.sourceWeight.toFixed(3)})`;
    const tent = result.tentSteps ? `, ${result.tentSteps} tent steps` : '';
    console.log(`${result.method} on ${result.images} images${prior}${tent}: mean entropy ${result.entropyBefore.toFixed(3)} → ${result.entropyAfter.toFixed(3)} nats → ${result.out}/model.json`);
    console.log('BN layers the adaptation moved most (normalised mean shift, |log var ratio|, gamma change):');
    for (const l of [...result.drift].sort((a, b) => b.meanShift - a.meanShift).slice(0, 5)) {
      console.log(`  ${l.layer.padEnd(28)} ${l.meanShift.toFixed(3).padStart(8)} ${l.logVarRatio.toFixed(3).padStart(8)} ${l.gammaChange.toFixed(4).padStart(8)}`);
    }
    for (const s of result.skipped) console.error(`skipped ${s.path}: ${s.reason}`);
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
  .option('--port <port>', 'port (0 = any free one; default: env PORT, else 3000)')
  .option('--token <token>', 'access token (required when --host is not loopback)')
  .action(async (flags) => {
    const { startDashboard } = await import('./web/start.ts');
    await startDashboard({ config, host: flags.host, port: flags.port, token: flags.token ?? null });
  });

recipeOptions(program.command('sweep').description('train every backbone × dataset × policy × seed; print one table'))
  .requiredOption('--backbones <list>', 'comma-separated backbones (names or model folders)')
  .requiredOption('--datasets <list>', 'comma-separated image folders')
  .option('--policies <list>', 'comma-separated policies', 'freeze-all,train-bn,adabn')
  .option('--seeds <list>', 'comma-separated seeds', '0')
  .option('--queue <url>', 'submit to a running dashboard queue (one task per run) and follow it')
  .option('--token <token>', 'the dashboard token, with --queue (default BNLAB_TOKEN)')
  .option('--json', 'print the result as JSON')
  .action(async (flags) => {
    const list = (flag: string, value: string) => {
      const items = value.split(',').map((v) => v.trim()).filter(Boolean);
      if (!items.length) throw new Error(`--${flag}: give at least one, comma-separated`);
      return items;
    };
    const seeds = list('seeds', flags.seeds).map((s) => {
      if (!/^\d+$/.test(s)) throw new Error(`--seeds: '${s}' is not a whole number >= 0`);
      return Number(s);
    });
    const policies = list('policies', flags.policies).map((p) => {
      const parsed = PolicySpecSchema.safeParse(parsePolicyFlag(p));
      if (!parsed.success) throw new Error(`--policies: '${p}': ${parsed.error.issues[0].message}`);
      return parsed.data as PolicySpec;
    });
    const axes = { backbones: list('backbones', flags.backbones), datasets: list('datasets', flags.datasets), policies, seeds };
    const recipe = recipeFromFlags({ ...flags, backbone: flags.backbone ?? axes.backbones[0], data: flags.data ?? axes.datasets[0] });
    const { followJob, formatJobTable, submitSweep } = await import('./commands/queue-client.ts');
    let job;
    if (flags.queue) {
      const target = { url: flags.queue as string, token: flags.token ?? process.env.BNLAB_TOKEN };
      job = await followJob(target, await submitSweep(target, recipe, axes));
    } else {
      const { runSweepLocally } = await import('./commands/sweep.ts');
      const { ensureDemoDataset } = await import('./demo/make-dataset.ts');
      const prepare = async (r: { data: string }) => {
        if (path.resolve(r.data) === config.demoDataDir) await ensureDemoDataset(config);
      };
      job = await runSweepLocally(timestampRunId('sweep'), recipe, axes, { config, onEvent: terminalListener(), backend: flags.backend, prepare });
    }
    console.log(flags.json ? JSON.stringify(job, null, 2) : `\n${formatJobTable(job)}`);
    if (job.status !== 'completed') process.exitCode = 1;
  });

program
  .command('worker')
  .description('take runs from the shared queue (BNLAB_REDIS_URL) and run each in its own process')
  .option('--concurrency <n>', 'runs at once (each uses all cores it gets)', '1')
  .option('--redis <url>', 'Redis URL (default BNLAB_REDIS_URL)')
  .action(async (flags) => {
    const { runWorkerCommand } = await import('./web/queue/worker-command.ts');
    await runWorkerCommand({ config, redisUrl: flags.redis ?? process.env.BNLAB_REDIS_URL, concurrency: flags.concurrency });
  });

program.parseAsync().catch((error: Error) => {
  process.stderr.write(`\nbnlab: ${error.message}\n`);
  if (process.env.BNLAB_DEBUG) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
