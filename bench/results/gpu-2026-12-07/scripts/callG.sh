# call G (carries .pkB; after `CUT=0 callA.sh` on the same machine): IPRS 16 x 8 x 2,048 with the step split into
# TRL's generation / reward functions / the rest (importance-sampling forward + update): through TRL's colocated vLLM
# (warm-up + 2 steps: session 8 timed only a first step), then the transformers path (one step, same split)
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
[ -d /tmp/site/vllm ] || { cat /tmp/wh/vllm.xz.part1 .pkB/vllm.xz.part2 | untar && ts unpacked; }
VM=$(vllm_share); echo "vllm memory fraction $VM"
timeout 300 python3 bench/gpu_opsd_iprs.py --method iprs --backend vllm --batch-size 16 --generations 8 --max-new-tokens 2048 --warmup 1 --steps 2 --vllm-memory $VM --work /tmp/fb > $OUT/vllm_iprs_16x8x2048_split.jsonl 2> $OUT/vllm_iprs_16x8x2048_split.err; ts "vllm iprs rc=$?"; grep -v start $OUT/vllm_iprs_16x8x2048_split.jsonl | grep -v INFO; tail -2 $OUT/vllm_iprs_16x8x2048_split.err | cut -c1-300
timeout $(left 570) python3 bench/gpu_opsd_iprs.py --method iprs --backend hf --batch-size 16 --generations 8 --max-new-tokens 2048 --warmup 0 --steps 1 --work /tmp/fb > $OUT/hf_iprs_16x8x2048_split.jsonl 2> $OUT/hf_iprs_16x8x2048_split.err; ts "hf iprs rc=$?"; grep -v start $OUT/hf_iprs_16x8x2048_split.jsonl; grep -v Loading $OUT/hf_iprs_16x8x2048_split.err | tail -2 | cut -c1-300
