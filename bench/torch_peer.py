#!/usr/bin/env python3
"""PyTorch CPU peer of bnlab's benchmark: the same architecture, batch and regimes, timed the same way.

    python3 bench/torch_peer.py --arch mobilenet_v1:0.25 --size 224 --classes 2 --train-batch 16 \
        [--infer-batch 16] [--regimes inference,freeze-all,train-bn,full] [--threads 2] \
        [--warmup N --iterations N --min-iterations N --budget-ms N]

Prints one JSON object on stdout. Without torch it prints {"status": "unavailable", ...} and exits 0,
so the bench runs on machines without PyTorch.

Regimes (what a PyTorch user would write for each bnlab policy):
  inference   model.eval(), torch.no_grad()
  full        every parameter trains, BN in train mode (batch statistics + running-stat update)
  train-bn    only BN weight/bias (and the head) require grad, BN in train mode
  freeze-all  only the head requires grad, BN in eval mode (running statistics)
Tasks (--regimes, besides the per-step regimes; MobileNet v1 only):
  recalibrate  exact single-walk BN recalibration of --images images in batches of --recal-batch:
               every image's activation held at the current BN layer, per-batch mean and biased
               variance merged exactly in float64 (Chan et al.), written as running statistics,
               then the held activations advance one layer: one forward pass in all (what bnlab's
               server/stats/population.ts does)
  e2e          the end-to-end comparison: --seeds seeds x --policies (freeze-all, adabn), each a
               fresh model (adabn: the single-walk recalibration on the training images first),
               --epochs epochs of --steps-per-epoch shuffled batches of --train-batch through the
               WHOLE model (the frozen backbone recomputed every step, BN in eval mode, only the
               head trains), then a no_grad evaluation of the --val-count validation images per
               epoch; images are in-memory tensors (no decoding timed)
Every model is backbone -> global average pooling -> Linear(classes), trained with Adam(lr 1e-3) on
cross-entropy, like bnlab's head (bnlab applies softmax in the model and takes the log in the loss).
MobileNet v1 follows Keras' layout with TensorFlow 'same' padding (stride-2 layers pad one extra
row/column at the bottom/right); MobileNetV2 is torchvision's (width_mult); when
torchvision is missing, the model is reported unavailable.
"""
import argparse
import json
import platform
import resource
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def median(values):
    s = sorted(values)
    if not s:
        return None
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def repeat(policy, once):
    """Same policy as bench/timing.ts: warmup untimed, then up to `iterations`, budget-capped."""
    for _ in range(policy["warmup"]):
        once()
    times, spent = [], 0.0
    while len(times) < policy["iterations"] and (len(times) < policy["min_iterations"] or spent < policy["budget_ms"]):
        ms = once()
        times.append(ms)
        spent += ms
    return times


