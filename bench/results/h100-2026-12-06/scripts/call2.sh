# call 2 (vLLM wheel part 1 carried, stashed for call 3; deps from call 1 still in /tmp/site): transformers IPRS baseline
R=$PWD; T0=$(date +%s); . .device/common.sh; mkdir -p /tmp/wh; cp .whl/vllm.part1 /tmp/wh/ && ts stashed
cd .device/src
timeout 170 python3 bench/gpu_opsd_grpo.py --method grpo --backend hf --batch-size 16 --generations 8 --max-new-tokens 2048 --warmup 0 --steps 1 --work /tmp/fb > $OUT/hf_grpo_16x8x2048.jsonl 2> $OUT/hf_grpo_16x8x2048.err; ts "hf grpo rc=$?"
grep -v '"event": "start"' $OUT/hf_grpo_16x8x2048.jsonl; tail -3 $OUT/hf_grpo_16x8x2048.err
