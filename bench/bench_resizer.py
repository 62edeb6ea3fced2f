"""Resizer benchmark: our pipeline against the best libvips pipeline and naive Pillow.

For each sample image and pipeline, one fresh subprocess pinned to CPU 0 (taskset -c 0)
measures peak memory of the first run (ru_maxrss after minus before, so C allocations
count) and then the best and median time of several more runs. All three variants
(1600/800/200 px JPEG q85) are made every run.

    python bench/bench_resizer.py            # all images, all pipelines
    python bench/bench_resizer.py --runs 9
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "services/resizer/src"))
CACHE = ROOT / "bench/results/resizer-images"
BOXES = (1600, 800, 200)
QUALITY = 85
PIPELINES = ("ours", "libvips", "naive")


def make_samples() -> dict[str, Path]:
    """Synthetic photo-like originals, generated once and cached (about 15 s)."""
    from zipbob_resizer.imaging import synthetic

    specs = {
        "24MP JPEG": (
            "photo-24mp.jpg",
            lambda: synthetic.jpeg_bytes(synthetic.photo_like(6000, 4000, seed=1)),
        ),
        "12MP JPEG": (
            "photo-12mp.jpg",
            lambda: synthetic.jpeg_bytes(synthetic.photo_like(4000, 3000, seed=2)),
        ),
        "9MP RGBA PNG": (
            "rgba-9mp.png",
            lambda: synthetic.png_bytes(synthetic.rgba_with_hidden_colour(3600, 2500)),
        ),
        "12MP EXIF-rotated": (
            "rotated-12mp.jpg",
            lambda: synthetic.jpeg_bytes(synthetic.photo_like(4000, 3000, seed=3), orientation=6),
        ),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = {}
    for label, (name, build) in specs.items():
        path = CACHE / name
        if not path.exists():
            path.write_bytes(build())
        paths[label] = path
    return paths


# --- the three pipelines (run inside the worker subprocess) -------------------------------


def run_ours(data: bytes) -> list[bytes]:
    from zipbob_resizer.imaging.pipeline import render_variants

    return [v.data for v in render_variants(data).variants]


def run_naive(data: bytes) -> list[bytes]:
    from PIL import Image, ImageOps

    outputs = []
    for box in BOXES:
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        if image.mode in ("RGBA", "LA", "P"):
            image = Image.alpha_composite(
                Image.new("RGBA", image.size, "white"), image.convert("RGBA")
            )
        image = image.convert("RGB")
        image.thumbnail((box, box))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=QUALITY)
        outputs.append(out.getvalue())
    return outputs


def run_libvips(data: bytes) -> list[bytes]:
    import pyvips

    header = pyvips.Image.new_from_buffer(data, "")
    orientation = header.get("orientation") if header.get_typeof("orientation") else 1
    width, height = header.width, header.height
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    scale = min(BOXES[0] / width, BOXES[0] / height, 1.0)
    if header.get("vips-loader").startswith("jpeg"):
        shrink = 1
        while shrink < 8 and scale * shrink * 2 <= 1.0:
            shrink *= 2
        image = pyvips.Image.jpegload_buffer(data, shrink=shrink, access="sequential")
    else:
        image = pyvips.Image.new_from_buffer(data, "", access="sequential")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    outputs = []
    for box in BOXES:
        stored_box = box
        factor = min(stored_box / max(image.width, image.height), 1.0)
        if factor < 1.0:
            image = image.resize(factor, kernel="lanczos3")
        image = image.copy_memory()  # materialise: the next step starts from these pixels
        step = image.autorot() if box == BOXES[0] and orientation != 1 else image
        if step is not image:
            image = step.copy_memory()
        outputs.append(image.jpegsave_buffer(Q=QUALITY, keep="none"))
    return outputs


def worker(pipeline: str, path: str, runs: int) -> None:
    data = Path(path).read_bytes()
    run = {"ours": run_ours, "naive": run_naive, "libvips": run_libvips}[pipeline]
    if pipeline == "libvips":
        import pyvips

        pyvips.cache_set_max(0)
    elif pipeline == "ours":
        import zipbob_resizer.imaging.pipeline  # noqa: F401
    else:
        import PIL.ImageOps  # noqa: F401
    baseline = _reset_peak_rss_kib()
    outputs = run(data)
    peak_kib = _peak_rss_kib() - baseline
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run(data)
        times.append(time.perf_counter() - started)
    times.sort()
    print(
        json.dumps(
            {
                "best_ms": times[0] * 1000,
                "median_ms": times[len(times) // 2] * 1000,
                "peak_mb": peak_kib / 1024,
                "out_bytes": [len(o) for o in outputs],
            }
        )
    )


def _reset_peak_rss_kib() -> int:
    """Start peak tracking here; returns the resident size to subtract from the peak.

    ru_maxrss survives fork and exec (the parent's high-water mark leaks in), so on Linux
    the peak is reset through clear_refs and read from VmHWM instead.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _proc_status_kib("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (
            1024 if sys.platform == "darwin" else 1
        )


def _peak_rss_kib() -> int:
    try:
        return _proc_status_kib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (
            1024 if sys.platform == "darwin" else 1
        )


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(field)


# --- the driver ---------------------------------------------------------------------------


def measure(pipeline: str, path: Path, runs: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", pipeline, str(path), "--runs", str(runs)]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    env = {**os.environ, "VIPS_CONCURRENCY": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--worker", nargs=2, metavar=("PIPELINE", "IMAGE"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.runs)
        return 0
    samples = make_samples()
    print(f"one core (taskset -c 0), {args.runs} timed runs after one cold run")
    print(
        f"variants fit {BOXES} px, JPEG q{QUALITY}; peak MB = resident growth during the cold run"
    )
    columns = ("best ms", "median", "peak MB", "time/vips", "mem/vips")
    header = f"{'image':20s} {'pipeline':9s} " + " ".join(f"{c:>9s}" for c in columns)
    print(header)
    print("-" * len(header))
    report = {}
    for label, path in samples.items():
        results = {name: measure(name, path, args.runs) for name in PIPELINES}
        vips = results["libvips"]
        for name in PIPELINES:
            r = results[name]
            time_ratio = r["best_ms"] / vips["best_ms"]
            memory_ratio = r["peak_mb"] / max(vips["peak_mb"], 0.1)
            print(
                f"{label:20s} {name:9s} {r['best_ms']:9.1f} {r['median_ms']:9.1f} "
                f"{r['peak_mb']:9.1f} {time_ratio:8.2f}x {memory_ratio:8.2f}x"
            )
        report[label] = results
    out = ROOT / "bench/results/resizer.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"\nsaved to {out.relative_to(ROOT)}")
    print("target: ours <= 1.0x libvips time and < 1.2x its peak memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
