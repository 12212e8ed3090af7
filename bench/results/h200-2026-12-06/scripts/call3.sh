# call 3 (vLLM wheel part 2 carried): vLLM unpacked; GPU tests; weight-sync check; OPSD and IPRS with colocated vLLM
R=$PWD; T0=$(date +%s); . .device/common.sh
cat /tmp/wh/vllm.part1 .whl/vllm.part2 > /tmp/vllm.whl && unpack /tmp/vllm.whl && ts unpacked
cd .device/src
python3 -c "import vllm; print('vllm', vllm.__version__)" 2>&1 | tail -2
# the engine's share: 34 GiB whatever the card (0.42 of an 80 GB H100), so the peaks say whether a row fits 80 GB
VM=$(python3 -c "import torch; print(round(34 / (torch.cuda.get_device_properties(0).total_memory / 2**30), 3))"); echo "vllm memory fraction $VM"
timeout 120 python3 -m pytest tests/test_colocate_gpu.py -m gpu -q -s -p no:cacheprovider > $OUT/gpu_tests.log 2>&1; ts "gpu tests rc=$?"; grep -E "identical|passed|failed|Error" $OUT/gpu_tests.log | tail -5
timeout 75 python3 bench/gpu_opsd_grpo.py --method sync-check --backend vllm --arch tiny --batch-size 4 --max-new-tokens 32 --lr 1e-2 --eager --vllm-memory 0.2 > $OUT/sync_check.jsonl 2> $OUT/sync_check.err; ts "sync rc=$?"; grep sync-check $OUT/sync_check.jsonl; tail -2 $OUT/sync_check.err
timeout 160 python3 bench/gpu_opsd_grpo.py --method opsd --backend vllm --batch-size 32 --max-new-tokens 2048 --warmup 1 --steps 1 --vllm-memory $VM --work /tmp/fb > $OUT/vllm_opsd_32x2048.jsonl 2> $OUT/vllm_opsd_32x2048.err; ts "opsd2048 rc=$?"; grep -v start $OUT/vllm_opsd_32x2048.jsonl; tail -2 $OUT/vllm_opsd_32x2048.err
timeout $(( 560 - ($(date +%s) - T0) )) python3 bench/gpu_opsd_grpo.py --method grpo --backend vllm --batch-size 16 --generations 8 --max-new-tokens 2048 --warmup 0 --steps 2 --vllm-memory $VM --work /tmp/fb > $OUT/vllm_grpo_16x8x2048.jsonl 2> $OUT/vllm_grpo_16x8x2048.err; ts "grpo rc=$?"; grep -v start $OUT/vllm_grpo_16x8x2048.jsonl; tail -2 $OUT/vllm_grpo_16x8x2048.err
