"""Clean accuracy of an ensemble on image-folder test images as stored and after one more
JPEG round trip at a few qualities (PIL's encoder): how sensitive the ensemble is to JPEG
artefacts (bench/RESULTS.md, the official DVERGE checkpoint's clean accuracy).

    python bench/jpeg_sensitivity.py runs/official ../shared/data/cifar10-jpeg [--samples 1000]
"""
import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.data import load_split  # noqa: E402


def rejpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    out = []
    for img in x:
        buf = io.BytesIO()
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, "JPEG",
                                                                                             quality=quality)
        buf.seek(0)
        out.append(torch.from_numpy(np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255)
                   .permute(2, 0, 1))
    return torch.stack(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("folder", help="image folder with a test/ split (e.g. the CIFAR-10 JPEGs)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ensemble, _ = load_checkpoint(args.checkpoint, "cpu")
    ensemble.eval()
    data = load_split(f"folder:{args.folder}", "test").subset(args.samples, args.seed)
    x, y = data.images(), data.y
    result = {}
    with torch.no_grad():
        for name, images in (("as stored", x), ("+ JPEG q95", rejpeg(x, 95)), ("+ JPEG q75", rejpeg(x, 75)),
                             ("+ JPEG q50", rejpeg(x, 50))):
            pred = torch.cat([ensemble(images[s:s + 250]) for s in range(0, len(images), 250)]).argmax(1)
            result[name] = round(float((pred == y).float().mean()), 4)
    print(json.dumps({"samples": len(y), "ensemble_clean_accuracy": result}))


if __name__ == "__main__":
    main()