def build(arch, classes):
    import torch
    from torch import nn
    import torch.nn.functional as F

    class SameConv(nn.Module):
        """Conv + BN + ReLU6 with TensorFlow 'same' padding for a 3x3 or 1x1 kernel."""

        def __init__(self, cin, cout, kernel, stride, groups=1):
            super().__init__()
            self.stride = stride
            self.kernel = kernel
            self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0 if stride == 2 or kernel == 1 else kernel // 2, groups=groups, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
            self.act = nn.ReLU6(inplace=True)

        def forward(self, x):
            if self.stride == 2 and self.kernel == 3:
                x = F.pad(x, (0, 1, 0, 1))  # TF 'same' on even inputs: extra pad bottom/right
            return self.act(self.bn(self.conv(x)))

    name, alpha = arch.split(":")
    alpha = float(alpha)
    if name == "mobilenet_v1":
        blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
        width = lambda f: int(f * alpha)
        layers = [SameConv(3, width(32), 3, 2)]
        cin = width(32)
        for filters, stride in blocks:
            layers.append(SameConv(cin, cin, 3, stride, groups=cin))
            layers.append(SameConv(cin, width(filters), 1, 1))
            cin = width(filters)
        features, channels = nn.Sequential(*layers), cin
    elif name == "mobilenet_v2":
        import torchvision

        net = torchvision.models.mobilenet_v2(weights=None, width_mult=alpha)
        features, channels = net.features, net.last_channel
    else:
        raise ValueError("unknown arch " + arch)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = features
            self.head = nn.Linear(channels, classes)

        def forward(self, x):
            return self.head(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

    torch.manual_seed(0)
    return Classifier()


def run_regime(model, regime, batch, size, classes, policy):
    import torch
    from torch import nn

    x = torch.rand(batch, 3, size, size) * 2 - 1
    y = torch.arange(batch) % classes
    bn_types = (nn.BatchNorm2d,)

    if regime == "inference":
        model.eval()

        def once():
            start = time.perf_counter()
            with torch.no_grad():
                model(x).sum().item()
            return (time.perf_counter() - start) * 1000 / batch

        return repeat(policy, once)

    for name, p in model.named_parameters():
        p.requires_grad_(regime == "full" or name.startswith("head."))
    model.train()
    for module in model.features.modules():
        if isinstance(module, bn_types):
            if regime == "train-bn":
                for p in module.parameters():
                    p.requires_grad_(True)
            if regime == "freeze-all":
                module.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def once():
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        loss.item()
        return (time.perf_counter() - start) * 1000 / batch

    return repeat(policy, once)


def bn_walk_recalibrate(model, images, batch):
    """Single-walk exact recalibration of a MobileNet v1 built by build(): see the module docstring."""
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        chunks = list(images.split(batch))
        for layer in model.features:
            pre = [F.pad(x, (0, 1, 0, 1)) if layer.stride == 2 and layer.kernel == 3 else x for x in chunks]
            held = [layer.conv(x) for x in pre]
            count, mean, m2 = 0, None, None
            for h in held:
                var, mu = torch.var_mean(h, dim=(0, 2, 3), unbiased=False)
                nb = h.numel() // h.shape[1]
                mu, var = mu.double(), var.double()
                if mean is None:
                    count, mean, m2 = nb, mu.clone(), var * nb
                else:
                    total = count + nb
                    delta = mu - mean
                    mean += delta * nb / total
                    m2 += var * nb + delta * delta * count * nb / total
                    count = total
            layer.bn.running_mean.copy_(mean.float())
            layer.bn.running_var.copy_((m2 / count).float())
            chunks = [layer.act(layer.bn(h)) for h in held]


def run_recalibrate(args, policy):
    import torch

    if not args.arch.startswith("mobilenet_v1:"):
        raise ValueError("recalibrate is written for mobilenet_v1 only")
    model = build(args.arch, args.classes)
    images = torch.rand(args.images, 3, args.size, args.size) * 2 - 1

    def once():
        start = time.perf_counter()
        bn_walk_recalibrate(model, images, args.recal_batch)
        return time.perf_counter() - start

    return repeat(policy, once)


def run_e2e(args):
    import torch
    from torch import nn

    train_x = torch.rand(args.train_count, 3, args.size, args.size) * 2 - 1
    train_y = torch.arange(args.train_count) % args.classes
    val_x = torch.rand(args.val_count, 3, args.size, args.size) * 2 - 1
    val_y = torch.arange(args.val_count) % args.classes
    run_seconds = []
    start = time.perf_counter()
    for seed in range(args.seeds):
        for policy in args.policies.split(","):
            run_start = time.perf_counter()
            torch.manual_seed(seed)
            model = build(args.arch, args.classes)
            if policy == "adabn":
                bn_walk_recalibrate(model, train_x, args.train_batch)
            elif policy != "freeze-all":
                raise ValueError("e2e runs freeze-all and adabn only, got " + policy)
            for name, p in model.named_parameters():
                p.requires_grad_(name.startswith("head."))
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
            loss_fn = nn.CrossEntropyLoss()
            generator = torch.Generator().manual_seed(seed)
            for _ in range(args.epochs):
                model.train()
                model.features.eval()  # frozen backbone: BN on running statistics
                order = torch.randperm(args.train_count, generator=generator)
                for step in range(args.steps_per_epoch):
                    index = order[step * args.train_batch:(step + 1) * args.train_batch]
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(model(train_x[index]), train_y[index])
                    loss.backward()
                    optimizer.step()
                    loss.item()
                model.eval()
                with torch.no_grad():
                    correct = 0
                    for i in range(0, args.val_count, args.train_batch):
                        correct += (model(val_x[i:i + args.train_batch]).argmax(1) == val_y[i:i + args.train_batch]).sum().item()
            run_seconds.append(time.perf_counter() - run_start)
    return {"seconds": time.perf_counter() - start, "runSeconds": run_seconds}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--classes", type=int, default=2)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--infer-batch", type=int, default=16)
    parser.add_argument("--regimes", default="inference,freeze-all,train-bn,full")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--min-iterations", type=int, default=3)
    parser.add_argument("--budget-ms", type=float, default=20000)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--recal-batch", type=int, default=16)
    parser.add_argument("--train-count", type=int, default=245)
    parser.add_argument("--val-count", type=int, default=153)
    parser.add_argument("--steps-per-epoch", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--policies", default="freeze-all,adabn")
    args = parser.parse_args()

    base = {"arch": args.arch, "size": args.size, "python": sys.executable, "pythonVersion": platform.python_version()}
    try:
        import torch
    except Exception as error:  # ImportError, or a broken install (missing shared libraries)
        emit({**base, "status": "unavailable", "message": "import torch failed: %s" % error})
        return
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    try:
        import torchvision

        torchvision_version = torchvision.__version__
    except Exception:
        torchvision_version = None
    base.update({"torchVersion": torch.__version__, "torchvisionVersion": torchvision_version, "threads": torch.get_num_threads()})

    try:
        model = build(args.arch, args.classes)
    except Exception as error:
        emit({**base, "status": "unavailable", "message": "cannot build %s: %s" % (args.arch, error), "cpuSeconds": cpu_seconds()})
        return

    policy = {"warmup": args.warmup, "iterations": args.iterations, "min_iterations": args.min_iterations, "budget_ms": args.budget_ms}
    tasks = args.regimes.split(",")
    if "recalibrate" in tasks or "e2e" in tasks:
        out = {**base, "status": "ok"}
        try:
            if "recalibrate" in tasks:
                times = run_recalibrate(args, policy)
                out["recalibrate"] = {"images": args.images, "batch": args.recal_batch, "seconds": times, "medianSeconds": median(times), "peakRssMiB": peak_rss_mib()}
            if "e2e" in tasks:
                out["e2e"] = {**run_e2e(args), "peakRssMiB": peak_rss_mib()}
        except Exception as error:
            out = {**base, "status": "error", "message": str(error).split("\n")[0]}
        emit({**out, "cpuSeconds": cpu_seconds(), "peakRssMiB": peak_rss_mib()})
        return
    regimes = []
    for regime in [r for r in ["inference", "freeze-all", "train-bn", "full"] if r in args.regimes.split(",")]:
        batch = args.infer_batch if regime == "inference" else args.train_batch
        try:
            times = run_regime(model, regime, batch, args.size, args.classes, policy)
            regimes.append({"regime": regime, "status": "ok", "batch": batch, "msPerImage": times, "medianMsPerImage": median(times), "peakRssMiB": peak_rss_mib()})
        except MemoryError as error:
            regimes.append({"regime": regime, "status": "oom", "message": str(error), "batch": batch, "msPerImage": [], "medianMsPerImage": None, "peakRssMiB": peak_rss_mib()})
        except Exception as error:
            regimes.append({"regime": regime, "status": "error", "message": str(error).split("\n")[0], "batch": batch, "msPerImage": [], "medianMsPerImage": None, "peakRssMiB": peak_rss_mib()})
    emit({**base, "status": "ok", "regimes": regimes, "cpuSeconds": cpu_seconds(), "peakRssMiB": peak_rss_mib()})


if __name__ == "__main__":
    main()
