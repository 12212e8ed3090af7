# one call (carries .pkA/deps.tar.xz, the dependencies as one xz tarball; no vLLM: its three-call chain did not fit the device time left after
# failed machine starts): the trainer alone at the seed's shapes (--backend none: random full-length completions),
# then the transformers baseline step, cut at the call's end
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
untar < .pkA/deps.tar.xz && ts unpacked
date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, trl, peft; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__)"
B="python3 bench/gpu_opsd_iprs.py --method opsd --batch-size 32 --work /tmp/fb"
run() { local name=$1; shift; timeout "$@" > $OUT/$name.jsonl 2> $OUT/$name.err; ts "$name rc=$?"; grep -v '"event": "start"' $OUT/$name.jsonl; tail -2 $OUT/$name.err | cut -c1-300; }
run update_opsd_32x2048 220 $B --backend none --max-new-tokens 2048 --warmup 1 --steps 1
run update_opsd_32x4096 110 $B --backend none --max-new-tokens 4096 --micro-batch 2 --warmup 0 --steps 1
grep -q s_update $OUT/update_opsd_32x4096.jsonl || run update_opsd_32x4096_ckpt 150 $B --backend none --max-new-tokens 4096 --micro-batch 2 --grad-ckpt --warmup 0 --steps 1
L=$(left ${BUDGET:-430}); [ "${HF:-1}" = 1 ] && [ "$L" -gt 30 ] && run hf_opsd_32x2048 $L $B --backend hf --max-new-tokens 2048 --warmup 0 --steps 1
