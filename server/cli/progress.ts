/**
 * Terminal listener for run events: on a terminal a progress bar with ETA, elsewhere (CI, pipes) a
 * plain line every tenth of the run; epoch results, warnings and the outcome as lines on stderr.
 */
import cliProgress from 'cli-progress';
import type { RunEvent } from '../schema/events.ts';

export function terminalListener(stream: NodeJS.WriteStream = process.stderr) {
  const interactive = Boolean(stream.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let barValue = 0;
  let totalSteps = 0;
  let startedAt = 0;
  let lastReported = 0;

  /** Print a line without tearing the bar: stop it, print, start it again where it was. */
  const say = (line: string) => {
    if (bar) bar.stop();
    stream.write(`${line}\n`);
    if (bar) bar.start(totalSteps, barValue, { loss: '-' });
  };

  return (event: RunEvent) => {
    switch (event.type) {
      case 'runStarted':
        totalSteps = event.totalSteps;
        startedAt = Date.now();
        lastReported = 0;
        say(`▶ ${event.runId}: ${event.backbone.name} on ${event.trainCount} train / ${event.valCount} val images, ${event.classes.length} classes, backend ${event.backend}`);
        say(`  policy ${event.policy.name}: ${event.policy.description}`);
        if (interactive) {
          bar = new cliProgress.SingleBar(
            { format: '  {bar} {percentage}% | step {value}/{total} | ETA {eta_formatted} | loss {loss}', stream, hideCursor: true },
            cliProgress.Presets.shades_classic,
          );
          barValue = 0;
          bar.start(totalSteps, 0, { loss: '-' });
        }
        break;
      case 'stepEnd':
        barValue = event.step;
        if (bar) bar.update(event.step, { loss: event.loss.toFixed(4) });
        else if (event.step - lastReported >= Math.max(1, Math.round(totalSteps / 10)) || event.step === totalSteps) {
          lastReported = event.step;
          const elapsed = (Date.now() - startedAt) / 1000;
          const eta = (elapsed / event.step) * (totalSteps - event.step);
          stream.write(`  step ${event.step}/${totalSteps} | loss ${event.loss.toFixed(4)} | ${event.msPerImage.toFixed(1)} ms/image | ETA ${eta.toFixed(0)} s\n`);
        }
        break;
      case 'epochEnd': {
        const gap = event.valTrainModeAccuracy === null || !Number.isFinite(event.valTrainModeAccuracy) ? '' : ` (with train-mode BN ${(event.valTrainModeAccuracy * 100).toFixed(1)}%)`;
        say(`  epoch ${event.epoch + 1}: train loss ${event.train.loss.toFixed(4)} acc ${(event.train.accuracy * 100).toFixed(1)}% | val loss ${event.val.loss.toFixed(4)} acc ${(event.val.accuracy * 100).toFixed(1)}%${gap}`);
        break;
      }
      case 'log':
        say(`  ${event.level === 'info' ? '' : `${event.level}: `}${event.message}`);
        break;
      case 'runFinished':
        bar?.stop();
        bar = null;
        if (event.status === 'completed' && event.summary) {
          const { skippedFiles } = event.summary;
          if (skippedFiles.length) {
            stream.write(`  skipped ${skippedFiles.length} unreadable file(s):\n`);
            for (const file of skippedFiles.slice(0, 20)) stream.write(`    ${file.path}: ${file.reason}\n`);
            if (skippedFiles.length > 20) stream.write(`    … and ${skippedFiles.length - 20} more (see --json)\n`);
          }
          const flag = event.summary.convergence?.converged === false ? ' (NOT converged: train and val loss still falling)' : '';
          stream.write(`✔ ${event.runId}: val acc ${(event.summary.valAccuracy * 100).toFixed(1)}%${flag} in ${event.summary.seconds.toFixed(1)} s → ${event.summary.checkpointDir}\n`);
        } else {
          // the error itself is printed once by the command that ran this
          stream.write(`✖ ${event.runId} ${event.status}\n`);
        }
        break;
      default:
        break;
    }
  };
}
