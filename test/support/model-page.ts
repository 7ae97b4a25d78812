/**
 * A plain web page in Debian's Chromium that classifies images with a model folder the way a user's
 * page would: with the tfjs script alone (tf.loadLayersModel + the folder's labels.json), or with
 * the @teachablemachine/image library (tmImage.load(model.json, metadata.json) + model.predict).
 * Everything is served locally: node_modules/@tensorflow/tfjs/dist/tf.min.js, the library's
 * dist/teachablemachine-image.min.js (it expects the global `tf`), the model folders and images.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { PROJECT_ROOT } from '../../server/config.ts';
import { launchChromium } from './chromium.ts';

export interface PagePrediction {
  label: string;
  probability: number;
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script src="/tf.min.js"></script><script src="/teachablemachine-image.min.js"></script>
<script>
async function loadImage(src) {
  const img = new Image();
  img.src = src;
  await img.decode();
  return img;
}
/** @teachablemachine/image, as its README shows: load(model, metadata), then predict(image). */
window.predictWithTeachableMachine = async (folder, images) => {
  const model = await tmImage.load(folder + '/model.json', folder + '/metadata.json');
  const out = [];
  for (const src of images) {
    const predictions = await model.predict(await loadImage(src));
    out.push(predictions.map((p) => ({ label: p.className, probability: p.probability })));
  }
  return out;
};
/** The tfjs script alone: centre square crop, bilinear resize, the scaling labels.json states. */
window.predictWithTfjs = async (folder, images) => {
  const model = await tf.loadLayersModel(folder + '/model.json');
  const meta = await (await fetch(folder + '/labels.json')).json();
  const size = meta.inputSize;
  const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  const out = [];
  for (const src of images) {
    const img = await loadImage(src);
    const probs = tf.tidy(() => {
      const pixels = tf.browser.fromPixels(img).toFloat();
      const [h, w] = pixels.shape;
      const side = Math.min(h, w);
      const square = pixels.slice([Math.floor((h - side) / 2), Math.floor((w - side) / 2), 0], [side, side, 3]);
      const resized = tf.image.resizeBilinear(square, [size, size], false, true);
      let x;
      if (meta.preprocessing === 'minus1to1') x = resized.div(127.5).sub(1);
      else if (meta.preprocessing === 'zero1') x = resized.div(255);
      else {
        const { mean, std } = meta.preprocessing === 'imagenet' ? imagenet : meta.preprocessing;
        x = resized.div(255).sub(tf.tensor1d(mean)).div(tf.tensor1d(std));
      }
      return model.predict(x.expandDims(0)).squeeze();
    });
    const values = await probs.data();
    probs.dispose();
    out.push(Array.from(values, (probability, i) => ({ label: meta.labels[i], probability })));
  }
  return out;
};
</script></head><body>bnlab model page</body></html>`;

export interface ModelPage {
  /** predictions per image, in the order given, one entry per class in output order */
  predict(kind: 'teachable-machine' | 'tfjs', folder: string, images: string[]): Promise<PagePrediction[][]>;
  close(): Promise<void>;
}

/**
 * Serve `folders` (name -> local folder) under /m/<name>/ and `images` under /img/<i>, open the page
 * in Chromium and return a handle that runs predictions there. Page errors fail the call.
 */
export async function openModelPage(folders: Record<string, string>): Promise<ModelPage> {
  const app = express();
  const nodeModules = path.join(PROJECT_ROOT, 'node_modules');
  app.get('/', (_req, res) => res.type('html').send(PAGE));
  app.get('/tf.min.js', (_req, res) => res.sendFile(path.join(nodeModules, '@tensorflow', 'tfjs', 'dist', 'tf.min.js')));
  app.get('/teachablemachine-image.min.js', (_req, res) => res.sendFile(path.join(nodeModules, '@teachablemachine', 'image', 'dist', 'teachablemachine-image.min.js')));
  for (const [name, dir] of Object.entries(folders)) app.use(`/m/${name}`, express.static(dir));
  const served = new Map<string, string>();
  app.get('/img/:id', (req, res) => {
    const file = served.get(req.params.id);
    if (!file) res.status(404).end();
    else res.sendFile(file);
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await launchChromium({ width: 800, height: 600 });
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(base);
  return {
    async predict(kind, folder, images) {
      const urls = images.map((file) => {
        if (!fs.existsSync(file)) throw new Error(`no image ${file}`);
        const id = `${served.size}${path.extname(file)}`;
        served.set(id, file);
        return `/img/${id}`;
      });
      const fn = kind === 'teachable-machine' ? 'predictWithTeachableMachine' : 'predictWithTfjs';
      const result = (await page.evaluate(([f, name, list]) => (window as unknown as Record<string, (a: string, b: string[]) => Promise<unknown>>)[f](name, list), [fn, `/m/${folder}`, urls] as [string, string, string[]])) as PagePrediction[][];
      if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
      return result;
    },
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
