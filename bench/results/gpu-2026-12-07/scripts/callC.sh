# call C (nothing carried; vLLM and the model from calls A-B still on the warm machine): IPRS 16 x 8 x 2,048 through
# TRL's colocated vLLM path, one step; then, where call B's 32 x 4,096 step did not finish at micro-batch 2, the same
# step with gradient checkpointing
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh; VM=$(vllm_share); echo "vllm memory fraction $VM"
timeout 330 python3 bench/gpu_opsd_iprs.py --method iprs --backend vllm --batch-size 16 --generations 8 --max-new-tokens 2048 --warmup 0 --steps 1 --vllm-memory $VM --work /tmp/fb > $OUT/vllm_iprs_16x8x2048.jsonl 2> $OUT/vllm_iprs_16x8x2048.err; ts "iprs rc=$?"; grep -v start $OUT/vllm_iprs_16x8x2048.jsonl | grep -v INFO; tail -2 $OUT/vllm_iprs_16x8x2048.err | cut -c1-300
if [ -f /tmp/opsd4096.ok ]; then echo "4096 finished in call B"; else
timeout $(left 560) python3 bench/gpu_opsd_iprs.py --method opsd --backend vllm --batch-size 32 --max-new-tokens 4096 --micro-batch 2 --grad-ckpt --warmup 0 --steps 1 --vllm-memory $VM --work /tmp/fb > $OUT/vllm_opsd_32x4096_ckpt.jsonl 2> $OUT/vllm_opsd_32x4096_ckpt.err; ts "opsd4096 ckpt rc=$?"; grep -v start $OUT/vllm_opsd_32x4096_ckpt.jsonl | grep -v INFO; tail -2 $OUT/vllm_opsd_32x4096_ckpt.err | cut -c1-300; fi
