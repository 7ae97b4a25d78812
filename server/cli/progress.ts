/** Terminal listener for run events: a progress bar with ETA per run, epoch lines, warnings. */
import cliProgress from 'cli-progress';
import type { RunEvent } from '../schema.ts';

export function terminalListener(opts: { quiet?: boolean } = {}) {
  let bar: cliProgress.SingleBar | null = null;
  const say = (line: string) => {
    if (bar) bar.stop();
    process.stderr.write(`${line}\n`);
  };
  return (event: RunEvent) => {
    switch (event.type) {
      case 'runStarted':
        say(`▶ ${event.runId}: ${event.backbone.name} on ${event.trainCount} train / ${event.valCount} val images, ${event.classes.length} classes, backend ${event.backend}`);
        say(`  policy ${event.policy.name}: ${event.policy.description}`);
        bar = new cliProgress.SingleBar(
          { format: '  {bar} {percentage}% | step {value}/{total} | ETA {eta_formatted} | loss {loss}', hideCursor: false, noTTYOutput: !opts.quiet, notTTYSchedule: 5000 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(event.totalSteps, 0, { loss: '-' });
        break;
      case 'stepEnd':
        bar?.update(event.step, { loss: event.loss.toFixed(4) });
        break;
      case 'epochEnd': {
        const gap = event.valTrainModeAccuracy === null ? '' : `, val acc with train-mode BN ${(event.valTrainModeAccuracy * 100).toFixed(1)}%`;
        bar?.stop();
        process.stderr.write(`  epoch ${event.epoch + 1}: train loss ${event.train.loss.toFixed(4)} acc ${(event.train.accuracy * 100).toFixed(1)}% | val loss ${event.val.loss.toFixed(4)} acc ${(event.val.accuracy * 100).toFixed(1)}%${gap}\n`);
        bar?.start(bar.getTotal(), event.step, { loss: event.train.loss.toFixed(4) });
        break;
      }
      case 'log':
        if (event.level !== 'info' || !opts.quiet) say(`  ${event.level === 'info' ? '' : `${event.level}: `}${event.message}`);
        if (bar && event.level === 'info') bar.start(bar.getTotal(), (bar as unknown as { value: number }).value ?? 0);
        break;
      case 'runFinished':
        bar?.stop();
        bar = null;
        if (event.status === 'completed' && event.summary) {
          process.stderr.write(`✔ ${event.runId}: val acc ${(event.summary.valAccuracy * 100).toFixed(1)}% in ${event.summary.seconds.toFixed(1)} s → ${event.summary.checkpointDir}\n`);
        } else {
          process.stderr.write(`✖ ${event.runId} ${event.status}${event.error ? `: ${event.error}` : ''}\n`);
        }
        break;
      default:
        break;
    }
  };
}
