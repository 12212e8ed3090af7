# call B (carries .pkB, the second part of the vLLM tarball): vLLM unpacked; GPU tests (GPUTESTS=0: skipped); OPSD 32 x 2,048 and 32 x 4,096, colocated vLLM
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
cat /tmp/wh/vllm.xz.part1 .pkB/vllm.xz.part2 | untar && ts unpacked
python3 -c "import vllm; print('vllm', vllm.__version__)" 2>&1 | tail -1
VM=$(vllm_share); echo "vllm memory fraction $VM"
[ "${GPUTESTS:-1}" = 1 ] && timeout 150 python3 -m pytest tests/test_colocate_gpu.py -m gpu -q -s -p no:cacheprovider > $OUT/gpu_tests.log 2>&1; ts "gpu tests rc=$?"; grep -E "identical|switches|step [0-9]|passed|failed" $OUT/gpu_tests.log | tail -24
timeout 170 python3 bench/gpu_opsd_iprs.py --method opsd --backend vllm --batch-size 32 --max-new-tokens 2048 --warmup 1 --steps 1 --vllm-memory $VM --work /tmp/fb > $OUT/vllm_opsd_32x2048.jsonl 2> $OUT/vllm_opsd_32x2048.err; ts "opsd2048 rc=$?"; grep -v start $OUT/vllm_opsd_32x2048.jsonl | grep -v INFO; tail -2 $OUT/vllm_opsd_32x2048.err | cut -c1-300
timeout $(left 540) python3 bench/gpu_opsd_iprs.py --method opsd --backend vllm --batch-size 32 --max-new-tokens 4096 --micro-batch 2 --warmup 0 --steps 1 --vllm-memory $VM --work /tmp/fb > $OUT/vllm_opsd_32x4096.jsonl 2> $OUT/vllm_opsd_32x4096.err; ts "opsd4096 rc=$?"; grep -q s_update $OUT/vllm_opsd_32x4096.jsonl && touch /tmp/opsd4096.ok; grep -v start $OUT/vllm_opsd_32x4096.jsonl | grep -v INFO; tail -2 $OUT/vllm_opsd_32x4096.err | cut -c1-300
