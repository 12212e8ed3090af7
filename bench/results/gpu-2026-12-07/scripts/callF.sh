# call F (carries .pkB; after `CUT=0 callA.sh` on the same machine, which builds the random-weight Qwen3-1.7B): what
# session 8 left unrun. (1) The GPU test of an eval engine (VLLMGenerator) between two OPSD runs sharing the colocated
# engine (skeleton-opsd's sequence; it failed before restore_vllm_env). (2) The transformers IPRS baseline per token:
# 2 x 8 x 2,048 (16 completions), one step, against the vLLM step's 3,949 tokens/s at 16 x 8 x 2,048.
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
cat /tmp/wh/vllm.xz.part1 .pkB/vllm.xz.part2 | untar && ts unpacked
timeout ${CUT:-200} python3 -m pytest tests/test_colocate_gpu.py -m gpu -v -s -p no:cacheprovider -k eval_engine > $OUT/gpu_test_eval_engine.log 2>&1; ts "gpu test rc=$?"
grep -E "step [0-9]|PASSED|FAILED|passed|failed|^E " $OUT/gpu_test_eval_engine.log | cut -c1-300 | tail -12
timeout $(left 560) python3 bench/gpu_opsd_iprs.py --method iprs --backend hf --batch-size 2 --generations 8 --max-new-tokens 2048 --warmup 0 --steps 1 --work /tmp/fb > $OUT/hf_iprs_2x8x2048.jsonl 2> $OUT/hf_iprs_2x8x2048.err; ts "hf iprs rc=$?"; grep -v start $OUT/hf_iprs_2x8x2048.jsonl | grep -v INFO; tail -2 $OUT/hf_iprs_2x8x2048.err | cut -c1-300
