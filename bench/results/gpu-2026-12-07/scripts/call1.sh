# call 1 (dependency wheels carried in .whl1): unpacked to /tmp/site (kept while the machine stays warm); the
# random-weight Qwen3-1.7B directory built once in /tmp/fb for the later calls
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh; mkdir -p /tmp/site
unpack .whl1/*.whl && ts unpacked
date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, trl, peft, datasets, pydantic; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__, datasets.__version__)"
cd bench && python3 -c "from pathlib import Path; from gpu_throughput import ARCHS, build_model_dir; print(build_model_dir(ARCHS['qwen3-1.7b'], Path('/tmp/fb'), 'cuda'))"; ts "model built"
