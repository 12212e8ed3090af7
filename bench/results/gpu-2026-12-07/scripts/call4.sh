# call 4 (nothing carried; vLLM still unpacked in /tmp/site): IPRS 16 x 8 x 2,048 through TRL's colocated vLLM, 2 steps
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
VM=$(vllm_share); echo "vllm memory fraction $VM"
timeout $(left ${BUDGET:-540}) python3 bench/gpu_opsd_iprs.py --method iprs --backend vllm --batch-size 16 --generations 8 --max-new-tokens 2048 --warmup 0 --steps 2 --vllm-memory $VM --work /tmp/fb > $OUT/vllm_iprs_16x8x2048.jsonl 2> $OUT/vllm_iprs_16x8x2048.err; ts "iprs rc=$?"; grep -v start $OUT/vllm_iprs_16x8x2048.jsonl | grep -v INFO; tail -2 $OUT/vllm_iprs_16x8x2048.err
