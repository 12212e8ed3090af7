# the smallest useful call (device time nearly spent; carries .pkA/deps.tar.xz): the trainer alone at 32 x 2,048
# (micro-batch 4, model built here, cut at ${CUT:-200} s), then 32 x 4,096 (micro-batch 2) in what is left of ${BUDGET:-300} s
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
untar < .pkA/deps.tar.xz && ts unpacked
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
B="python3 bench/gpu_opsd_iprs.py --method opsd --batch-size 32 --work /tmp/fb --backend none"
timeout ${CUT:-200} $B --max-new-tokens 2048 --warmup ${WARMUP:-1} --steps 1 > $OUT/update_opsd_32x2048.jsonl 2> $OUT/update_opsd_32x2048.err; ts "2048 rc=$?"
grep -v '"event": "start"' $OUT/update_opsd_32x2048.jsonl; tail -2 $OUT/update_opsd_32x2048.err | cut -c1-300
L=$(left ${BUDGET:-300}); [ "$L" -gt 40 ] && { timeout $L $B --max-new-tokens 4096 --micro-batch 2 --warmup 0 --steps 1 > $OUT/update_opsd_32x4096.jsonl 2> $OUT/update_opsd_32x4096.err; ts "4096 rc=$?"; grep -v '"event": "start"' $OUT/update_opsd_32x4096.jsonl; tail -2 $OUT/update_opsd_32x4096.err | cut -c1-300; }
