"""Benchmark: the memory and time of `kpibot import` of a big TikTok order export, as a real process. Prints
figures; asserts nothing.

    python -m tests.benchmarks.bench_import_memory [--mb 200] [--keep DIR]

Generates a CSV of about --mb MB in a temporary directory, deleted at the end unless --keep DIR (the TikTok
seller-center header, every column filled, two SKU lines per order, US month/day dates), sets up a fresh SQLite
store with kpibot's own commands (`kpibot db upgrade`, `kpibot shops add`), then runs `kpibot import` in a child
process and prints its peak RSS (resource.getrusage RUSAGE_CHILDREN ru_maxrss: the largest child, so the import,
not the small setup runs), its wall seconds, rows/s and the machine's load. Goal: the import's peak RSS under
300 MB for a 200 MB file (the file streams: storage/tabular.py, bot/shops/files.py stream_file).

The child runs `python -m bot.cli` from this checkout (not an installed `kpibot` script, which may import
another checkout's code).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADER = ("Order ID,Order Status,Order Substatus,Cancelation/Return Type,SKU ID,Seller SKU,Product Name,Variation,"
          "Quantity,Sku Quantity of return,SKU Unit Original Price,SKU Subtotal Before Discount,SKU Platform Discount,"
          "SKU Seller Discount,SKU Subtotal After Discount,Shipping Fee After Discount,Taxes,Order Amount,"
          "Order Refund Amount,Created Time,Paid Time,Shipped Time,Delivered Time,Cancelled Time,Buyer Username,"
          "Country,Payment Method,Creator Handle\n")


def write_export(path: Path, target_bytes: int) -> int:
    """A TikTok order export of about `target_bytes`; returns its data rows."""
    rng = random.Random(7)
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        size, n = len(HEADER), 0
        while size < target_bytes:
            n += 1
            oid = 576461234500000000 + n
            day, hour = 1 + n % 28, n % 24
            created = f"11/{day:02d}/2026 {hour % 12 + 1:02d}:{n % 60:02d}:00 {'AM' if hour < 12 else 'PM'}"
            prices = [rng.choice((5, 12, 19, 25, 40)) for _ in range(2)]
            total = sum(prices) + 4
            chunk = "".join(
                f"{oid}\t,Completed,Delivered,,{1729380000 + (n * 2 + i) % 5000}\t,SKU-{(n * 2 + i) % 5000},"
                f"Product number {(n * 2 + i) % 5000} with a long descriptive name,Colour: blue; Size: M,1,0,"
                f"{p}.00,{p}.00,0,0,{p}.00,4.00,0,{total}.00,0,{created}\t,{created}\t,{created}\t,{created}\t,\t,"
                f"buyer_{n % 100000},United States,Credit card,creator_{n % 300}\n"
                for i, p in enumerate(prices))
            f.write(chunk)
            size += len(chunk.encode("utf-8"))
            rows += 2
    return rows


def kpibot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kpibot {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=200.0, help="size of the generated export in MB")
    parser.add_argument("--keep", type=Path, help="work in this directory and leave its files")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.keep, args.mb)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as work:   # a 200 MB file: never left behind
            run(Path(work), args.mb)


def run(work: Path, mb: float) -> None:
    """Generate the export in `work`, set up the store there and import it, printing the figures."""
    export = work / "orders.csv"
    t0 = time.perf_counter()
    rows = write_export(export, int(mb * 1_000_000))
    print(f"generated {export.stat().st_size / 1e6:.0f} MB, {rows} rows in {time.perf_counter() - t0:.1f} s")
    config = work / "kpibot.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{work / "bench.db"}"\n', encoding="utf-8")
    kpibot(config, "db", "upgrade")
    kpibot(config, "shops", "add", "us1", "--platform", "tiktok_shop", "--region", "us", "--currency", "usd",
           "--timezone", "America/Los_Angeles")
    setup_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = kpibot(config, "import", str(export), "--preset", "tiktok_orders", "--shop", "us1")
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024   # Linux: KiB
    print(done.stdout.strip())
    print(f"import: peak RSS {peak_mb:.0f} MB (setup runs peaked at {setup_rss / 1024:.0f} MB), {seconds:.1f} s, "
          f"{rows / seconds:,.0f} rows/s (goal: under 300 MB)")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
