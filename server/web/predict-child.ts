/**
 * Child process for the dashboard's predict box: `predictFiles` on one image, answered over IPC,
 * then exit. tfjs never loads in the server process; a bad image or a crash here costs only this
 * child. Started by routes/predict.ts as `node --import tsx predict-child.ts`.
 */
import { predictFiles } from '../commands/predict.ts';

interface PredictRequest {
  checkpointDir: string;
  file: string;
  topK: number;
}

process.once('message', (message: PredictRequest) => {
  void (async () => {
    try {
      const result = await predictFiles(message.checkpointDir, [message.file], message.topK);
      process.send!({ ok: true, result }, () => process.exit(0));
    } catch (error) {
      process.send!({ ok: false, error: (error as Error).message }, () => process.exit(0));
    }
  })();
});
