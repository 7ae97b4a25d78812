/**
 * One error type for everything that can go wrong while finding, fetching or reading a backbone.
 * `code` lets callers (CLI exit codes, the web API, the bad-input suite) tell the cases apart
 * without parsing messages; the message itself is written for the user and names the file.
 */
export type BackboneErrorCode =
  | 'unknown-name'
  | 'missing-model-json'
  | 'bad-model-json'
  | 'graph-model'
  | 'missing-shard'
  | 'truncated-shard'
  | 'unsafe-path'
  | 'sha-mismatch'
  | 'download-failed'
  | 'cut-layer-missing'
  | 'preprocessing-unstated'
  | 'load-failed';

export class BackboneError extends Error {
  constructor(
    readonly code: BackboneErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BackboneError';
  }
}
