# call A (carries .pkA: the dependencies as one xz tarball of site/, and the first part of the vLLM tarball, stashed
# for call B): the random-weight Qwen3-1.7B directory built once in /tmp/fb; the transformers OPSD baseline
# (chunked loss), one step of 32 x 2,048, cut at ${CUT:-180} s (CUT=0: not run)
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh; mkdir -p /tmp/wh
cp .pkA/vllm.xz.part1 /tmp/wh/ && untar < .pkA/deps.tar.xz && ts unpacked; ls /tmp/site | wc -l
date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, trl, peft, datasets, pydantic; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__, datasets.__version__)"
[ "${MODEL:-1}" = 1 ] && (cd bench && python3 -c "from pathlib import Path; from gpu_throughput import ARCHS, build_model_dir; print(build_model_dir(ARCHS['qwen3-1.7b'], Path('/tmp/fb'), 'cuda'))"); ts "model built"
[ "${CUT:-180}" -gt 0 ] && timeout ${CUT:-180} python3 bench/gpu_opsd_iprs.py --method opsd --backend hf --batch-size 32 --max-new-tokens 2048 --warmup 0 --steps 1 --work /tmp/fb > $OUT/hf_opsd_32x2048.jsonl 2> $OUT/hf_opsd_32x2048.err; ts "hf opsd rc=$?"
grep -v '"event": "start"' $OUT/hf_opsd_32x2048.jsonl; tail -3 $OUT/hf_opsd_32x2048.err | cut -c1-300
