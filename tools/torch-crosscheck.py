#!/usr/bin/env python3
"""Independent PyTorch run of bnlab's freeze-all and train-bn recipes, for tools/crosscheck.ts.

    /usr/bin/python3 tools/torch-crosscheck.py --split split.json --model-dir $BNLAB_MODELS_DIR/mobilenet_v1_0.25_224 \
        --policies freeze-all,train-bn --seeds 0,1,2,3,4 --epochs 8 --lr 0.005 --schedule cosine --batch-size 16

Same as bnlab, written from the conventions rather than from bnlab's code:
  - split: the exact file lists bnlab used (`--split`, written by tools/crosscheck.ts from bnlab's scan);
  - backbone: MobileNet v1 alpha 0.25 built as in bench/torch_peer.py (Keras layout, TF 'same'
    padding), loaded with the shared tfjs model's weights (kernels HWIO -> OIHW, depthwise
    HWC1 -> C1HW; BN eps 1e-3; Keras momentum 0.99 = PyTorch momentum 0.01);
  - head: global average pooling + Linear(classes), Glorot-uniform kernel, zero bias, cross-entropy;
  - preprocessing (resize 'crop'): EXIF transpose, alpha over white, shorter side to ceil(1.15 * 224)
    (Lanczos), eval = center 224 crop, train = RandomResizedCrop(224, scale (0.35, 1), ratio
    (3/4, 4/3)) of that image + horizontal flip p = 0.5; pixels x / 127.5 - 1;
  - optimiser: Adam(lr), per-epoch cosine lr * (1 + cos(pi * epoch / epochs)) / 2 or constant;
    shuffled batches of --batch-size (last partial batch kept when >= 2 images);
  - policies: freeze-all = only the head trains, every BN in eval mode (running statistics);
    train-bn = head + BN gamma/beta train, every BN in train mode (batch statistics, EMA update).
  - metric: val accuracy in eval mode after the last epoch.
The seed drives torch's generator (head init, batch order, augmentation); it is not bnlab's stream,
so per-seed numbers differ and only the distributions over seeds are comparable.
Prints one JSON object on stdout: {"status": "ok", "policies": {name: {"seeds": [...], "valAccuracy": [...]}}}.
Without torch it prints {"status": "unavailable", ...} and exits 0.
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def load_tfjs_weights(model_dir):
    import numpy as np

    with open(os.path.join(model_dir, "model.json")) as f:
        manifest = json.load(f)["weightsManifest"]
    weights = {}
    for group in manifest:
        data = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            if spec["dtype"] != "float32" or spec.get("quantization"):
                raise ValueError("unsupported weight %s (%s)" % (spec["name"], spec["dtype"]))
            n = int(np.prod(spec["shape"])) if spec["shape"] else 1
            weights[spec["name"]] = np.frombuffer(data, dtype="<f4", count=n, offset=offset).reshape(spec["shape"])
            offset += 4 * n
    return weights


def build_model(weights, classes):
    import torch
    from torch_peer import build

    model = build("mobilenet_v1:0.25", classes)
    layers = list(model.features)
    names = ["conv1"] + [f"conv_{kind}_{k}" for k in range(1, 14) for kind in ("dw", "pw")]
    assert len(names) == len(layers)
    with torch.no_grad():
        for name, layer in zip(names, layers):
            if name.startswith("conv_dw"):
                kernel = weights[name + "/depthwise_kernel"]  # H W C 1
                layer.conv.weight.copy_(torch.from_numpy(kernel.transpose(2, 3, 0, 1).copy()))
            else:
                kernel = weights[name + "/kernel"]  # H W I O
                layer.conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            bn = layer.bn
            bn.weight.copy_(torch.from_numpy(weights[name + "_bn/gamma"].copy()))
            bn.bias.copy_(torch.from_numpy(weights[name + "_bn/beta"].copy()))
            bn.running_mean.copy_(torch.from_numpy(weights[name + "_bn/moving_mean"].copy()))
            bn.running_var.copy_(torch.from_numpy(weights[name + "_bn/moving_variance"].copy()))
            bn.eps = 1e-3
            bn.momentum = 0.01  # Keras 0.99 (weight of the old value)
    return model


def decode(path, size):
    from PIL import Image, ImageOps

    image = Image.open(path)
    image.seek(0)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    image = image.convert("RGB")
    shorter = math.ceil(1.15 * size)
    w, h = image.size
    scale = shorter / min(w, h)
    target = (shorter, max(shorter, round(h * scale))) if w <= h else (max(shorter, round(w * scale)), shorter)
    return image.resize(target, Image.LANCZOS if target[0] < w else Image.BICUBIC)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--policies", default="freeze-all,train-bn")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--scale", default="0.35,1")
    parser.add_argument("--augment", choices=["on", "off"], default="on")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    try:
        import numpy as np
        import torch
        from torch import nn
        import torchvision.transforms as T
    except Exception as error:
        emit({"status": "unavailable", "message": "import torch/torchvision failed: %s" % error})
        return
    torch.set_num_threads(args.threads)
    with open(args.split) as f:
        split = json.load(f)
    classes = split["classes"]
    size = args.size
    started = time.time()
    train_images = [(decode(item["path"], size), item["label"]) for item in split["train"]]
    val_images = [(decode(item["path"], size), item["label"]) for item in split["val"]]
    scale = tuple(float(x) for x in args.scale.split(","))
    to_input = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * (255 / 127.5) - 1)])
    eval_transform = T.Compose([T.CenterCrop(size), to_input])
    train_transform = (
        T.Compose([T.RandomResizedCrop(size, scale=scale, ratio=(3 / 4, 4 / 3)), T.RandomHorizontalFlip(), to_input])
        if args.augment == "on"
        else eval_transform
    )
    val_x = torch.stack([eval_transform(im) for im, _ in val_images])
    val_y = torch.tensor([label for _, label in val_images])
    weights = load_tfjs_weights(args.model_dir)

    results = {}
    for policy in args.policies.split(","):
        accuracies = []
        seeds = [int(s) for s in args.seeds.split(",")]
        for seed in seeds:
            model = build_model(weights, len(classes))  # build() seeds torch with 0 itself
            torch.manual_seed(seed)
            nn.init.xavier_uniform_(model.head.weight)
            nn.init.zeros_(model.head.bias)
            bns = [m for m in model.features.modules() if isinstance(m, nn.BatchNorm2d)]
            for name, p in model.named_parameters():
                p.requires_grad_(name.startswith("head."))
            if policy == "train-bn":
                for bn in bns:
                    for p in bn.parameters():
                        p.requires_grad_(True)
            elif policy != "freeze-all":
                raise ValueError("policy %s is not cross-checked" % policy)
            params = [p for p in model.parameters() if p.requires_grad]
            optimizer = torch.optim.Adam(params, lr=args.lr)
            loss_fn = nn.CrossEntropyLoss()
            generator = torch.Generator().manual_seed(seed)
            for epoch in range(args.epochs):
                lr = args.lr * (1 + math.cos(math.pi * epoch / args.epochs)) / 2 if args.schedule == "cosine" else args.lr
                for group in optimizer.param_groups:
                    group["lr"] = lr
                model.train()
                if policy == "freeze-all":
                    for bn in bns:
                        bn.eval()
                order = torch.randperm(len(train_images), generator=generator).tolist()
                for start in range(0, len(order), args.batch_size):
                    idx = order[start : start + args.batch_size]
                    if len(idx) < 2:
                        continue
                    x = torch.stack([train_transform(train_images[i][0]) for i in idx])
                    y = torch.tensor([train_images[i][1] for i in idx])
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(model(x), y)
                    loss.backward()
                    optimizer.step()
            model.eval()
            with torch.no_grad():
                predicted = torch.cat([model(val_x[i : i + 64]).argmax(1) for i in range(0, len(val_x), 64)])
            accuracy = float((predicted == val_y).float().mean())
            accuracies.append(accuracy)
            sys.stderr.write("torch %s seed %d: val acc %.1f%%\n" % (policy, seed, accuracy * 100))
        results[policy] = {"seeds": seeds, "valAccuracy": accuracies}
    emit({"status": "ok", "torch": torch.__version__, "threads": torch.get_num_threads(), "seconds": time.time() - started, "policies": results})


if __name__ == "__main__":
    main()
