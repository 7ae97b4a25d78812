import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeModelFolder } from './model-description.ts';
import { readTeachableMetadata, teachableMetadataFor } from './teachable-machine.ts';
import { tempDir } from '../../test/support/backbone-fixtures.ts';

/** The fields of the shared Teachable Machine export's metadata.json (tmVersion 2.4.4). */
const TM_METADATA = { tfjsVersion: '1.3.1', tmVersion: '2.4.4', packageVersion: '0.8.4-alpha2', packageName: '@teachablemachine/image', timeStamp: '2021-11-19T01:40:14.294Z', userMetadata: {}, modelName: 'tm-my-image-model', labels: ['가위', '주먹'], imageSize: 224 };

function folderWith(files: Record<string, unknown>): string {
  const dir = tempDir('bnlab-tm-');
  for (const [name, value] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
  return dir;
}

describe('Teachable Machine metadata.json', () => {
  it('reads labels and image size; other metadata.json files are not Teachable Machine', () => {
    expect(readTeachableMetadata(folderWith({ 'metadata.json': TM_METADATA }))).toMatchObject({ labels: ['가위', '주먹'], imageSize: 224 });
    expect(readTeachableMetadata(folderWith({ 'metadata.json': { labels: ['a'], author: 'someone' } }))).toBeNull();
    expect(readTeachableMetadata(folderWith({ 'metadata.json': 'not json' }))).toBeNull();
    expect(readTeachableMetadata(folderWith({}))).toBeNull();
  });

  it('a file that claims to be Teachable Machine metadata but has no labels is an error naming it', () => {
    const dir = folderWith({ 'metadata.json': { ...TM_METADATA, labels: 'rock' } });
    expect(() => readTeachableMetadata(dir)).toThrow(new RegExp(`${path.join(dir, 'metadata.json')} looks like Teachable Machine metadata but is invalid: labels`));
  });

  it('export metadata keeps the source fields, takes the new labels and size, and notes bnlab', () => {
    const out = teachableMetadataFor(['ants', 'bees'], 224, TM_METADATA, { preprocessing: 'minus1to1' });
    expect(out).toMatchObject({ tmVersion: '2.4.4', modelName: 'tm-my-image-model', packageName: '@teachablemachine/image', labels: ['ants', 'bees'], imageSize: 224, userMetadata: { bnlab: { preprocessing: 'minus1to1' } } });
    expect(out.timeStamp).not.toBe(TM_METADATA.timeStamp);
    expect(teachableMetadataFor(['x', 'y'], 96, null, {})).toMatchObject({ packageName: '@teachablemachine/image', labels: ['x', 'y'], imageSize: 96 });
  });
});

describe('describeModelFolder', () => {
  it('prefers model.json userDefinedMetadata.bnlab, then metadata.json, then labels.json', () => {
    const bnlab = { classes: ['a', 'b'], inputSize: 32, preprocessing: 'zero1', cutLayer: 'relu' };
    expect(describeModelFolder(folderWith({ 'metadata.json': TM_METADATA }), { userDefinedMetadata: { bnlab } })).toMatchObject({ ...bnlab, from: 'model.json' });
    expect(describeModelFolder(folderWith({ 'metadata.json': TM_METADATA }), {})).toMatchObject({ classes: ['가위', '주먹'], inputSize: 224, preprocessing: 'minus1to1', from: 'metadata.json' });
    const labels = { labels: ['c', 'd'], inputSize: 64, preprocessing: { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] } };
    expect(describeModelFolder(folderWith({ 'labels.json': labels }), {})).toMatchObject({ classes: ['c', 'd'], inputSize: 64, preprocessing: labels.preprocessing, from: 'labels.json' });
  });

  it('a folder that names no classes says what is missing (the old recalibrate output lacked inputSize)', () => {
    const old = { recalibratedOn: '/data', images: 10, source: 'x', time: 'then' };
    expect(() => describeModelFolder(folderWith({}), { userDefinedMetadata: { bnlab: old } })).toThrow(/does not describe a classifier \(its userDefinedMetadata\.bnlab lacks classes, inputSize, preprocessing\)/);
    expect(() => describeModelFolder(folderWith({}), {})).toThrow(/bnlab train --backbone/);
  });
});
