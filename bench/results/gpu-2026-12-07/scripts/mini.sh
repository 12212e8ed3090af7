# the smallest useful call (device time nearly spent): the trainer alone at 32 x 2,048 (micro-batch 4), model built here
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh; mkdir -p /tmp/site
unpack .whl1/*.whl && ts unpacked
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout ${CUT:-140} python3 bench/gpu_opsd_iprs.py --method opsd --batch-size 32 --work /tmp/fb --backend none --max-new-tokens 2048 --warmup 1 --steps 1 > $OUT/update_opsd_32x2048.jsonl 2> $OUT/update_opsd_32x2048.err; ts "rc=$?"
grep -v '"event": "start"' $OUT/update_opsd_32x2048.jsonl; tail -2 $OUT/update_opsd_32x2048.err | cut -c1-300
