"""Run every benchmark in turn (the figures recorded in the README)."""

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).parent
for script in ("bench_dropout.py", "bench_pipeline.py", "bench_d2l.py"):
    print(f"\n===== {script} =====", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True, cwd=HERE)
