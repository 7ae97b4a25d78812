/** File names of the tfjs layers format (what `tf.loadLayersModel` and Teachable Machine expect). */
export const MODEL_JSON = 'model.json';
/** bnlab writes all weights as one shard under this name. */
export const WEIGHTS_BIN = 'weights.bin';
