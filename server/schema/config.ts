/** Where a bnlab process looks for things; plain data so it can travel to worker processes (server/config.ts reads it from the environment). */
export interface BnlabConfig {
  modelsDir: string | null;
  dataRoots: string[];
  cacheDir: string;
  checkpointsDir: string;
  demoDataDir: string;
  backend: string | null;
}
